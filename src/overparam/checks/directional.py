"""Paper D's checkable statements on one run.

Where a statement is an identity (Lemma 2, Prop. 4, eq 10) the check is |difference| ≤ a
stated tolerance (quadrature or ODE-solver accuracy). Lower bounds on cos θ are checked as
1 − cos θ(t) ≤ 1 − bound(t), so the ratio (tightness) is the share of the allowed angular
error actually left: 1 means the bound is attained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from overparam.checks.core import inequality, not_applicable
from overparam.spec import Setting
from overparam.theory.directional import NORM_RATE

P = "D"
#: |Lemma 2's two sides| allowed: the population gradient's quadrature is good to ~1e-12.
QUAD_TOL = 1e-10


def _gap(theta: np.ndarray) -> np.ndarray:
    """1 − cos θ = 2 sin²(θ/2), without cancellation near θ = 0."""
    return 2.0 * np.sin(0.5 * np.asarray(theta, float)) ** 2


def _flow_tol(setting) -> float:
    """Allowed ODE error in cos θ and relative norm: well above the solver's tolerances."""
    dyn = setting.problem.dynamics
    return max(1e-8, 1e3 * (dyn.rtol + dyn.atol))


def _lower(check: str, eq: str, steps: pd.DataFrame, col: str, atol: float, note: str = "",
           rows: np.ndarray | None = None) -> dict:
    """cos θ ≥ bound, as 1 − cos θ ≤ 1 − bound, over the rows where the bound is drawn
    (its first row is equality by construction and is left out; ``rows`` selects instead)."""
    sel = _drawn(steps, col) if rows is None else np.isfinite(steps[col].to_numpy()) & rows
    sub = steps[sel]
    return inequality(check, P, eq, _gap(sub["theta"]), 1.0 - sub[col].to_numpy(),
                      sub["step"].to_numpy(), atol=atol, note=note)


def _drawn(steps: pd.DataFrame, col: str) -> np.ndarray:
    """Rows where a bound curve is drawn, without the row it starts from."""
    sel = np.isfinite(steps[col].to_numpy())
    first = np.flatnonzero(sel)
    if first.size:
        sel[first[0]] = False
    return sel


def _upper(check: str, eq: str, steps: pd.DataFrame, col: str, atol: float, note: str = "") -> dict:
    sub = steps[_drawn(steps, col)]
    return inequality(check, P, eq, 1.0 - sub[col].to_numpy(), _gap(sub["theta"]),
                      sub["step"].to_numpy(), atol=atol, note=note)


def _identity(check: str, eq: str, diff, steps: pd.DataFrame, tol: float, note: str) -> dict:
    diff = np.abs(np.asarray(diff, float))
    return inequality(check, P, eq, diff, np.full(diff.size, tol), steps["step"].to_numpy(),
                      note=note)


def _pattern(c: dict, steps: pd.DataFrame, name: str, eq: str) -> dict:
    """Lemma 1 / 6: d‖w‖²/dt < 0 before T and ≥ 0 from T on, with T reached."""
    if c["T_row"] < 0:
        return not_applicable(name, P, eq, "d|w|^2/dt stayed negative up to the last saved "
                              "time: T < inf cannot be seen within this horizon")
    after = steps.iloc[c["T_row"]:]
    g = after["grad_radial"].to_numpy()
    return inequality(name, P, eq, -g, np.zeros(g.size), after["step"].to_numpy(),
                      atol=QUAD_TOL * np.maximum(1.0, after["weight_norm"].to_numpy()),
                      note=f"T = {c['T_switch']:.6g} (first saved time with g >= 0 at row "
                           f"{c['T_row']})")


def _flow_checks(c: dict, steps: pd.DataFrame, setting) -> list[dict]:
    N, tol = c["N"], _flow_tol(setting)
    dyn = setting.problem.dynamics
    rows: list[dict] = []
    balanced = c["balanced"]
    if N >= 2 and dyn.kind == "flow":
        drift = steps["balance_drift"].to_numpy()
        rows.append(inequality("D.balance.flow", P, "eq 13 (conserved by the flow)", drift,
                               np.full(drift.size, c["balance_drift0"] + tol),
                               steps["step"].to_numpy(), note="drift <= drift(0) + ODE tolerance"))
    if not balanced:
        why = f"the init is not balanced (drift {c['balance_drift0']:.3g})"
        names = {1: [], 2: [("D.prop4", "Prop 4")]}.get(N, [("D.thm3.lower", "Thm 3"),
                                                           ("D.thm3.upper", "Thm 3"),
                                                           ("D.lemma8.norm", "Lemma 8")])
        rows += [not_applicable(n, P, e, why) for n, e in names]
        rows.append(not_applicable("D.lemma6.pattern", P, "Lemma 6", why))
        return rows
    if N == 1:
        rows.append(_pattern(c, steps, "D.lemma1.pattern", "Lemma 1"))
        rows.append(_lower("D.thm1.lower", "Thm 1", steps, "bound_lower", tol,
                           "phase 2 exponent A2 sqrt(t - T + C2) + B2 (errata D1)"))
        return rows
    rows.append(_pattern(c, steps, "D.lemma6.pattern", "Lemma 6"))
    if N == 2:
        rows.append(_identity("D.prop4", "Prop 4", steps["cos_theta"] - steps["bound_lower"],
                              steps, tol, f"|cos theta - Prop 4| <= {tol:.0e}"))
        return rows
    rows.append(_lower("D.thm3.lower", "Thm 3", steps, "bound_lower", tol))
    rows.append(_upper("D.thm3.upper", "Thm 3", steps, "bound_upper", tol))
    steps = steps.iloc[1:]
    norm = steps["weight_norm"].to_numpy()
    rows.append(inequality("D.lemma8.norm", P, "Lemma 8 (17)",
                           np.concatenate([steps["norm_lower"], norm]),
                           np.concatenate([norm, steps["norm_upper"]]),
                           np.concatenate([steps["step"], steps["step"]]),
                           atol=tol * np.concatenate([norm, norm]),
                           note="both sides of (17): lower <= |w_e| <= upper"))
    return rows


def _gd_checks(c: dict, steps: pd.DataFrame, setting) -> list[dict]:
    """GD on the exact population loss, N = 1: eq 10, Lemma 4, Lemma 5 / Theorem 2."""
    rows = [_identity("D.eq10", "eq 10 (Lemma 12)", steps["eq10_residual"].iloc[:-1],
                      steps.iloc[:-1], QUAD_TOL, "relative residual of |w(n+1)|^2")]
    step = steps["step"].to_numpy()
    if c["cos_theta0"] < 0:
        rows.append(_lower("D.lemma4", "Lemma 4 (9)", steps, "bound_lower", QUAD_TOL,
                           rows=(step >= 1) & (step <= (c["n0"] if c["n0"] >= 0 else step[-1]))))
    else:
        rows.append(not_applicable("D.lemma4", P, "Lemma 4 (9)", "needs v^T w(0) < 0"))
    s = c["n_lemma5"]
    if s >= 0:
        rows.append(_lower("D.lemma5", "Lemma 5 (12)", steps, "bound_lower", QUAD_TOL,
                           rows=step > s, note=f"from row {s}: theta <= pi/2 and (11) holds "
                                                f"from there on (delta = {setting.problem.delta:g})"))
    else:
        rows.append(not_applicable("D.lemma5", P, "Lemma 5 (12)",
                                   "no row with theta <= pi/2 from which (11) holds to the end"))
    if np.isfinite(steps["bound_lower_restart"].to_numpy()).any():
        r = setting.problem.restart_step
        rows.append(_lower("D.gd.restart", "Lemma 4 / 5 from restart_step", steps,
                           "bound_lower_restart", QUAD_TOL,
                           note=f"the curve drawn again from row {r}, w({r}) as w(0)"))
    n1 = c["n1_thm2"]
    if n1 >= 0 and n1 < len(steps) - 1:
        sub = steps.iloc[n1:-1]
        rows.append(inequality("D.thm2.cond11", P, "Thm 2 (11 from n1)",
                               sub["cond11_rhs"], sub["cond11_lhs"], sub["step"].to_numpy(),
                               note=f"n1 = {n1}: v^T w >= R1 = {c['R1']:.4g}; delta = 1 needed"))
    else:
        rows.append(not_applicable("D.thm2.cond11", P, "Thm 2 (11 from n1)",
                                   "v^T w(n) does not reach R1 within the run"))
    return rows


def _everywhere(c: dict, steps: pd.DataFrame) -> list[dict]:
    """Lemma 3(i) g(w) ≤ 0.3 and Proposition 3(i) ‖∇L(w)‖ ≤ c0: statements about L at every
    w, so they are checked on every row of every run, at w_e (whatever moved it: the rows
    measure the population gradient)."""
    step = steps["step"].to_numpy()
    n = step.size
    norm = steps["weight_norm"].to_numpy()
    return [
        inequality("D.lemma3.g", P, "Lemma 3(i)", steps["grad_radial"].to_numpy(),
                   np.full(n, 0.5 * NORM_RATE), step, atol=QUAD_TOL * np.maximum(1.0, norm),
                   note="g(w_e) = -w_e^T grad L(w_e) <= 0.3 (sup of z/(1 + e^z) is 0.2785)"),
        inequality("D.prop3.grad", P, "Prop 3(i)", steps["grad_norm"].to_numpy(),
                   np.full(n, c["c0"]), step, atol=QUAD_TOL * max(1.0, c["c0"]),
                   note=f"|grad L(w_e)| <= c0 = {c['c0']:.6g}"),
    ]


def run_checks(setting: Setting, steps: pd.DataFrame, c: dict) -> list[dict]:
    """Verdict rows for one run; ``c`` holds the run's constants and switch time."""
    dyn = setting.problem.dynamics
    rows = [_identity("D.lemma2", "Lemma 2 (5)", steps["grad_tangential"] - steps["lemma2_rhs"],
                      steps, QUAD_TOL * max(1.0, c["c0"]),
                      "population gradient by quadrature vs c0 sin^2(theta)/pi")]
    rows += _everywhere(c, steps)
    population = getattr(dyn, "gradient", "") == "population"
    if dyn.kind in ("flow", "induced_flow") and population:
        rows += _flow_checks(c, steps, setting)
    elif dyn.kind == "gd" and population and c["N"] == 1:
        rows += _gd_checks(c, steps, setting)
    else:
        source = {"population": "the population", "sample": "a fixed sample"}.get(
            getattr(dyn, "gradient", ""), "a fixed sample" if getattr(dyn, "samples", None)
            else "fresh draws")
        why = (f"{dyn.kind} on {source}: the "
               "theorems are about gradient flow (GD for N = 1) on the population loss; the "
               "bound curves are drawn for comparison")
        rows.append(not_applicable("D.flow_bounds", P, "Thm 1 / Prop 4 / Thm 3", why))
    return rows
