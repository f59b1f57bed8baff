"""Shared fixtures: float64 JAX on the CPU, tiny specs that compile fast, and one
`overparam reproduce --quick` results folder shared by the whole session.

The suite keeps its compiled executables in a cache folder of its own (removed at exit), so a
test never depends on what an earlier run left in the user's cache; subprocesses inherit it.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("OVERPARAM_PLATFORM", "cpu")
# One thread per process for BLAS and XLA's CPU kernels: the suite runs one pytest-xdist
# worker per core, and threads of two processes spin-waiting for the same cores cost about a
# quarter of the suite's time. Set here, before NumPy or JAX load, the workers and every
# subprocess inherit it; an explicit setting of the caller's wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")
if "OVERPARAM_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="overparam-test-xla-")
    os.environ["OVERPARAM_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

from overparam import _jax  # noqa: E402, F401  (float64)

TINY = {
    "id": "tiny",
    "problem": {
        "kind": "two_layer_linear",
        "loss": "squared",
        "width": 12,
        "data": {
            "kind": "synthetic",
            "n": 3,
            "m": 2,
            "x": "orthogonal",
            "target": "init",
            "noise": 0.05,
        },
    },
    "init": {"kind": "gaussian", "std": 1.0},
    "schedule": {"kind": "local_pl"},
    "steps": 15,
    "seeds": 2,
}


@pytest.fixture
def tiny() -> dict:
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results folder of `overparam reproduce --quick` (every experiment and index.html).

    It takes minutes, so it runs once per test run: under pytest-xdist the first worker that
    needs it computes it into the run's shared temporary folder while the others wait on a
    file lock, then reuse it. Tests must treat the folder as read-only (copy it to change
    anything). ``OVERPARAM_QUICK_RESULTS`` may name the folder of an earlier ``overparam
    reproduce --quick`` of the same code to use instead.
    """
    from filelock import FileLock
    from typer.testing import CliRunner

    from overparam.cli import app

    if os.environ.get("OVERPARAM_QUICK_RESULTS"):  # an earlier reproduction, when iterating
        return Path(os.environ["OVERPARAM_QUICK_RESULTS"])
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "reproduce-quick"
    with FileLock(str(shared / "reproduce-quick.lock")):
        if not (out / "index.html").is_file():
            shutil.rmtree(out, ignore_errors=True)
            res = CliRunner().invoke(app, ["reproduce", "--quick", "--out", str(out),
                                           "--no-progress"])
            assert res.exit_code == 0, res.output
    return out


@pytest.fixture(autouse=True)
def _restore_mp_precision():
    """A test that sets mpmath's global precision does not change the next test's."""
    import mpmath

    dps = mpmath.mp.dps
    yield
    mpmath.mp.dps = dps
