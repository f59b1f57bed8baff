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


def check_target(plan_: Plan, out: Path, replace: bool = False) -> None:
    """Refuse (SpecError on --out) to overwrite a results folder whose tables hold runs that
    this plan does not have, unless ``replace``. A plan that keeps every stored run (more
    seeds, more settings) adds to the folder; the tables then cover the new plan."""
    manifest = Path(out) / folder_name(plan_.experiment_id) / "manifest.json"
    if replace or not manifest.is_file():
        return
    try:
        stored = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return  # a damaged manifest holds nothing to keep: it is rewritten
    if stored.get("schema", 1) != TABLES_SCHEMA:
        raise SpecError("--out", f"{manifest.parent} was written by overparam "
                        f"{stored.get('version', '?')} with tables of schema "
                        f"{stored.get('schema', 1)} (this version writes schema "
                        f"{TABLES_SCHEMA}: other columns); rerun with --replace to recompute "
                        "it, or choose another --out")
    if stored.get("spec") == plan_.spec.model_dump(mode="json"):
        return
    held = {r.get("run_id") for r in stored.get("runs") or [] if isinstance(r, dict)}
    searched = plan_.experiment is not None and plan_.experiment.search is not None
    planned = {plan_.run_id(s, k) for s in plan_.settings for k in plan_.seeds()}
    if not searched and held <= planned:  # more seeds or settings: every stored run stays
        return
    n = len(held - planned) if not searched else len(held)
    raise SpecError("--out", f"{manifest.parent} holds {n} runs that this spec of "
                    f"{plan_.experiment_id} does not plan (other settings, seeds, steps or "
                    "--quick); rerun with --replace to replace them (runs both share are "
                    "reused), or choose another --out")
