"""The results layout on disk: atomic writes, batch parts for resume, final tables.

    OUT/<id with '/' -> '__'>/
      manifest.json, runs.parquet, steps.parquet, checks.parquet, figures/
      .parts/<batch>.steps.parquet, .parts/<batch>.json   batches computed since the tables

The three tables are the store of every complete run: a rerun reuses the runs they hold.
``.parts`` holds the batches of a run in progress, one unit per batch (its seeds were
computed together, so a resume recomputes a lost batch with the same seeds and gets the same
numbers); it is removed once the tables are written. Every file is written to a unique
temporary name, flushed to disk and renamed into place, so a process killed at any moment
leaves either the whole file or none (and a stray temporary, removed on the next open). A
batch counts as done once its record file exists, which is written last; a damaged one is
discarded and recomputed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
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
    write_together({path: write})


def write_together(files: dict[Path, Callable[[Path], None]]) -> None:
    """Write several files so that either all are replaced or none is: each is written to a
    temporary beside it (and reaches the disk), and only when every one is written are they
    renamed into place. A full disk while writing leaves every old file as it was."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, write in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            staged.append((Path(tmp), path))
            write(Path(tmp))
            os.chmod(tmp, 0o666 & ~_UMASK)
            with open(tmp, "rb") as f:  # the bytes reach the disk before the name does
                os.fsync(f.fileno())
        for tmp, path in staged:  # renames need no space
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
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
    """Write a table with a CRC per data page, so that damaged bytes are detected on read."""
    atomic_write(path, _parquet_writer(df))


def _parquet_writer(df: pd.DataFrame) -> Callable[[Path], None]:
    return lambda p: df.to_parquet(p, index=False, write_page_checksum=True)


def read_checked(path: Path) -> pd.DataFrame:
    """A table read whole with its page checksums verified (damage raises OSError)."""
    return pd.read_parquet(path, page_checksum_verification=True)


TABLES = ("runs", "steps", "checks")


@contextlib.contextmanager
def lock_folder(root: Path) -> Iterator[None]:
    """Hold an experiment's folder for this process: a second writer is refused at once
    (SpecError on --out) instead of racing on the same files."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            from overparam.errors import SpecError

            raise SpecError("--out", f"another overparam process is writing to {root}; wait "
                            "for it to finish or choose another --out") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class ExperimentStore:
    """One experiment's folder: complete runs in its tables, batches in progress in .parts."""

    def __init__(self, out: Path, experiment_id: str):
        self.root = Path(out) / folder_name(experiment_id)
        self.parts = self.root / ".parts"
        self._parts: dict[str, tuple[str, int]] = {}  # run_id -> (batch key, position)
        self._batches: dict[str, dict[str, Any]] = {}
        self._steps_cache: tuple[str, pd.DataFrame] | None = None
        self._tables: dict[str, pd.DataFrame] | None = None
        if self.parts.is_dir():
            for stray in self.parts.glob(".*.tmp"):  # temporaries of a killed process
                stray.unlink(missing_ok=True)
            for rec in sorted(self.parts.glob("*.json")):
                self._index_batch(rec)

    # ------------------------------------------------------------------ batches in progress
    def _index_batch(self, rec: Path) -> None:
        """Add a batch's runs to the index; a damaged batch (unreadable record, missing or
        short steps file, or another layout) is deleted, so it is recomputed."""
        key = rec.name[: -len(".json")]
        steps = self.parts / f"{key}.steps.parquet"
        try:
            batch = json.loads(rec.read_text())
            import pyarrow.parquet as pq

            # the whole table is read: a damaged data page fails here, not at every rerun
            ok = (isinstance(batch, dict) and len(batch["run_ids"]) == len(batch["records"])
                  == len(batch["rows"]) and pq.read_table(
                      steps, page_checksum_verification=True).num_rows == sum(batch["rows"]))
        except (OSError, ValueError, KeyError, TypeError, Exception):
            ok = False
        if not ok:
            rec.unlink(missing_ok=True)
            steps.unlink(missing_ok=True)
            return
        self._batches[key] = batch
        for i, run_id in enumerate(batch["run_ids"]):
            self._parts[run_id] = (key, i)

    def save_batch(self, runs: list[tuple[str, pd.DataFrame, dict[str, Any]]]) -> None:
        """Save a batch as one unit: its steps first, then its records (the completion mark)."""
        run_ids = [r for r, _, _ in runs]
        key = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:16]
        steps = pd.concat([s for _, s, _ in runs], ignore_index=True)
        write_parquet(self.parts / f"{key}.steps.parquet", steps)
        batch = {"run_ids": run_ids, "rows": [len(s) for _, s, _ in runs],
                 "records": [rec for _, _, rec in runs]}
        write_json(self.parts / f"{key}.json", batch)
        self._batches[key] = json.loads(json.dumps(batch, default=_json_default))
        for i, run_id in enumerate(run_ids):
            self._parts[run_id] = (key, i)

    # ------------------------------------------------------------------ complete runs
    def _stored(self) -> dict[str, pd.DataFrame]:
        """The folder's tables (empty when there are none or one is unreadable)."""
        if self._tables is None:
            self._tables = {}
            try:  # every table read whole: a damaged one counts as none (its runs recomputed)
                if all((self.root / f"{t}.parquet").is_file() for t in TABLES):
                    tables = {t: read_checked(self.root / f"{t}.parquet") for t in TABLES}
                    tables["runs"] = tables["runs"].set_index("run_id", drop=False)
                    self._tables = tables
            except (OSError, ValueError, KeyError):
                self._tables = {}
        return self._tables

    def _stored_table(self, name: str) -> pd.DataFrame:
        tables = self._stored()
        if name not in tables:
            tables[name] = pd.read_parquet(self.root / f"{name}.parquet")
        return tables[name]

    def stored_run_ids(self) -> list[str]:
        """Run ids the folder's tables hold."""
        tables = self._stored()
        return list(tables["runs"].index) if tables else []

    def is_done(self, run_id: str) -> bool:
        tables = self._stored()
        return run_id in self._parts or (bool(tables) and run_id in tables["runs"].index)

    def load_run(self, run_id: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        """A complete run's steps and record (with its check rows under ``checks``)."""
        if run_id in self._parts:
            key, i = self._parts[run_id]
            batch = self._batches[key]
            if self._steps_cache is None or self._steps_cache[0] != key:
                self._steps_cache = (key, pd.read_parquet(self.parts / f"{key}.steps.parquet"))
            start = sum(batch["rows"][:i])
            steps = self._steps_cache[1].iloc[start: start + batch["rows"][i]]
            return steps.reset_index(drop=True), json.loads(json.dumps(batch["records"][i]))
        row = self._stored()["runs"].loc[run_id]
        record = {k: _cell(v) for k, v in row.items()}
        checks = self._stored_table("checks")
        record["checks"] = [{k: _cell(v) for k, v in r.items()}
                            for r in checks[checks["run_id"] == run_id].to_dict("records")]
        steps = self._stored_table("steps")
        return steps[steps["run_id"] == run_id].reset_index(drop=True), record

    def write_tables(self, runs: pd.DataFrame, steps: pd.DataFrame, checks: pd.DataFrame) -> None:
        """The three tables, replaced together (never steps of one set beside runs of another)."""
        write_together({self.root / f"{name}.parquet": _parquet_writer(df)
                        for name, df in (("steps", steps), ("checks", checks), ("runs", runs))})
        self._tables = None

    def drop_parts(self) -> None:
        """Remove .parts once the tables hold every run (they are the store from now on)."""
        shutil.rmtree(self.parts, ignore_errors=True)
        self._parts.clear()
        self._batches.clear()
        self._steps_cache = None

    def figure_dir(self) -> Path:
        d = self.root / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d


def _cell(value: Any) -> Any:
    """A table cell as the run's record held it: parquet gives list cells back as arrays."""
    return value.tolist() if isinstance(value, np.ndarray) else value
