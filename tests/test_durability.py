"""Nothing lost, nothing half-written: a run killed with SIGKILL resumes without recomputing
what was complete, and the same command gives the same tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from overparam.runner import TIMING_COLUMNS

TABLES = ("runs", "steps", "checks")


def _spec(tiny: dict) -> dict:
    """Eight settings of a few hundred milliseconds each (each compiles its own loop)."""
    tiny["id"] = "killed"
    tiny["steps"] = 3000
    tiny["chunk"] = 500
    tiny["sweep"] = {"problem.width": [12, 13, 14, 15, 16, 17, 18, 19]}
    return tiny


def _cmd(spec: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "overparam.cli", "run-spec", str(spec), "--out", str(out),
            "--no-progress"]


def _tables(folder: Path, with_times: bool = False) -> list[pd.DataFrame]:
    out = []
    for name in TABLES:
        df = pd.read_parquet(folder / f"{name}.parquet")
        out.append(df if with_times else df.drop(columns=[c for c in TIMING_COLUMNS if c in df]))
    return out


def _done(parts: Path) -> dict[str, tuple[int, int]]:
    """Completed runs (their record exists) -> (inode, mtime) of the record and steps files."""
    out = {}
    for rec in parts.glob("*.json"):
        run_id = rec.name[: -len(".json")]
        steps = parts / f"{run_id}.steps.parquet"
        out[run_id] = (rec.stat().st_ino, rec.stat().st_mtime_ns,
                       steps.stat().st_ino, steps.stat().st_mtime_ns)
    return out


def test_sigkill_then_rerun_recomputes_nothing_complete_and_gives_the_same_tables(tmp_path, tiny):
    spec = tmp_path / "killed.yaml"
    spec.write_text(yaml.safe_dump(_spec(tiny)))
    out = tmp_path / "out"
    parts = out / "killed" / ".parts"
    proc = subprocess.Popen(_cmd(spec, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while len(list(parts.glob("*.json"))) < 4:  # two settings of two seeds
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no run completed in time"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = _done(parts)
    records = {r: json.loads((parts / f"{r}.json").read_text()) for r in before}
    assert 4 <= len(before) < 16, "the kill came too late to interrupt anything"
    assert not (out / "killed" / "runs.parquet").exists()

    rerun = subprocess.run(_cmd(spec, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = _done(parts)
    assert len(after) == 16
    for run_id, files in before.items():  # untouched: not rewritten, not recomputed
        assert after[run_id] == files, f"run {run_id} was written again"
    assert not list(parts.glob(".*.tmp")), "a temporary file was left behind"
    runs = pd.read_parquet(out / "killed" / "runs.parquet").set_index("run_id")
    for run_id, rec in records.items():
        assert runs.loc[run_id, "wall_s"] == rec["wall_s"]

    whole = tmp_path / "whole"
    straight = subprocess.run(_cmd(spec, whole), capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]
    for a, b in zip(_tables(out / "killed"), _tables(whole / "killed"), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_same_command_same_seed_gives_identical_tables(tmp_path, tiny):
    """Two fresh runs of one command: every table equal, number for number, except the
    measured times (runner.TIMING_COLUMNS)."""
    import overparam as op

    tiny["sweep"] = {"schedule.kind": ["local_pl", "global_pl", "backtracking"]}
    first = op.run(tiny, out=tmp_path / "first")
    second = op.run(tiny, out=tmp_path / "second")
    for a, b in zip(_tables(first.path), _tables(second.path), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert set(TIMING_COLUMNS) <= set(first.runs.columns)
    assert os.listdir(first.path / ".parts") and not list((first.path / ".parts").glob(".*"))
