"""Paper B's checks on one run: Lemma 3 at init, Lemma 1 inside ball(w0, ρ_Φ), the path-length
bound (33), the rate (14) of Theorem 2, and the expected Gram (56) at init."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from overparam.checks.core import inequality, not_applicable
from overparam.spec import Setting

PAPER = "B"
#: Round-off floor of the singular-value comparisons, relative to ν_Φ.
SV_RTOL = 1e-9
#: Eq 56 holds when the empirical Gram is within this many Monte Carlo standard errors.
KERNEL_SE = 4.0


#: Every check of paper B, in order.
CHECKS = (("B.lemma3.mu", "Lemma 3"), ("B.lemma3.nu", "Lemma 3"), ("B.lemma1.lower", "Lemma 1 (5)"),
          ("B.lemma1.upper", "Lemma 1 (5)"), ("B.eq33.path", "Lemma 2, (33)"),
          ("B.thm2.rate", "Theorem 2, (14)"), ("B.eq56.kernel", "(56)"))
BIAS_FREE = "the paper's analysis is bias-free; this network has biases (problem.bias)"


def run_checks(setting: Setting, steps: pd.DataFrame, c: dict[str, Any]) -> list[dict]:
    if not c.get("theory_bias_free", True):
        return [not_applicable(check, PAPER, eq, BIAS_FREE) for check, eq in CHECKS]
    out: list[dict] = []
    mu, nu, rho = c["mu_phi"], c["nu_phi"], c["rho_phi"]
    lam_min, lam_max = steps["ntk_lambda_min"].to_numpy(), steps["ntk_lambda_max"].to_numpy()
    have_ntk = np.isfinite(lam_min[0])
    floor = SV_RTOL * nu
    name = c.get("activation_name", setting.problem.activation)
    outside = "" if c["in_assumptions"] else f"{name} is outside Assumption 2 (no φ''max)"
    if have_ntk:
        out.append(inequality("B.lemma3.mu", PAPER, "Lemma 3", mu, np.sqrt(max(lam_min[0], 0.0)),
                              steps=[0], atol=floor, note="µ_Φ ≤ σ_min(∇Φ*(w0))"))
        out.append(inequality("B.lemma3.nu", PAPER, "Lemma 3", np.sqrt(lam_max[0]), nu,
                              steps=[0], atol=floor, note="σ_max(∇Φ*(w0)) ≤ ν_Φ"))
    else:
        for check in ("B.lemma3.mu", "B.lemma3.nu"):
            out.append(not_applicable(check, PAPER, "Lemma 3", "the NTK was not logged"))
    out.extend(_lemma1(steps, mu, nu, rho, have_ntk, outside, floor))
    out.append(_path(setting, steps, c, outside))
    out.append(_rate(setting, steps, c, outside))
    if np.isfinite(c["kernel_rel_error"]):
        out.append(inequality("B.eq56.kernel", PAPER, "(56)", c["kernel_rel_error"],
                              KERNEL_SE * c["kernel_rel_se"], steps=[0],
                              note=f"‖φᵀφ/d1 − E‖/‖E‖ ≤ {KERNEL_SE:g} Monte Carlo SE"))
    else:
        why = ("inputs are not unit-norm" if not c["unit_norm_inputs"]
               else "(56) is about a Gaussian W0; the init is given (npy)"
               if not c.get("gaussian_init", True) else "n too large for n×n Grams")
        out.append(not_applicable("B.eq56.kernel", PAPER, "(56)", why))
    return out


def _lemma1(steps, mu, nu, rho, have_ntk, outside, floor) -> list[dict]:
    eq = "Lemma 1 (5)"
    if outside or not have_ntk or mu == 0.0:
        why = outside or ("the NTK was not logged" if not have_ntk else "µ_Φ = 0 (width < n)")
        return [not_applicable(f"B.lemma1.{s}", PAPER, eq, why) for s in ("lower", "upper")]
    inside = (steps["dist_init"].to_numpy() <= rho) & np.isfinite(steps["ntk_lambda_min"])
    k = steps["step"].to_numpy()[inside]
    lam_min = steps["ntk_lambda_min"].to_numpy()[inside]
    lam_max = steps["ntk_lambda_max"].to_numpy()[inside]
    note = f"{int(inside.sum())} logged rows inside ball(w0, ρ_Φ = {rho:.3g})"
    return [
        inequality("B.lemma1.lower", PAPER, eq, np.full(k.size, mu / 2),
                   np.sqrt(np.clip(lam_min, 0, None)), steps=k, atol=floor, note=note),
        inequality("B.lemma1.upper", PAPER, eq, np.sqrt(lam_max), np.full(k.size, 1.5 * nu),
                   steps=k, atol=floor, note=note),
    ]


def _path(setting: Setting, steps, c, outside) -> dict:
    """Eq 33 up to the first row outside the ball: ℓ ≤ C ν√h0/(√α_f µ²) + η ν ‖∇f(z_i)‖."""
    eq = "Lemma 2, (33)"
    if outside or setting.problem.dynamics.kind != "gd" or c["mu_phi"] == 0.0:
        why = outside or ("SGD: (33) is for GD" if setting.problem.dynamics.kind != "gd"
                          else "µ_Φ = 0 (width < n): the bound is infinite")
        return not_applicable("B.eq33.path", PAPER, eq, why)
    dist = steps["dist_init"].to_numpy()
    out = np.flatnonzero(dist > c["rho_phi"])
    end = int(out[0]) + 1 if out.size else len(steps)
    loss = steps["loss"].to_numpy()[:end]
    grad_f = 2.0 * np.sqrt(c["loss_scale"] * np.clip(loss, 0, None))
    rhs = c["path_bound"] + c["eta"] * c["nu_phi"] * grad_f
    return inequality("B.eq33.path", PAPER, eq, steps["path_length"].to_numpy()[:end], rhs,
                      steps=steps["step"].to_numpy()[:end],
                      note=f"C = {c['c_path']:g}; rows up to the first exit from the ball")


def _rate(setting: Setting, steps, c, outside) -> dict:
    """(14) when (9) and (13) hold; otherwise not applicable, saying by how much they fail."""
    eq = "Theorem 2, (14)"
    if outside or setting.problem.dynamics.kind != "gd":
        return not_applicable("B.thm2.rate", PAPER, eq, outside or "SGD: Theorem 2 is for GD")
    verdict = inequality("B.thm2.rate", PAPER, eq, steps["loss"].to_numpy(),
                         steps["bound_rate"].to_numpy(), steps=steps["step"].to_numpy(),
                         atol=1e-12 * c["h0"], note=f"C = {c['c_rate']:g}")
    if c["cond9_holds"] and c["eta13_holds"]:
        return verdict
    fails = []
    if not c["cond9_holds"]:
        ratio = c["h0"] / c["cond9_rhs"] if c["cond9_rhs"] > 0 else np.inf
        fails.append(f"(9) fails: h(w0) is {ratio:.3g}× its bound (C = {c['c_cond9']:g})")
    if not c["eta13_holds"]:
        fails.append(f"(13) fails: η is {c['eta'] / c['eta_thm2']:.3g}× eq 13's (C = "
                     f"{c['c_eta']:g})")
    told = "held" if verdict["status"] == "holds" else "failed"
    return not_applicable("B.thm2.rate", PAPER, eq, "; ".join(fails) + f"; the rate {told} anyway")
