"""Reading a results folder for the report: manifests, figures, run counts, check summaries."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import pandas as pd

from overparam.report.summary import check_summary


@dataclass
class Figure:
    """One figure entry: relative URL of the image (or None if missing) and of its PDF."""

    name: str
    src: str | None
    pdf: str | None


@dataclass
class Experiment:
    """Everything the page needs about one experiment folder."""

    folder: str
    manifest: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    run_counts: Counter[str] = field(default_factory=Counter)
    summary: pd.DataFrame | None = None
    checks_error: str | None = None
    claims: pd.DataFrame | None = None
    data_files: list[str] = field(default_factory=list)

    @property
    def exp_id(self) -> str:
        return str(self.manifest.get("id") or self.folder.replace("__", "/"))

    @property
    def paper(self) -> str:
        return str(self.manifest.get("paper") or "?")


def url(*parts: str) -> str:
    """Relative URL from posix path parts, percent-encoded (still needs html.escape)."""
    return quote(str(PurePosixPath(*parts)), safe="/")


def _inside(base: Path, rel: str) -> Path | None:
    """``base/rel`` if ``rel`` is relative and stays inside ``base``, else None."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        return None
    return base.joinpath(*p.parts)


def _load_figures(folder: Path, manifest: dict[str, Any]) -> list[Figure]:
    """Resolve the manifest's figure list (or, if absent, ``figures/*.png``)."""
    listed = manifest.get("figures")
    if not isinstance(listed, list):
        listed = [f"figures/{p.name}" for p in sorted((folder / "figures").glob("*.png"))]
    figs: list[Figure] = []
    for item in listed:
        rel = str(item)
        path = _inside(folder, rel)
        if path is None:  # absolute or escaping the folder: never link it
            figs.append(Figure(rel, None, None))
            continue
        pdf_rel = str(PurePosixPath(rel).with_suffix(".pdf"))
        pdf = url(folder.name, pdf_rel) if path.with_suffix(".pdf").is_file() else None
        is_image = path.suffix.lower() != ".pdf" and path.is_file()
        figs.append(Figure(rel, url(folder.name, rel) if is_image else None, pdf))
    return figs


def _run_counts(folder: Path, manifest: dict[str, Any]) -> Counter[str]:
    """Count run statuses from the manifest, falling back on runs.parquet."""
    runs = manifest.get("runs")
    statuses: list[str] = []
    if isinstance(runs, list) and runs:
        statuses = [
            str(r.get("status", "unknown")) if isinstance(r, dict) else "unknown" for r in runs
        ]
    elif (folder / "runs.parquet").is_file():
        try:
            df = pd.read_parquet(folder / "runs.parquet", columns=["status"])
            statuses = [str(s) for s in df["status"]]
        except Exception:  # a damaged table must not break the page
            statuses = []
    return Counter(statuses)


def _load_experiment(folder: Path) -> Experiment | None:
    """Load one experiment folder; None if it has no manifest.json. Raises on a bad manifest."""
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        return None
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict):
        raise ValueError("manifest.json is not a JSON object")
    exp = Experiment(folder=folder.name, manifest=manifest)
    exp.figures = _load_figures(folder, manifest)
    exp.run_counts = _run_counts(folder, manifest)
    cpath = folder / "checks.parquet"
    if cpath.is_file():
        try:
            exp.summary = check_summary(pd.read_parquet(cpath))
        except Exception as e:  # report the problem on the page instead
            exp.checks_error = f"{type(e).__name__}: {e}"
    if (folder / "claims.parquet").is_file():
        try:
            exp.claims = pd.read_parquet(folder / "claims.parquet")
        except Exception as e:  # noqa: BLE001 (a damaged table is named on the page)
            exp.checks_error = f"claims.parquet: {type(e).__name__}: {e}"
    exp.data_files = [
        name
        for name in ("manifest.json", "runs.parquet", "steps.parquet", "checks.parquet",
                     "claims.parquet")
        if (folder / name).is_file()
    ]
    return exp


def scan(results_dir: Path) -> tuple[list[Experiment], list[tuple[str, str]]]:
    """All experiments (sorted by paper, then id) and the folders skipped for bad manifests."""
    exps: list[Experiment] = []
    skipped: list[tuple[str, str]] = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            continue
        try:
            exp = _load_experiment(folder)
        except Exception as e:  # a bad manifest is listed, not fatal
            skipped.append((folder.name, f"{type(e).__name__}: {e}"))
            continue
        if exp is not None:
            exps.append(exp)
    exps.sort(key=lambda e: (e.paper, e.exp_id))
    return exps, skipped
