"""Paper D's theorems drawn on one run's trace: the switch time T, GD's phase marks, and the
lower/upper bound curves of Thm 1, Prop 4, Thm 3, Lemmas 4, 5 and 8 (columns of steps), from
row 0 and again from ``restart_step`` (the flows' and exact GD's alike)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from overparam.spec import Setting
from overparam.theory import directional as th


def _switch(t: np.ndarray, g: np.ndarray) -> tuple[int, float]:
    """First row with d‖w‖²/dt = 2g ≥ 0, and T interpolated between it and the row before."""
    hits = np.flatnonzero(g >= 0)
    if not hits.size:
        return -1, math.nan
    i = int(hits[0])
    if i == 0:
        return 0, float(t[0])
    frac = -g[i - 1] / (g[i] - g[i - 1])
    return i, float(t[i - 1] + frac * (t[i] - t[i - 1]))


def _flow_bounds(c: dict, t: np.ndarray, start: int, T_row: int, norm: np.ndarray,
                 theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flow theorems drawn from row ``start``: (lower, upper, norm lower, norm upper)."""
    N, c0 = c["N"], c["c0"]
    t0, n0, th0 = t[start], norm[start], theta[start]
    if T_row < 0:
        T, nT, thT = math.inf, math.nan, math.nan
    elif T_row <= start:
        T, nT, thT = t0, n0, th0
    else:
        T, nT, thT = t[T_row], norm[T_row], theta[T_row]
    nan = np.full(t.size, np.nan)
    tt = np.where(t >= t0, t, np.nan)
    if N == 1:
        return th.thm1_lower(tt, c0, n0, th0, T, nT, thT, t0=t0), nan, nan, nan
    if N == 2:
        p4 = th.prop4(tt, c0, th0, t0=t0)
        return p4, p4, nan, nan
    lo, hi = th.lemma8_norm_bounds(tt, c0, N, n0, t0=t0)
    return (th.thm3_lower(tt, c0, N, n0, th0, T, nT, thT, t0=t0),
            th.thm3_upper(tt, c0, N, n0, th0, t0=t0), lo, hi)


def _gd_marks(c: dict, steps, eta: np.ndarray) -> dict[str, int]:
    """Rows where GD's phases start: cos θ ≥ 0 (n0), (11) holds from then on (n_cond11),
    vᵀw ≥ R1 = η₊c0(1 + 1/π) (n1 of Theorem 2)."""
    cos = steps["cos_theta"].to_numpy()
    vw = cos * steps["weight_norm"].to_numpy()
    lhs, rhs = steps["cond11_lhs"].to_numpy(), steps["cond11_rhs"].to_numpy()
    bad = ~(lhs[:-1] >= rhs[:-1])  # the last row has no successor inside the run
    after = np.flatnonzero(bad)
    c["R1"] = th.thm2_radius(float(np.nanmax(eta)), c["c0"])
    first = {"n0": np.flatnonzero(cos >= 0), "n1_thm2": np.flatnonzero(vw >= c["R1"])}
    out = {k: int(v[0]) if v.size else -1 for k, v in first.items()}
    out["n_cond11"] = int(after[-1] + 1) if after.size else 0
    if out["n_cond11"] >= len(cos) - 1:
        out["n_cond11"] = -1
    return out


def _gd_bounds(c: dict, steps, marks: dict, delta: float, start: int = 0) -> np.ndarray:
    """Theorem 2's curve drawn from row ``start`` (Lemmas 4 and 5 applied to the run that
    starts there, with w(start) as its w(0) and η_start, η_start+1, … as its steps): Lemma 4
    while cos θ < 0, up to the first row at or after ``start`` with cos θ ≥ 0 (included),
    then Lemma 5 from the first such row from which (11) holds for good."""
    eta = steps["eta"].to_numpy()
    cos, norm, theta = (steps[k].to_numpy() for k in ("cos_theta", "weight_norm", "theta"))
    out = np.full(cos.size, np.nan)
    later = np.flatnonzero(cos[start:] >= 0)
    n0 = start + int(later[0]) if later.size else -1
    if cos[start] < 0:
        stop = n0 if n0 >= 0 else cos.size - 1
        out[start: stop + 1] = th.lemma4_lower(eta[start:stop], c["c0"], norm[start],
                                               theta[start])
    s = _lemma5_start({**marks, "n0": n0})
    if s >= 0:  # row s is the curve's own start (equality); Lemma 4 keeps rows up to n0
        out[s + 1:] = th.lemma5_lower(eta[s:-1], c["c0"], norm[s], theta[s], delta)[1:]
    return out


def _lemma5_start(marks: dict) -> int:
    """Lemma 5 is drawn from the first row with θ ≤ π/2 from which (11) holds for good."""
    if marks["n_cond11"] < 0 or marks["n0"] < 0:
        return -1
    return max(marks["n_cond11"], marks["n0"])


def derive(setting: Setting, c: dict, steps) -> dict[str, Any]:
    """Derived columns of ``steps`` (in place) and the run's switch time and phase marks."""
    prob = setting.problem
    t = steps["t"].to_numpy()
    theta, norm = steps["theta"].to_numpy(), steps["weight_norm"].to_numpy()
    eta = steps["eta"].to_numpy()
    steps["lemma2_rhs"] = c["c0"] * np.sin(theta) ** 2 / np.pi
    steps["cond11_rhs"] = th.cond11_rhs(eta, c["c0"], steps["cos_theta"].to_numpy(), prob.delta)
    T_row, T = _switch(t, steps["grad_radial"].to_numpy())
    extra: dict[str, Any] = {"T_switch": T, "T_row": T_row,
                             "norm_T": float(norm[T_row]) if T_row >= 0 else math.nan,
                             "theta_T": float(theta[T_row]) if T_row >= 0 else math.nan}
    exact_gd = prob.dynamics.kind == "gd" and prob.dynamics.gradient == "population"
    nan = np.full(t.size, np.nan)
    if exact_gd and c["N"] == 1:
        marks = _gd_marks(c, steps, eta)
        extra.update(marks, R1=c["R1"])
        steps["bound_lower"] = _gd_bounds(c, steps, marks, prob.delta)
        extra["n_lemma5"] = _lemma5_start(marks)
        phase = np.full(t.size, 2.0)
        if extra["n_lemma5"] >= 0:
            phase[extra["n_lemma5"]:] = 3.0
        phase[steps["cos_theta"].to_numpy() < 0] = 1.0
        steps["phase"] = phase
        for col in ("bound_upper", "norm_lower", "norm_upper", "bound_upper_restart"):
            steps[col] = nan
        r = prob.restart_step
        restart = r is not None and r < t.size
        steps["bound_lower_restart"] = (_gd_bounds(c, steps, marks, prob.delta, r) if restart
                                        else nan)
        return extra
    lo, hi, nlo, nhi = _flow_bounds(c, t, 0, T_row, norm, theta)
    steps["bound_lower"], steps["bound_upper"] = lo, hi
    steps["norm_lower"], steps["norm_upper"] = nlo, nhi
    steps["phase"] = np.where((T_row >= 0) & (np.arange(t.size) >= max(T_row, 0)), 2.0, 1.0)
    r = prob.restart_step
    if r is not None and r < t.size:
        lo_r, hi_r, _, _ = _flow_bounds(c, t, r, T_row, norm, theta)
        steps["bound_lower_restart"], steps["bound_upper_restart"] = lo_r, hi_r
    else:
        steps["bound_lower_restart"], steps["bound_upper_restart"] = nan, nan
    return extra
