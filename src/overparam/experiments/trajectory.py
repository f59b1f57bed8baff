"""Paper C's experiments (App. G and the claims of Theorem 2): deep linear networks
against their convex twins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from overparam.aggregate import STARTED, left_out_text, over_runs
from overparam.experiments import Experiment, register, verdict_line
from overparam.plots import (
    COLORS,
    band,
    distinct,
    log10_curves,
    mean_curve,
    pyplot,
    rows_with,
    save,
    setting_text,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PAPER = "C"
PAPER_TITLE = "Deep linear networks: convergence and trajectory comparison with the convex twin"
INITS = {"gaussian": {"kind": "gaussian"}, "orthogonal": {"kind": "orthogonal"}}

#: App. G: X ∈ R^{128×1000}, W* ∈ R^{10×128}, Y = W*X + ε, all N(0, 1).
FIG1_DATA = {"kind": "synthetic", "n": 128, "m": 10, "samples": 1000, "x": "gaussian",
             "target": "gaussian", "target_std": 1.0, "noise": 1.0}


def _cells(runs: pd.DataFrame) -> tuple[list[int], list[str]]:
    return distinct(runs["n_min"]), distinct(runs["init.kind"], sort=False)


def _verdicts(checks: pd.DataFrame, ids) -> str:
    return verdict_line(checks, ids, "C.")


def _finish_comparison(root: Path, runs, steps, checks, quick, tag="fig1", what="") -> tuple:
    """Fig 1 (log-loss of network and twin per width and init) and the deviation panels."""
    plt = pyplot()
    widths, inits = _cells(runs)
    fig, axes = plt.subplots(len(widths), len(inits), figsize=(4.2 * len(inits), 2.6 * len(widths)),
                             squeeze=False, sharex=True)
    fig2, axes2 = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 3.4), squeeze=False)
    lines = []
    for j, init in enumerate(inits):
        for i, width in enumerate(widths):
            cell = runs[rows_with(runs, "n_min", width) & rows_with(runs, "init.kind", init)]
            ids = cell[cell["status"] != "failed"]["run_id"]
            if ids.empty:
                continue
            ax = axes[i, j]
            band(ax, log10_curves(steps, ids, "objective"), "deep linear network", COLORS[0])
            mean_curve(ax, log10_curves(steps, ids, "objective_twin"), "convex twin", COLORS[1],
                       ls="--")
            ax.set_title(f"{setting_text(init)}, hidden widths {setting_text(width)}")
            ax.set_ylabel("log10 L")
            color = COLORS[i % len(COLORS)]
            rel = steps[steps["run_id"].isin(ids)].copy()
            rel["deviation_rel"] = rel["deviation_X"] / rel["run_id"].map(cell.set_index("run_id")["e0"])
            band(axes2[0, j], log10_curves(rel, ids, "deviation_rel"),
                 f"n = {setting_text(width)}", color)
            sup = sweep_table(cell, steps)  # a diverged run's sup is where it stopped: left out
            gaps = over_runs(sup, [], ["deviation", "loss_gap"], stats=("median",)).iloc[0]
            init_c = over_runs(cell, [], ["c1", "c2"], statuses=STARTED,
                               stats=("median",)).iloc[0]
            sups = (f"sup_t deviation_X / ‖V(0) − W*‖²_X = {gaps['deviation']:.2e}, sup_t "
                    f"|E_DLN − E| / E(0) = {gaps['loss_gap']:.2e} (median over "
                    f"{int(gaps['n_in'])} finished seeds{left_out_text(gaps)})" if gaps["n_in"]
                    else f"no finished seed for the sup_t gaps{left_out_text(gaps)}")
            lines.append(f"{setting_text(init)}, n_min = {setting_text(width)}: {sups}, "
                         f"max tau = {cell['tau_max'].max():.3g}, "
                         f"c1 = {init_c['c1']:.2f}, c2 = {init_c['c2']:.2f} (median over "
                         f"{len(ids)} seeds); checks: {_verdicts(checks, ids)}")
        axes[-1, j].set_xlabel("iteration t")
        axes2[0, j].set_title(f"{setting_text(init)} init")
        axes2[0, j].set_xlabel("iteration t")
        axes2[0, j].set_ylabel("log10 ‖V(t) − W(t)‖²_X / ‖V(0) − W*‖²_X")
        axes2[0, j].set_ylim(-12, 4)  # t = 0 is 0 up to round-off; diverged runs leave the top
        axes2[0, j].legend(fontsize=7)
    axes[0, 0].legend(loc="upper right", fontsize=7)
    fig.suptitle(f"Paper C, Fig 1{what}: log-loss of GD on the deep linear network\n"
                 f"(band: mean ± std over seeds; runs end where they diverge) and on its convex "
                 f"twin (dashed)")
    fig2.suptitle(f"Paper C{what}: distance between the network V(t) = a_N W_{{N:1}}(t) and "
                  f"the twin W(t)\n(Theorem 2, (12a); mean ± std over seeds)")
    return [save(fig, root, f"{tag}_loss"), save(fig2, root, f"{tag}_deviation")], lines


register(Experiment(
    id="trajectory/comparison", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1",
    title="GD on a deep linear network vs GD on the convex problem, as the width grows",
    spec={
        "problem": {"kind": "deep_linear", "depth": 3, "hidden": 128, "loss": "squared_half",
                    "data": FIG1_DATA, "sigma_min_inner_every": 25},
        "init": INITS["gaussian"],
        "schedule": {"kind": "constant", "eta": "data_norm"},
        "steps": 25, "seeds": 2,
        "sweep": {"init": list(INITS.values()), "problem.hidden": [128, 200, 2000, 5000]},
    },
    quick={"seeds": 2, "sweep.problem.hidden": [128, 200, 600],
           "problem.sigma_min_inner_every": 5},
    finisher=_finish_comparison,
))


# ------------------------------------------------------------- width sweep
def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope of log y on log x with its 95% confidence interval (OLS, t distribution)."""
    import numpy as np
    from scipy import stats

    ok = (x > 0) & (y > 0) & np.isfinite(y)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if ok.sum() < 3 or np.unique(lx).size < 2:
        return float("nan"), float("nan"), float("nan")
    fit = stats.linregress(lx, ly)
    half = stats.t.ppf(0.975, ok.sum() - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


def sweep_table(runs: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Per run that started (not failed): n_min, depth, init, status and the sup over t of
    the two relative gaps."""
    sup = steps[steps["run_id"].isin(runs["run_id"])].groupby("run_id")[
        ["deviation_X", "loss_diff"]].max()
    table = runs.set_index("run_id")[["n_min", "N", "init.kind", "e0", "E0", "status"]].join(sup)
    table["deviation"] = table["deviation_X"] / table["e0"]
    table["loss_gap"] = table["loss_diff"] / table["E0"]
    return table[table["status"] != "failed"].reset_index()


def _finish_width_sweep(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    import numpy as np

    plt = pyplot()
    table = sweep_table(runs, steps)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    lines = []
    groups = list(table.groupby(["N", "init.kind"], dropna=False))
    for k, ((N, init), every) in enumerate(groups):
        color = COLORS[k % len(COLORS)]
        grp = every[every["status"] == "ok"]  # a diverged run's sup is where it stopped
        dropped = left_out_text(over_runs(every, [], [], stats=()).iloc[0])
        for ax, col in zip(axes, ("deviation", "loss_gap"), strict=True):
            stats = over_runs(every, "n_min", [col], stats=("median", "q10", "q90"))
            med = stats.set_index("n_min")[col]
            lo_q, hi_q = stats[f"{col}_q10"].to_numpy(), stats[f"{col}_q90"].to_numpy()
            ax.errorbar(med.index, med, yerr=[med - lo_q, hi_q - med], color=color, marker="o",
                        ms=3, capsize=2, ls="none")
            slope, lo, hi = _fit(grp["n_min"].to_numpy(float), grp[col].to_numpy(float))
            if np.isfinite(slope):
                x = np.array([med.index.min(), med.index.max()], float)
                yy = np.exp(np.mean(np.log(grp[col].clip(lower=1e-300)))) * \
                    (x / np.exp(np.mean(np.log(grp["n_min"])))) ** slope
                ax.plot(x, yy, color=color, lw=1,
                        label=f"N = {N}, {setting_text(init)}: n^{slope:.2f} [{lo:.2f}, {hi:.2f}]")
            name = "sup_t ‖a_N W_{N:1} − W‖²_X / ‖V(0) − W*‖²_X" if col == "deviation" \
                else "sup_t |E_DLN − E| / E(0)"
            lines.append(f"N = {N}, {setting_text(init)}: {name} ∝ n_min^{slope:.3f} "
                         f"(95% CI [{lo:.3f}, {hi:.3f}], {len(grp)} runs{dropped}, "
                         f"n_min {grp['n_min'].min()} to {grp['n_min'].max()})")
    for ax, title in zip(axes, ("trajectory deviation (12a)", "loss difference (12b)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("smallest hidden width n_min")
        ax.set_title(title)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("sup over t (relative)")
    fig.suptitle("Paper C, Theorem 2: the gap between network and convex twin vanishes with width\n"
                 "(median and 10–90% range over seeds; lines: fitted power laws, 95% CI of the "
                 "exponent)")
    return [save(fig, root, "width_sweep")], lines


register(Experiment(
    id="trajectory/width-sweep", paper=PAPER, paper_title=PAPER_TITLE, figure="Theorem 2",
    title="Sup-distance between network and convex twin versus the smallest hidden width",
    spec={
        "problem": {"kind": "deep_linear", "depth": 3, "hidden": 64, "loss": "squared_half",
                    "data": {**FIG1_DATA, "n": 32, "m": 4, "samples": 200},
                    "sigma_min_inner_every": 0},
        "init": INITS["gaussian"],
        "schedule": {"kind": "constant", "eta": "thm1"},
        "steps": 50, "seeds": 10,
        "sweep": {"problem.depth": [2, 3, 4], "init": list(INITS.values()),
                  "problem.hidden": [32, 64, 128, 256, 512, 1024, 2048]},
    },
    quick={"seeds": 3, "steps": 20, "sweep.problem.depth": [2, 3],
           "sweep.problem.hidden": [32, 64, 128, 256]},
    finisher=_finish_width_sweep,
))


# ----------------------------------------------------------- general loss
def _finish_general(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    return _finish_comparison(root, runs, steps, checks, quick, tag="general_loss",
                              what=" with softmax cross-entropy + ridge")


register(Experiment(
    id="trajectory/general-loss", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1 (CE loss)",
    title="The trajectory comparison for a non-quadratic loss: softmax cross-entropy + λ‖W‖²_X",
    spec={
        "problem": {"kind": "deep_linear", "depth": 3, "hidden": 128, "loss": "softmax",
                    "ridge": 0.01, "sigma_min_inner_every": 50,
                    "data": {**FIG1_DATA, "target": "teacher_labels"}},
        "init": INITS["gaussian"],
        "schedule": {"kind": "constant", "eta": "thm1"},
        "steps": 100, "seeds": 2,
        "sweep": {"init": list(INITS.values()), "problem.hidden": [128, 200, 2000]},
    },
    quick={"steps": 30, "sweep.problem.hidden": [128, 400], "problem.sigma_min_inner_every": 10},
    finisher=_finish_general,
))
