"""Paper C's omitted quantities: Theorem 2 with the constants of Lemma 6's proof (14τ, 7τ),
Corollary 3's step, the per-layer movement ‖W_i(t) − W_i(0)‖_F, and the convex twin computed
to its own end after the network diverges; each against a plain NumPy computation."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

import overparam
from overparam.checks.deep_linear import run_checks
from overparam.problems import deep_linear as pdl
from overparam.spec import expand, validate_spec
from overparam.theory import deep_linear as th

DATA = {"kind": "synthetic", "n": 5, "m": 3, "samples": 20, "x": "gaussian",
        "target": "gaussian", "noise": 1.0}
#: Wide enough that q + 7τ < 1 on a prefix of the run (the proof's bounds apply there).
WIDE = {"id": "c-proof", "problem": {"kind": "deep_linear", "depth": 3, "hidden": 400,
                                     "loss": "squared_half", "data": DATA,
                                     "sigma_min_inner_every": 0},
        "init": {"kind": "orthogonal"}, "schedule": {"kind": "constant", "eta": "cor3"},
        "steps": 12, "seeds": 1}
#: A large step, η = 1.98 n_N/(βN): the twin's η* = 1.98/β is below 2/β and it converges, the
#: width-4 network of this seed diverges at step 3.
DIVERGING = {"id": "c-diverge", "problem": {"kind": "deep_linear", "depth": 4, "hidden": 4,
                                            "loss": "squared_half", "data": DATA,
                                            "sigma_min_inner_every": 0},
             "init": {"kind": "gaussian"},
             "schedule": {"kind": "constant", "eta": "thm1", "scale": 1.98}, "steps": 40,
             "seeds": 1}


def _run(spec, out):
    return overparam.run(copy.deepcopy(spec), out=out, progress=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("proof")
    return {"wide": _run(WIDE, root / "wide"), "diverging": _run(DIVERGING, root / "div")}


def _setting(spec):
    (setting,) = expand(validate_spec(copy.deepcopy(spec)))
    return setting


def _steps(res, run_id):
    return res.steps[res.steps["run_id"] == run_id].reset_index(drop=True)


def _prod(Ws, n):
    P = np.eye(n)
    for W in Ws:
        P = W @ P
    return P


def _numpy_runs(inst, eta, steps):
    """GD (7) on the layers and GD (2) on the twin from a_N W_{N:1}(0) with η* = Nη/n_N, for
    ½‖WX − Y‖²_F, kept going separately: the network's (V, W_i) until it overflows, the
    twin's for every step. Returns the layers per step and the twin's losses."""
    X, Y, widths = inst.X, inst.Y, inst.widths
    N, n0 = len(widths) - 1, widths[0]
    a = 1.0 / math.sqrt(math.prod(widths[1:]))
    Ws = [W.copy() for W in inst.Ws]
    twin = a * _prod(Ws, n0)
    layers, twin_loss = [], []
    with np.errstate(all="ignore"):
        for _ in range(steps + 1):
            layers.append([W.copy() for W in Ws])
            twin_loss.append(0.5 * np.sum((twin @ X - Y) ** 2))
            gV = (a * _prod(Ws, n0) @ X - Y) @ X.T
            Ws = [W - eta * a * _prod(Ws[j + 1:], widths[j + 1]).T @ gV @ _prod(Ws[:j], n0).T
                  for j, W in enumerate(Ws)]
            twin = twin - (N * eta / widths[-1]) * (twin @ X - Y) @ X.T
    return layers, np.array(twin_loss)


# ---------------------------------------------------------------- Lemma 6's constants
def test_proof_bounds_are_the_proofs_formulas(results):
    """bound_12*_proof are min{14τ/(1−q), 2(q+7τ)^t}e0, β(q^{t/2}√D + D/2)e0 and
    3β(q+7τ)^t e0 with τ = tau_sup, written out here term by term, NaN where q + 7τ ≥ 1;
    the relabelled columns are the same expressions with τ in place of 14τ and 7τ."""
    res = results["wide"]
    row = res.runs.iloc[0]
    s = _steps(res, row["run_id"])
    q, e0, beta = row["q"], row["e0"], row["beta"]
    for _, r in s.iterrows():
        tau, t = r["tau_sup"], r["step"]
        d_proof = min(14 * tau / (1 - q), 2 * (q + 7 * tau) ** t)
        d_print = min(tau / (1 - q), 2 * (q + tau) ** t)
        proof = (d_proof * e0, beta * (q ** (t / 2) * math.sqrt(d_proof) + d_proof / 2) * e0,
                 3 * beta * (q + 7 * tau) ** t * e0)
        printed = (d_print * e0, beta * (q ** (t / 2) * math.sqrt(d_print) + d_print / 2) * e0,
                   3 * beta * (q + tau) ** t * e0)
        applies = q + 7 * tau < 1
        assert r["rate_lemma5"] == pytest.approx(q + 7 * tau, rel=1e-14)
        for k, want, want_p in zip(("12a", "12b", "12c"), proof, printed, strict=True):
            assert r[f"bound_{k}"] == pytest.approx(want_p, rel=1e-12)
            if applies:
                assert r[f"bound_{k}_proof"] == pytest.approx(want, rel=1e-12)
            else:
                assert math.isnan(r[f"bound_{k}_proof"])
    # the proof's constants are never the smaller bound
    ok = s["bound_12a_proof"].notna() & (s["step"] > 0)
    assert ok.any()
    assert (s.loc[ok, "bound_12c_proof"] >= s.loc[ok, "bound_12c"]).all()


def test_proof_checks_hold_apply_on_the_prefix_and_can_fail(results):
    """On the wide run the proof's (12a)–(12c) hold on the rows where q + 7τ < 1 (the note
    says which); broken data violate them; a run where q + 7τ ≥ 1 from t = 1 is not
    applicable with that reason."""
    res = results["wide"]
    row = res.runs.iloc[0]
    s, c, setting = _steps(res, row["run_id"]), row.to_dict(), _setting(WIDE)
    checks = {r["check"]: r for r in run_checks(setting, s, c)}
    for k in ("C.thm2.12a_proof", "C.thm2.12b_proof", "C.thm2.12c_proof", "C.cor3.13"):
        assert checks[k]["status"] == "holds", (k, checks[k]["note"])
    n_prefix = int(((s["rate_lemma5"] < 1) & (s["step"] >= 1)).sum())
    assert checks["C.thm2.12a_proof"]["n_steps"] == n_prefix
    broken = s.copy()
    broken["deviation_X"] = broken["bound_12a_proof"] * 2 + 1e-9
    assert {r["check"]: r["status"] for r in run_checks(setting, broken, c)}[
        "C.thm2.12a_proof"] == "violated"
    broken = s.copy()
    broken["loss_gap"] = broken["bound_12c_proof"] * 2 + 1e-9
    st = {r["check"]: r["status"] for r in run_checks(setting, broken, c)}
    assert st["C.thm2.12c_proof"] == "violated" and st["C.cor3.13"] == "violated"
    part = s.copy()
    part.loc[part["step"] >= 6, "rate_lemma5"] = 1.5  # the proof stops applying at t = 6
    rows = {r["check"]: r for r in run_checks(setting, part, c)}
    assert rows["C.thm2.12a_proof"]["n_steps"] == 5 and "t <= 5" in rows[
        "C.thm2.12a_proof"]["note"]
    big = s.copy()
    big["rate_lemma5"] = 1.5
    rows = {r["check"]: r for r in run_checks(setting, big, c)}
    assert rows["C.thm2.12b_proof"]["status"] == "not_applicable"
    assert "q + 7 tau" in rows["C.thm2.12b_proof"]["note"]


# ---------------------------------------------------------------- Corollary 3
def test_cor3_step_is_two_over_alpha_plus_beta_and_gives_eq4s_rate(results):
    """η = 2n_N/((α + β)N) with α, β the extreme nonzero eigenvalues of XXᵀ (½‖·‖²), so
    η* = 2/(α + β) and q (10) = (κ − 1)²/(κ + 1)² = 1 − 4κ/(1 + κ)²."""
    row = results["wide"].runs.iloc[0]
    inst = pdl.build_instance(_setting(WIDE), int(row["seed"]), Path.cwd())
    ev = np.linalg.eigvalsh(inst.X @ inst.X.T)
    alpha, beta = ev[ev > 1e-10 * ev[-1]][0], ev[-1]
    N, nN = len(inst.widths) - 1, inst.widths[-1]
    assert row["eta"] == pytest.approx(2 * nN / ((alpha + beta) * N), rel=1e-12)
    assert row["eta_cor3"] == pytest.approx(row["eta"], rel=1e-14)
    assert row["eta_star"] == pytest.approx(2 / (alpha + beta), rel=1e-12)
    kappa = beta / alpha
    assert row["q"] == pytest.approx((kappa - 1) ** 2 / (kappa + 1) ** 2, rel=1e-10)
    assert row["q"] == pytest.approx(1 - 4 * kappa / (1 + kappa) ** 2, rel=1e-10)
    assert th.eta_choice("cor3", inst.widths, beta, 0.0, 0.5, 0.1, alpha) == pytest.approx(
        row["eta"], rel=1e-12)


# ---------------------------------------------------------------- per-layer movement
def test_movement_columns_match_numpy_layers(results):
    """move_first, move_last, move_inner_max, move_max, move_sum: ‖W_i(t) − W_i(0)‖_F of a
    NumPy GD (7) on the same instance, summarized over the layers."""
    res = results["wide"]
    row = res.runs.iloc[0]
    s = _steps(res, row["run_id"])
    inst = pdl.build_instance(_setting(WIDE), int(row["seed"]), Path.cwd())
    layers, _ = _numpy_runs(inst, float(row["eta"]), len(s) - 1)
    for t, Ws in enumerate(layers):
        moves = [np.linalg.norm(W - W0) for W, W0 in zip(Ws, layers[0], strict=True)]
        scale = max(moves) + 1e-300
        want = {"move_first": moves[0], "move_last": moves[-1], "move_inner_max": max(moves[1:-1]),
                "move_max": max(moves), "move_sum": sum(moves)}
        for col, v in want.items():
            assert s[col].iloc[t] == pytest.approx(v, rel=1e-7, abs=1e-12 * scale), (col, t)
    assert s["move_max"].iloc[0] == 0.0 and s["move_max"].iloc[-1] > 0


# ---------------------------------------------------------------- the twin's own end
def test_the_twin_outlives_a_diverged_network(results):
    """A network that diverges leaves the twin running: rows go on to the last step with the
    network's columns NaN after steps_done, the twin's loss equal to a NumPy GD (2) on its own,
    twin_status ok, and the twin's checks read every row."""
    res = results["diverging"]
    runs = res.runs
    dead = runs[runs["status"] == "diverged"]
    assert len(dead) >= 1, runs[["status", "note"]]
    setting = _setting(DIVERGING)
    for _, row in dead.iterrows():
        s = _steps(res, row["run_id"])
        done = int(row["steps_done"])
        assert done < DIVERGING["steps"]
        assert len(s) == DIVERGING["steps"] + 1
        after = s[s["step"] > done]
        for col in ("loss", "loss_gap", "eta", "deviation_X", "move_max", "tau_sup",
                    "bound_12a", "bound_12c_proof"):
            assert after[col].isna().all(), col
        assert s.loc[s["step"] <= done, "eta"].notna().all()
        assert row["twin_status"] == "ok" and row["twin_steps_done"] == DIVERGING["steps"]
        assert (s["twin_alive"] == 1.0).all()
        inst = pdl.build_instance(setting, int(row["seed"]), Path.cwd())
        _, twin_loss = _numpy_runs(inst, float(row["eta"]), DIVERGING["steps"])
        np.testing.assert_allclose(s["loss_twin"], twin_loss, rtol=1e-10)
        assert np.isfinite(row["final_loss"]) and row["final_loss"] == s["loss"].iloc[done]
        checks = res.checks[res.checks["run_id"] == row["run_id"]].set_index("check")
        assert checks.loc["C.eq4.twin", "status"] == "holds"
        assert checks.loc["C.eq4.twin", "n_steps"] == DIVERGING["steps"]
    t = _steps(res, dead.iloc[0]["run_id"])["t"].to_numpy()
    assert np.all(np.diff(t) > 0)  # the time goes on with the twin


def test_a_diverging_twin_ends_its_own_rows(tmp_path):
    """η* beyond 2/β: the twin diverges too; its loss is NaN after the row where it failed,
    twin_status says so, and the table ends where the later of the two ended."""
    spec = {**copy.deepcopy(DIVERGING), "id": "c-both", "steps": 30,
            "schedule": {"kind": "constant", "eta": "thm1", "scale": 3.0}}
    res = _run(spec, tmp_path / "both")
    row = res.runs.iloc[0]
    s = _steps(res, row["run_id"])
    assert row["twin_status"] == "diverged"
    end = int(row["twin_steps_done"])
    assert s["twin_alive"].iloc[end] == 0.0 and (s["twin_alive"].iloc[:end] == 1.0).all()
    assert np.isfinite(s["loss_twin"].iloc[end]) and s["loss_twin"].iloc[end + 1:].isna().all()
    last = max(end, int(row["steps_done"]) if row["status"] == "diverged" else spec["steps"])
    assert len(s) == last + 1


def test_proof_forms_against_the_relabelled_ones_and_their_domain():
    """With the proof's constants (12c) is the printed (12c) at 7τ and (12a)'s first branch
    the printed one at 14τ; every proof form is NaN once q + 7τ ≥ 1, the printed ones not."""
    q, e0, beta = 0.4, 2.0, 3.0
    tau = np.array([0.0, 0.01, 0.05, 0.0857, 0.09, 0.2])
    t = np.arange(tau.size, dtype=float) + 1
    proof_c = np.asarray(th.bound_12c_proof(tau, q, t, e0, beta))
    ok = q + 7 * tau < 1
    np.testing.assert_allclose(proof_c[ok], np.asarray(th.bound_12c(7 * tau, q, t, e0, beta))[ok],
                               rtol=1e-15)
    t0 = np.zeros(tau.size)  # min{14τ/(1 − q), 2}: the first branch while 14τ/(1 − q) ≤ 2
    np.testing.assert_allclose(np.asarray(th.bound_12a_proof(tau, q, t0, e0))[ok],
                               (14 * tau / (1 - q) * e0)[ok], rtol=1e-15)
    for f in (th.bound_12a_proof, th.bound_12b_proof, th.bound_12c_proof):
        args = (tau, q, t, e0) if f is th.bound_12a_proof else (tau, q, t, e0, beta)
        out = np.asarray(f(*args))
        assert np.isnan(out[~ok]).all() and np.isfinite(out[ok]).all()
    assert np.isfinite(np.asarray(th.bound_12a(tau, q, t, e0))).all()
