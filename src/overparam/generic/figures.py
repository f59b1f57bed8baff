"""The probe's default figures for a user's run: the loss, the sharpness against 2/η, and the
Hessian's spectral density from the SLQ columns, each drawn only where measured."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from overparam.plots import COLORS, curves_figure, pyplot, save

_NODE = re.compile(r"^slq_node_(\d+)_(\d+)$")


def slq_table(steps: pd.DataFrame) -> pd.DataFrame:
    """The SLQ columns as a long table: run_id, step, probe, j, node, weight (measured steps
    only, padding dropped)."""
    nodes = [c for c in steps.columns if _NODE.match(c)]
    if not nodes:
        return pd.DataFrame(columns=["run_id", "step", "probe", "j", "node", "weight"])
    parts = []
    for col in nodes:
        i, j = map(int, _NODE.match(col).groups())
        part = steps[["run_id", "step"]].assign(
            probe=i, j=j, node=steps[col], weight=steps[col.replace("node", "weight")])
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    return long[long["node"].notna()].sort_values(["run_id", "step", "probe", "j"],
                                                  ignore_index=True)


def density(table: pd.DataFrame, x: np.ndarray, sigma: float) -> np.ndarray:
    """The SLQ density of one run's step (rows of :func:`slq_table`), broadened by a Gaussian
    of width σ (``numerics.lanczos.slq_density``)."""
    from overparam.numerics.lanczos import slq_density

    nodes = table.pivot(index="probe", columns="j", values="node").to_numpy()
    weights = table.pivot(index="probe", columns="j", values="weight").to_numpy()
    return np.asarray(slq_density(nodes, weights, x, sigma))


def _sharpness(root: Path, runs: pd.DataFrame, steps: pd.DataFrame) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (_, run) in enumerate(runs[runs["status"] != "failed"].iterrows()):
        s = steps[steps["run_id"] == run["run_id"]].dropna(subset=["sharpness"])
        color = COLORS[i % len(COLORS)]
        ax.plot(s["step"], s["sharpness"], color=color, lw=1.2,
                label=f"seed {run['seed']}" + (f" ({run['status']})"
                                               if run["status"] != "ok" else ""))
        ax.plot(s["step"], s["two_over_eta"], color=color, ls="--", lw=0.8)
    ax.set(xlabel="iteration t", ylabel=r"$\lambda_{\max}(\nabla^2 L)$; dashed: $2/\eta_t$",
           title="sharpness against GD's stability limit")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8,
              frameon=False)
    return save(fig, root, "probe_sharpness")


def _spectrum(root: Path, runs: pd.DataFrame, table: pd.DataFrame) -> str:
    plt = pyplot()
    first = runs[runs["status"] != "failed"]["run_id"].iloc[0]
    mine = table[table["run_id"] == first]
    measured = mine["step"].unique()
    shown = measured[np.unique(np.linspace(0, measured.size - 1, 4).astype(int))]
    lo, hi = mine["node"].min(), mine["node"].max()
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    x = np.linspace(lo - pad, hi + pad, 600)
    sigma = max((hi - lo) / 100.0, 1e-12)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, step in enumerate(shown):
        d = density(mine[mine["step"] == step], x, sigma)
        ax.plot(x, np.log10(np.maximum(d, 1e-12)), color=COLORS[i % len(COLORS)],
                label=f"step {step}")
    ax.set(xlabel="eigenvalue of $\\nabla^2 L$",
           ylabel=r"$\log_{10}$ density (SLQ, $\sigma$ = range/100, floor $10^{-12}$)",
           title=f"Hessian spectral density (run {first}, seed "
                 f"{runs.loc[runs['run_id'] == first, 'seed'].iloc[0]})")
    ax.legend(loc="upper right", fontsize=8)
    return save(fig, root, "probe_spectrum")


def default_figures(root: Path, runs: pd.DataFrame, steps: pd.DataFrame) -> list[str]:
    """The loss (with the linearized model's, when measured), the sharpness and the SLQ
    density where those were measured."""
    figures = curves_figure(root, runs, steps, ("loss", "loss"),
                            lambda grp: ("lin_loss", "linearized model"),
                            ylabel="log10 loss", title="GD on the model", name="probe_loss")
    if "sharpness" in steps and steps["sharpness"].notna().any():
        figures.append(_sharpness(root, runs, steps))
    table = slq_table(steps)
    if not table.empty:
        figures.append(_spectrum(root, runs, table))
    return figures
