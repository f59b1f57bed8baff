"""Paper A's checkable statements on one run (Thm 3.1, Thm 3.2, Lemmas A.2, C.1, D.1, D.2,
E.2, E.3)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from overparam.checks.core import RTOL, inequality, not_applicable
from overparam.schedules.base import growth_cap
from overparam.spec import Setting

P = "A"
GROWTH_RTOL = 1e-9


def thm32_conditions(steps: pd.DataFrame, c: dict) -> str:
    """Why Theorem 3.2 does not apply to this run ('' when it does)."""
    if not c["alpha1"] > 0:
        return f"alpha1 = {c['alpha1']:.3g} <= 0: Theorem 3.2 is vacuous"
    if c["width"] < min(c["n"], c["m"]):
        return "width < min(n, m)"
    if not (np.isfinite(c["eta0"]) and 0 < c["eta0"] <= c["eta_max"] * (1 + GROWTH_RTOL)):
        return f"eta0 = {c['eta0']:.3g} outside (0, eta_max = {c['eta_max']:.3g}]"
    t = steps["step"].to_numpy(float)[:-1]
    eta = steps["eta"].to_numpy()[:-1]
    cap = np.minimum(np.asarray(growth_cap(t, c["eta0"], c["d"])),
                     1.0 / steps["K_t"].to_numpy()[:-1])
    bad = (eta < c["eta0"] * (1 - GROWTH_RTOL)) | (eta > cap * (1 + GROWTH_RTOL))
    if bad.any():
        return f"step size outside [eta0, min((1+eta0^d)^(t/2) eta0, 1/K_t)] at step {int(t[bad][0])}"
    return ""


def eq62_sides(steps: pd.DataFrame, K: float, s2min=None, s2max=None) -> tuple[np.ndarray, np.ndarray]:
    """Lemma C.1's condition (eq 62) as lhs ≤ rhs per row: η a + (Kη/2)(σ²max(T) + η a)² ≤
    σ²min(T), a = ‖∇ℓ‖_F‖W‖_F; the measured spectra unless ``s2min``, ``s2max`` are given."""
    eta, a = steps["eta"].to_numpy(), steps["xu_a"].to_numpy()
    s2min = steps["sigma_min_T2"].to_numpy() if s2min is None else s2min
    s2max = steps["sigma_max_T2"].to_numpy() if s2max is None else s2max
    return eta * a + 0.5 * K * eta * (s2max + eta * a) ** 2, np.broadcast_to(s2min, eta.shape)


def lemma_c1_checks(setting: Setting, steps: pd.DataFrame, c: dict,
                    pair_floor: np.ndarray) -> list[dict]:
    """Lemma C.1 (Xu et al.'s descent): eq 62 for the Xu step, Xu's uniform spectral bounds,
    and eq 63 L(t+1) ≤ ρ_Xu(η_t, t)L(t) on every step that satisfies eq 62."""
    sched = setting.schedule
    step = steps["step"].to_numpy()
    lhs, rhs = eq62_sides(steps, c["K"])
    rows = []
    if sched.kind != "xu2023":
        why = f"schedule {sched.kind} does not choose eta by eq 62 (Xu et al.'s step)"
        rows += [not_applicable("A.eq62.xu", P, "eq 62", why),
                 not_applicable("A.xu.bounds", P, "App. C (c1, c2)", why)]
    else:
        rows.append(inequality("A.eq62.xu", P, "eq 62", lhs, rhs, step,
                               note="with the measured sigma^2(T_t)"))
        if sched.measured:
            rows.append(not_applicable("A.xu.bounds", P, "App. C (c1, c2)",
                                       "the measured variant uses sigma^2(T_t) itself"))
        else:
            s2min, s2max = steps["sigma_min_T2"].to_numpy(), steps["sigma_max_T2"].to_numpy()
            rows.append(inequality(
                "A.xu.bounds", P, "App. C (c1, c2)",
                np.concatenate([np.full_like(s2min, sched.c1 * c["alpha1"]), s2max]),
                np.concatenate([s2min, np.full_like(s2max, sched.c2 * c["alpha2"])]),
                np.concatenate([step, step]),
                note=f"c1 alpha1 <= sigma^2_min(T_t), sigma^2_max(T_t) <= c2 alpha2 "
                     f"(c1 = {sched.c1:g}, c2 = {sched.c2:g})"))
    L = steps["loss_gap"].to_numpy()
    ok62 = (lhs <= rhs + RTOL * (np.abs(lhs) + np.abs(rhs)))[:-1]
    if ok62.any():
        rho = steps["rho_xu"].to_numpy()[:-1]
        rows.append(inequality("A.eq63.xu", P, "eq 63 (Lemma C.1)", L[1:][ok62],
                               (rho * L[:-1])[ok62], step[:-1][ok62], atol=pair_floor[ok62],
                               note=f"{int(ok62.sum())} of {ok62.size} steps satisfy eq 62"))
    else:
        rows.append(not_applicable("A.eq63.xu", P, "eq 63 (Lemma C.1)",
                                   "no step satisfies eq 62 (measured sigma^2(T_t))"))
    return rows


def lemma_d_checks(setting: Setting, steps: pd.DataFrame, c: dict) -> list[dict]:
    """Lemma D.1 at the start of each step and Lemma D.2 along it, τ ∈ [0, 1]."""
    K, L = c["K"], steps["loss_gap"].to_numpy()
    s2max = steps["sigma_max_T2"].to_numpy()
    step = steps["step"].to_numpy()
    floor = 1e-10 * K * s2max  # the Hessian-vector products' round-off
    seg = np.maximum(steps["curvature_seg_max"].to_numpy(), -steps["curvature_seg_min"].to_numpy())
    how = ("exact (a quadratic in tau)" if setting.problem.loss == "squared"
           else "max over tau = 0, 1/8, ..., 1")
    return [inequality("A.lemmaD1", P, "Lemma D.1 (75)", steps["curvature"].to_numpy(),
                       K * s2max + np.sqrt(2 * K * L), step, atol=floor,
                       note="<g, H(0) g>/|g|^2 <= K sigma^2_max(T_t) + sqrt(2 K L(t))"),
            inequality("A.lemmaD2", P, "Lemma D.2", seg, steps["K_t"].to_numpy(), step,
                       atol=floor, note=f"sup over the step of |<g, H(tau) g>|/|g|^2, {how}")]


def run_checks(setting: Setting, steps: pd.DataFrame, c: dict) -> list[dict]:
    """Verdict rows for one run. ``c`` holds the run's theory constants and sizes."""
    plain = setting.schedule.kind == "plain_inverse_k"
    L = steps["loss_gap"].to_numpy()
    eta = steps["eta"].to_numpy()
    gn2 = steps["grad_norm"].to_numpy() ** 2
    step = steps["step"].to_numpy()
    nxt = L[1:]
    # Round-off floor of L − ℓ*: the residual is computed to ~eps·scale, so L to
    # ~eps·scale·√(2L); and a loss of size |ℓ| is itself only known to ~eps·|ℓ| (this term
    # dominates for cross-entropy, whose ℓ* is far from 0).
    eps = np.finfo(float).eps
    err = 64 * eps * c["resid_scale"]
    size = np.abs(steps["loss"].to_numpy()) + abs(c["l_star"])
    floor = err * np.sqrt(2 * np.maximum(L, 0.0)) + err**2 + 64 * eps * size
    pair_floor = np.maximum(floor[:-1], floor[1:])
    rows: list[dict] = []
    if plain:
        rate = 1 - 2 * c["mu"] * eta + c["mu"] * c["K"] * eta**2
        rows.append(inequality("A.eq5.plain_rate", P, "eq 5", nxt, rate[:-1] * L[:-1], step[:-1],
                               atol=pair_floor))
        return rows
    if c["width"] < min(c["n"], c["m"]):
        why = "width < min(n, m): Problem 2's assumption fails"
        return [not_applicable(k, P, e, why) for k, e in
                (("A.thm3.1.descent", "Thm 3.1"), ("A.thm3.1.pl", "Thm 3.1"))]
    K_t = steps["K_t"].to_numpy()
    mu_t = steps["mu_t"].to_numpy()
    rows.append(inequality("A.thm3.1.descent", P, "Thm 3.1 (descent)", nxt,
                           L[:-1] - (eta[:-1] - K_t[:-1] * eta[:-1] ** 2 / 2) * gn2[:-1], step[:-1],
                           atol=pair_floor))
    rows.append(inequality("A.thm3.1.pl", P, "Thm 3.1 (PL)", mu_t * L, 0.5 * gn2, step,
                           atol=np.abs(mu_t) * floor))
    inside = (eta * K_t > 0) & (eta * K_t < 2)
    inside = inside[:-1]
    if inside.any():
        rho = steps["rho"].to_numpy()[:-1]
        rows.append(inequality("A.eq10.rho", P, "eq 10", nxt[inside], (rho * L[:-1])[inside],
                               step[:-1][inside], atol=pair_floor[inside],
                               note=f"{int(inside.sum())} of {inside.size} steps with 0 < eta K_t < 2"))
    else:
        rows.append(not_applicable("A.eq10.rho", P, "eq 10", "no step with 0 < eta K_t < 2"))
    # ‖D(t+1) − D(t)‖ is resolved to about eps·‖W‖²: below that the comparison is round-off.
    d_floor = 1e-14 * float(np.nanmax(steps["sigma_max_T2"].to_numpy()))
    rows.append(inequality("A.lemmaE2", P, "Lemma E.2", steps["imbalance_step"].to_numpy()[:-1],
                           steps["lemma_e2_rhs"].to_numpy()[:-1], step[:-1], atol=d_floor))
    if c["alpha1"] > 0:
        rows.append(inequality("A.lemmaE3", P, "Lemma E.3",
                               [c["alpha1"], c["sigma_max_T2_0"]], [c["sigma_min_T2_0"], c["alpha2"]]))
    else:
        rows.append(not_applicable("A.lemmaE3", P, "Lemma E.3", f"alpha1 = {c['alpha1']:.3g} <= 0"))
    if "lemmaA2" in c:
        dmin, dmax, fmin, fmax = c["lemmaA2"]
        err = np.abs(np.array([dmin - fmin, dmax - fmax]))
        rows.append(inequality("A.lemmaA2", P, "Lemma A.2", err,
                               1e-9 * np.array([max(dmin, 1.0), dmax]),
                               note="explicit Jacobian of T vs Gram formula, at t = 0"))
    rows += lemma_d_checks(setting, steps, c)
    rows += lemma_c1_checks(setting, steps, c, pair_floor)
    why = thm32_conditions(steps, c)
    thm = (("A.thm3.2.eq17", "eq 17"), ("A.thm3.2.rho_bar", "eq 17 (rho_bar)"),
           ("A.thm3.2.A2", "A2 (beta bounds)"), ("A.thm3.2.A3", "A3 (imbalance)"),
           ("A.thm3.2.A4", "A4 (spectrum of T)"))
    if why:
        rows.extend(not_applicable(k, P, e, why) for k, e in thm)
        return rows
    rows.append(inequality("A.thm3.2.eq17", P, "eq 17", L[1:],
                           c["L0"] * c["rho_bar0"] ** step[1:].astype(float), step[1:],
                           atol=floor[1:]))
    rows.append(inequality("A.thm3.2.rho_bar", P, "eq 17 (rho_bar)", nxt,
                           steps["rho_bar"].to_numpy()[:-1] * L[:-1], step[:-1], atol=pair_floor))
    smin, smax = steps["sigma_min_W"].to_numpy(), steps["sigma_max_W"].to_numpy()
    rows.append(inequality("A.thm3.2.A2", P, "A2 (beta bounds)",
                           np.concatenate([np.full_like(smin, c["beta1"]), smax]),
                           np.concatenate([smin, np.full_like(smax, c["beta2"])]),
                           np.concatenate([step, step])))
    rows.append(inequality("A.thm3.2.A3", P, "A3 (imbalance)", steps["imbalance_drift"].to_numpy(),
                           np.full(len(steps), c["drift_bound"]), step, atol=1e-12))
    s2min, s2max = steps["sigma_min_T2"].to_numpy(), steps["sigma_max_T2"].to_numpy()
    rows.append(inequality("A.thm3.2.A4", P, "A4 (spectrum of T)",
                           np.concatenate([np.full_like(s2min, c["a4_lower"]), s2max]),
                           np.concatenate([s2min, np.full_like(s2max, c["a4_upper"])]),
                           np.concatenate([step, step])))
    return rows
