"""Paper D's experiments (§5, Fig 1, and the claims of Prop. 4, Lemma 4/5, Theorem 2):
directional convergence of (deep) linear classifiers on spherically symmetric data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from overparam.aggregate import left_out_text, over_runs, seed_curves
from overparam.experiments import Experiment, register, verdict_line
from overparam.experiments import directional_claims as claims
from overparam.plot_layout import (
    ZERO_NOTE,
    legend_below,
    legend_entries,
    legend_under,
    log_line,
    on_log_axis,
    zero_key,
)
from overparam.plots import (
    COLORS,
    band,
    distinct,
    is_missing,
    mean_curve,
    pyplot,
    rows_with,
    save,
    setting_groups,
    setting_text,
    sort_key,
)

if TYPE_CHECKING:
    import pandas as pd

    from overparam.aggregate import Curves

PAPER = "D"
PAPER_TITLE = "Directional convergence of linear networks, logistic loss, spherically symmetric data"

#: §5: x ~ U(S¹), v = (0, 1), w(0) = w_e(0) = (0.6, −0.8).
CIRCLE = {"kind": "linear_classifier", "dim": 2, "v": [0.0, 1.0],
          "distribution": {"kind": "uniform_sphere"}}
W0 = {"kind": "rank_one", "w0": [0.6, -0.8]}
SGD = {"kind": "sgd", "batch": 1000}
GD = {"kind": "gd"}
FLOW = {"kind": "flow"}


def _label(run: pd.Series) -> str:
    """A short name of a run's dynamics (and init, where it is not balanced)."""
    kind = run["problem.dynamics.kind"]
    name = {"gd": "GD, exact gradient", "flow": "gradient flow (all layers)",
            "induced_flow": "induced flow (14)"}.get(kind)
    if kind == "sgd":
        name = f"SGD (batch {int(run['problem.dynamics.batch'])})"
    elif run.get("problem.dynamics.gradient") == "sample":
        name = f"{kind.replace('_', ' ')} on a sample of {int(run['problem.dynamics.samples'])}"
    balanced = run.get("balanced", True)
    if not is_missing(balanced) and not bool(balanced):
        name += ", unbalanced init"
    return name


def _curves(steps: pd.DataFrame, ids, col: str) -> Curves:
    """A column across runs (statistics over seeds in ``overparam.aggregate``), against the
    time of the first run with a row at each step."""
    curves = seed_curves(steps, ids, col)
    t = steps[steps["run_id"].isin(ids)].groupby("step")["t"].first().reindex(curves.index)
    return curves.with_x(t.to_numpy())


def _verdicts(checks: pd.DataFrame, ids) -> str:
    return verdict_line(checks, ids, "D.", ratios=True)


def _groups(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    ok = runs[runs["status"] != "failed"]
    labels = ok.apply(_label, axis=1)
    return [(name, ok[labels == name]) for name in dict.fromkeys(labels)]


#: The theorems' bounds on cos θ: column → (line style, colour, what it is). Line style tells
#: lower (dashed) from upper (dash-dot); colour tells from t = 0 (black) from restarted (grey).
RESTARTED = "0.55"
BOUND_STYLES = {"bound_lower": ("--", "k", "lower bound from t = 0"),
                "bound_upper": ("-.", "k", "upper bound from t = 0"),
                "bound_lower_restart": ("--", RESTARTED, "lower bound, restarted"),
                "bound_upper_restart": ("-.", RESTARTED, "upper bound, restarted")}
#: Lemma 8's bounds on the norm, drawn in the style of the bound from t = 0 of that side.
NORM_STYLES = {"norm_lower": "bound_lower", "norm_upper": "bound_upper"}


def _bound_labels(steps: pd.DataFrame, ids, theorem: str, norm: str) -> dict[str, str]:
    """The legend's text of each bound drawn (finite somewhere for ``ids``): the theorem, the
    restart time, and Lemma 8's norm bounds that share the style of a bound from t = 0."""
    import numpy as np

    sub = steps[steps["run_id"].isin(ids)]
    drawn = {c for c in (*BOUND_STYLES, *NORM_STYLES) if np.isfinite(sub[c]).any()}
    restart = sub.loc[np.isfinite(sub["bound_lower_restart"]), "t"]
    at = f" at t = {restart.min():.3g}" if len(restart) else ""
    labels = {}
    for col, (_, _, text) in BOUND_STYLES.items():
        norms = [n for n, side in NORM_STYLES.items() if side == col and n in drawn]
        if col in drawn or norms:
            text = text.replace("restarted", "restarted" + at)
            parts = ([f"{theorem} on cos θ"] if col in drawn else []) + \
                ([f"Lemma 8 on {norm}"] if norms else [])
            labels[col] = f"{text} ({'; '.join(parts)})"
    return labels


def _finish_fig1(root: Path, runs, steps, checks, quick, tag: str, fig_name: str,
                 what: str, theorem: str, norm: str) -> tuple[list[str], list[str]]:
    """Angle, 1 − cos θ, loss and weight norm against flow time, per dynamics; the bounds
    (black from t = 0, grey restarted) are drawn from the first group's runs (SGD, as in
    the paper)."""
    import numpy as np

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.4))
    lines: list[str] = []
    groups = _groups(runs)
    labels = _bound_labels(steps, groups[0][1]["run_id"], theorem, norm) if groups else {}
    gaps = steps.assign(gap=2 * np.sin(steps["theta"] / 2) ** 2)
    for k, (name, grp) in enumerate(groups):
        color, ids = COLORS[k % len(COLORS)], grp["run_id"]
        style = {"lw": 2.6, "alpha": 0.5} if k == 0 else {"lw": 1.2, "ls": ("-", "--", "-.")[k % 3]}
        for ax, col, frame in ((axes[0], "cos_theta", steps), (axes[1], "gap", gaps),
                               (axes[2], "loss", steps), (axes[3], "weight_norm", steps)):
            curves = _curves(frame, ids, col)
            if ax is not axes[0]:  # log axes: values at exactly 0 are marked, not drawn
                curves = on_log_axis(curves)
            if len(grp) > 1 and col in ("cos_theta", "weight_norm"):
                band(ax, curves, name, color, fill_alpha=0.15, **style)
            else:
                mean_curve(ax, curves, name, color, **style)
        t = curves.index[curves.n.to_numpy() > 0]
        if k == 0:
            for col, text in labels.items():
                ls, shade, _ = BOUND_STYLES[col]
                if col in set(steps.columns) and _curves(steps, ids, col).n.gt(0).any():
                    mean_curve(axes[0], _curves(steps, ids, col), text, shade, ls=ls, lw=0.9)
                    mean_curve(axes[1], on_log_axis(_curves(steps.assign(_gap=1 - steps[col]),
                                                            ids, "_gap")),
                               None, shade, ls=ls, lw=0.9)
                    text = None
                for norm_col in (n for n, side in NORM_STYLES.items() if side == col):
                    b = _curves(steps, ids, norm_col)
                    if b.n.gt(0).any():
                        mean_curve(axes[3], on_log_axis(b), text, shade, ls=ls, lw=0.9)
                        text = None
        med = over_runs(grp, [], ["T_switch", "norm_T", "final_cos_theta"],
                        stats=("median",)).iloc[0]
        T = med["T_switch"]
        if np.isfinite(T):
            axes[3].axvline(T, color=color, lw=0.7, alpha=0.7)
        lines.append(f"{name}: c0 = {grp['c0'].iloc[0]:.6g}, T (norm turns up) = {T:.4g}, "
                     f"|w(T)| = {med['norm_T']:.4g}, final cos theta = "
                     f"{med['final_cos_theta']:.10f} at t = {t[-1]:.4g} "
                     f"({len(grp)} runs{left_out_text(med)}); checks: "
                     f"{_verdicts(checks, ids) or 'none'}")
        if grp["problem.dynamics.kind"].iloc[0] == "sgd":
            lines.append(f"{name}: share of saved times where cos theta >= the flow's lower "
                         f"bound: {_share_above(steps, ids):.3f}")
    axes[0].set_ylabel(r"$\cos\theta(t)$")
    axes[0].set_ylim(-1.02, 1.02)
    axes[1].set_ylabel(r"$1 - \cos\theta(t)$ (log scale)")
    axes[1].set_yscale("log")
    gap = gaps["gap"]
    axes[1].set_ylim(bottom=max(1e-17, 0.1 * float(gap[gap > 0].min())))
    axes[2].set_ylabel("population loss $L$ (log scale)")
    axes[2].set_yscale("log")
    axes[3].set_ylabel(f"{norm} (log scale)")
    axes[3].set_yscale("log")
    for ax in axes:
        ax.set_xlabel(r"flow time $t$ ($= \eta n$ for GD/SGD)")
    handles, texts = legend_entries(axes)
    legend_below(fig, handles=[*handles, zero_key()], labels=[*texts, ZERO_NOTE], ncol=4)
    fig.suptitle(f"Paper D, {fig_name}: {what}\nthe bounds are those of the first run group, "
                 f"{groups[0][0] if groups else '—'}; vertical lines: T, where {norm} turns up")
    return [save(fig, root, tag)], lines


def _share_above(steps: pd.DataFrame, ids) -> float:
    import numpy as np

    sub = steps[steps["run_id"].isin(ids)]
    ok = np.isfinite(sub["bound_lower"])
    return float((sub["cos_theta"][ok] >= sub["bound_lower"][ok] - 1e-12).mean())


def _finish_logistic(root, runs, steps, checks, quick):
    return _finish_fig1(root, runs, steps, checks, quick, "fig1a", "Fig 1a",
                        r"linear predictor (logistic loss) on $x \sim \mathcal{U}(S^1)$, "
                        r"$v = (0, 1)$, against Theorem 1's lower bounds", "Thm 1",
                        r"$\|w(t)\|$")


def _finish_deep(root, runs, steps, checks, quick):
    return _finish_fig1(root, runs, steps, checks, quick, "fig1b", "Fig 1b",
                        r"4-layer linear network from a balanced rank-one init, against "
                        "Theorem 3's lower and upper bounds and Lemma 8's", "Thm 3",
                        r"$\|w_e(t)\|$")


register(Experiment(
    id="directional/logistic", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1a",
    title="Logistic regression on the circle: SGD, exact GD and gradient flow against Thm 1",
    spec={
        "problem": {**CIRCLE, "dynamics": SGD, "restart_step": 5000},
        "init": W0, "schedule": {"kind": "constant", "eta": 1e-3},
        "steps": 30000, "seeds": 5, "chunk": 5000,
        "cases": [{"problem.dynamics": SGD},
                  {"problem.dynamics": GD},
                  {"problem.dynamics": FLOW, "schedule.eta": 0.05, "steps": 600,
                   "problem.restart_step": 100}],
    },
    quick={"seeds": 2, "schedule.eta": 1e-2, "steps": 2000, "problem.restart_step": 500,
           "cases": [{"problem.dynamics": {**SGD, "batch": 200}}, {"problem.dynamics": GD},
                     {"problem.dynamics": FLOW, "schedule.eta": 0.2, "steps": 100,
                      "problem.restart_step": 25}]},
    finisher=_finish_logistic, claims=claims.FIG1A_CLAIMS,
))

DEEP = {**CIRCLE, "depth": 4, "hidden": 3, "restart_step": 18000}
PAPER_LAYERS = {**W0, "layers": "paper"}

register(Experiment(
    id="directional/deep", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1b",
    title="A 4-layer linear classifier from §5's balanced rank-one init: Thm 3 and Lemma 8",
    spec={
        "problem": {**DEEP, "dynamics": SGD},
        "init": PAPER_LAYERS, "schedule": {"kind": "constant", "eta": 1e-3},
        "steps": 30000, "seeds": 5, "chunk": 5000,
        "cases": [{"problem.dynamics": SGD},
                  {"problem.dynamics": FLOW, "schedule.eta": 0.05, "steps": 600,
                   "problem.restart_step": 360},
                  {"problem.dynamics": {"kind": "induced_flow"}, "schedule.eta": 0.05,
                   "steps": 600, "problem.restart_step": 360},
                  {"problem.dynamics": FLOW, "schedule.eta": 0.05, "steps": 600,
                   "problem.restart_step": 360,
                   "init": {**W0, "layers": "scaled", "layer_scales": [2.0, 1.0, 1.0, 0.5]}}],
    },
    quick={"seeds": 2, "schedule.eta": 1e-2, "steps": 2000, "problem.restart_step": 1000,
           "cases": [{"problem.dynamics": {**SGD, "batch": 200}},
                     {"problem.dynamics": FLOW, "schedule.eta": 0.2, "steps": 100,
                      "problem.restart_step": 50},
                     {"problem.dynamics": {"kind": "induced_flow"}, "schedule.eta": 0.2,
                      "steps": 100, "problem.restart_step": 50},
                     {"problem.dynamics": FLOW, "schedule.eta": 0.2, "steps": 100,
                      "problem.restart_step": 50,
                      "init": {**W0, "layers": "scaled", "layer_scales": [2.0, 1.0, 1.0, 0.5]}}]},
    finisher=_finish_deep, claims=claims.FIG1B_CLAIMS,
))


# ------------------------------------------------------- Prop. 4, exactly
def _finish_exact(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    import numpy as np

    plt = pyplot()
    ok = runs[runs["status"] != "failed"]
    pairs: dict[tuple[str, str], tuple] = {}  # (distribution, dim) in order of appearance
    for kd in zip(ok["problem.distribution.kind"].tolist(), ok["problem.dim"].tolist(),
                  strict=True):
        pairs.setdefault((setting_text(kd[0]), setting_text(kd[1])), kd)
    dists = list(pairs.values())
    fig, axes = plt.subplots(2, len(dists), figsize=(4.0 * len(dists), 6.4), squeeze=False,
                             sharex=True)
    lines = []
    for j, (kind, dim) in enumerate(dists):
        cell = ok[rows_with(ok, "problem.distribution.kind", kind)
                  & rows_with(ok, "problem.dim", dim)]
        worst = 0.0
        for k, (theta0, grp) in enumerate(setting_groups(cell, "init.theta0", sort=True)):
            color, ids = COLORS[k % len(COLORS)], grp["run_id"]
            cos = mean_curve(axes[0, j], _curves(steps, ids, "cos_theta"),
                             f"$\\theta_0$ = {setting_text(theta0, '.2f')}", color)
            p4 = mean_curve(axes[0, j], _curves(steps, ids, "bound_lower"), "Prop. 4", "k",
                            ls=":", lw=0.8)
            t = cos.index.to_numpy(float)
            err = np.abs(cos.complete_mean().to_numpy(float) - p4.mean.to_numpy(float))
            axes[1, j].set_yscale("log")
            log_line(axes[1, j], t, err, color)  # exact agreement (t = 0): ▼, not −∞
            worst = max(worst, float(np.nanmax(err)))
        name = setting_text(kind).replace("_", " ")
        axes[0, j].set_title(f"{name}, $d$ = {setting_text(dim)}, $c_0$ = "
                             f"{cell['c0'].iloc[0]:.4f}")
        axes[1, j].set_xlabel("flow time $t$")
        lines.append(f"{setting_text(kind)}, d = {setting_text(dim)}: max_t |cos theta - Prop 4| = {worst:.2e} over "
                     f"{len(distinct(cell['init.theta0']))} initial angles; checks: "
                     f"{_verdicts(checks, cell['run_id'])}")
    axes[0, 0].set_ylabel(r"$\cos\theta(t)$  (dotted: Prop. 4)")
    axes[1, 0].set_ylabel(r"$|\cos\theta(t) - $Prop. 4$|$ (log scale)")
    handles, texts = legend_entries(axes[0])
    legend_below(fig, handles=[*handles, zero_key()], labels=[*texts, ZERO_NOTE],
                 ncol=len(handles) + 1)
    fig.suptitle("Paper D, Prop. 4: a balanced two-layer linear classifier under gradient flow "
                 "follows the closed form exactly (error = ODE solver + quadrature)")
    return [save(fig, root, "prop4")], lines


register(Experiment(
    id="directional/two-layer-exact", paper=PAPER, paper_title=PAPER_TITLE, figure="Prop 4",
    title="N = 2 balanced nets under gradient flow against Prop. 4's closed form",
    spec={
        "problem": {"kind": "linear_classifier", "dim": 2, "depth": 2, "hidden": 3,
                    "dynamics": FLOW},
        "init": {"kind": "rank_one", "theta0": 2.5, "norm0": 1.0},
        "schedule": {"kind": "constant", "eta": 0.05}, "steps": 200, "seeds": 1,
        "sweep": {"problem.dim": [2, 10],
                  "problem.distribution": [{"kind": "gaussian"}, {"kind": "uniform_sphere"}],
                  "init.theta0": [0.5, 1.5, 2.5, 3.1]},
    },
    quick={"steps": 40, "schedule.eta": 0.1, "sweep.init.theta0": [0.5, 2.5]},
    finisher=_finish_exact, claims=claims.PROP4_CLAIMS,
))


# ------------------------------------------------------------ GD phases
MARKS = (("n0", "o", r"$n_0$: $\cos\theta \geq 0$ (end of Lemma 4's phase)"),
         ("n_lemma5", "s", "(11) holds from here on (Lemma 5)"),
         ("n1_thm2", "^", r"$v^\top w \geq R_1$ (Theorem 2's $n_1$)"))


def _finish_phases(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    import numpy as np
    import pandas as pd

    plt = pyplot()
    ok = runs[runs["status"] != "failed"]
    keys = list(zip(ok["init.theta0"].tolist(), ok["schedule.eta"].tolist(), strict=True))
    ok = ok.iloc[sorted(range(len(ok)), key=lambda i: tuple(map(sort_key, keys[i])))]
    etas = [setting_text(v) for v in distinct(ok["schedule.eta"])]
    thetas = distinct(ok["init.theta0"])[::-1]
    theta_texts = [setting_text(v) for v in thetas]
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 5.4))
    lines = []
    for _, run in ok.iterrows():
        color = COLORS[etas.index(setting_text(run["schedule.eta"])) % len(COLORS)]
        ls = ("-", "--", ":")[theta_texts.index(setting_text(run["init.theta0"])) % 3]
        sub = steps[steps["run_id"] == run["run_id"]]
        n = sub["step"].to_numpy() + 1
        gap = 2 * np.sin(sub["theta"].to_numpy() / 2) ** 2
        first = setting_text(run["init.theta0"]) == theta_texts[0]
        axes[0].plot(n, sub["cos_theta"], color=color, ls=ls,
                     label=f"$\\eta$ = {setting_text(run['schedule.eta'], 'g')}" if first else None)
        log_line(axes[1], n, gap, color, ls=ls)  # values at exactly 0: ▼, not −∞
        log_line(axes[1], n, 1 - sub["bound_lower"].to_numpy(), color, ls=ls, lw=0.6, alpha=0.7)
        for mark, sym, _ in MARKS:
            m = int(run[mark])
            if m >= 0:
                axes[0].plot(m + 1, sub["cos_theta"].iloc[m], sym, color=color, ms=5, mfc="none")
        bad = int((sub["cond11_lhs"].iloc[:-1] < sub["cond11_rhs"].iloc[:-1]).sum())
        lines.append(f"theta0 = {setting_text(run['init.theta0'], '.3f')}, |w(0)| = "
                     f"{run['norm0']:.3g}, eta = {setting_text(run['schedule.eta'], 'g')}: n0 = "
                     f"{int(run['n0'])} (cos theta >= 0), (11) fails at {bad} steps and holds "
                     f"from n = {int(run['n_lemma5'])} on, "
                     f"n1 = {int(run['n1_thm2'])} (v^T w >= R1 = {run['R1']:.3g}); final cos "
                     f"theta = {run['final_cos_theta']:.8f}; checks: "
                     f"{_verdicts(checks, [run['run_id']])}")
    for j, theta0 in enumerate(thetas):
        cell = ok[rows_with(ok, "init.theta0", theta0)]
        for mark, sym, label in MARKS:
            vals = cell[mark].to_numpy(float)
            good = vals >= 0
            eta = pd.to_numeric(cell["schedule.eta"], errors="coerce").to_numpy(float)
            axes[2].loglog(eta[good], vals[good] + 1, sym,
                           ls=("-", "--", ":")[j % 3], color=COLORS[MARKS.index((mark, sym, label))],
                           label=f"{label}, $\\theta_0$ = {setting_text(theta0, '.2f')}")
    axes[0].set_xscale("log")
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")
    axes[0].set_xlabel("iteration $n + 1$ (log scale)")
    axes[0].set_ylabel(r"$\cos\theta(n)$")
    axes[0].set_title(r"○ $n_0$, □ (11) holds from here (Lemma 5), △ $n_1$ (Theorem 2)")
    legend_under(axes[0], ncol=3, title_fontsize=7,
                 title=r"line style: $\theta_0$ = " + ", ".join(setting_text(t, ".2f")
                                                            for t in thetas))
    axes[1].set_xlabel("iteration $n + 1$ (log scale)")
    axes[1].set_ylabel(r"$1 - \cos\theta(n)$ (log scale)")
    axes[1].set_title("thin: the bound of Lemma 4, then of Lemma 5")
    axes[1].set_ylim(bottom=1e-17)
    axes[1].plot([], [], ls="none", marker="v", ms=4, color="k", label=ZERO_NOTE)
    legend_under(axes[1])
    axes[2].set_xlabel(r"step size $\eta$ (log scale)")
    axes[2].set_ylabel("iteration + 1 (log scale)")
    axes[2].set_title("where each phase starts")
    legend_under(axes[2], fontsize=6.5)
    fig.suptitle(r"Paper D, Lemma 4/5 and Theorem 2: GD on the exact population loss "
                 r"($x \sim \mathcal{U}(S^1)$) with constant steps; phase 1: $\theta > \pi/2$, "
                 "phase 2: (11) can fail, phase 3: (11) holds from then on")
    return [save(fig, root, "gd_phases")], lines


register(Experiment(
    id="directional/gd-phases", paper=PAPER, paper_title=PAPER_TITLE, figure="Lemma 4/5, Thm 2",
    title="GD with constant steps over 2.5 orders of magnitude: phases and condition (11)",
    spec={
        "problem": {**CIRCLE, "dynamics": GD},
        "init": {"kind": "rank_one", "theta0": 2.498091544796509, "norm0": 3.0},
        "schedule": {"kind": "constant", "eta": 1.0}, "steps": 2000, "seeds": 1,
        "sweep": {"init.theta0": [2.498091544796509, 1.2],
                  "schedule.eta": [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]},
    },
    quick={"steps": 300, "sweep.schedule.eta": [1.0, 30.0, 100.0]},
    finisher=_finish_phases, claims=claims.PHASES_CLAIMS,
))
