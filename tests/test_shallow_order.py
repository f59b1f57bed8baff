"""Paper B's order analysis (App. E) as run columns: the lower bound (68) on µ_Φ and the width
requirement (20) = (77)–(79), against explicit Khatri–Rao products, Gauss–Hermite quadrature
of the Hermite coefficients and a Monte Carlo E[M0]; and the linearized twin computed to its
own end after the network diverges, against a NumPy GD on the dense linearization."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

import overparam
from overparam.models import shallow as sh
from overparam.problems import shallow as problem
from overparam.problems.shallow_constants import theory_constants
from overparam.spec import expand, validate_spec

BASE = {"id": "b-order", "problem": {"kind": "shallow", "width": 60, "activation": "gelu",
                                     "data": {"kind": "sphere", "n": 10, "d0": 4, "d2": 1},
                                     "ntk_every": 0},
        "init": {"kind": "omega", "omega1": 0.8, "product": "lecun"},
        "schedule": {"kind": "constant", "eta": "thm2"}, "steps": 2, "seeds": 1}


def _instance(spec):
    (setting,) = expand(validate_spec(copy.deepcopy(spec)))
    inst = problem.build_instance(setting, 0, Path.cwd())
    return setting, inst, theory_constants(setting, inst)


def _gelu(x):
    return x * ndtr(x)


def _hermite_coefficient(phi, i, scale, nodes=160):
    """c_i = E[φ(s g) He_i(g)] by Gauss–Hermite quadrature (probabilists' weight)."""
    g, w = np.polynomial.hermite_e.hermegauss(nodes)
    he = np.polynomial.hermite_e.hermeval(g, [0] * i + [1])
    return float(np.sum(w * phi(scale * g) * he) / math.sqrt(2 * math.pi))


def khatri_rao_power(X, t):
    """X^{*t} ∈ R^{d0^t × n}, column a = vec(x_a ⊗ ⋯ ⊗ x_a), formed explicitly."""
    cols = []
    for a in range(X.shape[1]):
        v = X[:, a]
        for _ in range(t - 1):
            v = np.kron(v, X[:, a])
        cols.append(v)
    return np.stack(cols, axis=1)


def test_mu_lower_68_is_the_formula_and_bounds_the_expected_gram():
    """mu_phi_lower = √(d1 c_t²/t!) σ_min(X^{*t}) (δ1 = 0) with c_t of φ(ω1·) and X^{*t}
    formed explicitly; it is below √λ_min(E[M0]), E[M0] estimated by Monte Carlo over
    W̃ ~ N(0, 1) rows (6e4 draws: the margin is ≥ 10 standard errors), as (56) implies."""
    setting, inst, c = _instance(BASE)
    X, d1, w1, t = inst.data.X, c["d1"], inst.omega1, c["khatri_rao_t"]
    assert t == 2 and np.allclose(np.linalg.norm(X, axis=0), 1.0)
    s_kr = np.linalg.svd(khatri_rao_power(X, t), compute_uv=False)[-1]
    assert c["sigma_min_khatri_rao"] == pytest.approx(s_kr, rel=1e-9)
    ct = _hermite_coefficient(_gelu, t, w1)
    want = math.sqrt(d1 * ct**2 / math.factorial(t)) * s_kr
    assert c["mu_phi_lower"] == pytest.approx(want, rel=1e-9)
    rng = np.random.default_rng(0)
    G = _gelu(w1 * rng.standard_normal((60_000, X.shape[0])) @ X)  # rows: draws of w̃ᵀX
    expected = d1 * G.T @ G / G.shape[0]
    lam = np.linalg.eigvalsh(expected)[0]
    assert c["mu_phi_lower"] ** 2 < lam * 0.9


def test_width_requirement_is_77_and_its_factorization():
    """width_req_20 = √(δ3²c0²(1+δ2)k1²k2²(φ'max + φ''max χ)² σ⁴_max(X) n t!³ /
    ((1−δ1)³ c_t⁶ σ⁶_min(X^{*t}))), i.e. (77) solved for d1 with every δ, k at XI_DELTAS
    (δ1 = δ2 = 0, δ3 = k1 = k2 = 1) and ω1's coefficients; (79) is the same without ξ,
    (80) is n^{3/2}/d0."""
    setting, inst, c = _instance(BASE)
    X, n, d0, t = inst.data.X, c["n"], c["d0"], c["khatri_rao_t"]
    s_max = np.linalg.svd(X, compute_uv=False)[0]
    s_kr = np.linalg.svd(khatri_rao_power(X, t), compute_uv=False)[-1]
    c0 = _hermite_coefficient(_gelu, 0, inst.omega1)
    ct = _hermite_coefficient(_gelu, t, inst.omega1)
    lip = c["dphi_max"] + c["ddphi_max"] * c["chi_max"]
    d1_sq = (c0**2 * lip**2 * s_max**4 * n * math.factorial(t) ** 3
             / (ct**6 * s_kr**6))
    assert c["width_req_20"] == pytest.approx(math.sqrt(d1_sq), rel=1e-8)
    assert c["width_req_79"] == pytest.approx(math.sqrt(n) * s_max**2 / s_kr**3, rel=1e-9)
    assert c["xi_78"] * c["width_req_79"] == pytest.approx(c["width_req_20"], rel=1e-12)
    assert c["width_req_80"] == pytest.approx(n**1.5 / d0, rel=1e-14)
    assert c["width_req_holds"] == (c["d1"] >= c["width_req_20"])


def test_odd_activation_and_given_inputs_leave_the_order_analysis_out():
    """tanh: c_0 = 0, so (77)'s dominant term of ν_Φ is absent (NaN); with t = 2 also
    c_2 = 0 and (68) is 0. gelu's odd part is x/2: c_3 = 0 and (68) is 0 at t = 3 (ξ
    infinite). Inputs that are not unit-norm: every column NaN but (80)."""
    spec = copy.deepcopy(BASE)
    spec["problem"]["activation"] = "tanh"
    _, _, c = _instance(spec)
    assert c["khatri_rao_t"] == 2 and c["mu_phi_lower"] == 0.0
    assert math.isnan(c["xi_78"]) and math.isnan(c["width_req_20"])
    assert not c["width_req_holds"] and np.isfinite(c["width_req_79"])
    spec = copy.deepcopy(BASE)
    spec["problem"]["khatri_rao_t"] = 3
    _, _, c = _instance(spec)
    assert abs(_hermite_coefficient(_gelu, 3, 0.8)) < 1e-12
    assert c["mu_phi_lower"] == 0.0 and c["width_req_20"] == math.inf
    spec = copy.deepcopy(BASE)
    spec["problem"]["data"] = {"kind": "dataset", "n_train": 40, "n_test": 10,
                               "normalize": "standard", "labels": "true"}
    _, _, c = _instance(spec)
    assert all(math.isnan(c[k]) for k in ("mu_phi_lower", "xi_78", "width_req_20",
                                          "width_req_79"))
    assert c["width_req_80"] == pytest.approx(c["n"] ** 1.5 / c["d0"])


# ------------------------------------------------------- the linearized twin's own end
#: GD at 1.99/(β_f λ_max(NTK(w0))): the linearization contracts every mode, the width-2
#: network's NTK grows along the run and this seed diverges at step 239.
DIVERGING = {"id": "b-diverge", "problem": {"kind": "shallow", "width": 2, "activation": "gelu",
                                            "data": {"kind": "sphere", "n": 10, "d0": 5,
                                                     "d2": 1},
                                            "lazy": True, "ntk_every": 0},
             "init": {"kind": "omega", "omega1": 1.0, "product": "lecun"},
             "schedule": {"kind": "constant", "eta": "ntk", "scale": 1.99},
             "steps": 300, "seeds": 1, "seed": 4}


def test_linearized_twin_outlives_a_diverged_network(tmp_path):
    """The network diverges, the twin goes on: rows to the last step, the network's columns
    NaN after steps_done, lin_loss equal to a NumPy GD on Φ(w0) + J(w0)(w − w0) with the
    dense Jacobian, lin_status ok."""
    res = overparam.run(copy.deepcopy(DIVERGING), out=tmp_path, progress=False)
    row = res.runs.iloc[0]
    s = res.steps.reset_index(drop=True)
    assert row["status"] == "diverged" and row["lin_status"] == "ok"
    done, steps = int(row["steps_done"]), DIVERGING["steps"]
    assert done < steps and len(s) == steps + 1 and row["lin_steps_done"] == steps
    after = s[s["step"] > done]
    for col in ("loss", "eta", "grad_norm", "lazy_gap", "dist_init", "bound_rate"):
        assert after[col].isna().all(), col
    assert after["lin_loss"].notna().all()
    (setting,) = expand(validate_spec(copy.deepcopy(DIVERGING)))
    inst = problem.build_instance(setting, 4, Path.cwd())
    act = problem.activations.from_spec("gelu")
    X, Y = inst.data.X, inst.data.Y
    J = sh.dense_jacobian(inst.W0, inst.V0, X, act.fn)  # rows: vec(Z) row-major
    z0 = (inst.V0 @ np.asarray(act.fn(inst.W0 @ X))).ravel()
    y, theta = Y.ravel(), np.zeros(J.shape[1])
    eta = float(row["eta"])
    want = []
    for _ in range(steps + 1):
        r = z0 + J @ theta - y
        want.append(float(r @ r))
        theta = theta - eta * 2.0 * J.T @ r
    np.testing.assert_allclose(s["lin_loss"], want, rtol=1e-8, atol=1e-14)
    assert row["final_lin_loss"] == pytest.approx(want[-1], rel=1e-8)
    assert row["final_loss"] == s["loss"].iloc[done]
