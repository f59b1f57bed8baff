"""`overparam show DIR`: an experiment's results folder printed as rich tables.

The experiment's id and title, its runs counted by status, the runs that are not ok with
their note, and the check verdicts. Every string from the folder is printed with rich markup
escaped, so an id or a note like ``[/foo]`` prints as it is. Imports pandas, never JAX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from overparam.report.summary import check_summary, format_ratio, headline
from overparam.results import STATUSES, Result, load, varying_columns

#: Runs listed in the table of runs that are not ok; the rest are counted.
MAX_BAD_RUNS = 20


@dataclass
class Shown:
    """What `show` prints, read once from the folder."""

    result: Result
    manifest: dict[str, Any]
    runs: pd.DataFrame
    checks: pd.DataFrame
    claims: pd.DataFrame


def read(path: str | Path) -> Shown:
    """Load the folder and read its tables.

    Raises ``FileNotFoundError`` or ``ValueError`` (naming the folder) when it is not a
    results folder or a table cannot be read."""
    res = load(path)
    try:
        return Shown(res, res.manifest, res.runs, res.checks, res.claims)
    except (OSError, ValueError) as exc:  # a truncated or foreign parquet file
        raise ValueError(f"{res.path} has a table that cannot be read: {exc}") from None


def _text(value: Any) -> str:
    """A cell's text, markup escaped; missing values print as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return escape(str(value))


def _counts(runs: pd.DataFrame) -> str:
    counts = runs["status"].astype(str).value_counts().to_dict() if "status" in runs else {}
    order = [s for s in STATUSES if counts.get(s)] + sorted(set(counts) - set(STATUSES))
    parts = ", ".join(f"{escape(s)} {counts[s]}" for s in order)
    return f"{len(runs)} runs" + (f": {parts}" if parts else "")


def _bad_runs(shown: Shown) -> Table | None:
    runs = shown.runs
    if "status" not in runs.columns:
        return None
    bad = runs[runs["status"].astype(str) != "ok"]
    if bad.empty:
        return None
    by = varying_columns(runs, shown.result.setting_columns(runs))
    table = Table("run", "setting", "seed", "status", "note",
                  title=f"runs not ok ({len(bad)})", title_justify="left")
    for _, r in bad.head(MAX_BAD_RUNS).iterrows():
        setting = ", ".join(f"{c}={r[c]}" for c in by)
        table.add_row(_text(r.get("run_id")), escape(setting), _text(r.get("seed")),
                      _text(r.get("status")), _text(r.get("note")))
    if len(bad) > MAX_BAD_RUNS:
        table.add_row(f"... and {len(bad) - MAX_BAD_RUNS} more", "", "", "", "")
    return table


def _reason_notes(checks: pd.DataFrame) -> dict[str, str]:
    """Each check's first non-empty note among its runs that did not hold (n/a, vacuous)."""
    if checks.empty or not {"check", "status", "note"} <= set(checks.columns):
        return {}
    na = checks[~checks["status"].astype(str).isin(("holds", "violated"))]
    out: dict[str, str] = {}
    for check, note in zip(na["check"].astype(str), na["note"], strict=True):
        if isinstance(note, str) and note.strip() and check not in out:
            out[check] = note
    return out


#: How a verdict prints, and its colour.
_VERDICT_TEXT = {"not_applicable": ("n/a", "yellow"), "violated": ("violated", "red"),
                 "vacuous": ("vacuous", "yellow")}


def _verdicts(checks: pd.DataFrame) -> Table | None:
    summary = check_summary(checks)
    if summary.empty:
        return None
    reasons = _reason_notes(checks)
    vacuous = "n_vacuous" in summary.columns and bool((summary["n_vacuous"] > 0).any())
    rows = []
    for r in summary.to_dict(orient="records"):
        verdict, style = _VERDICT_TEXT.get(str(r["verdict"]), (str(r["verdict"]), None))
        note = ""  # shown for a check that does not hold: why it failed or does not apply
        if r["verdict"] != "holds":
            note = r.get("note") if isinstance(r.get("note"), str) else ""
            if not note.strip() and r["verdict"] != "violated":
                note = reasons.get(str(r["check"]), "")
        counts = [str(r["n_holds"]), str(r["n_violated"]), str(r["n_not_applicable"])]
        counts += [str(r["n_vacuous"])] if vacuous else []
        rows.append([_text(r["check"]), _text(r["equation"]), *counts,
                     f"[{style}]{escape(verdict)}[/]" if style else escape(verdict),
                     format_ratio(r["median_ratio"], "-"), _text(note)])
    notes = any(row[-1] for row in rows)  # the note column only when a check has one
    table = Table("check", "equation", "holds", "violated", "n/a",
                  *(["vacuous"] if vacuous else []), "verdict", "median lhs/rhs",
                  *(["note"] if notes else []), title="checks", title_justify="left")
    for row in rows:
        table.add_row(*(row if notes else row[:-1]))
    return table


_CLAIM_STYLE = {"holds": "green", "fails": "red", "cannot": "yellow", "error": "red"}


def claims_table(claims: pd.DataFrame) -> Table | None:
    """The paper's claims about the experiment: place, statement, what was measured (and
    why not, where a claim cannot be evaluated) and the verdict; None without claims."""
    if claims.empty:
        return None
    table = Table("claim", "paper", "statement", "measured", "verdict",
                  title="the paper's claims, on these runs", title_justify="left")
    for r in claims.to_dict(orient="records"):
        measured, reason = _text(r.get("measured")), _text(r.get("reason"))
        if reason:
            measured = f"{measured} — {reason}" if measured else reason
        verdict = str(r.get("verdict"))
        style = _CLAIM_STYLE.get(verdict)
        table.add_row(_text(r.get("claim")), _text(r.get("where")), _text(r.get("statement")),
                      measured, f"[{style}]{escape(verdict)}[/]" if style else escape(verdict))
    return table


def render(shown: Shown, console: Console) -> None:
    """Print the folder's id, title, run counts, runs not ok, check verdicts and claims."""
    m = shown.manifest
    exp_id, title = shown.result.experiment_id, m.get("title")
    head = f"[bold]{escape(exp_id)}[/]"
    if isinstance(title, str) and title and title != exp_id:
        head += f" — {escape(title)}"
    console.print(head, highlight=False)
    paper = m.get("paper")
    if isinstance(paper, str) and paper:
        console.print(f"paper {escape(paper)}" + (f", {escape(str(m['figure']))}"
                                                  if m.get("figure") else ""), highlight=False)
    console.print(_counts(shown.runs), highlight=False)
    for table in (_bad_runs(shown), _verdicts(shown.checks), claims_table(shown.claims)):
        if table is not None:
            console.print(table)
    summary = check_summary(shown.checks)
    if not summary.empty:  # the headline, with printed statements known wrong set aside
        verdict, printed = headline(summary)
        console.print(f"verdict: {verdict}", highlight=False, markup=False)
        for line in printed:
            console.print(f"  {line} (docs/errata.md)", highlight=False, markup=False)
    for line in m.get("summary") or []:
        console.print(str(line), highlight=False, markup=False)
    console.print(f"results: {escape(str(shown.result.path))}", highlight=False)


def show(path: str | Path, console: Console | None = None) -> None:
    """Read the results folder at ``path`` and print it (see :func:`render`)."""
    render(read(path), console or Console())
