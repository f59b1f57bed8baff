"""The engine end to end: GD against a plain NumPy loop, resume, divergence, chunking, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import overparam as op
from overparam import runner
from overparam.problems.two_layer_linear import build_instance
from overparam.runner import plan


def _numpy_gd(X, Y, W1, W2, eta, steps):
    """Plain GD on ½‖Y − X W1 W2ᵀ‖², written directly (independent of the engine)."""
    losses = []
    for _ in range(steps + 1):
        R = X @ W1 @ W2.T - Y
        losses.append(0.5 * np.sum(R**2))
        G = X.T @ R
        W1, W2 = W1 - eta * G @ W2, W2 - eta * G.T @ W1
    return np.array(losses)


def test_constant_step_matches_numpy_loop(tmp_path, tiny):
    tiny["schedule"] = {"kind": "constant", "eta": 0.01}
    res = op.run(tiny, out=tmp_path)
    p = plan(tiny)
    for seed, (run_id, grp) in zip(p.seeds(), res.steps.groupby("run_id", sort=False), strict=True):
        inst = build_instance(p.settings[0], seed, p.base_dir)
        ref = _numpy_gd(inst.X, inst.Y, inst.W1, inst.W2, 0.01, tiny["steps"])
        np.testing.assert_allclose(grp["loss"].to_numpy(), ref, rtol=1e-11, atol=1e-300)
        np.testing.assert_allclose(grp["t"].to_numpy(), 0.01 * np.arange(tiny["steps"] + 1))
        assert run_id in set(res.runs["run_id"])


def test_resume_skips_done_runs_and_gives_identical_tables(tmp_path, tiny, monkeypatch):
    first = op.run(tiny, out=tmp_path)
    tables = (first.runs, first.steps, first.checks)

    def boom(*args, **kwargs):
        raise AssertionError("a completed run was recomputed")

    monkeypatch.setattr(runner, "compute_batch", boom)
    second = op.run(tiny, out=tmp_path)
    for a, b in zip(tables, (second.runs, second.steps, second.checks), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_more_seeds_only_runs_the_new_ones(tmp_path, tiny, monkeypatch):
    op.run(tiny, out=tmp_path)
    calls = []
    real = runner.compute_batch
    monkeypatch.setattr(runner, "compute_batch", lambda b: calls.append(list(b.seeds)) or real(b))
    res = op.run(tiny, out=tmp_path, seeds=3)
    assert calls == [[2]]
    assert len(res.runs) == 3


def test_divergence_is_a_status_and_others_go_on(tmp_path, tiny):
    tiny["schedule"] = {"kind": "constant", "eta": 0.01}
    tiny["sweep"] = {"schedule.eta": [0.01, 5.0]}
    res = op.run(tiny, out=tmp_path)
    status = res.runs.set_index("schedule.eta")["status"]
    assert set(status.loc[0.01]) == {"ok"}
    assert set(status.loc[5.0]) == {"diverged"}
    div = res.runs[res.runs["status"] == "diverged"]
    assert (div["steps_done"] < tiny["steps"]).all()
    ok = res.runs[res.runs["status"] == "ok"]
    assert (
        ok["final_loss"] < res.steps.groupby("run_id")["loss"].first()[ok["run_id"]].to_numpy()
    ).all()


def test_chunked_loop_streams_identical_rows(tmp_path, tiny):
    whole = op.run(tiny, out=tmp_path / "a").steps
    tiny["chunk"] = 4
    chunked = op.run(tiny, out=tmp_path / "b").steps
    pd.testing.assert_frame_equal(whole.drop(columns="run_id"), chunked.drop(columns="run_id"))


def test_vmapped_seeds_equal_single_seed_runs(tmp_path, tiny):
    both = op.run(tiny, out=tmp_path / "both").steps
    tiny["seeds"], tiny["seed"] = 1, 1
    second = op.run(tiny, out=tmp_path / "one").steps
    ids = both["run_id"].unique()
    assert ids[1] == second["run_id"].iloc[0]  # run ids depend on setting and seed only
    np.testing.assert_allclose(
        both[both["run_id"] == ids[1]]["loss"].to_numpy(), second["loss"].to_numpy(), rtol=1e-12
    )


@pytest.mark.parametrize(
    "kind", ["local_pl", "global_pl", "constant", "xu2023", "backtracking", "plain_inverse_k"]
)
def test_every_schedule_decreases_the_loss(tmp_path, tiny, kind):
    tiny["schedule"] = {"kind": kind}
    res = op.run(tiny, out=tmp_path)
    assert set(res.runs["status"]) == {"ok"}
    for _, grp in res.steps.groupby("run_id"):
        loss = grp["loss_gap"].to_numpy()
        assert loss[-1] < 0.5 * loss[0]  # Xu and backtracking (gamma = 0.9) are slow


def test_narrow_network_runs_with_theory_not_applicable(tmp_path, tiny):
    """width < max(n, m): Table 2 is undefined, so Thm 3.2 checks are n/a, never passes."""
    tiny["problem"]["width"] = 2  # n = 3, m = 2
    tiny["schedule"] = {"kind": "constant", "eta": 0.01}
    res = op.run(tiny, out=tmp_path)
    assert set(res.runs["status"]) == {"ok"} and res.runs["alpha1"].isna().all()
    checks = res.checks.set_index(["run_id", "check"])
    thm = checks.xs("A.thm3.2.eq17", level="check")
    assert (thm["status"] == "not_applicable").all() and not thm["holds"].any()
    assert (checks.xs("A.thm3.1.pl", level="check")["status"] == "holds").all()


def test_sweep_over_words_and_numbers_is_stored(tmp_path, tiny):
    tiny["schedule"] = {"kind": "constant"}
    tiny["sweep"] = {"schedule.eta": ["eta_max", 0.01]}
    res = op.run(tiny, out=tmp_path)
    assert sorted(set(res.runs["schedule.eta"])) == ["0.01", "eta_max"]


@pytest.mark.parametrize("loss", ["logistic", "softmax"])
def test_cross_entropy_runs_report_the_gap_to_l_star(tmp_path, tiny, loss):
    m = 1 if loss == "logistic" else 3
    tiny["problem"].update(loss=loss, ridge=0.5)
    tiny["problem"]["data"] = {"kind": "synthetic", "n": 3, "m": m, "samples": 12, "x": "gaussian",
                               "target": "teacher_labels", "target_std": 1.0}
    tiny["schedule"] = {"kind": "backtracking"}
    tiny["steps"] = 40
    res = op.run(tiny, out=tmp_path)
    assert set(res.runs["status"]) == {"ok"} and (res.runs["l_star"] > 0).all()
    s = res.steps.merge(res.runs[["run_id", "l_star"]])
    np.testing.assert_allclose(s["loss_gap"], np.maximum(s["loss"] - s["l_star"], 0), rtol=1e-12)
    last = s.groupby("run_id")["loss_gap"].last() / s.groupby("run_id")["loss_gap"].first()
    assert (last < 0.1).all()
    assert not (res.checks["status"] == "violated").any()
