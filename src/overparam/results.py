"""Reopen a results folder without rerunning anything: ``load(path) -> Result``.

    res = overparam.load("overparam-results/local-pl__bound-tightness")
    res.runs, res.steps, res.checks     # the three tables, read when asked
    res.frame()                         # one row per step, with its run's setting and status
    res.summary()                       # one row per setting: run counts, median final loss
    res.verdicts()                      # one row per check (``check_summary``)

Only pandas (and pyarrow, to read parquet) is imported: no JAX, so reopening is fast and works
where JAX is not installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: The statuses of a run, in the order ``summary()`` counts them.
STATUSES: tuple[str, ...] = ("ok", "diverged", "failed", "stalled")
#: Per-run columns ``frame()`` adds to the settings (not settings themselves).
RUN_COLUMNS: tuple[str, ...] = ("seed", "status", "note")
#: Top-level fields of a spec that are not part of a setting (a run's grid point).
_NOT_SETTING = frozenset({"id", "title", "paper", "seeds", "seed", "sweep", "cases", "quick"})
_TABLES = ("runs.parquet", "steps.parquet", "checks.parquet")


@dataclass
class Result:
    """An experiment's results folder with its three tables loaded lazily."""

    path: Path
    experiment_id: str

    @property
    def runs(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "runs.parquet")

    @property
    def steps(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "steps.parquet")

    @property
    def checks(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "checks.parquet")

    @property
    def claims(self) -> pd.DataFrame:
        """The paper's statements about this experiment, evaluated on its runs (empty for a
        user's spec, which has none)."""
        path = self.path / "claims.parquet"
        if not path.is_file():
            from overparam.experiments.claims import CLAIM_COLUMNS

            return pd.DataFrame(columns=list(CLAIM_COLUMNS))
        return pd.read_parquet(path)

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / "manifest.json").read_text())

    # ------------------------------------------------------------------ derived tables

    def setting_columns(self, runs: pd.DataFrame | None = None) -> list[str]:
        """The columns of runs.parquet that describe a run's setting (no seed, no status,
        no timing, no theory constant), in runs.parquet's order."""
        runs = self.runs if runs is None else runs
        return _setting_columns(runs, self.manifest)

    def frame(self) -> pd.DataFrame:
        """The steps table, one row per step, joined with its run's setting columns,
        ``seed``, ``status`` and ``note``."""
        runs, steps = self.runs, self.steps
        keep = [c for c in (*self.setting_columns(runs), *RUN_COLUMNS)
                if c in runs.columns and c not in steps.columns]
        per_run = runs[["run_id", *keep]].drop_duplicates("run_id")
        out = steps.merge(per_run, on="run_id", how="left", sort=False, validate="many_to_one")
        return out.reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """One row per setting: the setting columns that vary between runs (none: one row),
        ``n_runs``, ``n_ok``, ``n_diverged``, ``n_failed``, ``n_stalled``, and, where
        runs.parquet has ``final_loss``, its median over the ok runs (``final_loss``) with
        the number of values that went into it (``n_in_median``; NaN losses are left out)."""
        return summarize(self.runs, self.setting_columns())

    def verdicts(self) -> pd.DataFrame:
        """One row per check, aggregated over runs (see ``overparam.report.check_summary``)."""
        from overparam.report.summary import check_summary

        return check_summary(self.checks)


def _setting_columns(runs: pd.DataFrame, manifest: dict[str, Any]) -> list[str]:
    """Setting columns of ``runs``: those the manifest names (``setting_columns``) if it does,
    else every dotted column (``problem.width``, ``schedule.kind``...) plus the spec's
    top-level setting fields (``steps``, ``chunk``...) and the sweep's and cases' keys."""
    named = manifest.get("setting_columns")
    if isinstance(named, list) and named:
        wanted = {str(c) for c in named}
    else:
        wanted = {c for c in runs.columns if "." in str(c)}
        spec = manifest.get("spec")
        if isinstance(spec, dict):
            wanted |= {k for k, v in spec.items()
                       if k not in _NOT_SETTING and not isinstance(v, dict | list)}
            sweep = spec.get("sweep")
            wanted |= set(sweep) if isinstance(sweep, dict) else set()
            for case in spec.get("cases") or []:
                wanted |= set(case) if isinstance(case, dict) else set()
    skip = {"run_id", "experiment", *RUN_COLUMNS}
    return [c for c in runs.columns if c in wanted and c not in skip]


def varying_columns(runs: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns of ``columns`` that take more than one value (NaN counting as a value)."""
    return [c for c in columns if c in runs.columns and runs[c].nunique(dropna=False) > 1]


def summarize(runs: pd.DataFrame, setting_columns: list[str]) -> pd.DataFrame:
    """``Result.summary()`` on a runs table: one row per combination of the varying setting
    columns, in the order the runs first show it."""
    by = varying_columns(runs, setting_columns)
    has_loss = "final_loss" in runs.columns
    status = runs["status"].astype(str) if "status" in runs.columns else pd.Series(
        "", index=runs.index)
    loss = pd.to_numeric(runs["final_loss"], errors="coerce") if has_loss else None
    groups = runs.groupby(by, sort=False, dropna=False) if by else [((), runs)]
    rows = []
    for key, group in groups:
        values = key if isinstance(key, tuple) else (key,)
        index = group.index
        row: dict[str, Any] = dict(zip(by, values, strict=True))
        st = status.loc[index]
        row["n_runs"] = len(index)
        for s in STATUSES:
            row[f"n_{s}"] = int((st == s).sum())
        if loss is not None:
            ok = loss.loc[index][st == "ok"].dropna()
            row["final_loss"] = float(ok.median()) if len(ok) else float("nan")
            row["n_in_median"] = len(ok)
        rows.append(row)
    columns = [*by, "n_runs", *(f"n_{s}" for s in STATUSES)]
    columns += ["final_loss", "n_in_median"] if has_loss else []
    out = pd.DataFrame(rows, columns=columns)
    for c in columns[len(by):]:
        if c != "final_loss":
            out[c] = out[c].astype("int64")
    return out


def _is_experiment(folder: Path) -> bool:
    return (folder / "manifest.json").is_file()


def load(path: str | Path) -> Result:
    """Reopen a results folder: an experiment's folder (it holds ``manifest.json``) or an
    ``--out`` folder holding exactly one experiment's folder.

    Raises ``FileNotFoundError`` when ``path`` is missing or holds no experiment (or one whose
    tables are missing), ``ValueError`` when it holds several or its manifest is unreadable.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder" if root.exists()
                                else f"{root} does not exist")
    if not _is_experiment(root):
        found = sorted(d for d in root.iterdir() if d.is_dir() and _is_experiment(d))
        if not found:
            raise FileNotFoundError(f"{root} is not a results folder: no manifest.json in it "
                                    "or in any folder directly inside it")
        if len(found) > 1:
            names = ", ".join(d.name for d in found)
            raise ValueError(f"{root} holds {len(found)} experiments ({names}): "
                             "pass one experiment's folder")
        root = found[0]
    missing = [t for t in _TABLES if not (root / t).is_file()]
    if missing:
        raise FileNotFoundError(f"{root} is not a complete results folder: "
                                f"{', '.join(missing)} missing")
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{root / 'manifest.json'} cannot be read: {exc}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{root / 'manifest.json'} is not a JSON object")
    exp_id = manifest.get("id")
    if not isinstance(exp_id, str) or not exp_id:
        exp_id = root.name.replace("__", "/")
    return Result(root, exp_id)
