"""Paper C's deep linear network and its convex twin: layer gradients in both product orders,
whole runs against a plain NumPy GD (7)/(2), the logged diagnostics, the step-size rules,
divergence, the checks' verdicts, spec validation and .npy inputs."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import yaml
from typer.testing import CliRunner

import overparam
from overparam.checks.deep_linear import run_checks
from overparam.cli import app
from overparam.errors import SpecError
from overparam.models import deep_linear as dlm
from overparam.problems import deep_linear as pdl
from overparam.runner import plan
from overparam.spec import expand, validate_spec
from overparam.theory import deep_linear as th

WIDTHS = [5, 30, 30, 3]
MAIN = {
    "id": "c-main",
    "problem": {"kind": "deep_linear", "widths": WIDTHS, "loss": "squared_mean",
                "data": {"kind": "synthetic", "samples": 20}},
    "steps": 15,
    "seeds": 2,
    "sweep": {"schedule.eta": ["thm1", "thm4", "data_norm"]},
}
# n_N > n_0 (products from the input side), rank(X) = 2 < n_0, a ridge term, σ_min every
# 3 steps across chunks of 4 (the cadence must follow the global step index).
WIDE_OUT = {
    "id": "c-wide-out",
    "problem": {"kind": "deep_linear", "widths": [3, 8, 9, 7, 5], "loss": "squared_half",
                "ridge": 0.3, "sigma_min_inner_every": 3,
                "data": {"kind": "synthetic", "samples": 2}},
    "steps": 10,
    "chunk": 4,
    "seeds": 1,
}
# N = 2 (no inner product), and a step size that blows up.
SHALLOW = {
    "id": "c-shallow",
    "problem": {"kind": "deep_linear", "widths": [4, 6, 2],
                "data": {"kind": "synthetic", "samples": 8}},
    "steps": 6,
    "seeds": 1,
    "sweep": {"schedule.eta": ["thm1", 1e4]},
}
TIMING = ["wall_s", "theory_s", "run_s", "compile_s"]


def _run(spec, out):
    return overparam.run(copy.deepcopy(spec), out=out, progress=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("deep")
    return {name: _run(spec, root / name)
            for name, spec in (("main", MAIN), ("wide_out", WIDE_OUT), ("shallow", SHALLOW))}


def _settings(spec):
    return expand(validate_spec(copy.deepcopy(spec)))


def _setting_of(spec, row):
    """The Setting of one runs-table row (matched on its step-size rule)."""
    found = [s for s in _settings(spec) if str(s.schedule.eta) == str(row["schedule.eta"])]
    assert len(found) == 1
    return found[0]


# ------------------------------------------------------------------ naive NumPy
def _prod(Ws, n):
    """W_k ⋯ W_1 for Ws = [W_1, …, W_k]; the n×n identity for an empty list."""
    P = np.eye(n)
    for W in Ws:
        P = W @ P
    return P


class Naive:
    """The convex loss with its minimizer, P_X and constants, computed from the definitions."""

    def __init__(self, loss, ridge, X, Y):
        self.loss, self.ridge, self.X, self.Y = loss, ridge, X, Y
        m = X.shape[1]
        self.P = X @ np.linalg.pinv(X)
        ev = np.linalg.eigvalsh(X @ X.T)
        lam_max, lam_min = ev[-1], ev[ev > 1e-10 * ev[-1]][0]
        self.scale = 2.0 / m if loss == "squared_mean" else 1.0
        self.alpha = self.scale * lam_min + 2 * ridge
        self.beta = self.scale * lam_max + 2 * ridge
        # ∇L = s(WX − Y)Xᵀ + 2λWP = 0 with W = WP: W(sXXᵀ + 2λP) = sYXᵀ.
        self.W_star = self.scale * Y @ X.T @ np.linalg.pinv(self.scale * X @ X.T + 2 * ridge * self.P)
        self.L_star = self.value(self.W_star)
        self.norm2_X = float(np.linalg.norm(X, 2) ** 2)

    def value(self, W):
        r = W @ self.X - self.Y
        return 0.5 * self.scale * np.sum(r**2) + self.ridge * np.sum((W @ self.P) ** 2)

    def grad(self, W):
        return self.scale * (W @ self.X - self.Y) @ self.X.T + 2 * self.ridge * W @ self.P

    def xnorm2(self, A):
        return float(np.sum((A @ self.P) ** 2))


def naive_run(inst, loss, ridge, eta, steps):
    """GD (7) on every layer and GD (2) on the twin with η* = Nη/n_N from W(0) = a_N W_{N:1}(0);
    rows of the state before each update, t = 0 … steps."""
    nv = Naive(loss, ridge, inst.X, inst.Y)
    widths = inst.widths
    N, n0, nN = len(widths) - 1, widths[0], widths[-1]
    a = 1.0 / math.sqrt(math.prod(widths[1:]))
    eta_star = N * eta / nN
    Ws = [W.copy() for W in inst.Ws]
    twin = a * _prod(Ws, n0)
    rows, Vs, Wss = [], [], []
    for _ in range(steps + 1):
        V = a * _prod(Ws, n0)
        gV = nv.grad(V)
        rows.append({
            "loss": nv.value(V),
            "loss_twin": nv.value(twin),
            "loss_diff": abs(nv.value(V) - nv.value(twin)),
            "grad_norm_X": math.sqrt(nv.xnorm2(gV)),
            "loss_gap": max(nv.value(V) - nv.L_star, 0.0),
            "loss_gap_twin": max(nv.value(twin) - nv.L_star, 0.0),
            "deviation_X": nv.xnorm2(V - twin),
            "dist_X": nv.xnorm2(V - nv.W_star),
            "dist_twin_X": nv.xnorm2(twin - nv.W_star),
        })
        Vs.append(V)
        Wss.append([W.copy() for W in Ws])
        grads = [a * _prod(Ws[j + 1:], widths[j + 1]).T @ gV @ _prod(Ws[:j], n0).T
                 for j in range(N)]
        Ws = [W - eta * G for W, G in zip(Ws, grads, strict=True)]
        twin = twin - eta_star * nv.grad(twin)
    tau = [math.sqrt(nv.xnorm2(Vs[t + 1] - Vs[t] + eta_star * nv.grad(Vs[t])))
           / math.sqrt(nv.xnorm2(Vs[t] - nv.W_star)) for t in range(steps)] + [math.nan]
    df = pd.DataFrame(rows)
    df["tau"] = tau
    df["tau_sup"] = [max(tau[:t], default=0.0) for t in range(steps + 1)]
    return df, Wss, nv


def _inner_svs(Ws):
    """(σ_min(W_{N−1:2}), its n_N-th singular value, σ_{n_N}(W_{N:2})/σ_max(W_N)) by full SVDs."""
    inner = _prod(Ws[1:-1], Ws[0].shape[0])
    s = np.linalg.svd(inner, compute_uv=False)
    nN = Ws[-1].shape[0]
    s_left = np.linalg.svd(Ws[-1] @ inner, compute_uv=False)
    return s[-1], s[nN - 1], s_left[nN - 1] / np.linalg.norm(Ws[-1], 2)


def _runs_and_steps(res):
    runs, steps = res.runs, res.steps
    for _, row in runs.iterrows():
        yield row, steps[steps["run_id"] == row["run_id"]].reset_index(drop=True)


# ------------------------------------------------------------------ 1. gradients
GRAD_SHAPES = [[4, 7, 6, 3], [3, 5, 6], [2, 6, 5, 4, 7], [6, 3, 4, 2], [4, 7, 6, 4]]


@pytest.mark.parametrize("widths", GRAD_SHAPES)
@pytest.mark.parametrize("from_output", [True, False])
def test_layer_gradients_equal_autodiff(widths, from_output):
    """G_j = a W_{N:j+1}ᵀ ∇L(V) W_{j−1:1}ᵀ equals ∂/∂W_j of L(a W_N ⋯ W_1) by autodiff through a
    plain product, in both product orders."""
    rng = np.random.default_rng(sum(widths))
    Ws = [jnp.asarray(rng.standard_normal((widths[j + 1], widths[j])))
          for j in range(len(widths) - 1)]
    X = jnp.asarray(rng.standard_normal((widths[0], 9)))
    Y = jnp.asarray(rng.standard_normal((widths[-1], 9)))
    a = 0.37

    def L(V):  # any smooth function of V
        return 0.5 * jnp.sum((V @ X - Y) ** 2) + jnp.sum(jnp.sin(V))

    def L_layers(Ws):
        V = Ws[0]
        for W in Ws[1:]:
            V = W @ V
        return L(a * V)

    want = jax.grad(L_layers)(Ws)
    lefts, V = dlm.end_to_end(Ws, a, from_output)
    naive_V = a * _prod([np.asarray(W) for W in Ws], widths[0])
    np.testing.assert_allclose(np.asarray(V), naive_V, rtol=1e-12, atol=1e-12)
    got = dlm.gradients(Ws, jax.grad(L)(V), a, from_output, lefts)
    assert len(got) == len(Ws)
    for G, Gw, W in zip(got, want, Ws, strict=True):
        assert G.shape == W.shape
        np.testing.assert_allclose(np.asarray(G), np.asarray(Gw), rtol=1e-11, atol=1e-11)


# ------------------------------------------------------ 2, 3. runs against NumPy
def _compare_run(spec, row, steps):
    setting = _setting_of(spec, row)
    inst = pdl.build_instance(setting, int(row["seed"]), Path.cwd())
    prob = setting.problem
    n_steps = int(row["steps_done"])
    want, Wss, nv = naive_run(inst, prob.loss, prob.ridge, float(row["eta"]), n_steps)
    assert len(steps) == n_steps + 1
    scale = want["loss_gap"].iloc[0] + want["dist_X"].iloc[0]
    for col in ("loss_gap", "loss_gap_twin", "deviation_X", "dist_X", "dist_twin_X", "loss",
                "loss_twin", "loss_diff", "grad_norm_X"):
        np.testing.assert_allclose(steps[col], want[col], rtol=1e-8, atol=1e-12 * scale,
                                   err_msg=col)
    np.testing.assert_allclose(steps["tau"], want["tau"], rtol=1e-7, atol=1e-12, err_msg="tau")
    np.testing.assert_allclose(steps["tau_sup"], want["tau_sup"], rtol=1e-7, atol=1e-12)
    assert steps["tau_sup"].iloc[0] == 0.0 and np.isnan(steps["tau"].iloc[-1])
    return setting, inst, want, Wss, nv


@pytest.mark.parametrize("name", ["main", "wide_out", "shallow"])
def test_runs_match_numpy_gd(results, name):
    spec = {"main": MAIN, "wide_out": WIDE_OUT, "shallow": SHALLOW}[name]
    for row, steps in _runs_and_steps(results[name]):
        if row["status"] != "ok":
            continue
        _compare_run(spec, row, steps)


def test_constants_match_numpy(results):
    """κ, α, β and every η rule from the data by NumPy; η* = Nη/n_N; t = η·step."""
    N, nN = len(WIDTHS) - 1, WIDTHS[-1]
    seen = set()
    for row, steps in _runs_and_steps(results["main"]):
        setting = _setting_of(MAIN, row)
        inst = pdl.build_instance(setting, int(row["seed"]), Path.cwd())
        nv = Naive("squared_mean", 0.0, inst.X, inst.Y)
        assert row["alpha"] == pytest.approx(nv.alpha, rel=1e-10)
        assert row["beta"] == pytest.approx(nv.beta, rel=1e-10)
        assert row["kappa"] == pytest.approx(nv.beta / nv.alpha, rel=1e-10)
        rule = row["schedule.eta"]
        seen.add(rule)
        want = {
            "thm1": nN / (nv.beta * N),
            "thm4": (1 - 0.1) * 2 * nN / (math.exp(2 * 0.5) * nv.beta * N),
            "data_norm": nN / (N * nv.norm2_X),
        }[rule]
        assert row["eta"] == pytest.approx(want, rel=1e-10), rule
        assert row["eta_star"] == pytest.approx(N * want / nN, rel=1e-10)
        eta_s = N * want / nN
        q = max((1 - eta_s * nv.alpha) ** 2, (1 - eta_s * nv.beta) ** 2)
        assert row["q"] == pytest.approx(q, rel=1e-10)
        np.testing.assert_allclose(steps["eta"], want, rtol=1e-12)
        np.testing.assert_allclose(steps["t"], want * steps["step"], rtol=1e-12)
    assert seen == {"thm1", "thm4", "data_norm"}
    # squared_mean: β = 2λmax/m differs from ‖X‖²₂, so thm1 and data_norm differ.
    etas = results["main"].runs.groupby("schedule.eta")["eta"].first()
    assert etas["thm1"] != pytest.approx(etas["data_norm"], rel=1e-3)


def test_run_constants_with_ridge_and_rank_deficient_X(results):
    """α, β use the smallest nonzero eigenvalue of XXᵀ plus 2λ; W*, L*, e0 = ‖V(0) − W*‖²_X
    and E0 from NumPy; the region constants are computed on a basis of range(X)."""
    row = results["wide_out"].runs.iloc[0]
    setting = _settings(WIDE_OUT)[0]
    inst = pdl.build_instance(setting, int(row["seed"]), Path.cwd())
    widths = WIDE_OUT["problem"]["widths"]
    assert inst.X.shape == (3, 2) and row["rank_X"] == 2
    nv = Naive("squared_half", 0.3, inst.X, inst.Y)
    V0 = _prod(inst.Ws, widths[0]) / math.sqrt(math.prod(widths[1:]))
    assert row["alpha"] == pytest.approx(nv.alpha, rel=1e-10)
    assert row["beta"] == pytest.approx(nv.beta, rel=1e-10)
    assert row["L_star"] == pytest.approx(nv.L_star, rel=1e-10)
    assert row["e0"] == pytest.approx(nv.xnorm2(V0 - nv.W_star), rel=1e-10)
    assert row["E0"] == pytest.approx(nv.value(V0) - nv.L_star, rel=1e-10)
    assert row["eta"] == pytest.approx(widths[-1] / (nv.beta * (len(widths) - 1)), rel=1e-12)
    assert bool(row["width_condition"]) and row["n_min"] == 7
    B = scipy.linalg.orth(inst.X)
    region = th.region_constants(inst.Ws, widths, B)
    for key in ("c1", "c2", "M_region"):
        assert row[key] == pytest.approx(region[key], rel=1e-9, abs=1e-12), key


def test_bound_columns_match_the_formulas(results):
    """Theorem 2's curves use the running sup of τ, q of eq 10 and e0 = ‖V(0) − W*‖²_X."""
    for row, steps in _runs_and_steps(results["main"]):
        setting = _setting_of(MAIN, row)
        inst = pdl.build_instance(setting, int(row["seed"]), Path.cwd())
        _, _, nv = naive_run(inst, "squared_mean", 0.0, float(row["eta"]), 0)
        a = 1 / math.sqrt(math.prod(WIDTHS[1:]))
        V0 = a * _prod(inst.Ws, WIDTHS[0])
        e0 = nv.xnorm2(V0 - nv.W_star)
        E0 = nv.value(V0) - nv.L_star
        beta, eta_s = nv.beta, float(row["eta_star"])
        q = max((1 - eta_s * nv.alpha) ** 2, (1 - eta_s * beta) ** 2)
        t = steps["step"].to_numpy(float)
        tau = steps["tau_sup"].to_numpy()
        D = np.minimum(tau / (1 - q), 2 * (q + tau) ** t)
        np.testing.assert_allclose(steps["bound_12a"], D * e0, rtol=1e-9)
        np.testing.assert_allclose(steps["bound_12b"],
                                   beta * (q ** (t / 2) * np.sqrt(D) + D / 2) * e0, rtol=1e-9)
        np.testing.assert_allclose(steps["bound_12c"], 3 * beta * (q + tau) ** t * e0, rtol=1e-9)
        np.testing.assert_allclose(steps["bound_lemma5"], (q + 7 * tau) ** t * e0, rtol=1e-9)
        r3 = 1 - 2 * nv.alpha * eta_s * (1 - beta * eta_s / 2)
        np.testing.assert_allclose(steps["bound_eq3"], E0 * r3**t, rtol=1e-9)
        np.testing.assert_allclose(steps["bound_eq4"], 0.5 * beta * q**t * e0, rtol=1e-9)
        np.testing.assert_allclose(steps["bound_thm1"], E0 * (1 - nv.alpha / beta) ** t,
                                   rtol=1e-9)


@pytest.mark.parametrize("name", ["main", "wide_out"])
def test_inner_singular_values_match_numpy(results, name):
    spec = MAIN if name == "main" else WIDE_OUT
    every = spec["problem"].get("sigma_min_inner_every", 1)
    for row, steps in _runs_and_steps(results[name]):
        _, _, _, Wss, _ = _compare_run(spec, row, steps)
        for k, Ws in enumerate(Wss):
            got = steps.loc[k, ["sigma_min_inner", "sigma_nN_inner", "sec45_rhs"]].to_numpy(float)
            if k % every:
                assert np.isnan(got).all(), k
                continue
            want = np.array(_inner_svs(Ws))
            top = np.linalg.norm(_prod(Ws[1:-1], Ws[0].shape[0]), 2)
            np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10 * top, err_msg=str(k))


def test_sigma_cadence_follows_the_global_step(results):
    steps = results["wide_out"].steps
    logged = steps["step"][np.isfinite(steps["sigma_min_inner"])].tolist()
    assert logged == [0, 3, 6, 9]


def test_shallow_network_has_no_inner_product(results):
    res = results["shallow"]
    ok = res.runs[res.runs["status"] == "ok"]
    assert len(ok) == 1
    steps = res.steps[res.steps["run_id"] == ok["run_id"].iloc[0]]
    for col in ("sigma_min_inner", "sigma_nN_inner", "sec45_rhs"):
        assert steps[col].isna().all(), col
    checks = res.checks[res.checks["run_id"] == ok["run_id"].iloc[0]].set_index("check")
    for name in ("C.saddle.positive", "C.sec45.ineq", "C.sec45.ineq_nN"):
        assert checks.loc[name, "status"] == "not_applicable", name
    assert np.isnan(ok["M_region"].iloc[0])


# -------------------------------------------------------------- 4. tables
def test_tables_have_the_paper_c_columns(results):
    res = results["main"]
    for col in ("loss", "loss_gap", "loss_twin", "loss_gap_twin", "deviation_X", "tau",
                "tau_sup", "sigma_min_inner",
                "bound_12a", "bound_12b", "bound_12c", "bound_lemma5"):
        assert col in res.steps.columns, col
    for col in ("kappa", "q", "alpha", "beta", "eta", "eta_star", "c1", "c2", "M_region",
                "tau_max", "thm1_eps"):
        assert col in res.runs.columns, col
    assert len(res.runs) == 6 and (res.runs["status"] == "ok").all()
    assert len(res.steps) == 6 * 16
    # tau_max is the largest measured τ.
    for row, steps in _runs_and_steps(res):
        assert row["tau_max"] == pytest.approx(np.nanmax(steps["tau"]), rel=1e-12)


def test_rerun_into_a_fresh_folder_is_identical(results, tmp_path):
    again = _run(MAIN, tmp_path / "again")
    first = results["main"]
    pd.testing.assert_frame_equal(again.steps, first.steps)
    pd.testing.assert_frame_equal(again.runs.drop(columns=TIMING),
                                  first.runs.drop(columns=TIMING))
    pd.testing.assert_frame_equal(again.checks, first.checks)


# ---------------------------------------------------------- 5. divergence
def test_huge_step_diverges_without_an_exception(results):
    res = results["shallow"]
    bad = res.runs[res.runs["schedule.eta"].astype(str) == str(1e4)]
    assert len(bad) == 1
    row = bad.iloc[0]
    assert row["status"] == "diverged"
    assert row["steps_done"] < SHALLOW["steps"]
    steps = res.steps[res.steps["run_id"] == row["run_id"]]
    # the table ends with the later of the network and its twin (here diverging too)
    assert len(steps) == max(row["steps_done"], row["twin_steps_done"]) + 1
    assert steps.loc[steps["step"] > row["steps_done"], "loss"].isna().all()


# -------------------------------------------------------------- 6. checks
@pytest.fixture(scope="module")
def one_run(results):
    res = results["main"]
    row = res.runs[res.runs["schedule.eta"] == "thm1"].iloc[0]
    steps = res.steps[res.steps["run_id"] == row["run_id"]].reset_index(drop=True)
    return steps, row.to_dict(), _setting_of(MAIN, row)


def _status(steps, c, setting):
    return {r["check"]: r["status"] for r in run_checks(setting, steps, c)}


def test_checks_hold_on_the_run(one_run):
    steps, c, setting = one_run
    st = _status(steps, c, setting)
    for name in ("C.eq3.twin", "C.eq4.twin", "C.lemma5.twin", "C.thm2.12a", "C.thm2.12b",
                 "C.lemma5", "C.saddle.positive", "C.sec45.ineq_nN"):
        assert st[name] == "holds", name


def test_checks_can_fail(one_run):
    steps, c, setting = one_run
    broken = steps.copy()
    broken["deviation_X"] = broken["deviation_X"] * 1e6
    st = _status(broken, c, setting)
    assert st["C.thm2.12a"] == "violated"
    broken = steps.copy()
    broken.loc[broken["step"] == 3, "loss_gap_twin"] = 2 * broken["bound_eq3"] + 1.0
    st = _status(broken, c, setting)
    assert st["C.eq3.twin"] == "violated"
    broken = steps.copy()
    broken["dist_X"] = broken["bound_lemma5"] * 1.01 + 1e-6
    assert _status(broken, c, setting)["C.lemma5"] == "violated"
    broken = steps.copy()
    broken.loc[2, "sigma_min_inner"] = 0.0
    assert _status(broken, c, setting)["C.saddle.positive"] == "violated"
    broken = steps.copy()
    broken["loss_gap"] = broken["loss_gap"].iloc[0] * 1.0
    assert _status(broken, c, setting)["C.thm1.rate"] == "violated"


def test_vacuous_theorem2_is_not_applicable(one_run):
    steps, c, setting = one_run
    thm2 = ("C.thm2.12a", "C.thm2.12b", "C.thm2.12c", "C.lemma5")
    st = _status(steps, {**c, "width_condition": False}, setting)
    assert all(st[k] == "not_applicable" for k in thm2)
    big_tau = steps.copy()
    big_tau["tau_sup"] = np.where(big_tau["step"] >= 4, 1.2, big_tau["tau_sup"])
    st = _status(big_tau, c, setting)
    assert all(st[k] == "not_applicable" for k in thm2)
    st = _status(steps, {**c, "eta": 1.5 * c["eta1"]}, setting)
    assert all(st[k] == "not_applicable" for k in thm2)
    st = _status(steps, {**c, "eta_star": 2.5 / c["beta"]}, setting)
    assert all(st[k] == "not_applicable" for k in ("C.eq3.twin", "C.eq4.twin", "C.lemma5.twin"))
    no_sigma = steps.copy()
    no_sigma["sigma_min_inner"] = np.nan
    st = _status(no_sigma, c, setting)
    assert st["C.saddle.positive"] == "not_applicable"


# ------------------------------------------------------------ 7. validation
def _err(raw):
    with pytest.raises(SpecError) as info:
        expand(validate_spec(raw))
    msg = str(info.value)
    assert "\n" not in msg
    return info.value


def _deep(**problem):
    raw = copy.deepcopy(MAIN)
    raw.pop("sweep")
    raw["problem"].update(problem)
    return raw


def _two_layer(**top):
    return {"problem": {"kind": "two_layer_linear", "width": 4,
                        "data": {"kind": "synthetic", "n": 3, "m": 2}}, **top}


def test_spec_errors_name_the_field():
    e = _err(_deep(widths=[5, 3]))
    assert e.field.startswith("problem") and "widths" in str(e)
    e = _err(_deep(depth=3))
    assert e.field.startswith("problem") and "widths" in str(e) and "depth" in str(e)
    assert _err({**_deep(), "schedule": {"kind": "local_pl"}}).field == "schedule.kind"
    assert _err({**_deep(), "schedule": {"kind": "constant", "eta": "eta_max"}}).field \
        == "schedule.eta"
    assert _err(_two_layer(schedule={"kind": "constant", "eta": "thm1"})).field == "schedule.eta"
    assert _err(_two_layer(init={"kind": "balanced"})).field == "init.kind"
    assert _err(_two_layer(init={"kind": "orthogonal", "peak": 1})).field == "init.peak"
    raw = _deep()
    raw["problem"]["data"]["n"] = 4
    assert _err(raw).field == "problem.data.n"
    # The defaults themselves are valid.
    assert len(expand(validate_spec(_deep()))) == 1


def _write_npy_case(folder, X, Y, Ws, widths):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "X.npy", X)
    np.save(folder / "Y.npy", Y)
    names = []
    for k, W in enumerate(Ws):
        np.save(folder / f"W{k + 1}.npy", W)
        names.append(f"W{k + 1}.npy")
    spec = {"id": "npy", "problem": {"kind": "deep_linear", "widths": widths,
                                     "data": {"kind": "npy", "X": "X.npy", "Y": "Y.npy"}},
            "init": {"kind": "npy", "weights": names}, "steps": 3, "seeds": 1}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_npy_errors_exit_2_and_write_nothing(tmp_path):
    rng = np.random.default_rng(0)
    widths = [4, 6, 5, 2]
    X, Y = rng.standard_normal((9, 4)), rng.standard_normal((9, 2))
    Ws = [rng.standard_normal((widths[k + 1], widths[k])) for k in range(3)]
    cases = [
        ("init.weights", _write_npy_case(tmp_path / "count", X, Y, Ws[:2], widths)),
        ("init.weights[1]", _write_npy_case(tmp_path / "shape", X, Y,
                                            [Ws[0], Ws[1].T, Ws[2]], widths)),
        ("problem.widths", _write_npy_case(tmp_path / "xcols", X[:, :3], Y, Ws, widths)),
    ]
    runner = CliRunner()
    for field, path in cases:
        out = path.parent / "out"
        res = runner.invoke(app, ["run-spec", str(path), "--out", str(out), "--no-progress"])
        assert res.exit_code == 2, (field, res.output)
        assert field in res.output, (field, res.output)
        assert "Traceback" not in res.output
        assert not out.exists()
        with pytest.raises(SpecError) as info:
            plan(path)
        assert info.value.field == field


# ------------------------------------------------------------ 8. npy inputs
def test_npy_inputs_reproduce_the_synthetic_run(results, tmp_path):
    """Saving one seed's data and weights and running from the files gives the same run."""
    res = results["main"]
    row = res.runs[(res.runs["schedule.eta"] == "thm1") & (res.runs["seed"] == 0)].iloc[0]
    setting = _setting_of(MAIN, row)
    inst = pdl.build_instance(setting, 0, Path.cwd())
    path = _write_npy_case(tmp_path, inst.X.T, inst.Y.T, inst.Ws, WIDTHS)
    spec = yaml.safe_load(path.read_text())
    for key in ("X", "Y"):
        spec["problem"]["data"][key] = str(tmp_path / f"{key}.npy")
    spec["init"]["weights"] = [str(tmp_path / w) for w in spec["init"]["weights"]]
    spec["problem"]["loss"] = "squared_mean"
    spec.update(steps=MAIN["steps"], seeds=2, schedule={"kind": "constant", "eta": "thm1"})
    got = _run(spec, tmp_path / "out")
    # Loss at step 0 from the files alone.
    X, Y = np.load(tmp_path / "X.npy").T, np.load(tmp_path / "Y.npy").T
    Ws = [np.load(tmp_path / w) for w in spec["init"]["weights"]]
    V0 = _prod(Ws, WIDTHS[0]) / math.sqrt(math.prod(WIDTHS[1:]))
    nv = Naive("squared_mean", 0.0, X, Y)
    steps0 = got.steps[got.steps["step"] == 0]
    np.testing.assert_allclose(steps0["loss_gap"], nv.value(V0) - nv.L_star, rtol=1e-10)
    np.testing.assert_allclose(steps0["loss"], nv.value(V0), rtol=1e-12)
    want = res.steps[res.steps["run_id"] == row["run_id"]].reset_index(drop=True)
    cols = ["loss", "loss_gap", "loss_twin", "loss_gap_twin", "deviation_X", "dist_X", "tau",
            "sigma_min_inner", "bound_12a"]
    for seed_rows in got.steps.groupby("run_id"):
        mine = seed_rows[1].reset_index(drop=True)
        np.testing.assert_allclose(mine[cols].to_numpy(float), want[cols].to_numpy(float),
                                   rtol=1e-10, atol=1e-14)
    assert got.runs["eta"].iloc[0] == pytest.approx(row["eta"], rel=1e-14)
