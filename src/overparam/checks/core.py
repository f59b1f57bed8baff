"""Turn an inequality lhs ≤ rhs, evaluated along a run, into one verdict row."""

from __future__ import annotations

import numpy as np

CHECK_COLUMNS = (
    "run_id", "check", "paper", "equation", "status", "holds", "n_steps", "n_violations",
    "first_violation_step", "max_ratio", "median_ratio", "note", "erratum", "corrected_by",
)

#: Relative slack for round-off: lhs ≤ rhs + RTOL·(|lhs| + |rhs|) + atol counts as holding.
RTOL = 1e-9


#: Status of a check that holds on a run that did not move (a stalled run): it proves nothing.
VACUOUS = "vacuous"


def not_applicable(check: str, paper: str, equation: str, note: str, erratum: str = "",
                   corrected_by: str = "") -> dict:
    """A check whose assumptions fail on this run: never reported as a pass."""
    return {
        "check": check, "paper": paper, "equation": equation, "status": "not_applicable",
        "holds": False, "n_steps": 0, "n_violations": 0, "first_violation_step": np.nan,
        "max_ratio": np.nan, "median_ratio": np.nan, "note": note, "erratum": erratum,
        "corrected_by": corrected_by,
    }


def vacuous(row: dict, why: str) -> dict:
    """A row that held on a stalled run, marked so: it is not evidence for the theorem."""
    if row["status"] != "holds":
        return row
    return {**row, "status": VACUOUS, "note": f"vacuous ({why})" + (
        f"; {row['note']}" if row["note"] else "")}


def inequality(
    check: str,
    paper: str,
    equation: str,
    lhs: np.ndarray,
    rhs: np.ndarray,
    steps: np.ndarray | None = None,
    atol: float | np.ndarray = 0.0,
    note: str = "",
    erratum: str = "",
    corrected_by: str = "",
) -> dict:
    """Verdict of lhs ≤ rhs at every entry (NaN entries are skipped and counted in the note).

    ``erratum`` names the docs/errata.md entry when lhs ≤ rhs is a printed statement known
    to be wrong, ``corrected_by`` the check of its corrected form: the headline verdict
    then uses that one.

    Tightness is lhs/rhs where rhs is resolved (rhs > atol, the round-off floor): 1 means
    the bound is attained. Entries below the floor are compared but carry no tightness.
    """
    lhs = np.asarray(lhs, dtype=float).ravel()
    rhs = np.asarray(rhs, dtype=float).ravel()
    steps = np.arange(lhs.size) if steps is None else np.asarray(steps).ravel()
    finite = np.isfinite(lhs) & np.isfinite(rhs)
    if not finite.any():
        return not_applicable(check, paper, equation, note or "no finite values to compare",
                              erratum, corrected_by)
    atol = np.broadcast_to(np.asarray(atol, dtype=float), finite.shape)[finite]
    lhs, rhs, steps = lhs[finite], rhs[finite], steps[finite]
    slack = RTOL * (np.abs(lhs) + np.abs(rhs)) + atol
    bad = lhs > rhs + slack
    pos = rhs > np.maximum(atol, 0.0)
    ratio = lhs[pos] / rhs[pos]
    skipped = int((~finite).sum())
    if skipped:
        note = (note + "; " if note else "") + f"{skipped} non-finite entries skipped"
    return {
        "check": check, "paper": paper, "equation": equation,
        "status": "violated" if bad.any() else "holds", "holds": not bad.any(),
        "n_steps": int(lhs.size), "n_violations": int(bad.sum()),
        "first_violation_step": float(steps[bad][0]) if bad.any() else np.nan,
        "max_ratio": float(ratio.max()) if ratio.size else np.nan,
        "median_ratio": float(np.median(ratio)) if ratio.size else np.nan,
        "note": note, "erratum": erratum, "corrected_by": corrected_by,
    }
