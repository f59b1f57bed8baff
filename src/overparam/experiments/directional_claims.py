"""Paper D's statements about Fig 1a/1b (§5), Prop. 4 and Lemma 4/5 with Theorem 2 (§3.4),
evaluated on the runs.

Directional closeness is measured on 1 − cos θ = 2 sin²(θ/2), the quantity that converges,
in decades; the weight norm on log10 ‖w_e‖, as the figure's log axis shows it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from overparam.experiments.claims import Claim, Frames, Outcome, cannot, judged

if TYPE_CHECKING:
    import pandas as pd

#: "Roughly match": the best drawn bound on each side (from t = 0 or restarted) stays within
#: one order of magnitude of the measured 1 − cos θ at every saved time.
ROUGH_DECADES = 1.0
#: 1 − cos θ below this is float64 round-off (a bound that reached cos θ = 1 is clipped here).
GAP_FLOOR = 1e-15
#: "Goes through a decreasing and increasing period": ‖w_e‖ falls by at least 10% from its
#: start to an interior minimum and rises by at least 10% from it by the end (visible on a
#: log axis).
NORM_DIP = 0.1
#: §5: "a distinct stuck period when 5 ≤ η·n ≤ 10".
STUCK_WINDOW = (5.0, 10.0)
#: "Distinct": inside the window log10 ‖w_e‖ spans at most a quarter of what it spans per
#: unit time just before and just after it.
STUCK_PACE = 0.25
#: "The loss decreases slowly but cos θ still has considerable growth": over the stuck window
#: cos θ makes at least three times the share of its whole-run growth that the loss makes of
#: its whole-run decrease.
PACE_RATIO = 3.0
#: Prop. 4 is exact; the flow is solved at rtol 1e−10, atol 1e−12 over up to 200 saved times,
#: so agreement to 1e−8 in cos θ leaves two orders for the solver's accumulated error.
PROP4_TOL = 1e-8
#: A bound on cos θ holds up to round-off of cos θ and of the bound.
BOUND_TOL = 1e-12


def _started(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] != "failed"]


def _rows(f: Frames, runs: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    sub = f.steps[f.steps["run_id"].isin(runs["run_id"])].sort_values(["run_id", "step"])
    return sub.assign(gap=2 * np.sin(sub["theta"] / 2) ** 2)


def _names(runs: pd.DataFrame) -> pd.Series:
    from overparam.experiments.directional import _label

    return runs.apply(_label, axis=1) if len(runs) else runs["run_id"]


# ------------------------------------------------------------------ Fig 1a / 1b
def _fmax(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise max ignoring NaN (NaN only where both are)."""
    return a.where(a.notna() & ~(a < b), b)


def _envelope(rows: pd.DataFrame, side: str) -> pd.Series:
    """The tightest drawn bound on cos θ at each row: max of the lower bounds, min of the upper."""
    a, b = rows[f"bound_{side}"], rows[f"bound_{side}_restart"]
    return _fmax(a, b) if side == "lower" else -_fmax(-a, -b)


def bounds_match(f: Frames) -> Outcome:
    """On the SGD runs (the paper's): per side, the largest |log10(1 − cos θ) − log10(1 − bound)|
    over saved times, and the share of times SGD lies on the bound's side."""
    import numpy as np

    sgd = _started(f.runs)
    sgd = sgd[sgd["problem.dynamics.kind"] == "sgd"]
    if sgd.empty:
        return cannot("no SGD run (the paper's dynamics) finished")
    rows = _rows(f, sgd)
    texts, worst, sides = [], 0.0, 0
    for side in ("lower", "upper"):
        env = _envelope(rows, side)
        keep = env.notna() & (rows["gap"] > GAP_FLOOR)
        if not keep.any():
            continue
        sides += 1
        bound_gap = np.maximum(1 - env[keep], GAP_FLOOR)
        dec = (np.log10(rows["gap"][keep]) - np.log10(bound_gap)).abs()
        per_run = dec.groupby(rows["run_id"][keep]).max()
        right = (rows["cos_theta"][keep] >= env[keep] - BOUND_TOL) if side == "lower" else \
            (rows["cos_theta"][keep] <= env[keep] + BOUND_TOL)
        at = rows.loc[dec.idxmax(), "t"]
        worst = max(worst, float(per_run.max()))
        texts.append(f"{side} bound: largest distance {per_run.max():.2f} decades in 1 − cos θ "
                     f"(at t = {at:.3g}), SGD on its side at {right.mean():.1%} of saved times")
    if not sides:
        return cannot("no bound is drawn on the SGD runs")
    return judged(worst <= ROUGH_DECADES, "; ".join(texts) + f" (≤ {ROUGH_DECADES:g} decade "
                  f"asked, {len(sgd)} SGD runs)", worst)


def norm_down_then_up(f: Frames) -> Outcome:
    runs = _started(f.runs)
    if runs.empty:
        return cannot("no run finished")
    rows = _rows(f, runs)
    names = dict(zip(runs["run_id"], _names(runs), strict=True))
    texts, ok = {}, True
    for rid, g in rows.groupby("run_id", sort=False):
        norm = g["weight_norm"].to_numpy()
        i = int(norm.argmin())
        good = (0 < i < len(norm) - 1 and norm[0] >= (1 + NORM_DIP) * norm[i]
                and norm[-1] >= (1 + NORM_DIP) * norm[i])
        ok &= good
        texts.setdefault(names[rid], f"{names[rid]}: {norm[0]:.3g} → {norm[i]:.3g} at t = "
                         f"{g['t'].iloc[i]:.3g} → {norm[-1]:.3g}" + ("" if good else " (no dip)"))
    return judged(ok, "‖w_e‖ start → min → end: " + "; ".join(texts.values()))


def _balanced(f: Frames) -> pd.DataFrame | None:
    runs = _started(f.runs)
    runs = runs[runs["balanced"].fillna(True).astype(bool)]
    return runs if len(runs) else None


def _window_ok(rows: pd.DataFrame) -> bool:
    return float(rows["t"].max()) > STUCK_WINDOW[1]


def stuck_period(f: Frames) -> Outcome:
    """Per balanced run: log10 ‖w_e‖'s range per unit time inside [5, 10] over the smaller of
    its ranges per unit time before and after."""
    import numpy as np

    runs = _balanced(f)
    if runs is None:
        return cannot("no balanced run finished")
    rows = _rows(f, runs)
    if not _window_ok(rows):
        return cannot(f"the runs end before t = {STUCK_WINDOW[1]:g}")
    lo, hi = STUCK_WINDOW
    paces = []
    for _, g in rows.groupby("run_id", sort=False):
        log = np.log10(g["weight_norm"])

        def pace(mask, span, log=log):
            return float(log[mask].max() - log[mask].min()) / span

        t = g["t"]
        inside = pace((t >= lo) & (t <= hi), hi - lo)
        outside = min(pace(t <= lo, lo), pace(t >= hi, float(t.max()) - hi))
        paces.append(inside / outside)
    worst = max(paces)
    return judged(worst <= STUCK_PACE, f"log10 ‖w_e‖ spans per unit time inside "
                  f"{lo:g} ≤ t ≤ {hi:g} at most {worst:.3f} of what it spans before/after "
                  f"(median {np.median(paces):.3f} over {len(paces)} balanced runs; "
                  f"≤ {STUCK_PACE} asked)", worst)


def loss_slow_angle_moves(f: Frames) -> Outcome:
    import numpy as np

    runs = _balanced(f)
    if runs is None:
        return cannot("no balanced run finished")
    rows = _rows(f, runs)
    if not _window_ok(rows):
        return cannot(f"the runs end before t = {STUCK_WINDOW[1]:g}")
    lo, hi = STUCK_WINDOW
    shares = []
    for _, g in rows.groupby("run_id", sort=False):
        a, b = g[g["t"] >= lo].iloc[0], g[g["t"] <= hi].iloc[-1]
        first, last = g.iloc[0], g.iloc[-1]
        loss = (a["loss"] - b["loss"]) / (first["loss"] - last["loss"])
        cos = (b["cos_theta"] - a["cos_theta"]) / (last["cos_theta"] - first["cos_theta"])
        shares.append((loss, cos))
    loss, cos = np.median(shares, axis=0)
    pace = min(c / dl if dl > 0 else math.inf for dl, c in shares)
    return judged(pace >= PACE_RATIO, f"over {lo:g} ≤ t ≤ {hi:g} the loss makes {loss:.1%} of "
                  f"its whole-run decrease and cos θ {cos:.1%} of its growth (median over "
                  f"{len(shares)} balanced runs); smallest ratio {pace:.3g} (≥ {PACE_RATIO:g} "
                  "asked)", pace)


# ------------------------------------------------------------------ Prop. 4
def prop4_exact(f: Frames) -> Outcome:
    runs = _started(f.runs)
    runs = runs[(runs["N"] == 2) & runs["balanced"].fillna(True).astype(bool)]
    if runs.empty:
        return cannot("no balanced two-layer run finished")
    rows = _rows(f, runs).merge(runs[["run_id", "problem.distribution.kind", "problem.dim"]])
    err = (rows["cos_theta"] - rows["bound_lower"]).abs()
    by = err.groupby([rows["problem.distribution.kind"], rows["problem.dim"]]).max()
    worst = float(err.max())
    return judged(worst <= PROP4_TOL, "max_t |cos θ − Prop. 4|: " + ", ".join(
        f"{k} d={d}: {v:.2g}" for (k, d), v in by.items()) + f" (≤ {PROP4_TOL:g} asked)", worst)


# ------------------------------------------------------------------ Lemma 4/5, Theorem 2
def _gd(f: Frames) -> pd.DataFrame:
    runs = _started(f.runs)
    return runs[runs["problem.dynamics.kind"] == "gd"]


def _below_bound(rows: pd.DataFrame) -> tuple[int, float]:
    keep = rows["bound_lower"].notna()
    margin = rows["cos_theta"][keep] - rows["bound_lower"][keep]
    return int((margin < -BOUND_TOL).sum()), float(margin.min()) if keep.any() else math.nan


def lemma4_bound(f: Frames) -> Outcome:
    runs = _gd(f)
    runs = runs[runs["cos_theta0"] < 0]
    if runs.empty:
        return cannot("no GD run starts with vᵀw(0) < 0")
    rows = _rows(f, runs).merge(runs[["run_id", "n0"]])
    rows = rows[(rows["n0"] < 0) | (rows["step"] <= rows["n0"])]
    bad, low = _below_bound(rows)
    return judged(bad == 0, f"{bad} of {len(rows)} rows up to n0 below (9); smallest "
                  f"cos θ − (9) = {low:.3g} over {len(runs)} runs", bad)


def lemma4_faster(f: Frames) -> Outcome:
    runs = _gd(f)
    runs = runs[runs["cos_theta0"] < 0]
    texts, ok, n = [], True, 0
    for theta0, grp in runs.groupby("init.theta0"):
        grp = grp.assign(eta=grp["schedule.eta"].astype(float)).sort_values("eta")
        if grp["eta"].nunique() < 2:
            continue
        n += 1
        n0 = grp["n0"].astype(float).where(grp["n0"] >= 0, math.inf).to_numpy()
        ok &= bool(all(b <= a for a, b in zip(n0[:-1], n0[1:], strict=True)) and n0[-1] < n0[0])
        texts.append(f"θ0 = {theta0:.3f}: " + ", ".join(
            f"η={e:g}: {'never' if math.isinf(v) else int(v)}"
            for e, v in zip(grp["eta"], n0, strict=True)))
    if not n:
        return cannot("fewer than two step sizes from a start with θ(0) > π/2")
    return judged(ok, "n0 (first n with cos θ ≥ 0) per step size: " + "; ".join(texts))


def _cond11_rows(f: Frames, runs: pd.DataFrame) -> pd.DataFrame:
    """Rows where (11) is defined (it needs w(n + 1): the last row of a run is left out)."""
    rows = _rows(f, runs)
    last = rows.groupby("run_id")["step"].transform("max")
    rows = rows[(rows["step"] < last) & rows["cond11_lhs"].notna() & rows["cond11_rhs"].notna()]
    return rows.assign(fails=rows["cond11_lhs"] < rows["cond11_rhs"])


def unstable_after_n0(f: Frames) -> Outcome:
    """(11) fails somewhere once cos θ ≥ 0, and the failures do not decrease with η."""
    runs = _gd(f)
    if runs.empty:
        return cannot("no GD run")
    rows = _cond11_rows(f, runs)
    rows = rows[rows["cos_theta"] >= 0].merge(runs[["run_id", "init.theta0", "schedule.eta"]])
    counts = rows.groupby(["init.theta0", "schedule.eta"])["fails"].sum()
    texts, monotone = [], True
    for theta0, c in counts.groupby(level=0):
        c = c.droplevel(0).sort_index(key=lambda s: s.astype(float))
        monotone &= bool(c.is_monotonic_increasing)
        texts.append(f"θ0 = {theta0:.3f}: " + ", ".join(f"η={float(e):g}: {int(v)}"
                                                       for e, v in c.items()))
    total = int(counts.sum())
    return judged(total > 0 and monotone, "steps with cos θ ≥ 0 where (11) fails: "
                  + "; ".join(texts), total)


def r1_sufficient(f: Frames) -> Outcome:
    runs = _gd(f)
    if runs.empty:
        return cannot("no GD run")
    rows = _cond11_rows(f, runs).merge(runs[["run_id", "R1"]])
    big = rows[rows["weight_norm"] >= rows["R1"]]
    if big.empty:
        return cannot("no iterate reaches ‖w(n)‖ ≥ R1")
    bad = int(big["fails"].sum())
    return judged(bad == 0, f"(11) fails at {bad} of {len(big)} steps with ‖w(n)‖ ≥ R1 "
                  f"({big['run_id'].nunique()} runs)", bad)


def lemma5_bound(f: Frames) -> Outcome:
    runs = _gd(f)
    rows = _rows(f, runs)
    rows = rows[rows["phase"] == 3]
    if rows.empty:
        return cannot("no GD run reaches the rows from which (11) holds on")
    bad, low = _below_bound(rows)
    return judged(bad == 0, f"{bad} of {len(rows)} rows from n_lemma5 on below (12); smallest "
                  f"cos θ − (12) = {low:.3g}", bad)


def thm2_from_n1(f: Frames) -> Outcome:
    runs = _gd(f)
    reached = runs[runs["n1_thm2"] >= 0]
    if reached.empty:
        return cannot(f"no GD run reaches vᵀw ≥ R1 within its {int(runs['steps'].max())} "
                      "steps" if len(runs) else "no GD run")
    rows = _cond11_rows(f, reached).merge(reached[["run_id", "n1_thm2"]])
    after = rows[rows["step"] >= rows["n1_thm2"]]
    order = int((reached["n1_thm2"] < reached["n0"]).sum())
    fails = int(after["fails"].sum())
    bad, low = _below_bound(after[after["phase"] == 3])
    ok = order == 0 and fails == 0 and bad == 0
    missing = len(runs) - len(reached)
    return judged(ok, f"{len(reached)} runs reach n1 (n1 − n0: "
                  f"{', '.join(str(int(v)) for v in reached['n1_thm2'] - reached['n0'])}); from "
                  f"n1 on (11) fails at {fails} steps and cos θ is below (12) at {bad} "
                  f"(smallest margin {low:.3g}); {missing} runs do not reach n1 within their "
                  "steps", fails + bad + order)


# ------------------------------------------------------------------ the claims
FIG1A_CLAIMS = (
    Claim("D.fig1a.bounds", "Although there is no convergence result for SGD, the gradient-flow "
          "bounds of Theorem 1 (drawn from n = 0 and n = 5000) still roughly match the "
          "directional convergence in practice", "§5, Fig 1a", bounds_match),
    Claim("D.fig1a.norm", "The weight norm ‖w(n)‖ indeed goes through a decreasing and "
          "increasing period", "§5, Fig 1a", norm_down_then_up),
)
FIG1B_CLAIMS = (
    Claim("D.fig1b.bounds", "The lower and upper bounds of Theorem 3 (drawn from n = 0 and "
          "n = 18000) roughly match the actual behavior", "§5, Fig 1b", bounds_match),
    Claim("D.fig1b.norm", "The weight norm ‖w_e(n)‖ still goes through the decreasing and "
          "increasing period", "§5, Fig 1b", norm_down_then_up),
    Claim("D.fig1b.stuck", "A distinct stuck period of ‖w_e‖ when 5 ≤ η·n ≤ 10, as the lower "
          "bound of Lemma 8 shows", "§5, Fig 1b", stuck_period),
    Claim("D.fig1b.loss", "The loss decreases slowly when ‖w_e(n)‖ is small, but cos θ still "
          "has considerable growth", "§5, Fig 1b", loss_slow_angle_moves),
)
PROP4_CLAIMS = (
    Claim("D.prop4.exact", "For N = 2 and a balanced init, gradient flow gives exactly "
          "cos θ(t) = 1 − 2/(C1 e^{2c0t/π} + 1), C1 = (1 + cos θ(0))/(1 − cos θ(0)), for any "
          "spherically symmetric law", "§4.1, Prop. 4", prop4_exact),
)
PHASES_CLAIMS = (
    Claim("D.lemma4.bound", "With vᵀw(0) < 0, cos θ(n) ≥ 1 − (1 − cos θ(0))e^{−BS_n^−} (9) "
          "until cos θ(n) ≥ 0", "§3.4, Lemma 4", lemma4_bound),
    Claim("D.lemma4.faster", "While θ(n) > π/2, a larger learning rate gives faster "
          "directional convergence to the region θ ≤ π/2", "§3.4, after Lemma 4",
          lemma4_faster),
    Claim("D.sec34.unstable", "When θ(n) ≤ π/2 the directional dynamic becomes unstable and "
          "heavily relies on the current learning rate: (11) can fail, more so for larger η",
          "§3.4, after Lemma 4", unstable_after_n0),
    Claim("D.lemma5.R1", "‖w(n)‖ ≥ R1 = η+c0 + c0η+/π is sufficient for the condition (11)",
          "§3.4, after Lemma 5", r1_sufficient),
    Claim("D.lemma5.bound", "Where (11) holds from n on, cos θ converges following (12)",
          "§3.4, Lemma 5", lemma5_bound),
    Claim("D.thm2.n1", "cos θ first follows (9) until cos θ(n0) ≥ 0; then there is n1 ≥ n0 with "
          "vᵀw(n1) ≥ R1, from which cos θ converges to 1 following (12)", "§3.4, Theorem 2",
          thm2_from_n1),
)
