"""What a results folder accepts: a plan that keeps every run its tables hold adds to it;
one that would drop runs, or a folder written under another tables schema, is refused until
``--replace`` (the folder is a store, never silently a scratchpad)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from overparam.errors import SpecError
from overparam.store import folder_name

if TYPE_CHECKING:
    from overparam.runner import Plan

#: The layout and meaning of the tables' columns. It is part of every run id and of the
#: manifest, and changes whenever a column is added, renamed or redefined: a results folder
#: written under another schema is never reused run by run (its numbers would mix two
#: meanings); it is refused until ``--replace``.
TABLES_SCHEMA = 2


def _runs_in_tables(root: Path) -> list[dict]:
    """The run ids runs.parquet holds (none when it is absent or unreadable)."""
    try:
        import pyarrow.parquet as pq

        ids = pq.read_table(root / "runs.parquet", columns=["run_id"]).column(0).to_pylist()
    except Exception:  # noqa: BLE001 (absent or damaged: nothing to keep)
        return []
    return [{"run_id": r} for r in ids]


def check_target(plan_: Plan, out: Path, replace: bool = False) -> None:
    """Refuse (SpecError on --out) to overwrite a results folder whose tables hold runs that
    this plan does not have, unless ``replace``. A plan that keeps every stored run (more
    seeds, more settings) adds to the folder; the tables then cover the new plan."""
    if Path(out).exists() and not Path(out).is_dir():
        raise SpecError("--out", f"{out} is a file, not a folder")
    manifest = Path(out) / folder_name(plan_.experiment_id) / "manifest.json"
    if replace:
        return
    try:
        stored = json.loads(manifest.read_text())
        if not isinstance(stored, dict):
            raise ValueError("not a mapping")
    except (OSError, ValueError):
        # no readable manifest: the tables, if any, still say which runs the folder holds
        stored = {"schema": TABLES_SCHEMA, "runs": _runs_in_tables(manifest.parent)}
    if stored.get("schema", 1) != TABLES_SCHEMA:
        raise SpecError("--out", f"{manifest.parent} was written by overparam "
                        f"{stored.get('version', '?')} with tables of schema "
                        f"{stored.get('schema', 1)} (this version writes schema "
                        f"{TABLES_SCHEMA}: other columns); rerun with --replace to recompute "
                        "it, or choose another --out")
    if stored.get("spec") == plan_.spec.model_dump(mode="json"):
        return
    held = {r.get("run_id") for r in stored.get("runs") or [] if isinstance(r, dict)}
    if not held:  # nothing stored: nothing to lose
        return
    searched = plan_.experiment is not None and plan_.experiment.search is not None
    planned = {plan_.run_id(s, k) for s in plan_.settings for k in plan_.seeds()}
    if not searched and held <= planned:  # more seeds or settings: every stored run stays
        return
    n = len(held - planned) if not searched else len(held)
    raise SpecError("--out", f"{manifest.parent} holds {n} runs that this spec of "
                    f"{plan_.experiment_id} does not plan (other settings, seeds, steps or "
                    "--quick); rerun with --replace to replace them (runs both share are "
                    "reused), or choose another --out")
