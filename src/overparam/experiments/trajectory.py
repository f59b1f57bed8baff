"""Paper C's experiments (App. G and the claims of Theorem 2): deep linear networks
against their convex twins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from overparam.aggregate import STARTED, left_out_text, over_runs
from overparam.experiments import Experiment, register, verdict_line
from overparam.experiments.trajectory_claims import FIG1_CLAIMS, GENERAL_CLAIMS, SWEEP_CLAIMS
from overparam.plot_layout import legend_below, legend_under, sweep_ticks
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


#: The two readings of App. G's Fig 1. The authors' notebook runs N = 4 weight matrices
#: (three hidden layers n1 = n2 = n3, as the caption says) with η = n_N/(2N‖X‖₂²), half the
#: printed step; the appendix's text says N = 3 and η = n_N/(N‖X‖₂²) (errata C1, C2).
READINGS = {
    "authors": ({"problem.depth": 4, "schedule.scale": 0.5},
                "as the authors ran it: N = 4, η = n_N/(2N‖X‖₂²)"),
    "printed": ({"problem.depth": 3, "schedule.scale": 1.0},
                "App. G as printed: N = 3, η = n_N/(N‖X‖₂²)"),
}
#: The readings as the figures' titles write them.
READING_TEX = {"authors": r"as the authors ran it: $N = 4$, $\eta = n_N/(2N\|X\|_2^2)$",
               "printed": r"App. G as printed: $N = 3$, $\eta = n_N/(N\|X\|_2^2)$"}
#: Fig 1's hidden widths per init (its caption).
FIG1_WIDTHS = {"gaussian": [128, 200, 2000], "orthogonal": [128, 200, 5000]}
#: Fig 1 draws this many iterations; the authors' notebook runs 100.
FIG1_DRAWN = 25


def fig1_cases(widths: dict[str, list[int]]) -> list[dict]:
    """One case per reading, init and hidden width (the widths differ between the inits)."""
    return [{**over, "init": INITS[init], "problem.hidden": w}
            for over, _ in READINGS.values() for init, ws in widths.items() for w in ws]


def reading_of(runs: pd.DataFrame) -> pd.Series:
    """Which reading of App. G each run follows ('authors' or 'printed'), from N and the
    step's scale; a run matching neither (a user's override) reads as ''."""
    import pandas as pd

    scale = runs["schedule.scale"] if "schedule.scale" in runs else pd.Series(1.0, runs.index)
    out = pd.Series("", index=runs.index)
    for name, (over, _) in READINGS.items():
        hit = (runs["N"] == over["problem.depth"]) & (scale == over["schedule.scale"])
        out[hit] = name
    return out


def _verdicts(checks: pd.DataFrame, ids) -> str:
    return verdict_line(checks, ids, "C.")


def _cell_line(cell: pd.DataFrame, steps: pd.DataFrame, checks: pd.DataFrame, init,
               width) -> str:
    """The summary line of one (init, width) cell: the sup gaps, τ, the region's c1, c2, the
    runs that diverged and the check verdicts."""
    ids = cell[cell["status"] != "failed"]["run_id"]
    sup = sweep_table(cell, steps)  # a diverged run's sup is where it stopped: left out
    gaps = over_runs(sup, [], ["deviation", "loss_gap"], stats=("median",)).iloc[0]
    init_c = over_runs(cell, [], ["c1", "c2"], statuses=STARTED, stats=("median",)).iloc[0]
    sups = (f"sup_t deviation_X / ‖V(0) − W*‖²_X = {gaps['deviation']:.2e}, sup_t "
            f"|E_DLN − E| / E(0) = {gaps['loss_gap']:.2e} (median over "
            f"{int(gaps['n_in'])} finished seeds{left_out_text(gaps)})" if gaps["n_in"]
            else f"no finished seed for the sup_t gaps{left_out_text(gaps)}")
    div = cell[cell["status"] == "diverged"]
    died = (f"; {len(div)} of {len(cell)} diverged, first at iteration "
            f"{int(div['steps_done'].min())}" if len(div) else f"; none of {len(cell)} diverged")
    return (f"{setting_text(init)}, n_min = {setting_text(width)}: {sups}, max tau = "
            f"{cell['tau_max'].max():.3g}, c1 = {init_c['c1']:.2f}, c2 = {init_c['c2']:.2f} "
            f"(median over {len(ids)} seeds){died}; checks: {_verdicts(checks, ids)}")


def _loss_figure(runs, steps, upto: int | None, what: str):
    """Fig 1: log-loss of the network (band over seeds) and of its twin, one column per init,
    one row per hidden width of that init; ``upto`` limits the iterations drawn."""
    plt = pyplot()
    inits = distinct(runs["init.kind"], sort=False)
    widths = {i: distinct(runs[rows_with(runs, "init.kind", i)]["n_min"]) for i in inits}
    rows = max(len(w) for w in widths.values())
    fig, axes = plt.subplots(rows, len(inits), figsize=(4.2 * len(inits), 2.6 * rows),
                             squeeze=False, sharex=True)
    shown = steps if upto is None else steps[steps["step"] <= upto]
    for j, init in enumerate(inits):
        for i, width in enumerate(widths[init]):
            cell = runs[rows_with(runs, "n_min", width) & rows_with(runs, "init.kind", init)]
            ids = cell[cell["status"] != "failed"]["run_id"]
            ax = axes[i, j]
            if ids.empty:
                continue
            band(ax, log10_curves(shown, ids, "loss"), "deep linear network", COLORS[0])
            mean_curve(ax, log10_curves(shown, ids, "loss_twin"), "convex twin",
                       COLORS[1], ls="--")
            n_div = int((cell["status"] == "diverged").sum())
            ax.set_title(f"{setting_text(init)}, $n_1 = \\cdots = n_{{N-1}}$ = "
                         f"{setting_text(width)}" + (f" ({n_div}/{len(cell)} diverged)"
                                                     if n_div else ""), fontsize=9)
            ax.set_ylabel(r"$\log_{10} L$")
        axes[-1, j].set_xlabel("iteration t")
    for ax in axes.flat:
        if not ax.has_data():
            ax.set_axis_off()
    legend_below(fig, ncol=2)
    drawn = f"first {upto} iterations" if upto is not None else "every iteration run"
    fig.suptitle(f"Paper C, Fig 1{what}, {drawn}\nlog-loss of GD on the deep linear network "
                 "(band: mean ± std over seeds; runs end where they diverge)\nand on its convex "
                 "twin (dashed)", fontsize=10)
    return fig


def _deviation_figure(runs, steps, what: str):
    """‖V(t) − W(t)‖²_X / ‖V(0) − W*‖²_X per init, one curve per hidden width."""
    plt = pyplot()
    inits = distinct(runs["init.kind"], sort=False)
    fig, axes = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 3.4), squeeze=False)
    for j, init in enumerate(inits):
        ax = axes[0, j]
        of_init = runs[rows_with(runs, "init.kind", init)]
        for i, width in enumerate(distinct(of_init["n_min"])):
            cell = of_init[rows_with(of_init, "n_min", width)]
            ids = cell[cell["status"] != "failed"]["run_id"]
            # From t = 1: network and twin start at the same point, the distance is exactly 0.
            rel = steps[steps["run_id"].isin(ids) & (steps["step"] > 0)].copy()
            rel["deviation_rel"] = rel["deviation_X"] / rel["run_id"].map(
                cell.set_index("run_id")["e0"])
            band(ax, log10_curves(rel, ids, "deviation_rel"), f"n = {setting_text(width)}",
                 COLORS[i % len(COLORS)])
        ax.set_title(f"{setting_text(init)} init")
        ax.set_xlabel("iteration t (from t = 1: at t = 0 the distance is exactly 0)")
        ax.set_ylabel(r"$\log_{10}\,\|V(t) - W(t)\|^2_X\,/\,\|V(0) - W^*\|^2_X$")
    legend_below(fig, ncol=len(fig.axes[0].get_legend_handles_labels()[0]) or 1)
    fig.suptitle(f"Paper C, Theorem 2 (12a) on the runs of Fig 1{what}:\ndistance between the "
                 "network $V(t) = a_N W_{N:1}(t)$ and the twin $W(t)$ (mean ± std over seeds)",
                 fontsize=10)
    return fig


def _finish_comparison(root: Path, runs, steps, checks, quick, tag="fig1", what="",
                       upto: int | None = None) -> tuple:
    """Fig 1 and the deviation panel per reading of App. G (one figure set each; a spec
    outside both readings is drawn as one set), and a summary line per cell."""
    readings = reading_of(runs)
    groups = [(name, runs[readings == name]) for name in READINGS if (readings == name).any()]
    if not groups or (readings == "").any():
        groups = [("", runs)]
    figures, lines = [], []
    for name, part in groups:
        label = f" ({READING_TEX[name]})" if name else ""
        suffix = f"_{name}" if name and len(groups) > 1 else ""
        lines.append(f"{READINGS[name][1] if name else 'runs'}:")
        for init in distinct(part["init.kind"], sort=False):
            of_init = part[rows_with(part, "init.kind", init)]
            for width in distinct(of_init["n_min"]):
                lines.append("  " + _cell_line(of_init[rows_with(of_init, "n_min", width)],
                                               steps, checks, init, width))
        figures.append(save(_loss_figure(part, steps, upto, what + label), root,
                            f"{tag}_loss{suffix}"))
        if upto is not None and steps["step"].max() > upto:
            figures.append(save(_loss_figure(part, steps, None, what + label), root,
                                f"{tag}_loss{suffix}_all"))
        figures.append(save(_deviation_figure(part, steps, what + label), root,
                            f"{tag}_deviation{suffix}"))
    return figures, lines


def _finish_fig1(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    return _finish_comparison(root, runs, steps, checks, quick, upto=FIG1_DRAWN)


register(Experiment(
    id="trajectory/comparison", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1",
    title="GD on a deep linear network vs GD on the convex problem, as the width grows",
    spec={
        "problem": {"kind": "deep_linear", "depth": 4, "hidden": 128, "loss": "squared_half",
                    "data": FIG1_DATA, "sigma_min_inner_every": 25},
        "init": INITS["gaussian"],
        "schedule": {"kind": "constant", "eta": "data_norm", "scale": 0.5},
        "steps": 100, "seeds": 5,
        "cases": fig1_cases(FIG1_WIDTHS),
    },
    quick={"seeds": 2, "steps": 50, "problem.sigma_min_inner_every": 10,
           "cases": fig1_cases({"gaussian": [128, 200, 600], "orthogonal": [128, 200, 600]})},
    finisher=_finish_fig1,
    claims=FIG1_CLAIMS,
))


# ------------------------------------------------------------- width sweep
def fit_power(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
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
            slope, lo, hi = fit_power(grp["n_min"].to_numpy(float), grp[col].to_numpy(float))
            if np.isfinite(slope):
                x = np.array([med.index.min(), med.index.max()], float)
                yy = np.exp(np.mean(np.log(grp[col].clip(lower=1e-300)))) * \
                    (x / np.exp(np.mean(np.log(grp["n_min"])))) ** slope
                ax.plot(x, yy, color=color, lw=1,
                        label=f"$N$ = {N}, {setting_text(init)}: $n^{{{slope:.2f}}}$ "
                              f"[{lo:.2f}, {hi:.2f}]")
            name = "sup_t ‖a_N W_{N:1} − W‖²_X / ‖V(0) − W*‖²_X" if col == "deviation" \
                else "sup_t |E_DLN − E| / E(0)"
            lines.append(f"N = {N}, {setting_text(init)}: {name} ∝ n_min^{slope:.3f} "
                         f"(95% CI [{lo:.3f}, {hi:.3f}], {len(grp)} runs{dropped}, "
                         f"n_min {grp['n_min'].min()} to {grp['n_min'].max()})")
    titles = (r"trajectory deviation (12a): $\sup_t \|a_N W_{N:1} - W\|_X^2\,/\,"
              r"\|V(0) - W^*\|_X^2$",
              r"loss difference (12b): $\sup_t |E_{\rm DLN} - E|\,/\,E(0)$")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        sweep_ticks(ax, table["n_min"].unique())
        ax.set_xlabel(r"smallest hidden width $n_{\min}$ (log scale)")
        ax.set_ylabel(r"$\sup_t$ of the relative gap (log scale)")
        ax.set_title(title)
        legend_under(ax, ncol=2, fontsize=7)
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
    claims=SWEEP_CLAIMS,
))


# ----------------------------------------------------------- general loss
def _finish_general(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    return _finish_comparison(root, runs, steps, checks, quick, tag="general_loss",
                              what=" with softmax cross-entropy + ridge")


register(Experiment(
    id="trajectory/general-loss", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1 (CE loss)",
    title="The trajectory comparison for a non-quadratic loss: softmax cross-entropy + λ‖W‖²_X",
    spec={
        "problem": {"kind": "deep_linear", "depth": 4, "hidden": 128, "loss": "softmax",
                    "ridge": 0.01, "sigma_min_inner_every": 50,
                    "data": {**FIG1_DATA, "target": "teacher_labels"}},
        "init": INITS["gaussian"],
        "schedule": {"kind": "constant", "eta": "thm1"},
        "steps": 100, "seeds": 2,
        "sweep": {"init": list(INITS.values()), "problem.hidden": [128, 200, 2000]},
    },
    quick={"steps": 30, "sweep.problem.hidden": [128, 400], "problem.sigma_min_inner_every": 10},
    finisher=_finish_general,
    claims=GENERAL_CLAIMS,
))
