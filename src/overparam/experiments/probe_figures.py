"""The edge-of-stability figure: sharpness against 2/η per step size, the loss, and paper A's
local-PL step measured against GD's stability limit. Every seed is drawn (no statistic over
seeds); a run that diverged ends with a cross and says so in the legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from overparam.plots import COLORS, pyplot, save


def _members(runs: pd.DataFrame, steps: pd.DataFrame, kind: str):
    """(label key, run row, its steps) of the runs with schedule ``kind`` that started."""
    sub = runs[(runs["schedule.kind"] == kind) & (runs["status"] != "failed")]
    key = "schedule.eta" if kind == "constant" else "schedule.eta0"
    for _, run in sub.sort_values([key, "seed"]).iterrows():
        yield float(run[key]), run, steps[steps["run_id"] == run["run_id"]]


def _end_mark(ax, run, x, y, color) -> None:
    if run["status"] == "diverged" and len(x):
        ax.plot(x[-1], y[-1], "x", color=color, ms=8, mew=2)


def eos_figure(root: Path, runs: pd.DataFrame, steps: pd.DataFrame
               ) -> tuple[list[str], list[str]]:
    """Three panels and one summary line per step size."""
    plt = pyplot()
    fig, (ax_s, ax_l, ax_a) = plt.subplots(1, 3, figsize=(15, 4.4))
    etas = sorted({eta for eta, _, _ in _members(runs, steps, "constant")})
    color = {eta: COLORS[i % len(COLORS)] for i, eta in enumerate(etas)}
    lines, seen = [], set()
    for eta, run, s in _members(runs, steps, "constant"):
        m = s.dropna(subset=["sharpness"])
        first = eta not in seen
        seen.add(eta)
        tag = " (diverged)" if run["status"] == "diverged" else ""
        ax_s.plot(m["step"], m["sharpness"], color=color[eta], lw=1.2,
                  label=f"$\\eta$ = {eta:g}{tag}" if first else None)
        _end_mark(ax_s, run, m["step"].to_numpy(), m["sharpness"].to_numpy(), color[eta])
        if first:
            ax_s.axhline(2.0 / eta, color=color[eta], ls="--", lw=1.0)
        loss = s["loss"].to_numpy()
        ok = loss > 0
        ax_l.plot(s["step"].to_numpy()[ok], np.log10(loss[ok]), color=color[eta], lw=1.0,
                  label=f"GD, $\\eta$ = {eta:g}{tag}" if first else None)
        lines.append(f"eta {eta:g} seed {run['seed']}: {run['status']}, final loss "
                     f"{run['final_loss']:.4g}, max eta*lambda_max {run['max_eta_sharpness']:.3g}")
    for eta0, run, s in _members(runs, steps, "local_pl"):
        m = s.dropna(subset=["eta_sharpness"])
        tag = " (diverged)" if run["status"] == "diverged" else ""
        ax_a.plot(m["step"], m["eta_sharpness"], color="black", lw=1.2,
                  label=f"eq 19, $K_t$ = curvature ($\\eta_0$ = {eta0:g}){tag}"
                  if run["seed"] == runs["seed"].min() else None)
        _end_mark(ax_a, run, m["step"].to_numpy(), m["eta_sharpness"].to_numpy(), "black")
        loss = s["loss"].to_numpy()
        ok = loss > 0
        ax_l.plot(s["step"].to_numpy()[ok], np.log10(loss[ok]), color="black", lw=1.0,
                  ls=":", label="eq 19 local step" if run["seed"] == runs["seed"].min()
                  else None)
        lines.append(f"eq 19 seed {run['seed']}: {run['status']}, final loss "
                     f"{run['final_loss']:.4g}, max eta_t*lambda_max {run['max_eta_sharpness']:.3g}")
    ax_a.axhline(2.0, color="grey", ls="--", lw=1.0, label="2 (GD's stability limit)")
    ax_s.set(xlabel="iteration t", ylabel=r"sharpness $\lambda_{\max}(\nabla^2 L)$",
             title="(a) sharpness; dashed: $2/\\eta$")
    ax_l.set(xlabel="iteration t", ylabel=r"$\log_{10} L(t)$ (mean squared loss)",
             title="(b) training loss")
    ax_a.set(xlabel="iteration t", ylabel=r"$\eta_t\,\lambda_{\max}(t)$",
             title="(c) paper A's local-PL step vs 2/$\\lambda_{\\max}$")
    for ax in (ax_s, ax_l, ax_a):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8,
                      frameon=False)
    fig.suptitle("Edge of stability (Cohen et al. 2021, Fig 1): tanh MLP on 8x8 digits, "
                 "full-batch GD")
    return [save(fig, root, "fig1_edge_of_stability")], lines
