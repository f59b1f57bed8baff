"""The results layout on disk: atomic writes, per-run parts for resume, final tables.

    OUT/<id with '/' -> '__'>/
      manifest.json, runs.parquet, steps.parquet, checks.parquet, figures/
      .parts/<run_id>.steps.parquet, .parts/<run_id>.json   completed runs (resume)

Every file is written to a temporary name and renamed into place, so a process killed at
any moment leaves either the whole file or none (and a stray temporary, removed on the
next open). A run counts as done once its record exists, which is written last.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def folder_name(experiment_id: str) -> str:
    return experiment_id.replace("/", "__")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same folder, then rename over ``path``.

    The file gets the permissions of any new file (the umask's), not the temporary's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj)}")


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=True)
    atomic_write(path, lambda p: p.write_text(text + "\n"))


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    atomic_write(path, lambda p: df.to_parquet(p, index=False))


class ExperimentStore:
    """One experiment's folder."""

    def __init__(self, out: Path, experiment_id: str):
        self.root = Path(out) / folder_name(experiment_id)
        self.parts = self.root / ".parts"
        if self.parts.is_dir():  # temporaries of a process killed mid-write
            for stray in self.parts.glob(".*.tmp"):
                stray.unlink(missing_ok=True)

    def is_done(self, run_id: str) -> bool:
        return (self.parts / f"{run_id}.json").exists() and (
            self.parts / f"{run_id}.steps.parquet"
        ).exists()

    def save_run(self, run_id: str, steps: pd.DataFrame, record: dict[str, Any]) -> None:
        """Steps first, then the record: the record's presence marks the run complete."""
        write_parquet(self.parts / f"{run_id}.steps.parquet", steps)
        write_json(self.parts / f"{run_id}.json", record)

    def load_run(self, run_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        steps = pd.read_parquet(self.parts / f"{run_id}.steps.parquet")
        record = json.loads((self.parts / f"{run_id}.json").read_text())
        return steps, record

    def write_tables(self, runs: pd.DataFrame, steps: pd.DataFrame, checks: pd.DataFrame) -> None:
        write_parquet(self.root / "steps.parquet", steps)
        write_parquet(self.root / "checks.parquet", checks)
        write_parquet(self.root / "runs.parquet", runs)

    def figure_dir(self) -> Path:
        d = self.root / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d
