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
    "verdict",
    "median_ratio",
    "max_ratio",
    "note",
]
#: Possible verdicts, per run and aggregated.
VERDICTS: tuple[str, str, str] = ("holds", "violated", "not_applicable")


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


def check_summary(checks: pd.DataFrame) -> pd.DataFrame:
    """Aggregate per-run check results into one row per check.

    Columns: :data:`SUMMARY_COLUMNS`. ``verdict`` is ``"violated"`` if any run violated the
    check, ``"not_applicable"`` if every run was n/a, else ``"holds"``. ``median_ratio`` is the
    median over runs of ``median_ratio``, ``max_ratio`` the max of ``max_ratio`` (NaN-aware),
    ``note`` the first non-empty note of a violated run. Rows are sorted by check id.
    """
    if checks is None or checks.empty or "check" not in checks.columns:
        return pd.DataFrame(
            {
                "check": pd.Series(dtype=object),
                "equation": pd.Series(dtype=object),
                "n_holds": pd.Series(dtype="int64"),
                "n_violated": pd.Series(dtype="int64"),
                "n_not_applicable": pd.Series(dtype="int64"),
                "verdict": pd.Series(dtype=object),
                "median_ratio": pd.Series(dtype="float64"),
                "max_ratio": pd.Series(dtype="float64"),
                "note": pd.Series(dtype=object),
            }
        )[SUMMARY_COLUMNS]

    df = checks.copy()
    n = len(df)
    status = df["status"] if "status" in df.columns else pd.Series([None] * n, index=df.index)
    holds = df["holds"] if "holds" in df.columns else pd.Series([None] * n, index=df.index)
    df["_verdict"] = [_run_verdict(s, h) for s, h in zip(status, holds, strict=True)]
    for col in ("equation", "note"):
        if col not in df.columns:
            df[col] = ""
    for col in ("median_ratio", "max_ratio"):
        if col not in df.columns:
            df[col] = math.nan
    df["check"] = df["check"].astype(str)

    rows: list[dict[str, Any]] = []
    for check_id, g in df.groupby("check", sort=True):
        counts = Counter(g["_verdict"])
        if counts["violated"]:
            verdict = "violated"
        elif counts["not_applicable"] == len(g):
            verdict = "not_applicable"
        else:
            verdict = "holds"
        rows.append(
            {
                "check": check_id,
                "equation": _first_text(g["equation"]),
                "n_holds": int(counts["holds"]),
                "n_violated": int(counts["violated"]),
                "n_not_applicable": int(counts["not_applicable"]),
                "verdict": verdict,
                "median_ratio": _nan_stat(g["median_ratio"], "median"),
                "max_ratio": _nan_stat(g["max_ratio"], "max"),
                "note": _first_text(g.loc[g["_verdict"] == "violated", "note"]),
            }
        )
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for col in ("n_holds", "n_violated", "n_not_applicable"):
        out[col] = out[col].astype("int64")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- loading

