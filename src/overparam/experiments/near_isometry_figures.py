"""Paper B's figures: near-isometry at init (Lemma 3, eq 56) and lazy training against the
init ratio ω2/ω1 (§6, Fig 1): the finishers that :mod:`overparam.experiments.near_isometry`
registers."""

from __future__ import annotations

import math
from pathlib import Path

from overparam.aggregate import STARTED, left_out_text, over_runs
from overparam.experiments import verdict_line
from overparam.plot_layout import (
    CUT_MARKER,
    CUT_NOTE,
    ZERO_NOTE,
    errorbar_log,
    legend_below,
    legend_entries,
    log_line,
    sweep_ticks,
    zero_key,
)
from overparam.plots import COLORS, pyplot, save, setting_groups, setting_text


# ------------------------------------------------------------ near-isometry
def finish_isometry(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """µ_Φ, ν_Φ with the NTK's extreme singular values, condition (9), eq 56's error and β_Φ,
    each against the width, one line per activation."""
    import numpy as np
    from matplotlib.lines import Line2D

    plt = pyplot()
    first = steps[steps["step"] == 0].set_index("run_id")
    runs = runs.assign(s_min=np.sqrt(first["ntk_lambda_min"].clip(lower=0)).reindex(
        runs["run_id"]).to_numpy(), s_max=np.sqrt(first["ntk_lambda_max"]).reindex(
        runs["run_id"]).to_numpy())
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.4))
    lines, keys = [], []
    label = [setting_text(act) + (r", $Y = \Phi(w_0)$ + noise" if target == "init" else "")
             for act, target in zip(runs["problem.activation"].tolist(),
                                    runs["problem.data.target"].tolist(), strict=True)]
    for k, (act, grp) in enumerate(setting_groups(runs.assign(_label=label), "_label")):
        color = COLORS[k % len(COLORS)]
        # Measured at init: every run that started counts, whatever its GD did later.
        cols = ["mu_phi", "s_min", "nu_phi", "s_max", "h0", "cond9_rhs", "kernel_rel_error",
                "beta_phi", "rho_phi"]
        med = over_runs(grp, "d1", cols, statuses=STARTED, stats=("median",)).set_index("d1")
        d1 = med.index.to_numpy()
        # Log axes: a value at 0 (µ_Φ of a ReLU net, say) is marked ▼, not drawn to −∞.
        log_line(axes[0], d1, med["mu_phi"], color)
        log_line(axes[0], d1, med["s_min"], color, ls="none", marker="o", ms=3.5)
        log_line(axes[0], d1, med["nu_phi"], color, ls="--")
        log_line(axes[0], d1, med["s_max"], color, ls="none", marker="s", ms=3.5, mfc="none")
        ratio = med["h0"] / med["cond9_rhs"].where(med["cond9_rhs"] > 0)
        log_line(axes[1], d1, ratio, color, marker="o")
        slope = np.nan
        err = med["kernel_rel_error"]
        if err.notna().sum() >= 2:
            slope = np.polyfit(np.log(d1), np.log(err), 1)[0]
            log_line(axes[2], d1, err, color, marker="o")
        log_line(axes[3], d1, med["beta_phi"], color)
        log_line(axes[3], d1, med["rho_phi"], color, ls=":")
        keys.append((Line2D([], [], color=color, marker="o", ms=3.5),
                     f"{act} (eq 56 slope {slope:.2f})"))
        lines.append(
            f"{act}: mu_phi {med['mu_phi'].iloc[0]:.3g} -> {med['mu_phi'].iloc[-1]:.3g}, "
            f"nu_phi {med['nu_phi'].iloc[0]:.3g} -> {med['nu_phi'].iloc[-1]:.3g} over d1 "
            f"{d1[0]}..{d1[-1]}; h0/(9)'s bound {ratio.iloc[0]:.3g} -> {ratio.iloc[-1]:.3g}; "
            f"eq 56 error slope in log d1 {slope:.3f} (theory -0.5); checks: "
            f"{verdict_line(checks, grp['run_id'], 'B.') or 'none'}")
    d1_all = np.array(sorted(runs["d1"].unique()), float)
    ref = over_runs(runs, [], ["kernel_rel_error"], statuses=STARTED, stats=("median",))[
        "kernel_rel_error"].iloc[0] * np.sqrt(np.median(d1_all) / d1_all)
    axes[2].plot(d1_all, ref, "k:", lw=1)
    keys.append((Line2D([], [], color="k", ls=":", lw=1), r"$\propto d_1^{-1/2}$ (eq 56's rate)"))
    axes[1].axhline(1.0, color="k", lw=0.8, ls="--")
    keys.append((Line2D([], [], color="k", ls="--", lw=0.8), "(9) holds below this line"))
    keys.append((zero_key(), ZERO_NOTE))
    titles = (r"Lemma 3: $\mu_\Phi$ (line) $\leq \sigma_{\min}$ (○), $\sigma_{\max}$ (□) "
              r"$\leq \nu_\Phi$ (dashed)",
              r"$h(w_0)\,/\,$(9)'s bound $\alpha_f\,\mu^6/(\beta^2\nu^2)$ ($\leq 1$ needed)",
              r"eq 56: $\|\varphi^\top\varphi/d_1 - E\|_F\,/\,\|E\|_F$",
              r"$\beta_\Phi$ (line) and $\rho_\Phi = \mu_\Phi/(2\beta_\Phi)$ (dotted)")
    ylabels = (r"singular values of $\nabla\Phi(w_0)$ (log scale)", "ratio (log scale)",
               "relative error (log scale)", "constant (log scale)")
    for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        sweep_ticks(ax, d1_all, fmt="g")
        ax.set_xlabel(r"hidden width $d_1$ (log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    legend_below(fig, handles=[h for h, _ in keys], labels=[t for _, t in keys], ncol=5)
    fig.suptitle(r"Paper B, Lemma 3 and eq 56: near-isometry of the shallow network at init "
                 r"($n$ = {}, $d_0$ = {}, medians over seeds)".format(
                     int(runs["n"].iloc[0]), int(runs["d0"].iloc[0])))
    return [save(fig, root, "near_isometry")], lines



# ------------------------------------------------------------ lazy training
def finish_lazy(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    """Fig 1: final train and test error against ω2 (ω1ω2 fixed at He's product), mean ± 2·std
    over seeds as the paper's figure draws them, with the linearized twin's test error,
    ‖Φ − Φ_lin‖ and the relative movement of W."""
    import numpy as np
    from matplotlib.lines import Line2D

    from overparam.experiments.near_isometry_claims import final_table
    from overparam.store import write_parquet

    plt = pyplot()
    table = final_table(runs, steps)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    x = table["omega2"]
    for col, label, color in (("train_error", "student, train", COLORS[0]),
                              ("test_error", "student, test", COLORS[1]),
                              ("lin_test_error", "linearized student, test", COLORS[2])):
        axes[0].errorbar(x, 100 * table[col], yerr=200 * table[col + "_std"], fmt="o-",
                         color=color, capsize=3, label=label)
    cut = sum(errorbar_log(ax, x, table[col], 2 * table[col + "_std"], color, fmt="o-",
                           capsize=3) for ax, col, color in
              ((axes[1], "lazy_gap", COLORS[3]), (axes[2], "rel_movement", COLORS[4])))
    d0, d1 = int(runs["d0"].iloc[0]), int(runs["d1"].iloc[0])
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel(r"$\omega_2$ (std of $V_0$; $\omega_1\omega_2$ = He's product; log scale)")
        ax.axvline(math.sqrt(2.0 / d1), color="k", lw=0.8, ls=":", label=r"He init's $\omega_2$")
    axes[0].set_ylabel("error (%) vs teacher labels, mean ± 2 std")
    axes[0].set_title("Fig 1: training and test error")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("on the training set, mean ± 2 std (log scale)")
    axes[1].set_title(r"lazy gap $\|\Phi(\Theta_T) - \Phi_{\rm lin}(\tilde\Theta_T)\|_F$")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("relative movement, mean ± 2 std (log scale)")
    axes[2].set_title(r"$\|W_T - W_0\|_F\,/\,\|W_0\|_F$")
    handles, texts = legend_entries(axes)
    if cut:
        handles.append(Line2D([], [], ls="none", marker=CUT_MARKER, mfc="none", color="k"))
        texts.append(CUT_NOTE)
    legend_below(fig, handles=handles, labels=texts, ncol=len(handles))
    epochs = int(runs["steps"].iloc[0])
    data = runs["dataset"].iloc[0]
    fig.suptitle(f"Paper B, Fig 1: teacher–student on {data} ($d_0$ = {d0}, width {d1}, GeLU, "
                 f"MSE, SGD batch {int(runs['problem.dynamics.batch'].iloc[0])}, lr "
                 f"{setting_text(runs['schedule.eta'].iloc[0])}, {epochs} epochs, "
                 f"{runs['seed'].nunique()} runs per $\\omega_2$)")
    lines = [f"omega2 {r.omega2:.4g} (omega2/omega1 {r.omega_ratio:.3g}): train error "
             f"{100 * r.train_error:.2f}% +- {200 * np.nan_to_num(r.train_error_std):.2f}, test "
             f"{100 * r.test_error:.2f}% +- {200 * np.nan_to_num(r.test_error_std):.2f}, test "
             f"loss {r.test_loss:.3g}, linearized test {100 * r.lin_test_error:.2f}% "
             f"({int(r.lin_diverged)} twins diverged), lazy gap {r.lazy_gap:.3g}, rel. "
             f"movement {r.rel_movement:.3g} ({r.n_in} runs{left_out_text(r)})"
             for r in table.itertuples()]
    finished = (runs["steps_done"] == runs["steps"]) & (runs["status"] == "ok")
    teachers = runs["teacher_fingerprint"].nunique()
    lines.append(f"{int(finished.sum())}/{len(runs)} runs finished all {epochs} epochs; "
                 f"{teachers} teacher (fingerprint {runs['teacher_fingerprint'].iloc[0]}), "
                 f"its training error {runs['teacher_train_error'].max():.3g} after "
                 f"{int(runs['teacher_epochs'].max())} epochs")
    write_parquet(Path(root) / "errors_by_omega2.parquet", table)
    return [save(fig, root, "fig1_lazy")], lines
