"""A family added at run time (tests/scalar_quadratic.py) runs end to end through the CLI
with its own figure and checks, and a compile key that follows its step-affecting fields."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from overparam.cli import app
from overparam.problems import registry
from overparam.problems.protocol import compile_key
from overparam.spec import Setting


@pytest.fixture
def quadratic():
    import scalar_quadratic

    family = registry.register(scalar_quadratic.FAMILY)
    yield family
    registry.unregister(family.kind)


SPEC = {"id": "quad", "problem": {"kind": "scalar_quadratic", "a": 2.0, "noise": 0.1},
        "schedule": {"kind": "constant", "eta": 0.2}, "steps": 12, "seeds": 3,
        "sweep": {"problem.x0": [1.0, 3.0]}}


def test_a_registered_family_runs_through_the_cli(quadratic, tmp_path: Path) -> None:
    spec = tmp_path / "quad.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    res = CliRunner().invoke(app, ["run-spec", str(spec), "--out", str(tmp_path / "out"),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    root = tmp_path / "out" / "quad"
    runs = pd.read_parquet(root / "runs.parquet")
    steps = pd.read_parquet(root / "steps.parquet")
    checks = pd.read_parquet(root / "checks.parquet")
    assert len(runs) == 6 and set(runs["status"]) == {"ok"}
    assert list(steps.columns) == ["run_id", "step", "t", "loss", "x", "closed_form"]
    assert set(checks["status"]) == {"holds"} and len(checks) == 6
    # the loop's loss against the closed form, computed here independently
    for _, run in runs.iterrows():
        mine = steps[steps["run_id"] == run["run_id"]]
        x = mine["x"].iloc[0]
        expect = 0.5 * 2.0 * x**2 * (1 - 0.2 * 2.0) ** (2 * mine["step"].to_numpy())
        assert abs(mine["loss"].to_numpy() / expect - 1).max() < 1e-12
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["figures"] == ["figures/quadratic.png"]
    assert (root / "figures" / "quadratic.png").stat().st_size > 1000


def test_its_rules_and_errors_are_its_own(quadratic, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "schedule": {"kind": "local_pl"}}))
    res = CliRunner().invoke(app, ["run-spec", str(spec), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "schedule.kind" in res.output
    assert not (tmp_path / "out").exists()


def test_unregistered_kind_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "quad.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    res = CliRunner().invoke(app, ["run-spec", str(spec), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "problem" in res.output


def test_compile_key_follows_the_step_affecting_fields(quadratic) -> None:
    base = {"problem": {"kind": "scalar_quadratic"}, "schedule": {"kind": "constant", "eta": 0.1}}

    def key(**problem):
        s = Setting.model_validate({**base, "problem": {**base["problem"], **problem}})
        return compile_key(quadratic, s)

    assert key(x0=1.0) == key(x0=5.0) == key(noise=0.3)  # runtime fields: data of the step
    assert key(a=1.0) != key(a=2.0)  # closed over by the step
    steps = Setting.model_validate({**base, "steps": 7})
    assert compile_key(quadratic, steps) == key()
    eta = Setting.model_validate({**base, "schedule": {"kind": "constant", "eta": 0.3}})
    assert compile_key(quadratic, eta) != key()


#: For each built-in family: a small setting and a change of its runtime fields only (the
#: compile key stays; the numbers change).
SHARED_KEY = {
    "two_layer_linear": ({"problem": {"kind": "two_layer_linear", "width": 7, "data": {
        "kind": "synthetic", "n": 3, "m": 2, "noise": 0.1}}, "init": {"kind": "gaussian",
        "std": 1.0}, "schedule": {"kind": "local_pl"}},
        {"problem.width": 11, "problem.data.noise": 0.3, "init.std": 0.5,
         "diverge_factor": 1e6}),
    "deep_linear": ({"problem": {"kind": "deep_linear", "widths": [4, 9, 9, 3], "data": {
        "kind": "synthetic", "samples": 20}}, "init": {"kind": "gaussian", "std": 1.0},
        "schedule": {"kind": "constant", "eta": "thm1"}},
        {"problem.data.noise": 0.4, "schedule.eta": 0.001, "init.std": 0.7}),
    "linear_classifier": ({"problem": {"kind": "linear_classifier", "dim": 3, "depth": 2},
                           "init": {"kind": "rank_one", "theta0": 1.0},
                           "schedule": {"kind": "constant", "eta": 0.1}},
                          {"init.theta0": 2.0, "diverge_factor": 1e5}),
    "shallow": ({"problem": {"kind": "shallow", "width": 16, "data": {"kind": "sphere",
                 "n": 10, "d0": 4}}, "schedule": {"kind": "constant", "eta": 0.01}},
                {"problem.data.y_norm": 2.0, "schedule.eta": 0.02, "problem.c_rate": 2.0}),
}


@pytest.mark.parametrize("kind", sorted(SHARED_KEY))
def test_settings_sharing_a_compile_key_share_an_executable_correctly(kind, tmp_path) -> None:
    """Run A, then B with A's executable (same derived key): B's rows equal B run with a
    fresh compilation. A field that the step closes over but is wrongly declared a runtime
    field fails here."""
    import numpy as np

    from overparam import engine
    from overparam.spec import set_path

    raw, change = SHARED_KEY[kind]
    raw = {**raw, "steps": 6, "chunk": 7}
    other = raw
    for key, value in change.items():
        other = set_path(other, key, value)
    a, b = Setting.model_validate(raw), Setting.model_validate(other)
    fam = registry.get(kind)
    assert compile_key(fam, a) == compile_key(fam, b)

    def rows(setting, cache_key):
        insts = [fam.build_instance(setting, s, tmp_path) for s in (0, 1)]
        _, carries, data, step = fam.prepare(setting, insts)
        got = []
        engine.run_chunks(step, engine.stack(carries), engine.stack(data), 7, 7,
                          lambda start, r: got.append(r), cache_key=cache_key)
        return got[0]

    shared = f"test-{kind}-{tmp_path.name}"
    rows(a, shared)
    reused, fresh = rows(b, shared), rows(b, None)
    assert set(reused) == set(fresh)
    for col in fresh:
        np.testing.assert_array_equal(reused[col], fresh[col], err_msg=col)
