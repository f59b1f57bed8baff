"""Paper A's figures (§4 and App. G): the finishers of the experiments that
:mod:`overparam.experiments.local_pl` registers, with the legends' names of the schedules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from overparam.aggregate import STARTED, final_rows, left_out_text, over_runs, seed_curves
from overparam.plot_layout import legend_below, legend_under, on_log_axis
from overparam.plots import (
    COLORS,
    band,
    distinct,
    finite,
    log10_curves,
    mean_curve,
    pyplot,
    rows_with,
    save,
    setting_groups,
    setting_text,
)

if TYPE_CHECKING:
    import pandas as pd

    from overparam.aggregate import Curves

#: The bound column of each schedule and its equation (summary lines).
BOUND_OF = {"local_pl": ("bound_local", "eq 20, h = ρ"), "global_pl": ("bound_global", "eq 20, h = ρ̄"),
            "constant": ("bound_const", "eq 17")}
#: The same equations as the legends write them.
BOUND_TEX = {"local_pl": r"eq 20, $h = \rho$", "global_pl": r"eq 20, $h = \bar\rho$",
             "constant": "eq 17"}
SCHEDULE_LABEL = {"local_pl": r"eq 19, $h = \rho$ (local)",
                  "global_pl": r"eq 19, $h = \bar\rho$ (global)",
                  "constant": r"constant $\eta_0 = \eta_{\max}$", "xu2023": "Xu et al. 2023",
                  "backtracking": "backtracking", "plain_inverse_k": r"plain GD, $\eta = 1/K$"}
LOG_L = r"$\log_{10} L(t)$"


def _schedule_label(kind) -> str:
    """The legend's name of a schedule kind (its own text when it has none)."""
    return SCHEDULE_LABEL.get(kind, setting_text(kind)) if isinstance(kind, str) \
        else setting_text(kind)


def _rate(curves: Curves, until: float) -> float:
    """Per-step factor of the mean log10 curve, fitted where every seed is present and the
    mean stays above ``until``."""
    import numpy as np

    mean = curves.complete_mean().dropna()
    mean = mean[mean > until]
    if len(mean) < 3:
        return float("nan")
    return float(10 ** np.polyfit(mean.index.to_numpy(float), mean.to_numpy(), 1)[0])


def _final(steps: pd.DataFrame, grp: pd.DataFrame) -> str:
    """Median final log10 L(t) − ℓ* over the runs that finished (ok), or when the gap of most
    runs reached exact 0, the median step it did."""
    import numpy as np

    sub = steps[steps["run_id"].isin(grp["run_id"])]
    zero = sub[sub["loss_gap"] <= 0].groupby("run_id")["step"].min()
    if len(zero) * 2 > len(grp):
        return f"L − ℓ* reaches round-off (0) at step {int(zero.median())} (median)"
    last = final_rows(sub, columns=["loss_gap"])
    last = last[last["loss_gap"] > 0].assign(log_gap=lambda f: np.log10(f["loss_gap"]))
    row = over_runs(last, [], ["log_gap"], runs=grp, stats=("median",)).iloc[0]
    return f"median final log10 L = {row['log_gap']:.2f}{left_out_text(row)}"


def _mean_over_runs(runs: pd.DataFrame, values: pd.Series) -> float:
    """Mean over the runs that started of a quantity measured at t = 0."""
    return float(over_runs(runs.assign(_v=values), [], ["_v"], statuses=STARTED)["_v"].iloc[0])


def _cell_title(h: str, ratio: float, noise: str | None = None) -> str:
    noise_text = f", $\\sigma^2$ = {noise}" if noise is not None else ""
    return f"$h$ = {h}{noise_text}, $\\alpha_1/\\alpha_2$ = {ratio:.3f}"


def _started_by_schedule(cell):
    """(schedule kind, its colour, its runs, those that started) per schedule of a grid
    cell; a schedule none of whose runs started is left out (keeping its colour slot)."""
    for k, (kind, grp) in enumerate(setting_groups(cell, "schedule.kind")):
        started = grp[grp["status"] != "failed"]
        if not started.empty:
            yield kind, COLORS[k % len(COLORS)], grp, started


# ------------------------------------------------------------------ Fig 1
def finish_tightness(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """Fig 1: log10 L(t) (mean ± std) against the bounds of eq 17 and eq 20, per width and
    noise level."""
    plt = pyplot()
    widths = distinct(runs["problem.width"])
    noises = distinct(runs["problem.data.noise"])
    fig, axes = plt.subplots(len(noises), len(widths), figsize=(3.4 * len(widths), 2.8 * len(noises)),
                             squeeze=False)
    lines = []
    for i, noise in enumerate(noises):
        for j, width in enumerate(widths):
            ax = axes[i, j]
            cell = runs[rows_with(runs, "problem.width", width)
                        & rows_with(runs, "problem.data.noise", noise)]
            ratio = _mean_over_runs(cell, cell["alpha1"] / cell["alpha2"])
            low, last = 0.0, 1
            h, s2 = setting_text(width), setting_text(noise, "g")
            for kind, color, _, started in _started_by_schedule(cell):
                ok = started["run_id"]
                actual = log10_curves(steps, ok, "loss_gap")
                mean = actual.mean.dropna()  # over the seeds present: drawn, partly dashed
                low, last = min(low, mean.min()), max(last, int(mean.index.max()))
                band(ax, actual, _schedule_label(kind), color)
                if not isinstance(kind, str) or kind not in BOUND_OF:
                    lines.append(f"h={h} σ²={s2} {setting_text(kind)}: no bound drawn; "
                                 f"{_final(steps, started)}")
                    continue
                col, eq = BOUND_OF[kind]
                bound = log10_curves(steps, ok, col)
                mean_curve(ax, bound, f"bound ({BOUND_TEX[kind]})", color, ls="--",
                           marker="^", markevery=max(1, int(steps["step"].max()) // 10), ms=3)
                floor = mean.min() + 4  # fit above the round-off plateau
                tight = _rate(actual, floor), _rate(bound, floor)
                lines.append(f"h={h} σ²={s2} {kind}: rate per step {tight[0]:.3f} "
                             f"measured vs {tight[1]:.3f} bound ({eq}); {_final(steps, started)}")
            ax.set_title(_cell_title(h, ratio, s2))
            # Zoom on the actual losses: the bounds go on far below float64 round-off.
            ax.set_ylim(bottom=low - 6)
            ax.set_xlim(-1, min(int(steps["step"].max()), int(1.6 * last) + 2))
            if i == len(noises) - 1:
                ax.set_xlabel("iteration t")
            if j == 0:
                ax.set_ylabel(LOG_L)
    legend_below(fig, ncol=3)
    fig.suptitle("Paper A, Fig 1: actual loss (mean ± std) vs the bounds of eq 17 and eq 20")
    return [save(fig, root, "fig1_bound_tightness")], lines


# ------------------------------------------------------------------ Fig 2
def finish_comparison(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """Fig 2: loss and step size of each schedule against the iteration, and the loss
    against wall-clock time, per width."""
    plt = pyplot()
    widths = distinct(runs["problem.width"])
    fig, axes = plt.subplots(3, len(widths), figsize=(3.6 * len(widths), 8.0), squeeze=False)
    lines = []
    for j, width in enumerate(widths):
        cell = runs[rows_with(runs, "problem.width", width)]
        h = setting_text(width)
        for kind, color, grp, started in _started_by_schedule(cell):
            ids = started["run_id"]
            name = _schedule_label(kind)
            gap = band(axes[0, j], log10_curves(steps, ids, "loss_gap"), name, color)
            band(axes[1, j], log10_curves(steps, ids, "eta"), name, color)
            per_step = float((grp["run_s"] / grp["steps"]).mean())  # one batch: one timing
            band(axes[2, j], gap.with_x(gap.index * per_step * 1e3), name, color)
            sub = steps[steps["run_id"].isin(ids)]
            lines.append(f"h={h} {setting_text(kind)}: {per_step * 1e6:.1f} µs/step for the batch of "
                         f"{len(ids)} seeds, mean {sub['n_evals'].mean():.2f} loss evaluations/step, "
                         f"{_final(steps, started)}")
        axes[0, j].set_title(f"$h$ = {h}")
        axes[0, j].set_ylabel(LOG_L)
        axes[1, j].set_ylabel(r"$\log_{10} \eta_t$")
        axes[2, j].set_ylabel(r"$\log_{10} L$")
        axes[0, j].set_xlabel("iteration t")
        axes[1, j].set_xlabel("iteration t")
        axes[2, j].set_xlabel("wall-clock time of the seed batch (ms)")
    legend_below(fig, ncol=4)
    fig.suptitle("Paper A, Fig 2: step-size schedules — loss and step size vs iteration and time")
    return [save(fig, root, "fig2_stepsize_comparison")], lines


# ------------------------------------------------------------------ Fig 3
def finish_toy(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """Fig 3: the toy loss ℓ(x), its overparametrized version L(x1, x2) = ℓ(x1x2), and the
    local constants µ_over and K_over (exact, as printed in eq 59, and their gap)."""
    import numpy as np

    from overparam.theory import toy_landscape as toy

    plt = pyplot()
    n = 201 if quick else 601
    x = np.linspace(-2.0, 2.0, n)
    x1, x2 = np.meshgrid(x, x)
    k_exact = toy.toy_K_over_exact(x1, x2)
    k_printed = toy.toy_K_over_printed(x1, x2)
    rel = np.abs(k_printed - k_exact) / k_exact
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 8.2))
    ax = axes[0, 0]
    ax.plot(x, toy.toy_ell(x), color=COLORS[0])
    ax.plot([1.0], [0.0], "o", color="k", ms=4)
    ax.annotate("minimizer $x = 1$", (1.0, 0.0), xytext=(0, 12), textcoords="offset points",
                ha="center", fontsize=8)
    ax.set_title(r"$\ell(x) = \frac{1}{2}(x - 1)^2$ (eq 57): strongly convex, $\mu = K = 1$")
    ax.set_xlabel("$x$")
    ax.set_ylabel(r"$\ell(x)$")
    maps = [(axes[0, 1], toy.toy_loss(x1, x2),
             r"$L(x_1, x_2) = \ell(x_1 x_2) = \frac{1}{2}(x_1 x_2 - 1)^2$ (eq 58)"),
            (axes[0, 2], toy.toy_mu_over(x1, x2),
             r"$\mu_{\rm over} = \|\nabla L\|^2/(2L) = x_1^2 + x_2^2$ (local PL)"),
            (axes[1, 0], k_exact, r"$K_{\rm over} = \lambda_{\max}(\nabla^2 L)$, exact"),
            (axes[1, 1], k_printed, r"$K_{\rm over}$ as printed (eq 59)"),
            (axes[1, 2], rel, r"$|K_{\rm printed} - K_{\rm exact}|\,/\,K_{\rm exact}$")]
    for ax, val, title in maps:
        im = ax.pcolormesh(x1, x2, val, shading="auto", cmap="viridis", rasterized=True)
        ax.contour(x1, x2, x1 * x2, levels=[1.0], colors="w", linewidths=0.8)
        fig.colorbar(im, ax=ax)
        ax.set_title(title)
        ax.set_xlabel(r"$x_1$")
        ax.set_ylabel(r"$x_2$")
        ax.set_aspect("equal")
    axes[0, 1].contour(x1, x2, toy.toy_loss(x1, x2), levels=[0.1, 0.5, 1.0, 2.0, 4.0],
                       colors="k", linewidths=0.5, alpha=0.6)
    fig.suptitle(r"Paper A, Fig 3: the toy loss $\ell(x)$ and its overparametrized version "
                 r"$L(x_1, x_2)$ with the local PL and smoothness constants; white: the "
                 r"minimizers $x_1 x_2 = 1$")
    lines = [f"eq 59 erratum: max relative error of the printed K_over on [-2,2]² = {rel.max():.3f} "
             f"(zero exactly on 2x1x2 = 1)"]
    final = over_runs(final_rows(steps, runs["run_id"], ["loss"]), [], ["loss"], runs=runs,
                      stats=("median",)).iloc[0]
    if final["n_in"]:
        lines.append(f"GD with eq 19 on the toy from {int(final['n_in'])} starts: median final "
                     f"loss {final['loss']:.2e}{left_out_text(final)}")
    return [save(fig, root, "fig3_toy_landscape")], lines


# ------------------------------------------------------------------ Fig 4
def finish_kappa(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """Fig 4: κ(T0) and α1/α2 at init against the width, per init exponent p."""
    import numpy as np

    plt = pyplot()
    runs = runs.assign(kappa=np.sqrt(runs["sigma_max_T2_0"] / runs["sigma_min_T2_0"]),
                       ratio=runs["alpha1"] / runs["alpha2"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.9))
    lines = []
    for k, (p, grp) in enumerate(setting_groups(runs, "init.p", sort=True)):
        # κ's curves coincide (below): markers and dashes keep each one visible.
        style = {"color": COLORS[k % len(COLORS)], "marker": "os^Dv"[k % 5], "ms": 4,
                 "ls": ("-", "--", ":", "-.")[k % 4], "capsize": 2, "mfc": "none",
                 "label": f"$p$ = {setting_text(p)}"}
        # Measured at t = 0: every run that started counts, whatever its GD did later.
        stats = over_runs(grp, "problem.width", ["kappa", "ratio"], statuses=STARTED,
                          stats=("mean", "std"))
        w = stats["problem.width"].to_numpy(float)
        axes[0].errorbar(w, stats["kappa"], stats["kappa_std"], **style)
        axes[1].errorbar(w, stats["ratio"], stats["ratio_std"], **style)
        gap = 1 - stats["ratio"].to_numpy()
        if len(w) >= 2 and np.all(gap > 0) and finite(p):
            slope = np.polyfit(np.log(w), np.log(gap), 1)[0]
            lines.append(f"p = {p}: 1 − α1/α2 ∝ h^{slope:.3f} (Thm 3.3 as transcribed: exponent "
                         f"2p − 1 = {2 * p - 1:.3f}; App. G.1 text: p − 1/2 = {p - 0.5:.3f})")
    lines.append("κ(T0) is invariant to the init scale h^(−p): with common random numbers the "
                 "κ curves of the p values coincide (docs/errata.md A6)")
    axes[0].set_ylabel(r"$\kappa(T_0) = \sigma_{\max}(T_0)/\sigma_{\min}(T_0)$")
    axes[0].set_title(r"$\kappa(T_0)$ (the curves of every $p$ coincide: κ is scale-free)")
    axes[1].set_ylabel(r"$\alpha_1/\alpha_2$")
    axes[1].set_title(r"$\alpha_1/\alpha_2$ (Thm 3.3: $\to 1$ as $h$ grows)")
    for ax in axes:
        ax.set_xlabel("width $h$")
    legend_below(fig, ncol=3)
    fig.suptitle(r"Paper A, Fig 4: conditioning at init, $W(0) \sim \mathcal{N}(0, h^{-2p})$ "
                 "(mean ± std over seeds)")
    return [save(fig, root, "fig4_kappa_init")], lines


# ------------------------------------------------------------------ Fig 5
def finish_plain(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """Fig 5: GD on the overparametrized loss with eq 19 against plain GD with η = 1/K."""
    import numpy as np

    plt = pyplot()
    widths = distinct(runs["problem.width"])
    fig, axes = plt.subplots(1, len(widths), figsize=(3.3 * len(widths), 3.5), squeeze=False,
                             sharey=True)
    lines = []
    for j, width in enumerate(widths):
        ax = axes[0, j]
        cell = runs[rows_with(runs, "problem.width", width)]
        h = setting_text(width)
        for kind, color in (("plain_inverse_k", "tab:red"), ("local_pl", "tab:blue")):
            ids = cell[(cell["schedule.kind"] == kind) & (cell["status"] != "failed")]["run_id"]
            if ids.empty:
                continue
            wide = log10_curves(steps, ids, "loss_gap")
            band(ax, wide, r"$\ell(t)$, plain GD" if kind != "local_pl" else r"$L(t)$, eq 19",
                 color)
            mean = wide.complete_mean().dropna()  # fit where every seed is still drawn
            tail = mean[mean > mean.iloc[0] - 12] if len(mean) else mean
            if len(tail) > 3:
                rate = 10 ** np.polyfit(tail.index, tail.to_numpy(), 1)[0]
                lines.append(f"h={h} {kind}: empirical rate per step {rate:.4f}")
        ratio = _mean_over_runs(cell, cell["alpha1"] / cell["alpha2"])
        ax.set_title(_cell_title(h, ratio))
        ax.set_xlabel("iteration t")
    axes[0, 0].set_ylabel(r"$\log_{10}$ loss")
    legend_below(fig, ncol=2)
    rp = _mean_over_runs(runs, runs["rate_plain"])
    lines.append(f"plain GD theory rate 1 − µ/K = {rp:.4f} (mean over seeds)")
    fig.suptitle("Paper A, Fig 5: overparametrized GD (eq 19) approaches plain GD as $h$ grows")
    return [save(fig, root, "fig5_vs_plain")], lines


# ------------------------------------------------------- general loss (§3)
#: The local constants of the general-loss runs: column, legend, line style.
CONSTANTS = (("K_t", r"$K_t$ (eq 12)", "-"),
             ("curvature", r"$\langle g, Hg\rangle/\|g\|^2$", "--"),
             ("pl_ratio", r"$\|\nabla L\|^2/(2(L - \ell^*))$", "-."),
             ("mu_t", r"$\mu_t$ (eq 11)", ":"))


def finish_general(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """§3: the gap L − ℓ* of each schedule with its bound, and the local constants of the
    eq 19 runs."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    lines = []
    for k, (kind, grp) in enumerate(setting_groups(runs, "schedule.kind")):
        color = COLORS[k % len(COLORS)]
        ids = grp[grp["status"] != "failed"]["run_id"]
        band(axes[0], log10_curves(steps, ids, "loss_gap"), _schedule_label(kind), color)
        if kind in BOUND_OF:
            col, _ = BOUND_OF[kind]
            mean_curve(axes[0], log10_curves(steps, ids, col), f"bound ({BOUND_TEX[kind]})",
                       color, ls="--")
        last = over_runs(final_rows(steps, ids, ["loss_gap"]), [], ["loss_gap"], runs=grp,
                         stats=("median",)).iloc[0]
        l0 = over_runs(grp, [], ["L0"], statuses=STARTED, stats=("median",))["L0"].iloc[0]
        lines.append(f"{setting_text(kind)}: median final L − ℓ* = {last['loss_gap']:.3g} "
                     f"(L(0) − ℓ* = {l0:.3g}){left_out_text(last)}")
    local = runs[(runs["schedule.kind"] == "local_pl") & (runs["status"] != "failed")]["run_id"]
    for k, (col, label, style) in enumerate(CONSTANTS):
        # Colours apart from the schedules' (left): the legends must not be read across.
        mean_curve(axes[1], on_log_axis(seed_curves(steps, local, col)), label,
                   COLORS[4 + k], ls=style)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("iteration t")
    axes[1].set_ylabel("local constants (eq 19 runs, mean; log scale)")
    axes[0].set_xlabel("iteration t")
    axes[0].set_ylabel(r"$\log_{10}\,(L(t) - \ell^*)$")
    legend_under(axes[0], ncol=2)
    legend_under(axes[1], ncol=2)
    eta = over_runs(runs, [], ["eta_max", "eta0_1", "eta0_2", "eta0_3"], statuses=STARTED,
                    stats=("median",)).iloc[0]
    lines.append(f"median η_max = {eta['eta_max']:.3g} (eq 101: {eta['eta0_1']:.3g}, eq 102: "
                 f"{eta['eta0_2']:.3g}, log(1 + α1/2α2)^(1/c): {eta['eta0_3']:.3g})")
    fig.suptitle(r"Paper A, §3 (general loss): softmax cross-entropy + ridge, the gap $L - \ell^*$ "
                 "and the local constants")
    return [save(fig, root, "general_loss")], lines
