"""The Dask executor: the same tables as the local one, retries after a dead worker, bad options."""

from __future__ import annotations

import os
from collections import Counter

import pandas as pd
import pytest
from typer.testing import CliRunner

import overparam as op
from overparam import runner
from overparam.cli import app
from overparam.executors import DaskExecutor, parse_executor
from overparam.runner import TIMING_COLUMNS, execute, plan
from overparam.store import ExperimentStore

distributed = pytest.importorskip("distributed")

TABLES = ("runs", "steps", "checks")


def _sweep(tiny: dict) -> dict:
    tiny["sweep"] = {"problem.width": [12, 16, 20], "schedule.eta": [0.01, 0.02]}
    tiny["schedule"] = {"kind": "constant", "eta": 0.01}
    return tiny


def assert_same_tables(a, b) -> None:
    """The parquet files of two results folders agree number for number (times aside)."""
    for name in TABLES:
        x, y = pd.read_parquet(a / f"{name}.parquet"), pd.read_parquet(b / f"{name}.parquet")
        drop = [c for c in TIMING_COLUMNS if c in x.columns]
        pd.testing.assert_frame_equal(x.drop(columns=drop), y.drop(columns=drop),
                                      check_exact=True)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:
        yield c


def test_local_cluster_from_the_command_line_equals_local(tmp_path, tiny):
    import yaml

    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(_sweep(tiny)))
    cli = CliRunner()
    for out, extra in (("local", []), ("dask", ["--executor", "dask", "--workers", "2"])):
        res = cli.invoke(app, ["run-spec", str(spec), "--out", str(tmp_path / out),
                               "--no-progress", *extra])
        assert res.exit_code == 0, res.output
    assert_same_tables(tmp_path / "local" / "tiny", tmp_path / "dask" / "tiny")
    runs = pd.read_parquet(tmp_path / "dask" / "tiny" / "runs.parquet")
    assert len(runs) == 12 and runs["run_id"].is_unique


def test_existing_scheduler_equals_local(tmp_path, tiny, cluster):
    spec = _sweep(tiny)
    local = op.run(spec, out=tmp_path / "local")
    address = cluster.scheduler_address.replace("tcp://", "dask://")
    remote = op.run(spec, out=tmp_path / "remote", executor=address)
    assert_same_tables(local.path, remote.path)
    assert remote.manifest["executor"].startswith("dask (tcp://")


def test_a_worker_killed_mid_task_is_retried_and_nothing_is_lost_or_saved_twice(
        tmp_path, tiny, cluster, monkeypatch):
    spec = _sweep(tiny)
    local = op.run(spec, out=tmp_path / "local")
    marker = tmp_path / "killed-once"
    real = runner.compute_batch

    def dies_once(batch):  # the first task to get here takes its worker process down
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return real(batch)
        os._exit(1)

    saved: Counter[str] = Counter()
    real_save = ExperimentStore.save_batch

    def counting_save(self, runs):
        for run_id, _, _ in runs:
            saved[run_id] += 1
        real_save(self, runs)

    monkeypatch.setattr(runner, "compute_batch", dies_once)
    monkeypatch.setattr(ExperimentStore, "save_batch", counting_save)
    ex = DaskExecutor(address=cluster.scheduler_address)
    try:
        res = execute(plan(spec), tmp_path / "dask", progress=False, executor=ex)
    finally:
        ex.close()
    assert marker.exists(), "no worker was killed"
    assert len(res.runs) == 12 and set(saved) == set(res.runs["run_id"])
    assert set(saved.values()) == {1}, saved
    assert_same_tables(local.path, res.path)


def test_local_cluster_workers_get_their_share_of_blas_threads_and_keep_their_heap(
        monkeypatch):
    """Dask's nanny pins BLAS to one thread and makes glibc trim the heap at 64 KiB (which
    made the compiled loop 1.9x slower); a local cluster's workers get cores // workers
    threads, and every task has glibc keep HEAP_TOP_PAD at the top of the heap."""
    from dask.system import CPU_COUNT

    from overparam.executors import BLAS_THREAD_VARIABLES, keep_heap

    def environment(_):
        done_before = keep_heap.cache_info().currsize == 1  # the task wrapper ran it
        return ({v: os.environ.get(v) for v in BLAS_THREAD_VARIABLES},
                "MALLOC_TRIM_THRESHOLD_" in os.environ, done_before and keep_heap())

    for v in (*BLAS_THREAD_VARIABLES, "MALLOC_TRIM_THRESHOLD_"):  # a nanny set them here
        monkeypatch.delenv(v, raising=False)
    keep_heap.cache_clear()
    assert not keep_heap()
    keep_heap.cache_clear()
    for workers in (1, 2):
        ex = DaskExecutor(workers=workers)
        try:
            seen = list(ex.map_unordered(environment, range(workers)))
        finally:
            ex.close()
        for threads, trimmed, kept in seen:
            assert set(threads.values()) == {str(max(1, CPU_COUNT // workers))}
            assert trimmed and kept
        for v in BLAS_THREAD_VARIABLES:
            monkeypatch.delenv(v, raising=False)


@pytest.mark.parametrize("executor, workers, field", [
    ("bogus", None, "--executor"), ("dask://nohost", None, "--executor"),
    ("dask", 0, "--workers"), ("local", 4, "--workers"), ("dask://h:8786", 2, "--workers"),
])
def test_bad_executor_options_exit_2_naming_the_option(tmp_path, tiny, executor, workers, field):
    import yaml

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(tiny))
    args = ["run-spec", str(spec), "--out", str(tmp_path / "out"), "--executor", executor]
    if workers is not None:
        args += ["--workers", str(workers)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith(f"error: {field}:") and res.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_parse_executor_addresses():
    assert parse_executor("dask://host:8786", None) == ("dask", "tcp://host:8786")
    assert parse_executor("tcp://10.0.0.1:8786", None) == ("dask", "tcp://10.0.0.1:8786")
    assert parse_executor("dask", 4) == ("dask", None)
    assert parse_executor("local", None) == ("local", None)


# ------------------------------------------------------------------ unreachable schedulers
def test_too_many_workers_is_refused_before_anything_starts(tmp_path):
    from overparam.errors import SpecError
    from overparam.executors import MAX_WORKERS

    with pytest.raises(SpecError, match=r"--workers.*at most") as err:
        parse_executor("local", MAX_WORKERS + 1)
    assert err.value.field == "--workers"
    res = CliRunner().invoke(app, ["run", "local-pl/toy-landscape", "--quick", "--workers",
                                   "99999", "--out", str(tmp_path / "o"), "--no-progress"])
    assert res.exit_code == 2 and "--workers" in res.output and not (tmp_path / "o").exists()


def test_a_tls_address_without_settings_and_a_server_that_never_speaks_are_one_line():
    """tls:// without Dask's TLS settings names what is missing; a server that accepts the
    connection and says nothing is given up after the timeout, not waited on forever."""
    import socket
    import time

    from distributed import Client

    from overparam.errors import SpecError
    from overparam.executors import _connect

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(SpecError, match="cannot reach the Dask scheduler") as err:
            _connect(Client, f"tcp://127.0.0.1:{port}", 0.5)
        assert time.monotonic() - start < 20
        assert err.value.field == "--executor"
    with pytest.raises(SpecError, match="cannot reach the Dask scheduler at tls://"):
        _connect(Client, "tls://127.0.0.1:1", 0.5)
