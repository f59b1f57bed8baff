"""The papers' own statements about a figure or table, evaluated on the runs that reproduce it.

A check tests an inequality of a theorem on every run; a claim tests what the paper *says it
saw* (an ordering of curves, a closeness, a count of runs that reach zero training error) on
the experiment as a whole. Each registered experiment lists its claims; the runner evaluates
them after the figures and writes ``claims.parquet`` (one row per claim: the statement, its
place in the paper, the measured value and the verdict). A claim that cannot be evaluated at
the run's size (quick mode, too few seeds, no finished run) says why instead of guessing.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

Verdict = Literal["holds", "fails", "cannot", "error"]
#: The columns of claims.parquet, in order.
CLAIM_COLUMNS = ("claim", "statement", "where", "measured", "value", "verdict", "reason")


class Frames(NamedTuple):
    """What a claim is evaluated on: the experiment's tables and whether it ran quick."""

    runs: pd.DataFrame
    steps: pd.DataFrame
    checks: pd.DataFrame
    quick: bool


@dataclass(frozen=True)
class Outcome:
    """A claim's verdict on the runs: what was measured (text and, where one number says it,
    that number) and, for ``cannot``, why not."""

    verdict: Verdict
    measured: str = ""
    value: float = math.nan
    reason: str = ""


def holds(measured: str, value: float = math.nan) -> Outcome:
    return Outcome("holds", measured, float(value))


def fails(measured: str, value: float = math.nan) -> Outcome:
    return Outcome("fails", measured, float(value))


def judged(ok: bool, measured: str, value: float = math.nan) -> Outcome:
    """holds when ``ok``, fails otherwise."""
    return (holds if ok else fails)(measured, value)


def cannot(reason: str, measured: str = "") -> Outcome:
    """The claim cannot be evaluated on these runs (say why: size, seeds, no finished run)."""
    return Outcome("cannot", measured, math.nan, reason)


@dataclass(frozen=True)
class Claim:
    """One statement of the paper about the experiment: ``id`` short and stable, ``statement``
    the paper's words (or a faithful paraphrase), ``where`` its place in the paper, and
    ``evaluate`` the measurement on the experiment's frames."""

    id: str
    statement: str
    where: str
    evaluate: Callable[[Frames], Outcome]


def evaluate_claims(claims: Sequence[Claim], frames: Frames) -> pd.DataFrame:
    """One row per claim (:data:`CLAIM_COLUMNS`). A claim whose evaluation raises is
    recorded as ``error`` with the exception, so a run's results are never lost to it."""
    import pandas as pd

    rows = []
    for claim in claims:
        try:
            out = claim.evaluate(frames)
        except Exception as exc:  # noqa: BLE001 (recorded, never swallowed silently)
            last = traceback.extract_tb(exc.__traceback__)[-1]
            out = Outcome("error", reason=f"{type(exc).__name__}: {exc} "
                          f"({last.filename.rsplit('/', 1)[-1]}:{last.lineno})")
        rows.append({"claim": claim.id, "statement": claim.statement, "where": claim.where,
                     "measured": out.measured, "value": out.value, "verdict": out.verdict,
                     "reason": out.reason})
    return pd.DataFrame.from_records(rows, columns=list(CLAIM_COLUMNS))


def count_claims(claims: pd.DataFrame) -> dict[str, int]:
    """{verdict: count} over the claims table (every verdict present, zeros included)."""
    counts = claims["verdict"].value_counts().to_dict() if not claims.empty else {}
    return {v: int(counts.get(v, 0)) for v in ("holds", "fails", "cannot", "error")}
