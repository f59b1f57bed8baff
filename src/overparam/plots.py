"""Figure helpers shared by every experiment: mean ± std bands of log curves, saving png+pdf."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update({
    "figure.dpi": 110, "savefig.dpi": 130, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "font.size": 9, "axes.titlesize": 9.5, "legend.fontsize": 8,
})

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


#: Largest axis limit drawn: matplotlib's tick locators overflow on a range near the float
#: maximum (a diverged run's flow time Σ η with η ≈ 1e308), so limits are clipped to this.
AXIS_LIMIT = 1e300


def clip_huge_limits(fig: plt.Figure) -> None:
    """Clip every axis range to ±AXIS_LIMIT (points beyond it are left off the plot)."""
    for ax in fig.axes:
        for get, set_ in ((ax.get_xlim, ax.set_xlim), (ax.get_ylim, ax.set_ylim)):
            lo, hi = get()
            if not (abs(lo) <= AXIS_LIMIT and abs(hi) <= AXIS_LIMIT):
                set_(float(np.clip(lo, -AXIS_LIMIT, AXIS_LIMIT)),
                     float(np.clip(hi, -AXIS_LIMIT, AXIS_LIMIT)))


def save(fig: plt.Figure, root: Path, name: str) -> str:
    """Write figures/<name>.png and .pdf under root; return the png path relative to root."""
    d = Path(root) / "figures"
    d.mkdir(parents=True, exist_ok=True)
    clip_huge_limits(fig)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        tmp = d / f".{name}.tmp.{ext}"
        fig.savefig(tmp, format=ext)
        tmp.replace(d / f"{name}.{ext}")
    plt.close(fig)
    return f"figures/{name}.png"


def log10_curves(steps: pd.DataFrame, run_ids, column: str, x: str = "step") -> pd.DataFrame:
    """Wide table x × run of log10(column); runs that stopped early leave NaN."""
    sub = steps[steps["run_id"].isin(run_ids)]
    wide = sub.pivot(index=x, columns="run_id", values=column)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(wide.where(wide > 0))


def band(ax: plt.Axes, wide: pd.DataFrame, label: str, color: str, **line) -> None:
    """Mean ± one standard deviation across runs (columns), as in the paper's figures."""
    mean, std = wide.mean(axis=1), wide.std(axis=1).fillna(0.0)
    ax.plot(wide.index, mean, color=color, label=label, **line)
    ax.fill_between(wide.index, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)


def mean_curve(ax: plt.Axes, wide: pd.DataFrame, label: str, color: str, **line) -> None:
    ax.plot(wide.index, wide.mean(axis=1), color=color, label=label, **line)


def setting_label(runs: pd.DataFrame, keys: list[str]) -> pd.Series:
    """A short label per run from the swept columns."""
    if not keys:
        return pd.Series(["all"] * len(runs), index=runs.index)
    return runs[keys].astype(str).agg(", ".join, axis=1).radd("")


def swept_columns(runs: pd.DataFrame) -> list[str]:
    """Setting columns that take more than one value across the runs."""
    skip = {"run_id", "seed", "status", "note", "steps_done", "wall_s", "theory_s", "run_s",
            "compile_s", "final_loss", "final_loss_gap", "experiment"}
    cols = [c for c in runs.columns if "." in c or c in ("steps",)]
    return [c for c in cols if c not in skip and runs[c].astype(str).nunique() > 1]


def default_figure(root: Path, runs: pd.DataFrame, steps: pd.DataFrame) -> list[str]:
    """For a user's spec: log10 of the loss gap per setting, with a bound (paper A, and the
    rate (14) for the shallow network) or the convex twin (deep linear) dashed."""
    keys = swept_columns(runs)
    labels = setting_label(runs, keys)
    twin = "loss_twin" in steps
    shallow = "bound_rate" in steps
    if "cos_theta" in steps:
        return [_angle_figure(root, runs, steps, labels, keys)]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (label, grp) in enumerate(runs.groupby(labels, sort=False)):
        color = COLORS[i % len(COLORS)]
        ids = grp["run_id"]
        if twin:
            band(ax, log10_curves(steps, ids, "loss"), f"E_DLN(t)  [{label}]", color)
            mean_curve(ax, log10_curves(steps, ids, "loss_twin"), "convex twin E(t)", color,
                       ls="--")
            continue
        if shallow:
            band(ax, log10_curves(steps, ids, "loss"), f"h(w_t)  [{label}]", color)
            mean_curve(ax, log10_curves(steps, ids, "bound_rate"), "rate (14)", color, ls="--")
            continue
        band(ax, log10_curves(steps, ids, "loss_gap"), f"L(t) − ℓ*  [{label}]", color)
        kind = grp["schedule.kind"].iloc[0] if "schedule.kind" in grp else ""
        bound = {"local_pl": "bound_local", "global_pl": "bound_global"}.get(kind, "bound_const")
        mean_curve(ax, log10_curves(steps, ids, bound), f"bound ({bound})", color, ls="--")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("log10 (loss − minimum)")
    ax.set_title(" / ".join(keys) if keys else "loss and bound")
    ax.legend(loc="best")
    return [save(fig, root, "loss")]


def _angle_figure(root: Path, runs: pd.DataFrame, steps: pd.DataFrame, labels: pd.Series,
                  keys: list[str]) -> str:
    """Paper D's user runs: 1 − cos θ against flow time, with the theorem's lower bound."""
    gap = steps.assign(gap=2 * np.sin(steps["theta"] / 2) ** 2, bound=1 - steps["bound_lower"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (label, grp) in enumerate(runs.groupby(labels, sort=False)):
        color = COLORS[i % len(COLORS)]
        band(ax, log10_curves(gap, grp["run_id"], "gap", x="t"), f"1 − cos θ  [{label}]", color)
        mean_curve(ax, log10_curves(gap, grp["run_id"], "bound", x="t"), "bound", color, ls="--")
    ax.set_xlabel("flow time t (= Σ η)")
    ax.set_ylabel("log10 (1 − cos θ(t))")
    ax.set_title(" / ".join(keys) if keys else "angle to v and the bound")
    ax.legend(loc="best")
    return save(fig, root, "angle")
