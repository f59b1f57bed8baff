"""A data file replaced between planning a command and running it is refused: the run ids
were derived from the planned bytes, and the numbers must come from those bytes too."""

from __future__ import annotations

import os

import numpy as np
import pytest

from overparam.errors import SpecError
from overparam.runner import execute, plan


def _spec(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "X.npy", rng.standard_normal((6, 3)))
    np.save(tmp_path / "Y.npy", rng.standard_normal((6, 2)))
    return {"id": "file-change", "problem": {
        "kind": "two_layer_linear", "loss": "squared", "width": 8,
        "data": {"kind": "npy", "X": str(tmp_path / "X.npy"), "Y": str(tmp_path / "Y.npy")}},
        "init": {"kind": "gaussian", "std": 1.0}, "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 3, "seeds": 1}


def test_a_file_replaced_after_planning_is_refused(tmp_path):
    p = plan(_spec(tmp_path))
    x = tmp_path / "X.npy"
    np.save(x, 10 * np.load(x))  # other bytes, same shape
    st = x.stat()
    os.utime(x, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later modification time
    with pytest.raises(SpecError) as err:
        execute(p, tmp_path / "out", progress=False)
    assert err.value.field == "problem.data.X" and "changed after" in err.value.message
    assert not (tmp_path / "out" / "file-change" / "runs.parquet").exists()


def test_an_unchanged_file_runs(tmp_path):
    res = execute(plan(_spec(tmp_path)), tmp_path / "out", progress=False)
    assert set(res.runs["status"]) == {"ok"}
