"""``check_summary(checks)``: a checks.parquet table aggregated over runs, one row per check.

The report uses it for its verdict tables and the CLI prints it.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd

#: Columns of the frame returned by :func:`check_summary`, in order.
SUMMARY_COLUMNS: list[str] = [
    "check",
    "equation",
    "n_holds",
    "n_violated",
    "n_not_applicable",
    "n_vacuous",
    "verdict",
    "median_ratio",
    "max_ratio",
    "note",
    "erratum",
    "corrected_by",
]
#: Possible verdicts, per run and aggregated.
VERDICTS: tuple[str, ...] = ("holds", "violated", "not_applicable", "vacuous")


def _run_verdict(status: Any, holds: Any) -> str:
    """Normalise one run's check status; fall back on ``holds`` when status is unusable."""
    if isinstance(status, str):
        s = status.strip().lower().replace("-", "_").replace(" ", "_")
        if s in ("n/a", "na"):
            s = "not_applicable"
        if s in VERDICTS:
            return s
    if holds is None or (isinstance(holds, float) and math.isnan(holds)) or holds is pd.NA:
        return "not_applicable"
    return "holds" if bool(holds) else "violated"


def _first_text(values: pd.Series) -> str:
    """First non-empty string in ``values`` (``""`` if none)."""
    for v in values:
        if isinstance(v, str) and v.strip():
            return v
    return ""


def _nan_stat(values: pd.Series, how: str) -> float:
    """NaN-aware median / max of a numeric column; NaN when nothing is finite."""
    x = pd.to_numeric(values, errors="coerce").dropna()
    if x.empty:
        return math.nan
    return float(x.median() if how == "median" else x.max())


COUNT_COLUMNS = ("n_holds", "n_violated", "n_not_applicable", "n_vacuous")


def check_summary(checks: pd.DataFrame) -> pd.DataFrame:
    """Aggregate per-run check results into one row per check.

    Columns: :data:`SUMMARY_COLUMNS`. ``verdict`` is ``"violated"`` if any run violated the
    check, else ``"holds"`` if any run held, else ``"vacuous"`` if it held only on runs that
    stalled, else ``"not_applicable"``. ``median_ratio`` is the median over runs of
    ``median_ratio``, ``max_ratio`` the max of ``max_ratio`` (NaN-aware), ``note`` the first
    note of a violated run, else of an n/a or vacuous one (the reason), ``erratum`` and
    ``corrected_by`` say that the check tests a printed statement known wrong and which
    check tests its correction. Rows are sorted by check id.
    """
    if checks is None or checks.empty or "check" not in checks.columns:
        dtypes = {c: "int64" if c in COUNT_COLUMNS else
                  "float64" if c.endswith("_ratio") else object for c in SUMMARY_COLUMNS}
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})

    df = checks.copy()
    n = len(df)
    status = df["status"] if "status" in df.columns else pd.Series([None] * n, index=df.index)
    holds = df["holds"] if "holds" in df.columns else pd.Series([None] * n, index=df.index)
    df["_verdict"] = [_run_verdict(s, h) for s, h in zip(status, holds, strict=True)]
    for col in ("equation", "note", "erratum", "corrected_by"):
        if col not in df.columns:
            df[col] = ""
    for col in ("median_ratio", "max_ratio"):
        if col not in df.columns:
            df[col] = math.nan
    df["check"] = df["check"].astype(str)

    rows: list[dict[str, Any]] = []
    for check_id, g in df.groupby("check", sort=True):
        counts = Counter(g["_verdict"])
        verdict = next((v for v in ("violated", "holds", "vacuous") if counts[v]),
                       "not_applicable")
        why = g["_verdict"] == "violated" if counts["violated"] else g["_verdict"] != "holds"
        rows.append(
            {
                "check": check_id,
                "equation": _first_text(g["equation"]),
                "n_holds": int(counts["holds"]),
                "n_violated": int(counts["violated"]),
                "n_not_applicable": int(counts["not_applicable"]),
                "n_vacuous": int(counts["vacuous"]),
                "verdict": verdict,
                "median_ratio": _nan_stat(g["median_ratio"], "median"),
                "max_ratio": _nan_stat(g["max_ratio"], "max"),
                "note": _first_text(g.loc[why, "note"]),
                "erratum": _first_text(g["erratum"]),
                "corrected_by": _first_text(g["corrected_by"]),
            }
        )
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for col in COUNT_COLUMNS:
        out[col] = out[col].astype("int64")
    return out.reset_index(drop=True)


def headline(summary: pd.DataFrame) -> tuple[str | None, list[str]]:
    """An experiment's verdict over its checks and the printed statements set aside.

    A check of a printed statement known wrong (``erratum``) does not decide the verdict
    when its corrected check is in the table; it is reported as "as printed: violated
    (erratum C3)" instead. Verdict: violated if any deciding check is, holds if any holds,
    vacuous if checks held only on stalled runs, n/a otherwise; None without checks."""
    if summary is None or summary.empty:
        return None, []
    present = set(summary["check"])
    set_aside = summary["corrected_by"].isin(present) & (summary["erratum"] != "")
    deciding = set(summary.loc[~set_aside, "verdict"])
    verdict = next((v for v in ("violated", "holds", "vacuous") if v in deciding),
                   "not_applicable")
    printed = [f"{r.check} as printed: {r.verdict.replace('_', ' ')} (erratum {r.erratum}; "
               f"{r.corrected_by} tests the corrected statement)"
               for r in summary[set_aside].itertuples()]
    return verdict, printed


def format_ratio(x: Any, missing: str = "\u2014") -> str:
    """A lhs/rhs ratio as %.3g, or ``missing`` for NaN and non-numbers."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return missing
    return missing if math.isnan(v) else f"{v:.3g}"
