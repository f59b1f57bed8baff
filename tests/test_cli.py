"""The command line: user errors exit 2 with one line naming the field and write nothing."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from overparam.cli import app

runner = CliRunner()


def _write_spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _npy_case(folder: Path, tiny: dict, X, Y, W1, W2) -> dict:
    """Write the arrays beside the spec (paths in a spec are relative to its file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in (("X", X), ("Y", Y), ("W1", W1), ("W2", W2)):
        np.save(folder / f"{name}.npy", arr)
    spec = copy.deepcopy(tiny)
    spec["problem"]["data"] = {"kind": "npy", "X": "X.npy", "Y": "Y.npy"}
    spec["problem"]["width"] = W1.shape[1]
    spec["init"] = {"kind": "npy", "W1": "W1.npy", "W2": "W2.npy"}
    return spec


def _bad_cases(tmp_path: Path, tiny: dict):
    """(field the message must name, folder, spec, extra CLI args)."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    W1, W2 = rng.standard_normal((3, 6)), rng.standard_normal((2, 6))

    def plain(name, mutate, extra=()):
        spec = copy.deepcopy(tiny)
        mutate(spec)
        return name, tmp_path / f"c-{len(name)}-{abs(hash(str(spec))) % 10**6}", spec, list(extra)

    yield plain("problem", lambda s: s["problem"].update(kind="cnn"))
    yield plain("schedule.bogus", lambda s: s["schedule"].update(bogus=1))
    yield plain("problem.width", lambda s: s["problem"].update(width=-3))
    yield plain("steps", lambda s: None, ["--set", "steps=-1"])
    yield plain("--set", lambda s: None, ["--set", "steps"])
    yield (
        "init.W2",
        tmp_path / "shape",
        _npy_case(tmp_path / "shape", tiny, X, Y, W1, W2[:, :5]),
        [],
    )
    Xn = X.copy()
    Xn[1, 1] = np.nan
    yield "problem.data.X", tmp_path / "nan", _npy_case(tmp_path / "nan", tiny, Xn, Y, W1, W2), []
    spec = _npy_case(tmp_path / "garbage", tiny, X, Y, W1, W2)
    (tmp_path / "garbage" / "Y.npy").write_bytes(b"not a numpy file")
    yield "problem.data.Y", tmp_path / "garbage", spec, []
    spec = _npy_case(tmp_path / "missing", tiny, X, Y, W1, W2)
    (tmp_path / "missing" / "W1.npy").unlink()
    yield "init.W1", tmp_path / "missing", spec, []


def test_user_errors_exit_2_and_write_nothing(tmp_path, tiny):
    for field, folder, spec, extra in _bad_cases(tmp_path, tiny):
        folder.mkdir(parents=True, exist_ok=True)
        path = _write_spec(folder, spec)
        out = folder / "out"
        res = runner.invoke(
            app, ["run-spec", str(path), "--out", str(out), "--no-progress", *extra]
        )
        assert res.exit_code == 2, (field, res.output)
        assert field in res.output, (field, res.output)
        assert "Traceback" not in res.output
        assert not out.exists(), field


def test_subprocess_error_has_no_traceback(tmp_path):
    path = _write_spec(
        tmp_path,
        {"problem": {"kind": "two_layer_linear", "width": 0, "data": {"kind": "synthetic"}}},
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "overparam.cli",
            "run-spec",
            str(path),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "problem.width" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_experiment_exit_2(tmp_path):
    res = runner.invoke(app, ["run", "no/such", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown experiment" in res.output


def test_list_shows_paper_a():
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0
    for eid in ("local-pl/toy-landscape", "local-pl/bound-tightness", "local-pl/vs-plain"):
        assert eid in res.output


@pytest.mark.parametrize("loss", ["squared"])
def test_run_spec_then_report(tmp_path, tiny, loss):
    path = _write_spec(tmp_path, tiny)
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "run-spec",
            str(path),
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "problem.width=[8,16]",
        ],
    )
    assert res.exit_code == 0, res.output
    root = out / "tiny"
    for name in (
        "runs.parquet",
        "steps.parquet",
        "checks.parquet",
        "manifest.json",
        "figures/loss.png",
    ):
        assert (root / name).exists(), name
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0 and (out / "index.html").exists()
