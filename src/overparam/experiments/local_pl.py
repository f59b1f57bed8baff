"""Paper A's experiments (§4 and App. G): registered specs and their figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from overparam.aggregate import STARTED, final_rows, left_out_text, over_runs, seed_curves
from overparam.experiments import Experiment, register
from overparam.experiments import local_pl_claims as claims
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

PAPER = "A"
PAPER_TITLE = "Local PL and descent lemma: two-layer linear networks, general loss"
BOUND_OF = {"local_pl": ("bound_local", "eq 20, h = ρ"), "global_pl": ("bound_global", "eq 20, h = ρ̄"),
            "constant": ("bound_const", "eq 17")}
SCHEDULE_LABEL = {"local_pl": "eq 19, h = ρ (local)", "global_pl": "eq 19, h = ρ̄ (global)",
                  "constant": "constant η0 = η_max", "xu2023": "Xu et al. 2023",
                  "backtracking": "backtracking", "plain_inverse_k": "plain GD, η = 1/K"}

SYNTH_FIG1 = {"kind": "synthetic", "n": 10, "m": 10, "x": "orthogonal", "target": "init"}


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


# ------------------------------------------------------------------ Fig 1
def _finish_tightness(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
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
            for k, (kind, grp) in enumerate(setting_groups(cell, "schedule.kind")):
                color = COLORS[k % len(COLORS)]
                started = grp[grp["status"] != "failed"]
                ok = started["run_id"]
                if ok.empty:
                    continue
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
                mean_curve(ax, bound, f"bound ({eq})", color, ls="--",
                           marker="^", markevery=max(1, int(steps["step"].max()) // 10), ms=3)
                floor = mean.min() + 4  # fit above the round-off plateau
                tight = _rate(actual, floor), _rate(bound, floor)
                lines.append(f"h={h} σ²={s2} {kind}: rate per step {tight[0]:.3f} "
                             f"measured vs {tight[1]:.3f} bound ({eq}); {_final(steps, started)}")
            ax.set_title(f"h = {h}, σ² = {s2}, α1/α2 = {ratio:.3f}")
            # Zoom on the actual losses: the bounds go on far below float64 round-off.
            ax.set_ylim(bottom=low - 6)
            ax.set_xlim(-1, min(int(steps["step"].max()), int(1.6 * last) + 2))
            if i == len(noises) - 1:
                ax.set_xlabel("iteration t")
            if j == 0:
                ax.set_ylabel("log10 L(t)")
    axes[0, 0].legend(loc="lower left", fontsize=7)
    fig.suptitle("Paper A, Fig 1: actual loss (mean ± std) vs the bounds of eq 17 and eq 20")
    return [save(fig, root, "fig1_bound_tightness")], lines


register(Experiment(
    id="local-pl/bound-tightness", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1",
    title="Tightness of the Thm 3.2 bounds (eq 17, 20) against the actual loss",
    spec={
        "problem": {"kind": "two_layer_linear", "loss": "squared", "width": 500,
                    "data": {**SYNTH_FIG1, "noise": 0.1}},
        "init": {"kind": "gaussian", "std": 1.0},
        "schedule": {"kind": "local_pl", "c": 0.5, "d": 1.01},
        "steps": 200, "seeds": 30,
        "sweep": {"problem.width": [500, 1000, 4000], "problem.data.noise": [0.1, 1.0, 3.0],
                  "schedule.kind": ["local_pl", "global_pl", "constant"]},
    },
    quick={"seeds": 3, "steps": 60, "sweep.problem.width": [100, 400],
           "sweep.problem.data.noise": [0.1, 3.0]},
    finisher=_finish_tightness, claims=claims.FIG1_CLAIMS,
))


# ------------------------------------------------------------------ Fig 2
def _finish_comparison(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    plt = pyplot()
    widths = distinct(runs["problem.width"])
    fig, axes = plt.subplots(3, len(widths), figsize=(3.6 * len(widths), 8.0), squeeze=False)
    lines = []
    for j, width in enumerate(widths):
        cell = runs[rows_with(runs, "problem.width", width)]
        h = setting_text(width)
        for k, (kind, grp) in enumerate(setting_groups(cell, "schedule.kind")):
            color = COLORS[k % len(COLORS)]
            started = grp[grp["status"] != "failed"]
            ids = started["run_id"]
            if ids.empty:
                continue
            name = _schedule_label(kind)
            gap = band(axes[0, j], log10_curves(steps, ids, "loss_gap"), name, color)
            band(axes[1, j], log10_curves(steps, ids, "eta"), name, color)
            per_step = float((grp["run_s"] / grp["steps"]).mean())  # one batch: one timing
            band(axes[2, j], gap.with_x(gap.index * per_step * 1e3), name, color)
            sub = steps[steps["run_id"].isin(ids)]
            lines.append(f"h={h} {setting_text(kind)}: {per_step * 1e6:.1f} µs/step for the batch of "
                         f"{len(ids)} seeds, mean {sub['n_evals'].mean():.2f} loss evaluations/step, "
                         f"{_final(steps, started)}")
        axes[0, j].set_title(f"h = {h}")
        axes[0, j].set_ylabel("log10 L(t)")
        axes[1, j].set_ylabel("log10 η_t")
        axes[2, j].set_ylabel("log10 L")
        axes[1, j].set_xlabel("iteration t")
        axes[2, j].set_xlabel("wall-clock time of the seed batch (ms)")
    axes[0, 0].legend(loc="lower left", fontsize=7)
    fig.suptitle("Paper A, Fig 2: step-size schedules — loss and step size vs iteration and time")
    return [save(fig, root, "fig2_stepsize_comparison")], lines


register(Experiment(
    id="local-pl/stepsize-comparison", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 2",
    title="Eq 19 (h = ρ) vs Xu et al. 2023 vs backtracking vs constant step",
    spec={
        "problem": {"kind": "two_layer_linear", "loss": "squared", "width": 500,
                    "data": {**SYNTH_FIG1, "noise": 0.1}},
        "init": {"kind": "gaussian", "std": 1.0},
        "schedule": {"kind": "local_pl"},
        "steps": 200, "seeds": 30,
        "sweep": {"problem.width": [500, 1000, 4000],
                  "schedule": [{"kind": "local_pl"}, {"kind": "xu2023", "c1": 0.5, "c2": 1.5},
                               {"kind": "backtracking", "tau": 0.1, "gamma": 0.9},
                               {"kind": "constant"}]},
    },
    quick={"seeds": 3, "steps": 60, "sweep.problem.width": [100, 400]},
    finisher=_finish_comparison, claims=claims.FIG2_CLAIMS,
))


# ------------------------------------------------------------------ Fig 3
def _finish_toy(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    import numpy as np

    from overparam.theory import toy_landscape as toy

    plt = pyplot()
    n = 201 if quick else 601
    x = np.linspace(-2.0, 2.0, n)
    x1, x2 = np.meshgrid(x, x)
    mu = toy.toy_mu_over(x1, x2)
    k_exact = toy.toy_K_over_exact(x1, x2)
    k_printed = toy.toy_K_over_printed(x1, x2)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    panels = [(mu, "µ_over = x1² + x2² (local PL)"), (k_exact, "K_over = λmax(∇²L), exact"),
              (k_printed, "K_over as printed (eq 59)"),
              (np.abs(k_printed - k_exact) / k_exact, "|printed − exact| / exact")]
    for ax, (val, title) in zip(axes, panels, strict=True):
        im = ax.pcolormesh(x1, x2, val, shading="auto", cmap="viridis", rasterized=True)
        ax.contour(x1, x2, x1 * x2, levels=[1.0], colors="w", linewidths=0.8)
        fig.colorbar(im, ax=ax)
        ax.set_title(title)
        ax.set_xlabel("x1")
        ax.set_aspect("equal")
    axes[0].set_ylabel("x2")
    fig.suptitle("Paper A, Fig 3: toy L(x1, x2) = ½(x1x2 − 1)²; white: the minimizers x1x2 = 1")
    rel = np.abs(k_printed - k_exact) / k_exact
    lines = [f"eq 59 erratum: max relative error of the printed K_over on [-2,2]² = {rel.max():.3f} "
             f"(zero exactly on 2x1x2 = 1)"]
    final = over_runs(final_rows(steps, runs["run_id"], ["loss"]), [], ["loss"], runs=runs,
                      stats=("median",)).iloc[0]
    if final["n_in"]:
        lines.append(f"GD with eq 19 on the toy from {int(final['n_in'])} starts: median final "
                     f"loss {final['loss']:.2e}{left_out_text(final)}")
    return [save(fig, root, "fig3_toy_landscape")], lines


register(Experiment(
    id="local-pl/toy-landscape", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 3",
    title="Toy landscape ½(x1x2 − 1)²: local PL and smoothness maps (eq 59 erratum)",
    spec={
        "problem": {"kind": "two_layer_linear", "loss": "squared", "width": 1,
                    "data": {"kind": "inline", "X": [[1.0]], "Y": [[1.0]]}},
        "init": {"kind": "gaussian", "std": 1.0},
        "schedule": {"kind": "local_pl", "eta0": 0.05},
        "steps": 200, "seeds": 20,
    },
    quick={"seeds": 4, "steps": 50},
    finisher=_finish_toy, claims=claims.FIG3_CLAIMS,
))


# ------------------------------------------------------------------ Fig 4
def _finish_kappa(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    import numpy as np

    plt = pyplot()
    runs = runs.assign(kappa=np.sqrt(runs["sigma_max_T2_0"] / runs["sigma_min_T2_0"]),
                       ratio=runs["alpha1"] / runs["alpha2"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    lines = []
    for k, (p, grp) in enumerate(setting_groups(runs, "init.p", sort=True)):
        color = COLORS[k % len(COLORS)]
        # Measured at t = 0: every run that started counts, whatever its GD did later.
        stats = over_runs(grp, "problem.width", ["kappa", "ratio"], statuses=STARTED,
                          stats=("mean", "std"))
        w = stats["problem.width"].to_numpy(float)
        axes[0].errorbar(w, stats["kappa"], stats["kappa_std"], color=color,
                         marker="o", ms=3, capsize=2, label=f"p = {setting_text(p)}")
        axes[1].errorbar(w, stats["ratio"], stats["ratio_std"], color=color,
                         marker="o", ms=3, capsize=2, label=f"p = {setting_text(p)}")
        gap = 1 - stats["ratio"].to_numpy()
        if len(w) >= 2 and np.all(gap > 0) and finite(p):
            slope = np.polyfit(np.log(w), np.log(gap), 1)[0]
            lines.append(f"p = {p}: 1 − α1/α2 ∝ h^{slope:.3f} (Thm 3.3 as transcribed: exponent "
                         f"2p − 1 = {2 * p - 1:.3f}; App. G.1 text: p − 1/2 = {p - 0.5:.3f})")
    lines.append("κ(T0) is invariant to the init scale h^(−p): with common random numbers the "
                 "κ curves of the p values coincide (docs/errata.md A6)")
    axes[0].set_ylabel("κ(T0) = σmax(T0)/σmin(T0)")
    axes[1].set_ylabel("α1/α2")
    for ax in axes:
        ax.set_xlabel("width h")
        ax.legend()
    fig.suptitle("Paper A, Fig 4: conditioning at init, W(0) ~ N(0, h^(−2p))")
    return [save(fig, root, "fig4_kappa_init")], lines


register(Experiment(
    id="local-pl/kappa-init", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 4",
    title="κ(T0) and α1/α2 vs width for init N(0, h^(−2p)) (Thm 3.3)",
    spec={
        "problem": {"kind": "two_layer_linear", "loss": "squared", "width": 500,
                    "data": {"kind": "synthetic", "n": 10, "m": 10, "x": "orthogonal",
                             "target": "gaussian", "target_std": 0.1, "noise": 0.1}},
        "init": {"kind": "gaussian", "p": 0.375},
        "schedule": {"kind": "local_pl"},
        "steps": 50, "seeds": 30,
        "sweep": {"problem.width": [500, 750, 1000, 1250, 1500, 1750, 2000],
                  "init.p": [0.275, 0.375, 0.475]},
    },
    quick={"seeds": 4, "steps": 10, "sweep.problem.width": [100, 300, 900]},
    finisher=_finish_kappa, claims=claims.FIG4_CLAIMS,
))


# ------------------------------------------------------------------ Fig 5
def _finish_plain(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    import numpy as np

    plt = pyplot()
    widths = distinct(runs["problem.width"])
    fig, axes = plt.subplots(1, len(widths), figsize=(3.3 * len(widths), 3.3), squeeze=False,
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
            band(ax, wide, "ℓ(t), plain GD" if kind != "local_pl" else "L(t), eq 19", color)
            mean = wide.complete_mean().dropna()  # fit where every seed is still drawn
            tail = mean[mean > mean.iloc[0] - 12] if len(mean) else mean
            if len(tail) > 3:
                rate = 10 ** np.polyfit(tail.index, tail.to_numpy(), 1)[0]
                lines.append(f"h={h} {kind}: empirical rate per step {rate:.4f}")
        ratio = _mean_over_runs(cell, cell["alpha1"] / cell["alpha2"])
        ax.set_title(f"h = {h}, α1/α2 = {ratio:.3f}")
        ax.set_xlabel("iteration t")
    axes[0, 0].set_ylabel("log10 loss")
    axes[0, 0].legend()
    rp = _mean_over_runs(runs, runs["rate_plain"])
    lines.append(f"plain GD theory rate 1 − µ/K = {rp:.4f} (mean over seeds)")
    fig.suptitle("Paper A, Fig 5: overparametrized GD (eq 19) approaches plain GD as h grows")
    return [save(fig, root, "fig5_vs_plain")], lines


register(Experiment(
    id="local-pl/vs-plain", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 5",
    title="Overparametrized GD with eq 19 vs plain GD with η = 1/K",
    spec={
        "problem": {"kind": "two_layer_linear", "loss": "squared", "width": 500,
                    "data": {"kind": "synthetic", "n": 5, "m": 5, "x": "spectrum",
                             "x_singular_range": [1.8, 2.3], "target": "init", "noise": 0.1}},
        "init": {"kind": "gaussian", "p": 0.5},
        "schedule": {"kind": "local_pl"},
        "steps": 300, "seeds": 30,
        "sweep": {"problem.width": [50, 200, 1000, 5000],
                  "schedule.kind": ["plain_inverse_k", "local_pl"]},
    },
    quick={"seeds": 3, "steps": 80, "sweep.problem.width": [50, 400]},
    finisher=_finish_plain, claims=claims.FIG5_CLAIMS,
))


# ------------------------------------------------------- general loss (§3)
def _finish_general(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    lines = []
    for k, (kind, grp) in enumerate(setting_groups(runs, "schedule.kind")):
        color = COLORS[k % len(COLORS)]
        ids = grp[grp["status"] != "failed"]["run_id"]
        band(axes[0], log10_curves(steps, ids, "loss_gap"), _schedule_label(kind), color)
        if kind in BOUND_OF:
            col, eq = BOUND_OF[kind]
            mean_curve(axes[0], log10_curves(steps, ids, col), f"bound ({eq})", color, ls="--")
        last = over_runs(final_rows(steps, ids, ["loss_gap"]), [], ["loss_gap"], runs=grp,
                         stats=("median",)).iloc[0]
        l0 = over_runs(grp, [], ["L0"], statuses=STARTED, stats=("median",))["L0"].iloc[0]
        lines.append(f"{setting_text(kind)}: median final L − ℓ* = {last['loss_gap']:.3g} "
                     f"(L(0) − ℓ* = {l0:.3g}){left_out_text(last)}")
    local = runs[(runs["schedule.kind"] == "local_pl") & (runs["status"] != "failed")]["run_id"]
    for k, (col, label, style) in enumerate((
            ("K_t", "K_t (eq 12)", "-"), ("curvature", "⟨g, Hg⟩/‖g‖²", "--"),
            ("pl_ratio", "‖∇L‖²/(2(L − ℓ*))", "-."), ("mu_t", "µ_t (eq 11)", ":"))):
        mean_curve(axes[1], seed_curves(steps, local, col), label, COLORS[k], ls=style)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("iteration t")
    axes[1].set_ylabel("local constants (eq 19 runs, mean)")
    axes[1].legend(loc="center right")
    axes[0].set_xlabel("iteration t")
    axes[0].set_ylabel("log10 (L(t) − ℓ*)")
    axes[0].legend(fontsize=7)
    eta = over_runs(runs, [], ["eta_max", "eta0_1", "eta0_2", "eta0_3"], statuses=STARTED,
                    stats=("median",)).iloc[0]
    lines.append(f"median η_max = {eta['eta_max']:.3g} (eq 101: {eta['eta0_1']:.3g}, eq 102: "
                 f"{eta['eta0_2']:.3g}, log(1 + α1/2α2)^(1/c): {eta['eta0_3']:.3g})")
    fig.suptitle("Paper A, general loss: softmax cross-entropy + ridge, the gap L − ℓ* "
                 "and the local constants")
    return [save(fig, root, "general_loss")], lines


register(Experiment(
    id="local-pl/general-loss", paper=PAPER, paper_title=PAPER_TITLE, figure="§3 (general loss)",
    title="Softmax cross-entropy + ridge: linear convergence of L − ℓ* and the local constants",
    spec={
        "problem": {"kind": "two_layer_linear", "loss": "softmax", "ridge": 1.0, "width": 1000,
                    "data": {"kind": "synthetic", "n": 10, "m": 3, "samples": 20, "x": "gaussian",
                             "target": "teacher_labels", "target_std": 1.0, "noise": 0.1}},
        "init": {"kind": "gaussian", "std": 0.3},
        "schedule": {"kind": "local_pl"},
        "steps": 1000, "seeds": 10,
        "sweep": {"schedule.kind": ["local_pl", "global_pl", "constant", "backtracking"]},
    },
    quick={"seeds": 3, "steps": 100, "problem.width": 100},
    finisher=_finish_general, claims=claims.GENERAL_CLAIMS,
))
