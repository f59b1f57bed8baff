"""Paper C's checkable statements on one run: the twin's rates (3)/(4), Theorem 2's
trajectory comparison (12a)–(12c) and Lemma 5 with the measured τ (as stated, and with the
constants 14τ, 7τ that Lemma 6's proof derives), Corollary 3, the rates of Theorems 1 and
4, and the distance from bad saddles (§4.5).

The twin's checks read every row it was computed on (after a diverged network too), the
network's only the rows that observe the network.

Theorems 1, 2 and 4 need n_min ≥ C·(…) with a constant C the paper does not give; their
checks are evaluated as stated, so a violation at small width says where the claim fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from overparam.checks.core import inequality, not_applicable
from overparam.spec import Setting
from overparam.theory import deep_linear as th

P = "C"
UNSPECIFIED_C = "holds only for n_min >= C·(...) with C unspecified; evaluated as stated"


def _floors(steps: pd.DataFrame, c: dict) -> tuple[np.ndarray, np.ndarray]:
    """Round-off floors of E(t) for the network and the twin: a loss of size |L| is known to
    ~eps·|L|, and ½‖r‖² to ~‖r‖·eps·scale."""
    eps = np.finfo(float).eps
    err = 64 * eps * c["resid_scale"]
    out = []
    for col in ("loss", "loss_twin"):
        obj = np.abs(steps[col].to_numpy())
        out.append(64 * eps * (obj + abs(c["L_star"])) + err * np.sqrt(2 * obj) + err**2)
    return out[0], out[1]


def _theorem2_blocker(c: dict, tau_sup: np.ndarray) -> str:
    """Why Theorem 2 / Lemma 5 say nothing on this run ('' when they apply)."""
    if not c["width_condition"]:
        return f"n_min = {c['n_min']} < max(n0, nN): the paper's width assumption fails"
    if not c["eta"] < c["eta1"] * (1 + 1e-12):
        return f"eta = {c['eta']:.3g} >= eta1 = 2 nN/(beta N) = {c['eta1']:.3g}"
    top = float(np.nanmax(tau_sup)) if tau_sup.size else 0.0
    if not top < 1:
        return f"measured tau reaches {top:.3g} >= 1: the lemma needs tau in [0, 1)"
    return ""


#: Theorem 2 with the constants of Lemma 6's proof (14τ, 7τ), before its relabelling.
PROOF_FORMS = (("C.thm2.12a_proof", "(12a), Lemma 6's proof"),
               ("C.thm2.12b_proof", "(12b), Lemma 6's proof"),
               ("C.thm2.12c_proof", "(12c), Lemma 6's proof"))


def _proof_forms(steps: pd.DataFrame, c: dict, why: str, fl, flt) -> list[dict]:
    """(12a)–(12c) with 14τ/(1 − q) and (q + 7τ)^t, on the rows t where q + 7τ_sup(t) < 1:
    the proof at t uses τ only on the transitions before t, so those rows are a prefix on
    which it applies; none of them (from t = 1): not applicable."""
    if why:
        return [not_applicable(k, P, e, why) for k, e in PROOF_FORMS]
    rate = steps["rate_lemma5"].to_numpy()
    keep = rate < 1.0
    if not keep.any():
        top = float(np.nanmin(rate)) if np.isfinite(rate).any() else np.nan
        why = (f"q + 7 tau = {top:.3g} >= 1 from t = 1 (q = {c['q']:.3g}, tau = "
               f"{c['tau_max']:.3g}): Lemma 6's proof needs q + 7 tau < 1")
        return [not_applicable(k, P, e, why) for k, e in PROOF_FORMS]
    part, step = steps[keep], steps["step"].to_numpy()[keep]
    note = (f"14 tau, 7 tau as the proof derives them, tau = running sup of the measured tau; "
            f"rows with q + 7 tau < 1: t <= {int(step.max())} of {len(steps)}")
    d_floor = 1e-13 * c["e0"]
    lhs = (("deviation_X", d_floor), ("loss_diff", (fl + flt)[keep]), ("loss_gap", fl[keep]))
    return [inequality(k, P, e, part[col], part["bound_" + k.split(".")[-1]], step, atol=tol,
                       note=note)
            for (k, e), (col, tol) in zip(PROOF_FORMS, lhs, strict=True)]


#: §4.5's printed inequality is wrong (errata C3); C.sec45.ineq_nN checks the corrected one.
SEC45_AS_PRINTED = {"erratum": "C3", "corrected_by": "C.sec45.ineq_nN"}


def _cor3(steps: pd.DataFrame, c: dict, why: str, fl) -> dict:
    """(13): E_DLN(t) ≤ 3β(1 − 4κ/(1 + κ)² + τ)^t e0 at η = 2n_N/((α + β)N), as printed
    (relabelled τ; with the proof's 7τ it is C.thm2.12c_proof, since q = 1 − 4κ/(1 + κ)²)."""
    if why:
        return not_applicable("C.cor3.13", P, "(13)", why)
    k = c["kappa"]
    rate = 1.0 - 4.0 * k / (1.0 + k) ** 2 + steps["tau_sup"].to_numpy()
    t = steps["step"].to_numpy(float)
    return inequality("C.cor3.13", P, "(13)", steps["loss_gap"], 3.0 * c["beta"] * rate**t * c["e0"],
                      steps["step"].to_numpy(), atol=fl,
                      note=f"1 - 4 kappa/(1 + kappa)^2 = {1.0 - 4.0 * k / (1.0 + k) ** 2:.6g}; tau "
                           "relabelled as printed (Lemma 6's proof: 7 tau, C.thm2.12c_proof)")


def run_checks(setting: Setting, steps: pd.DataFrame, c: dict) -> list[dict]:
    """Verdict rows for one run; ``c`` holds the run's constants (theory_constants + tau_max)."""
    # Rate bounds are identities at t = 0; their tightness is read from t >= 1.
    net = np.isfinite(steps["eta"].to_numpy(float))  # rows that observe the network
    full, steps = steps[net], steps[steps["step"] >= 1]
    tw = steps[np.isfinite(steps["loss_twin"].to_numpy(float))]  # the twin's own rows
    rows: list[dict] = []
    stable = c["eta_star"] < 2.0 / c["beta"]
    twin = (("C.eq3.twin", "eq 3"), ("C.eq4.twin", "eq 4"), ("C.lemma5.twin", "Lemma 5, tau = 0"))
    if stable:
        step_tw = tw["step"].to_numpy()
        flt_tw = _floors(tw, c)[1]
        rows.append(inequality("C.eq3.twin", P, "eq 3", tw["loss_gap_twin"], tw["bound_eq3"],
                               step_tw, atol=flt_tw, note=f"rate 1 - 2 alpha eta*(1 - beta "
                                                          f"eta*/2) = {c['rate_eq3']:.6g}"))
        rows.append(inequality("C.eq4.twin", P, "eq 4", tw["loss_gap_twin"], tw["bound_eq4"],
                               step_tw, atol=flt_tw, note=f"q = {c['q']:.6g}"))
        rows.append(inequality("C.lemma5.twin", P, "Lemma 5, tau = 0", tw["dist_twin_X"],
                               c["q"] ** step_tw.astype(float) * c["e0"], step_tw,
                               atol=1e-13 * c["e0"]))
    else:
        why = f"eta* = {c['eta_star']:.3g} >= 2/beta: GD on the convex problem need not converge"
        rows.extend(not_applicable(k, P, e, why) for k, e in twin)
    steps = steps[np.isfinite(steps["eta"].to_numpy(float))]  # the network's rows from here
    step = steps["step"].to_numpy()
    t = step.astype(float)
    E = steps["loss_gap"].to_numpy()
    fl, flt = _floors(steps, c)
    tau_sup = steps["tau_sup"].to_numpy()
    why = _theorem2_blocker(c, tau_sup)
    thm2 = (("C.thm2.12a", "(12a)"), ("C.thm2.12b", "(12b)"), ("C.thm2.12c", "(12c)"),
            ("C.lemma5", "Lemma 5"))
    if why:
        rows.extend(not_applicable(k, P, e, why) for k, e in thm2)
    else:
        note = f"tau = running sup of the measured tau (max {c['tau_max']:.3g})"
        d_floor = 1e-13 * c["e0"]
        rows.append(inequality("C.thm2.12a", P, "(12a)", steps["deviation_X"], steps["bound_12a"],
                               step, atol=d_floor, note=note))
        rows.append(inequality("C.thm2.12b", P, "(12b)", steps["loss_diff"], steps["bound_12b"],
                               step, atol=fl + flt, note=note))
        rows.append(inequality("C.thm2.12c", P, "(12c)", E, steps["bound_12c"], step, atol=fl,
                               note=note))
        rows.append(inequality("C.lemma5", P, "Lemma 5", steps["dist_X"], steps["bound_lemma5"],
                               step, atol=d_floor, note=note))
    rows.extend(_proof_forms(steps, c, why, fl, flt))
    eta_rule = setting.schedule.eta
    if eta_rule == "cor3":
        rows.append(_cor3(steps, c, why, fl))
    if eta_rule == "thm1":
        eps = setting.schedule.eps
        rate = 1.0 - (1.0 - eps) / c["kappa"]
        rows.append(inequality("C.thm1.rate", P, "Thm 1", E, c["E0"] * rate**t, step, atol=fl,
                               note=f"eps = {eps:g}; smallest eps that holds: "
                                    f"{c['thm1_eps']:.3g}; {UNSPECIFIED_C}"))
    elif eta_rule == "thm4":
        rate = th.rate_thm4(c["kappa"], c["eta"], c["eta0_thm4"], setting.schedule.c)
        rows.append(inequality("C.thm4.rate", P, "Thm 4-6", E, c["E0"] * rate**t, step, atol=fl,
                               note=f"c = {setting.schedule.c:g}; {UNSPECIFIED_C}"))
    sig = full["sigma_min_inner"].to_numpy()
    step = full["step"].to_numpy()
    if c["N"] < 3:
        why = "N = 2: W_{N-1:2} is an empty product"
    elif not np.isfinite(sig).any():
        why = "sigma_min_inner was not logged (problem.sigma_min_inner_every = 0)"
    else:
        why = ""
    if why:
        rows.append(not_applicable("C.saddle.positive", P, "sec 4.5", why))
        rows.append(not_applicable("C.sec45.ineq", P, "sec 4.5", why, **SEC45_AS_PRINTED))
        rows.append(not_applicable("C.sec45.ineq_nN", P, "sec 4.5 (corrected)", why))
        return rows
    ref = c["sigma_ref_inner"]
    rows.append(inequality("C.saddle.positive", P, "sec 4.5",
                           np.full(sig.shape, 1e-12 * ref), sig, step,
                           note=f"min sigma_min(W_(N-1:2))/sqrt(n_(N-1)...n_2) = "
                                f"{np.nanmin(sig) / ref:.3g}"))
    rhs = full["sec45_rhs"].to_numpy()
    rows.append(inequality("C.sec45.ineq", P, "sec 4.5", rhs, sig, step,
                           note="sigma_min(W_(N-1:2)) >= sigma_(nN)(W_(N:2))/sigma_max(W_N), "
                                "the step of the bad-saddle argument as printed",
                           **SEC45_AS_PRINTED))
    rows.append(inequality("C.sec45.ineq_nN", P, "sec 4.5 (corrected)", rhs,
                           full["sigma_nN_inner"].to_numpy(), step,
                           atol=1e-12 * np.nanmax(np.abs(rhs)),
                           note="the same with the nN-th singular value of W_(N-1:2), "
                                "which the argument proves (errata C3)"))
    return rows
