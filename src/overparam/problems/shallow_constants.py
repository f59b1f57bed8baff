"""Paper B's constants of one run at init: Lemma 3, (9), (13), (14), eq 33, eq 56's kernel
error, and the order analysis of App. E: the lower bound (68) on µ_Φ and the width
requirement (20) / (77)–(80).

The order analysis is about a Gaussian W0 on unit-norm inputs with the Hermite coefficients
of φ; where the paper passes from W̃0 ~ N(0, 1) to W0 = ω1W̃0 through
τ^{r1}|φ(a)| ≤ |φ(τa)| (with r1, r2 unspecified per φ), the columns use the coefficients of
φ(ω1·) themselves, which is what the expectation (56)–(58) is at the run's ω1. Its free
constants δ1 … δ4 are ``theory.near_isometry.XI_DELTAS``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.models import activations
from overparam.models import shallow as sh
from overparam.numerics import hermite
from overparam.spec import Setting
from overparam.theory import near_isometry as th

#: Gram-based constants (σ_min(X^{*t}), the kernel check) need n×n matrices up to this n.
GRAM_MAX = 4000
HERMITE_ORDER = 4
#: The expected kernel (eq 56) integrates φ(ω1 g) on panels of width 1/ω1: beyond this ω1
#: the rule would need billions of nodes, and the kernel check is left out (NaN).
KERNEL_OMEGA_MAX = 1e3



def _scale(setting: Setting, n: int, d2: int) -> float:
    """f = scale·‖Z − Y‖²_F."""
    return 1.0 if setting.problem.loss == "sum" else 1.0 / (n * d2)


def theory_constants(setting: Setting, inst: Any) -> dict[str, Any]:
    """Everything paper B says about this run at init. Its analysis is of the bias-free
    V φ(W X): with biases the constants are those of that network at the run's W0, V0
    (``theory_bias_free`` False says so), while h0 and the NTK step are the run's own."""
    prob = setting.problem
    act = activations.from_spec(prob.activation)
    X, Y = inst.data.X, inst.data.Y
    (d0, n), d2, d1 = X.shape, Y.shape[0], prob.width
    dphi, ddphi = activations.dphi_max(act), activations.ddphi_max(act)
    phi0 = np.asarray(act.fn(jnp.asarray(inst.W0 @ X)))
    l3 = th.lemma3(phi0, X, inst.V0, dphi, ddphi, prob.chi_max)
    scale = _scale(setting, n, d2)
    alpha_f, beta_f = th.loss_constants(prob.loss, n, d2)
    if inst.b1 is None:
        resid = inst.V0 @ phi0 - Y
    else:
        biased = np.asarray(act.fn(jnp.asarray(inst.W0 @ X + inst.b1[:, None])))
        resid = inst.V0 @ biased + inst.b2[:, None] - Y
    h0 = scale * float(np.sum(resid**2))
    grad_f0 = 2.0 * scale * float(np.linalg.norm(resid))
    mu, nu, beta = l3["mu_phi"], l3["nu_phi"], l3["beta_phi"]
    c9 = th.cond9_rhs(alpha_f, mu, beta, nu, prob.c_cond9)
    e13 = th.eta_thm2(beta, grad_f0, beta_f, mu, nu, prob.c_eta)
    out: dict[str, Any] = {
        **l3, "h0": h0, "grad_f0": grad_f0, "alpha_f": alpha_f, "beta_f": beta_f,
        "cond9_rhs": c9, "cond9_holds": bool(h0 <= c9), "eta_thm2": e13,
        "c_cond9": prob.c_cond9, "c_eta": prob.c_eta, "c_rate": prob.c_rate,
        "c_path": prob.c_path, "dphi_max": dphi, "ddphi_max": ddphi,
        "in_assumptions": act.in_assumptions, "phi_at_0": float(act.fn(jnp.zeros(()))),
        "omega1": inst.omega1, "omega2": inst.omega2, "omega_ratio": inst.omega2 / inst.omega1,
        "omega_product": inst.omega1 * inst.omega2, "n": n, "d0": d0, "d1": d1, "d2": d2,
        "params": d0 * d1 + d1 * d2, "lazy_ratio": th.lazy_ratio(beta, nu),
        "path_bound": th.path_bound(nu, h0, alpha_f, mu, prob.c_path),
        "loss_scale": scale, "activation_name": act.name,
        "theory_bias_free": inst.b1 is None, "bias_scheme": prob.bias_scheme(),
        "gaussian_init": setting.init.kind != "npy",
    }
    coef = hermite.coefficients(act, HERMITE_ORDER)
    out.update({f"hermite_c{i}": float(c) for i, c in enumerate(coef)})
    out["hermite_norm"] = float(np.sqrt(hermite.second_moment(act)))
    out["c_inf"] = float(hermite.c_inf(act))
    t = prob.khatri_rao_t or sh.default_t(d0, n)
    out["khatri_rao_t"] = t
    small = n <= GRAM_MAX
    unit = bool(np.allclose(np.linalg.norm(X, axis=0), 1.0, rtol=0, atol=1e-9))
    out["unit_norm_inputs"] = unit
    out["sigma_min_khatri_rao"] = sh.sigma_min_khatri_rao(X, t) if small else np.nan
    kernel = (small and unit and inst.omega1 <= KERNEL_OMEGA_MAX and inst.b1 is None
              and out["gaussian_init"])
    out.update(th.kernel_error(act, phi0, X, inst.omega1) if kernel else
               {"kernel_rel_error": np.nan, "kernel_rel_se": np.nan})
    out.update(width_constants(act, out, inst.omega1, unit and inst.b1 is None
                               and out["gaussian_init"]))
    sched = setting.schedule
    if sched.eta == "thm2":
        eta = e13
    elif sched.eta == "ntk":
        lam = sh.ntk_extremes(jnp.asarray(inst.W0), jnp.asarray(inst.V0), jnp.asarray(X),
                              act.fn, act.d1, inst.b1)[1]
        eta = 1.0 / (beta_f * float(lam))
    else:
        eta = float(sched.eta)
    eta *= getattr(sched, "scale", 1.0)  # the constant step's factor, named or a number
    out["eta"] = eta
    out["eta13_holds"] = bool(eta <= e13)
    out["rate14"] = th.rate14(eta, alpha_f, mu, prob.c_rate)
    out.update(inst.data.info)
    return out


#: |c_i|/√(i!) at most this times √E[φ(ω1 g)²] counts as zero (round-off of the quadrature):
#: c_0 = 0 for an odd φ (tanh), for which App. E.7's assumption that |c_0|√(d1 n) dominates
#: ν_Φ fails (its footnote 5) and (77) says nothing; c_t = 0 makes (68) vacuous at that t.
C0_ZERO = 1e-12


def width_constants(act: Any, c: dict[str, Any], omega1: float, gaussian_unit: bool
                    ) -> dict[str, float]:
    """(68)'s lower bound on µ_Φ and (20) = (79)·ξ (78), (79) and (80)'s order d1 ≳ n^{3/2}/d0,
    with t = ``khatri_rao_t`` and the Hermite coefficients c_0, c_t of φ(ω1·).

    NaN where they do not apply: inputs not unit-norm, biases or a given init (the Hermite
    algebra of App. E is for V φ(W0 X) with W0 Gaussian), n beyond the Gram limit; (20)
    and ξ also for c_0 = 0 (``C0_ZERO``). With c_t = 0 the bound (68) is 0 and ξ infinite."""
    nan = {"mu_phi_lower": np.nan, "xi_78": np.nan, "width_req_20": np.nan,
           "width_req_79": np.nan, "width_req_holds": False}
    n, d0, d1, t = c["n"], c["d0"], c["d1"], c["khatri_rao_t"]
    out = {**nan, "width_req_80": th.width_80(n, d0)}
    s_kr = c["sigma_min_khatri_rao"]
    if not (gaussian_unit and np.isfinite(s_kr) and omega1 <= KERNEL_OMEGA_MAX):
        return out
    coef = hermite.normalized_coefficients(act, t, omega1)  # c_i/√(i!) of φ(ω1·)
    zero = np.abs(coef) <= C0_ZERO * np.sqrt(hermite.second_moment(act, omega1))
    coef = np.where(zero, 0.0, coef)  # c_t = 0 (e.g. t even, φ odd): (68) is 0, ξ infinite
    out["mu_phi_lower"] = th.mu_lower_68(coef[t], d1, s_kr)
    out["width_req_79"] = th.width_79(n, c["sigma_max_X"], s_kr)
    if zero[0]:
        return out
    out["xi_78"] = th.xi_78(coef[0], coef[t], c["dphi_max"], c["ddphi_max"], c["chi_max"])
    out["width_req_20"] = out["xi_78"] * out["width_req_79"]
    out["width_req_holds"] = bool(d1 >= out["width_req_20"])
    return out
