"""Paper D's linear classifiers: model algebra, the runs against plain loops, the checks."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from scipy import integrate
from typer.testing import CliRunner

from overparam import runner
from overparam.checks.directional import run_checks
from overparam.cli import app
from overparam.errors import SpecError
from overparam.models import linear_classifier as model
from overparam.problems import linear_classifier as lc
from overparam.spec import expand, validate_spec
from overparam.theory import directional_curves as curves


def _spec(dynamics=None, depth=1, eta=0.1, steps=20, **problem):
    return {"problem": {"kind": "linear_classifier", "dim": 2, "depth": depth,
                        "dynamics": dynamics or {"kind": "gd"}, **problem},
            "init": {"kind": "rank_one", "w0": [0.6, -0.8]},
            "schedule": {"kind": "constant", "eta": eta}, "steps": steps}


def _run(spec, tmp_path, name="out"):
    return runner.execute(runner.plan(spec), tmp_path / name, progress=False)


# ------------------------------------------------------------------ the model
def test_layer_gradients_match_autodiff_through_the_product():
    rng = np.random.default_rng(0)
    Ws = tuple(jnp.asarray(rng.standard_normal(s)) for s in [(4, 3), (5, 4), (1, 5)])
    f = lambda x: jnp.sin(x).sum() + (x**2).sum()  # noqa: E731  any smooth ℓ(w_e)
    auto = jax.grad(lambda W: f((W[2] @ W[1] @ W[0])[0]))(Ws)
    mine = model.layer_grads(Ws, jax.grad(f)(model.end_to_end(Ws)))
    for a, b in zip(auto, mine, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-12)


@pytest.mark.parametrize("N", [2, 3, 4])
def test_induced_flow_14_is_the_layer_flow_seen_end_to_end(N):
    """On a balanced net, d/dt w_e under the layer flow (chain rule, jvp) is eq (14)."""
    rng = np.random.default_rng(N)
    widths = [3] + [4] * (N - 1) + [1]
    w0 = rng.standard_normal(3) * 1.7
    Ws = tuple(jnp.asarray(W) for W in model.rank_one_layers(
        w0, widths, rng, [np.linalg.norm(w0) ** (1 / N)] * N))
    assert float(model.balance_drift(Ws)) < 1e-13
    np.testing.assert_allclose(np.asarray(model.end_to_end(Ws)), w0, rtol=1e-13)
    g = jnp.asarray(rng.standard_normal(3))
    vel = tuple(-G for G in model.layer_grads(Ws, g))
    _, we_dot = jax.jvp(model.end_to_end, (Ws,), (vel,))
    np.testing.assert_allclose(np.asarray(we_dot),
                               np.asarray(model.induced_velocity(jnp.asarray(w0), g, N)),
                               rtol=1e-12, atol=1e-13)


def test_paper_construction_is_balanced_only_at_unit_norm():
    """§5's W_1 = u_2 w_e(0)ᵀ puts all of ‖w_e(0)‖ on one layer (errata D3)."""
    rng = np.random.default_rng(1)
    widths = [2, 3, 3, 1]
    for norm, balanced in ((1.0, True), (2.5, False)):
        w0 = norm * np.array([0.6, -0.8])
        Ws = model.rank_one_layers(w0, widths, rng, [norm, 1.0, 1.0])
        np.testing.assert_allclose(np.asarray(model.end_to_end(Ws)), w0, rtol=1e-14)
        assert (float(model.balance_drift(tuple(map(jnp.asarray, Ws)))) < 1e-13) == balanced


def test_switch_time_interpolates_the_sign_change():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert curves._switch(t, np.array([-3.0, -1.0, 1.0, 2.0])) == (2, 1.5)
    assert curves._switch(t, np.array([0.5, 1.0, 1.0, 2.0])) == (0, 0.0)
    row, T = curves._switch(t, -np.ones(4))
    assert row == -1 and math.isnan(T)


# ------------------------------------------------------------ runs vs plain loops
def _circle_grad(w: np.ndarray, v: np.ndarray) -> tuple[float, np.ndarray]:
    """L and ∇L on U(S¹) by adaptive quadrature over the angle, split where y or wᵀx flips."""
    def parts(phi):
        x = np.array([np.cos(phi), np.sin(phi)])
        y = 1.0 if v @ x >= 0 else -1.0
        z = y * (w @ x)
        return np.logaddexp(0.0, -z), -y * x / (1.0 + np.exp(z))

    cuts = sorted({np.arctan2(-v[0], v[1]) % np.pi, np.arctan2(-w[0], w[1]) % np.pi})
    pts = sorted({0.0, *cuts, *(c + np.pi for c in cuts), 2 * np.pi})
    kw = {"epsabs": 1e-15, "epsrel": 1e-13, "limit": 200}
    tot = np.zeros(3)
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        tot[0] += integrate.quad(lambda p: parts(p)[0], a, b, **kw)[0]
        for i in range(2):
            tot[1 + i] += integrate.quad(lambda p, i=i: parts(p)[1][i], a, b, **kw)[0]
    return tot[0] / (2 * np.pi), tot[1:] / (2 * np.pi)


def test_gd_on_the_population_matches_a_plain_loop(tmp_path):
    res = _run(_spec(eta=0.4, steps=12), tmp_path)
    steps = res.steps
    v, w = np.array([0.0, 1.0]), np.array([0.6, -0.8])
    for n in range(13):
        L, g = _circle_grad(w, v)
        row = steps.iloc[n]
        assert abs(row["loss"] - L) < 1e-12
        assert abs(row["weight_norm"] - np.linalg.norm(w)) < 1e-12
        assert abs(row["cos_theta"] - v @ w / np.linalg.norm(w)) < 1e-12
        assert abs(row["grad_radial"] + w @ g) < 1e-12
        assert abs(row["grad_norm"] - np.linalg.norm(g)) < 1e-12
        w = w - 0.4 * g
    assert abs(steps["t"].iloc[-1] - 12 * 0.4) < 1e-12


def test_gd_on_a_fixed_sample_matches_numpy(tmp_path):
    spec = _spec({"kind": "gd", "gradient": "sample", "samples": 300}, depth=3, eta=0.05,
                 steps=10)
    res = _run(spec, tmp_path)
    inst = lc.build_instance(runner.plan(spec).settings[0], 0, Path("."))
    Ws = [W.copy() for W in inst.Ws]
    for n in range(11):
        we = (Ws[2] @ Ws[1] @ Ws[0])[0]
        assert abs(res.steps["weight_norm"].iloc[n] - np.linalg.norm(we)) < 1e-12
        z = inst.y * (inst.X @ we)
        gw = -(inst.X.T @ (inst.y / (1 + np.exp(z)))) / len(z)
        if n < 10:
            assert abs(res.steps["loss_sample"].iloc[n] - np.mean(np.logaddexp(0, -z))) < 1e-12
        G = gw[None, :]  # ∂/∂W_j = (W_N ⋯ W_{j+1})ᵀ G (W_{j−1} ⋯ W_1)ᵀ
        grads = [(Ws[2] @ Ws[1]).T @ G, Ws[2].T @ G @ Ws[0].T, G @ (Ws[1] @ Ws[0]).T]
        Ws = [W - 0.05 * dW for W, dW in zip(Ws, grads, strict=True)]


def test_sgd_is_reproducible_and_seeds_differ(tmp_path):
    spec = {**_spec({"kind": "sgd", "batch": 64}, eta=0.05, steps=30), "seeds": 2}
    a = _run(spec, tmp_path, "a").steps
    b = _run(spec, tmp_path, "b").steps
    assert a.equals(b)
    first, second = (g["cos_theta"].to_numpy() for _, g in a.groupby("run_id", sort=False))
    assert not np.allclose(first, second)


def test_flow_on_layers_equals_the_induced_flow(tmp_path):
    """Balanced N = 3 net: diffrax on the layers and on (14) give the same trajectory."""
    common = {"eta": 0.25, "steps": 16, "depth": 3, "hidden": 4}
    lay = _run(_spec({"kind": "flow"}, **common), tmp_path, "lay").steps
    ind = _run(_spec({"kind": "induced_flow"}, **common), tmp_path, "ind").steps
    np.testing.assert_allclose(lay["cos_theta"], ind["cos_theta"], atol=1e-8)
    np.testing.assert_allclose(lay["weight_norm"], ind["weight_norm"], rtol=1e-8)
    assert lay["balance_drift"].max() < 1e-8


def test_flow_checks_hold_and_catch_a_corrupted_bound(tmp_path):
    spec = _spec({"kind": "flow"}, depth=4, hidden=3, eta=0.5, steps=30)
    res = _run(spec, tmp_path)
    checks = res.checks.set_index("check")["status"]
    for name in ("D.lemma2", "D.lemma6.pattern", "D.thm3.lower", "D.thm3.upper",
                 "D.lemma8.norm", "D.balance.flow"):
        assert checks[name] == "holds", name
    setting = runner.plan(spec).settings[0]
    steps = res.steps.copy()
    c = res.runs.iloc[0].to_dict()
    mid = len(steps) // 2
    steps.loc[mid, "bound_lower"] = steps.loc[mid, "cos_theta"] + 1e-3  # claims too much
    steps.loc[mid, "grad_tangential"] += 1e-6
    bad = {r["check"]: r["status"] for r in run_checks(setting, steps, c)}
    assert bad["D.thm3.lower"] == "violated" and bad["D.lemma2"] == "violated"


def test_gd_phase_checks_and_marks(tmp_path):
    res = _run(_spec(eta=1.0, steps=60), tmp_path)
    run = res.runs.iloc[0]
    assert 0 < run["n0"] <= run["n1_thm2"]
    assert set(res.checks["status"]) == {"holds"}
    assert res.steps["phase"].iloc[0] == 1 and res.steps["phase"].iloc[-1] == 3


def _hand_lemma(eta, norm_r, cos_r, delta=None, c0=1.0):
    """Lemma 4 (delta None) or Lemma 5 drawn from a row, by a plain loop over the steps:
    1 − (1 − cos θ(r)) e^{−B S_n}, S_n = Σ_{k<n} η_k/√(A + Σ_{i≤k} (η_i² [+ Cη_i]))."""
    A, C = norm_r**2 / c0**2, (0.0 if delta is None else 0.6 / c0**2)
    B = (1 + cos_r) / np.pi * (1.0 if delta is None else delta / (1 + delta))
    out, S, acc = [cos_r], 0.0, A
    for e in eta:
        acc += e * e + C * e
        S += e / math.sqrt(acc)
        out.append(1 - (1 - cos_r) * math.exp(-B * S))
    return np.array(out)


def test_gd_restart_curves_are_lemmas_4_and_5_from_the_restart_row(tmp_path):
    """Exact GD, N = 1: the restarted curve is Theorem 2's, with w(r) as the start."""
    early = _run(_spec(eta=0.4, steps=12, restart_step=3), tmp_path, "early")
    st = early.steps
    n0 = int(early.runs.iloc[0]["n0"])
    assert 3 < n0 < 12 and st["cos_theta"].iloc[3] < 0
    want = _hand_lemma(st["eta"].iloc[3:n0], st["weight_norm"].iloc[3], st["cos_theta"].iloc[3])
    np.testing.assert_allclose(st["bound_lower_restart"].iloc[3:n0 + 1], want, rtol=1e-13)
    assert st["bound_lower_restart"].iloc[:3].isna().all()
    late = _run(_spec(eta=1.0, steps=60, restart_step=40), tmp_path, "late")
    st, run = late.steps, late.runs.iloc[0]
    assert 0 <= run["n_lemma5"] < 40
    want = _hand_lemma(st["eta"].iloc[40:60], st["weight_norm"].iloc[40], st["cos_theta"].iloc[40],
                       delta=1.0)
    np.testing.assert_allclose(st["bound_lower_restart"].iloc[41:], want[1:], rtol=1e-13)
    assert st["bound_lower_restart"].iloc[:41].isna().all()
    assert st["bound_upper_restart"].isna().all()  # GD has no upper bound
    checks = late.checks.set_index("check")
    assert checks.loc["D.gd.restart", "status"] == "holds"
    steps = st.copy()
    steps.loc[50, "bound_lower_restart"] = steps.loc[50, "cos_theta"] + 1e-9
    bad = {r["check"]: r for r in run_checks(runner.plan(_spec(eta=1.0, steps=60,
                                                               restart_step=40)).settings[0],
                                             steps, run.to_dict())}
    assert bad["D.gd.restart"]["first_violation_step"] == 50


def test_lemma3_and_prop3_hold_everywhere_and_can_fail(tmp_path):
    """g ≤ 0.3 and ‖∇L‖ ≤ c0 on every row, for GD and for SGD (the rows measure the
    population gradient at the iterate); a corrupted row is caught."""
    spec = _spec({"kind": "sgd", "batch": 64}, eta=0.5, steps=30)
    res = _run(spec, tmp_path)
    checks = res.checks.set_index("check")
    for name in ("D.lemma3.g", "D.prop3.grad"):
        assert checks.loc[name, "status"] == "holds", name
        assert checks.loc[name, "n_steps"] == 31
    assert 0 < checks.loc["D.prop3.grad", "max_ratio"] < 1
    steps = res.steps.copy()
    steps.loc[7, "grad_radial"] = 0.3 + 1e-6
    steps.loc[9, "grad_norm"] = res.runs.iloc[0]["c0"] * (1 + 1e-6)
    bad = {r["check"]: r for r in run_checks(runner.plan(spec).settings[0], steps,
                                             res.runs.iloc[0].to_dict())}
    assert bad["D.lemma3.g"]["first_violation_step"] == 7
    assert bad["D.prop3.grad"]["first_violation_step"] == 9


def test_lemma3_bound_is_the_sup_of_z_over_one_plus_exp_z():
    """The 0.3 of Lemma 3(i) bounds sup_z z/(1 + e^z) = W(1/e) ≈ 0.2785 (a dense grid): g is
    the mean of that function of z = y wᵀx, so it can never exceed it, on any data."""
    z = np.linspace(-50.0, 50.0, 2_000_001)
    top = np.max(z / (1 + np.exp(z)))
    assert top == pytest.approx(0.278464542761074, abs=1e-10) and top < 0.3
    phi = np.linspace(0.0, 2 * np.pi, 400_000, endpoint=False)
    x = np.stack([np.cos(phi), np.sin(phi)], axis=1)  # U(S¹), v = e_2
    y = np.where(x[:, 1] >= 0, 1.0, -1.0)
    g = [np.mean(y * (x @ w) / (1 + np.exp(y * (x @ w))))
         for w in (np.array([0.3, 1.2]), np.array([0.05, 1.9]), np.array([-2.0, 0.5]))]
    assert max(g) <= top and max(g) > 0.2  # 0.232 at w = (0.05, 1.9): near the sup


# -------------------------------------------------------------------- specs
def test_cases_expand_before_the_sweep():
    spec = validate_spec({**_spec(), "cases": [{"problem.dynamics": {"kind": "sgd"}},
                                               {"problem.dynamics.kind": "flow",
                                                "schedule.eta": 0.5}],
                          "sweep": {"problem.depth": [1, 2]}})
    got = [(s.problem.dynamics.kind, s.problem.depth, s.schedule.eta) for s in expand(spec)]
    assert got == [("sgd", 1, 0.1), ("sgd", 2, 0.1), ("flow", 1, 0.5), ("flow", 2, 0.5)]


BAD = [
    ("problem.distribution.df", lambda s: s["problem"].update(distribution={"kind": "student_t"})),
    ("problem.distribution", lambda s: s["problem"].update(
        distribution={"kind": "radial", "law": "cauchy"})),
    ("init.w0", lambda s: s["init"].update(w0=[1.0, 0.0, 0.0])),
    ("init.theta0", lambda s: s.update(init={"kind": "rank_one", "theta0": 4.0})),
    ("init.layer_scales", lambda s: s.update(init={"kind": "rank_one", "layers": "scaled",
                                                   "layer_scales": [2.0]})),
    ("problem.v", lambda s: s["problem"].update(v=[0.0, 0.0])),
    ("schedule.kind", lambda s: s.update(schedule={"kind": "local_pl"})),
    ("schedule.eta", lambda s: s.update(schedule={"kind": "constant", "eta": "thm1"})),
    ("problem.dynamics.samples", lambda s: s["problem"].update(
        dynamics={"kind": "sgd"}, distribution={"kind": "radial", "law": "lognorm",
                                                "args": [0.5]})),
    ("problem.dynamics.bogus", lambda s: s["problem"].update(dynamics={"kind": "gd", "bogus": 1})),
    ("init.kind", lambda s: s.update(init={"kind": "orthogonal"})),
]


@pytest.mark.parametrize("field,mutate", BAD, ids=[b[0] for b in BAD])
def test_bad_specs_exit_2_naming_the_field(tmp_path, field, mutate):
    spec = _spec()
    mutate(spec)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run-spec", str(path), "--out", str(out), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert field in res.output and "Traceback" not in res.output
    assert not out.exists()


@pytest.mark.parametrize("distribution", [{"kind": "uniform_sphere"},
                                          {"kind": "student_t", "df": 3}])
def test_the_coarsest_quadrature_allowed_passes_the_exactness_check(tmp_path, distribution):
    """Lemma 2's identity holds to the checks' tolerance at the lowest levels the spec takes,
    and the level below is refused (it errs by ~1e-8 on the population gradient)."""
    spec = _spec(steps=3, quadrature_level=3, radius_level=3, distribution=distribution)
    res = _run(spec, tmp_path)
    lemma2 = res.checks.set_index("check").loc["D.lemma2"]
    assert lemma2["status"] == "holds", lemma2["note"]
    for field in ("quadrature_level", "radius_level"):
        bad = _spec(**{field: 2})
        with pytest.raises(SpecError, match=f"problem.{field}"):
            validate_spec(bad)
