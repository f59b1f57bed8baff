"""Nothing lost, nothing half-written: a run killed with SIGKILL resumes without recomputing
what was complete, and the same command gives the same tables."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from overparam.runner import TIMING_COLUMNS

TABLES = ("runs", "steps", "checks")

#: The tests share one straight run of the eight settings (``clean``): one worker runs them.
pytestmark = pytest.mark.xdist_group("durability")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
    """Completed batches (their record exists) -> (inode, mtime) of the record and steps
    files, for each run of the batch."""
    out = {}
    for rec in parts.glob("*.json"):
        key = rec.name[: -len(".json")]
        steps = parts / f"{key}.steps.parquet"
        files = (rec.stat().st_ino, rec.stat().st_mtime_ns,
                 steps.stat().st_ino, steps.stat().st_mtime_ns)
        for run_id in json.loads(rec.read_text())["run_ids"]:
            out[run_id] = files
    return out


def _records(parts: Path) -> dict[str, dict]:
    out = {}
    for rec in parts.glob("*.json"):
        batch = json.loads(rec.read_text())
        out.update(zip(batch["run_ids"], batch["records"], strict=True))
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """The eight settings of ``_spec`` run straight through in a fresh process: the tables an
    interrupted command must end with (or, for a subset of the settings, their rows)."""
    from conftest import TINY

    root = tmp_path_factory.mktemp("clean")
    spec = root / "killed.yaml"
    spec.write_text(yaml.safe_dump(_spec(copy.deepcopy(TINY))))
    straight = subprocess.run(_cmd(spec, root / "whole"), capture_output=True, text=True,
                              timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]
    return root / "whole" / "killed"


def _same_as_clean(folder: Path, clean: Path) -> None:
    """The tables of ``folder`` equal the clean run's rows of the same runs, number for number
    (timing columns aside)."""
    mine = _tables(folder)
    ids = set(mine[0]["run_id"])
    for a, b in zip(mine, _tables(clean), strict=True):
        b = b[b["run_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b, check_exact=True)


def test_sigkill_then_rerun_recomputes_nothing_complete_and_gives_the_same_tables(
        tmp_path, tiny, clean):
    spec = tmp_path / "killed.yaml"
    spec.write_text(yaml.safe_dump(_spec(tiny)))
    out = tmp_path / "out"
    parts = out / "killed" / ".parts"
    proc = subprocess.Popen(_cmd(spec, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while len(_done(parts)) < 4:  # two settings of two seeds
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no run completed in time"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = _done(parts)
    records = _records(parts)
    assert 4 <= len(before) < 16, "the kill came too late to interrupt anything"
    assert not (out / "killed" / "runs.parquet").exists()

    rerun = subprocess.run(_cmd(spec, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    manifest = json.loads((out / "killed" / "manifest.json").read_text())
    # the complete batches were reused, not recomputed; the tables now hold every run
    assert (manifest["reused"], manifest["computed"]) == (len(before), 16 - len(before))
    assert f"reused {len(before)}, computed {16 - len(before)}" in rerun.stdout
    assert not parts.exists(), ".parts is removed once the tables hold every run"
    runs = pd.read_parquet(out / "killed" / "runs.parquet").set_index("run_id")
    for run_id, rec in records.items():
        assert runs.loc[run_id, "wall_s"] == rec["wall_s"]

    _same_as_clean(out / "killed", clean)


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
    assert not (first.path / ".parts").exists()
    again = op.run(tiny, out=tmp_path / "first")  # reused from the tables, number for number
    assert (again.manifest["reused"], again.manifest["computed"]) == (len(first.runs), 0)
    for a, b in zip(_tables(first.path), _tables(again.path), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated")])
def test_sigint_and_sigterm_exit_with_one_line_and_the_rerun_equals_a_clean_run(
        tmp_path, tiny, sig, code, word, clean):
    tiny["sweep"] = {"problem.width": [12, 13, 14, 15]}
    spec = tmp_path / "killed.yaml"
    spec.write_text(yaml.safe_dump(_spec(tiny)))
    out = tmp_path / "out"
    parts = out / "killed" / ".parts"
    # a pytest-xdist worker ignores SIGINT and its children would inherit that: restore it
    proc = subprocess.Popen(_cmd(spec, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 240
    while len(_done(parts)) < 2:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "no batch completed in time"
        time.sleep(0.05)
    proc.send_signal(sig)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == code, err[-2000:]
    assert err.strip().splitlines()[-1].startswith(word) and "Traceback" not in err
    assert not (out / "killed" / "runs.parquet").exists()
    rerun = subprocess.run(_cmd(spec, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    _same_as_clean(out / "killed", clean)  # a subset of its settings: their rows


def test_a_damaged_batch_is_recomputed(tmp_path, tiny):
    """Truncated, empty or foreign files in .parts are discarded, not a traceback forever."""
    import overparam as op
    from overparam.store import ExperimentStore

    first = op.run(tiny, out=tmp_path / "clean")
    store = ExperimentStore(tmp_path / "broken", "tiny")
    run_ids = list(first.runs["run_id"])
    store.save_batch([(r, first.steps[first.steps["run_id"] == r], {"x": 1}) for r in run_ids])
    (rec,) = store.parts.glob("*.json")
    rec.write_text(rec.read_text()[:20])  # truncated mid-write
    (store.parts / "0123.json").write_text("")  # empty
    (store.parts / "4567.json").write_text('{"run_ids": ["a"]}')  # another layout
    again = op.run(tiny, out=tmp_path / "broken")
    assert again.manifest["computed"] == len(run_ids)
    for a, b in zip(_tables(first.path), _tables(again.path), strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_two_writers_on_one_folder_the_second_is_refused(tmp_path, tiny):
    import overparam as op
    from overparam.errors import SpecError
    from overparam.store import lock_folder

    with lock_folder(tmp_path / "tiny"), pytest.raises(SpecError, match="another overparam"):
        op.run(tiny, out=tmp_path)
    holder = subprocess.Popen(  # another process holds the folder
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from overparam.store import lock_folder\n"
         "with lock_folder(Path(sys.argv[1])):\n    print('held', flush=True)\n"
         "    time.sleep(3)", str(tmp_path / "tiny")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(SpecError, match="another overparam"):
        op.run(tiny, out=tmp_path)
    assert not (tmp_path / "tiny" / "runs.parquet").exists()
    holder.wait(timeout=60)
    assert len(op.run(tiny, out=tmp_path).runs) == 2  # free again once it has finished
