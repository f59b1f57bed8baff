"""Paper B's statements about Fig 1 (§6, App. F, App. G), evaluated on ``shallow/lazy-training``,
and the per-ω2 table of final values that the figure and the claims share.

Imports nothing heavy at module level: the registry loads it to list the claims.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from overparam.experiments.claims import Claim, Frames, Outcome, cannot, judged

if TYPE_CHECKING:
    import pandas as pd

#: "Zero training error" is read as at most this fraction of the training set misclassified.
ZERO_TRAIN = 0.01
#: The test-error trend holds when Spearman's ρ(ω2, median final test error) is at most this.
TREND_RHO = -0.5
#: A ω2 performs well when its mean final test error is within this many standard deviations
#: (over seeds, at the best ω2) of the best mean, or within FLOOR of it (the error of a few
#: test samples).
WELL_STD, WELL_FLOOR = 2.0, 0.005
FINAL = ("train_error", "test_error", "test_loss", "lin_test_error", "lazy_gap", "rel_movement")


def final_table(runs: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Per ω2: mean, std and median over the finished (ok) runs of each final value at the
    run's last row (a diverged linearized twin is NaN there, not its last finite value), the
    count of diverged twins, and ω2/ω1."""
    import numpy as np

    from overparam.aggregate import over_runs

    last = steps[steps["run_id"].isin(runs["run_id"])].sort_values("step")
    last = last.groupby("run_id", sort=False).tail(1)[["run_id", *FINAL]]
    last = last.assign(lin_diverged=~np.isfinite(last["lin_test_error"].to_numpy()))
    table = over_runs(last, "omega2", list(FINAL), runs=runs,
                      stats=("mean", "std", "median"))
    diverged = last.merge(runs[["run_id", "omega2", "status"]], on="run_id")
    diverged = diverged[diverged["status"] == "ok"].groupby("omega2")["lin_diverged"].sum()
    table["lin_diverged"] = table["omega2"].map(diverged).fillna(0).astype(int)
    ratio = runs.groupby("omega2")["omega_ratio"].first()
    table.insert(1, "omega_ratio", table["omega2"].map(ratio))
    return table.sort_values("omega2").reset_index(drop=True)


def _table(frames: Frames) -> pd.DataFrame:
    return final_table(frames.runs, frames.steps)


def _zero_train(frames: Frames) -> Outcome:
    runs = frames.runs
    if runs.empty:
        return cannot("no runs")
    final = frames.steps.sort_values("step").groupby("run_id").tail(1).set_index("run_id")
    err = final["train_error"].reindex(runs["run_id"]).to_numpy()
    bad = runs["status"].to_numpy() != "ok"
    if bad.all():
        return cannot("no run finished")
    worst = runs.assign(err=err).groupby("omega2")["err"].max()
    top = float(worst.max())
    above = [f"{w:.4g}" for w, e in worst.items() if not e <= ZERO_TRAIN]
    text = (f"max final training error over {len(worst)} ω2 and the seeds: {100 * top:.2f}% "
            f"(at ω2 = {worst.idxmax():.4g}); above {100 * ZERO_TRAIN:g}% at ω2 = "
            f"{', '.join(above) or 'none'}")
    if bad.any():
        text += f"; {int(bad.sum())} runs did not finish (counted as failing)"
        top = math.inf
    return judged(top <= ZERO_TRAIN, text, top)


def _spearman(x, y) -> float:
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic)


def _trend(frames: Frames) -> Outcome:
    table = _table(frames).dropna(subset=["test_error_median"])
    if len(table) < 3:
        return cannot(f"{len(table)} ω2 values with a finished run; a trend needs 3")
    rho = _spearman(table["omega2"], table["test_error_median"])
    text = (f"Spearman ρ(ω2, median final test error) = {rho:.2f} over {len(table)} ω2; test "
            f"error {100 * table['test_error_median'].iloc[0]:.1f}% at ω2 = "
            f"{table['omega2'].iloc[0]:.4g}, {100 * table['test_error_median'].min():.1f}% at "
            f"best, {100 * table['test_error_median'].iloc[-1]:.1f}% at ω2 = "
            f"{table['omega2'].iloc[-1]:.4g} (holds when ρ ≤ {TREND_RHO:g})")
    return judged(rho <= TREND_RHO, text, rho)


def _well(frames: Frames):
    """(table, mask of well-performing ω2, He's ω2) or an Outcome saying why not."""
    table = _table(frames).dropna(subset=["test_error"])
    if len(table) < 3:
        return cannot(f"{len(table)} ω2 values with a finished run; the region needs 3")
    if (table["n_in"] < 2).any():
        return cannot("fewer than 2 finished seeds at some ω2: no spread to compare against")
    best = table["test_error"].idxmin()
    tol = max(WELL_STD * table.loc[best, "test_error_std"], WELL_FLOOR)
    well = table["test_error"] <= table.loc[best, "test_error"] + tol
    return table, well, math.sqrt(2.0 / float(frames.runs["d1"].iloc[0])), tol


def _he_boundary(frames: Frames) -> Outcome:
    got = _well(frames)
    if isinstance(got, Outcome):
        return got
    table, well, he, tol = got
    omega2 = table["omega2"].to_numpy()
    first = int(well.to_numpy().argmax())
    near = min(range(len(omega2)), key=lambda i: abs(math.log(omega2[i] / he)))
    text = (f"least well-performing ω2 (mean test error within {100 * tol:.2f} points of the "
            f"best) is {omega2[first]:.4g}, {first - near:+d} grid steps from He's ω2 = "
            f"{he:.4g}")
    return judged(abs(first - near) <= 1, text, omega2[first] / he)


def _wide_family(frames: Frames) -> Outcome:
    got = _well(frames)
    if isinstance(got, Outcome):
        return got
    table, well, he, tol = got
    upper = table["omega2"] >= he * (1 - 1e-9)
    if not upper.any():
        return cannot(f"no ω2 at or above He's {he:.4g} on the grid")
    share = float(well[upper].mean())
    text = (f"{int(well[upper].sum())} of {int(upper.sum())} ω2 ≥ He's {he:.4g} have a mean "
            f"test error within {100 * tol:.2f} points of the best")
    return judged(share == 1.0, text, share)


def _lazy_small(frames: Frames) -> Outcome:
    table = _table(frames)
    if len(table) < 3:
        return cannot(f"{len(table)} ω2 values; a trend needs 3")
    if table["lazy_gap_median"].isna().all() and (table["lin_diverged"] == 0).all():
        return cannot("no linearized twin was trained (problem.lazy)")
    # a diverged twin is as far from the network as can be: its gap ranks as infinite
    gap = table["lazy_gap_median"].where(table["lin_diverged"] == 0, math.inf)
    rho = _spearman(table["omega2"], gap)
    text = (f"Spearman ρ(ω2, median final ‖Φ − Φ_lin‖) = {rho:.2f} over {len(table)} ω2; "
            f"twins diverged at {int((table['lin_diverged'] > 0).sum())} ω2 (ranked as an "
            f"infinite gap); holds when ρ ≥ {-TREND_RHO:g}")
    return judged(rho >= -TREND_RHO, text, rho)


CLAIMS = (
    Claim("B.fig1.zero_train",
          f"SGD achieves zero training error for every ω2 (read: ≤ {100 * ZERO_TRAIN:g}% "
          "misclassified at the last epoch, every seed)", "§6, Fig 1", _zero_train),
    Claim("B.fig1.test_trend", "the generalization ability increases as the ratio ω2/ω1 "
          "grows (at fixed ω1ω2)", "§6, Fig 1", _trend),
    Claim("B.fig1.he_boundary", "He initialization corresponds to a rather balanced ratio that "
          "lies at the boundary of the well-performing region", "§6, Fig 1", _he_boundary),
    Claim("B.fig1.wide_family", "a wide family of initializations generalizes well as long "
          "as ω2/ω1 is not too small (every ω2 from He's up performs well)", "§6, Fig 1",
          _wide_family),
    Claim("B.fig1.lazy_small_omega2", "ω1 ≫ ω2 is lazy (the bound on ‖h − h̃‖ goes to 0), "
          "ω2 ≫ ω1 may avoid it: the network's distance to its linearization grows with ω2",
          "§6, App. F", _lazy_small),
)
