"""Paper B's experiments: near-isometry at init (Lemma 3, eq 56), the width GD needs as n grows
(§5.3, Table 1), and lazy training against the init ratio ω2/ω1 (§6, Fig 1, App. G); their
figures but the width's are in :mod:`overparam.experiments.near_isometry_figures`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from overparam.experiments import Experiment, register
from overparam.experiments import near_isometry_figures as figures
from overparam.experiments.scaling_claims import ISOMETRY_CLAIMS, SCALING_CLAIMS
from overparam.plot_layout import legend_under, sweep_ticks
from overparam.plots import COLORS, pyplot, save

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PAPER = "B"
PAPER_TITLE = ("Subquadratic overparameterization for shallow neural networks "
               "(near-isometry, PL, lazy training)")
SMOOTH = ("gelu", "softplus", "sigmoid", "tanh", "elu")
#: (19) with equality: ω1 = 1 keeps the pre-activations N(0, 1) on unit-norm inputs.
INIT19 = {"kind": "omega", "omega1": 1.0, "product": "lecun"}


def _sphere(n: int, **dims) -> dict:
    return {"kind": "sphere", "n": n, "d2": 1, **dims}


# ------------------------------------------------------------ near-isometry
register(Experiment(
    id="shallow/near-isometry", paper=PAPER, paper_title=PAPER_TITLE, figure="Lemma 3, eq 56",
    title="µ_Φ, ν_Φ, β_Φ, condition (9) and the NTK at init against the width, per activation",
    spec={
        "problem": {"kind": "shallow", "width": 100, "data": _sphere(100, d0=20),
                    "ntk_every": 10},
        "init": INIT19, "schedule": {"kind": "constant", "eta": "thm2"},
        "steps": 200, "seeds": 3,
        "sweep": {"problem.width": [50, 100, 200, 400, 800, 1600, 3200]},
        "cases": [*({"problem.activation": a} for a in SMOOTH),
                  {"problem.activation": "relu", "schedule.eta": "ntk"},
                  # h(w0) = 1e-6: condition (9) holds at the larger widths, so (14) is tested
                  {"problem.activation": "gelu", "problem.data.target": "init",
                   "problem.data.y_norm": 1e-3}],
    },
    quick={"seeds": 2, "steps": 20, "problem.ntk_every": 5,
           "sweep.problem.width": [50, 200, 800], "problem.data": _sphere(40, d0=10)},
    finisher=figures.finish_isometry, claims=ISOMETRY_CLAIMS,
))


# ------------------------------------------------------------ width scaling
def _success(records: list[dict], target: float, share: float) -> bool:
    done = [r["status"] == "ok" and r["final_loss"] <= target for r in records]
    return sum(done) >= math.ceil(share * len(done) - 1e-9)


SCALING = {"share": 0.9, "rel_tol": 0.1, "max_factor": 64, "wide": 4096, "slack": 3.0}
SCALING_QUICK = {"share": 0.9, "rel_tol": 0.5, "max_factor": 16, "wide": 1024, "slack": 3.0}


def step_budget(setting, seed: int, wide: int, slack: float) -> int:
    """Steps GD needs near infinite width, times ``slack``: with η = 1/(β_f λ_max) the loss
    contracts at least by (1 − λ_min/λ_max)² per step on the NTK's slowest mode, so
    κ·ln(‖Y‖²/ε)/2 steps, with κ the NTK's condition number at init of a ``wide`` network on
    the same data. The budget grows with n as κ does, so the width, not the budget, decides."""
    import numpy as np

    from overparam.models import shallow as sh
    from overparam.problems import shallow as problem

    s = setting.model_copy(update={"problem": setting.problem.model_copy(
        update={"width": wide})})
    inst = problem.build_instance(s, seed, Path.cwd())
    act = problem.activations.from_spec(s.problem.activation)
    lo, hi = sh.ntk_extremes(inst.W0, inst.V0, inst.data.X, act.fn, act.d1)
    y2 = float(np.sum(inst.data.Y**2))
    steps = slack * float(hi / lo) * math.log(max(y2 / s.problem.target_loss, math.e)) / 2
    return int(math.ceil(steps / 100.0) * 100)


def _bisect_widths(search) -> None:
    """For each template setting: a step budget from the wide network's NTK, then gallop on
    the width from the template's, then bisect (in log width) to the least width at which
    ≥ 90% of seeds reach the target loss within the budget."""
    opts = SCALING_QUICK if search.plan.quick else SCALING
    for template in search.templates:
        budget = step_budget(template, search.plan.spec.seed, opts["wide"], opts["slack"])
        setting = search.derive(template, {"steps": budget})
        target = setting.problem.target_loss

        def ok(w: int, setting=setting, target=target) -> bool:
            s = search.derive(setting, {"problem.width": int(w)})
            return _success(search.evaluate(s), target, opts["share"])

        start = setting.problem.width
        lo, hi = 0, None
        if ok(start):
            hi = start
            while hi > 1:
                w = max(1, hi // 2)
                if ok(w):
                    hi = w
                else:
                    lo = w
                    break
        else:
            lo, w = start, start
            while w < start * opts["max_factor"]:
                w *= 2
                if ok(w):
                    hi = w
                    break
                lo = w
        if hi is None:
            continue
        while lo and hi / lo > 1 + opts["rel_tol"] and hi - lo > 1:
            mid = int(round(math.sqrt(lo * hi)))
            mid = min(max(mid, lo + 1), hi - 1)
            if ok(mid):
                hi = mid
            else:
                lo = mid


def thresholds(runs: pd.DataFrame, share: float = 0.9) -> pd.DataFrame:
    """Per regime and (n, d0): the least width whose seeds (and every larger width's) reach
    the target."""
    import numpy as np
    import pandas as pd

    rows = []
    runs = runs.assign(
        hit=(runs["status"] == "ok") & (runs["final_loss"] <= runs["problem.target_loss"]),
        regime=np.where(runs["problem.data.d0"].notna(), "d0 fixed", "d0 ≈ √n"))
    for (regime, n, d0), grp in runs.groupby(["regime", "n", "d0"], sort=False):
        frac = grp.groupby("d1")["hit"].mean().sort_index()
        good = frac >= share - 1e-9
        best = np.nan
        for w in frac.index[::-1]:
            if not good[w]:
                break
            best = w
        fails = frac.index[~good]
        rows.append({"n": int(n), "d0": int(d0), "d1_star": best,
                     "d1_fail": float(fails[fails < best].max()) if np.isfinite(best)
                     and (fails < best).any() else np.nan,
                     "params": d0 * best, "regime": regime, "budget": int(grp["steps"].max()),
                     "widths_tried": len(frac)})
    return pd.DataFrame(rows)


def fit_exponent(n: np.ndarray, params: np.ndarray) -> tuple[float, float, float]:
    """Slope of log(params) on log(n) with its 95% confidence interval (t distribution)."""
    import numpy as np
    from scipy import stats

    x, y = np.log(n), np.log(params)
    if x.size < 3:
        slope = float(np.polyfit(x, y, 1)[0]) if x.size == 2 else np.nan
        return slope, np.nan, np.nan
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.975, x.size - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


#: The regimes of :func:`thresholds` as the legend writes them.
REGIME_TEX = {"d0 fixed": "$d_0$ fixed", "d0 ≈ √n": r"$d_0 \approx \sqrt{n}$"}


def _finish_scaling(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    import numpy as np

    from overparam.store import write_parquet

    plt = pyplot()
    table = thresholds(runs)
    write_parquet(Path(root) / "thresholds.parquet", table)
    fig, ax = plt.subplots(figsize=(6.6, 5.6))
    lines = []
    for k, (regime, grp) in enumerate(table.groupby("regime", sort=False)):
        grp = grp.dropna(subset=["d1_star"]).sort_values("n")
        color = COLORS[k % len(COLORS)]
        if grp.empty:
            lines.append(f"{regime}: no width reached the target within the search range")
            continue
        slope, lo, hi = fit_exponent(grp["n"].to_numpy(float), grp["params"].to_numpy(float))
        ax.plot(grp["n"], grp["params"], "o-", color=color,
                label=f"{REGIME_TEX.get(regime, regime)}: $d_0 d_1^*$, exponent {slope:.2f} [{lo:.2f}, {hi:.2f}]")
        lines.append(f"{regime}: least d0*d1 reaching the target ~ n^{slope:.3f} (95% CI "
                     f"[{lo:.3f}, {hi:.3f}]) over n = {', '.join(str(v) for v in grp['n'])}; "
                     f"d1* = {', '.join(str(int(v)) for v in grp['d1_star'])}")
    n = np.array(sorted(table["n"].unique()), float)
    anchor = table.sort_values("n")["params"].dropna()
    base = float(anchor.iloc[0]) if len(anchor) else 1.0
    for power, ls, label in ((1.0, ":", "$n$ (linear)"), (1.5, "--", "$n^{3/2}$ (this paper)"),
                             (2.0, "-.", "$n^2$ (Oymak–Soltanolkotabi, Song–Yang)")):
        ax.plot(n, base * (n / n[0]) ** power, "k", ls=ls, lw=0.9, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of samples $n$ (log scale)")
    ax.set_ylabel(r"$d_0 d_1$ at the least width that trains (log scale)")
    sweep_ticks(ax, n)
    runs0 = runs.iloc[0]
    ax.set_title(f"Paper B, §5.3 / Table 1: width GD needs (loss ≤ {runs0['problem.target_loss']:g}"
                 f" within {int(runs0['steps'])} steps, ≥ 90% of seeds)")
    legend_under(ax, fontsize=7)
    return [save(fig, root, "width_scaling")], lines


def _scaling_cases(ns: list[int], d0: int) -> list[dict]:
    fixed = [{"problem.data": _sphere(n, d0=d0), "problem.width": max(1, n // d0)} for n in ns]
    root = [{"problem.data": _sphere(n, d0_power=0.5),
             "problem.width": max(1, n // math.ceil(math.sqrt(n)))} for n in ns]
    return fixed + root


register(Experiment(
    id="shallow/width-scaling", paper=PAPER, paper_title=PAPER_TITLE, figure="§5.3, Table 1",
    title="The least width at which GD fits n points, against n: exponent of d0·d1 in n",
    spec={
        "problem": {"kind": "shallow", "width": 8, "activation": "tanh",
                    "data": _sphere(64, d0=16), "ntk_every": 0, "target_loss": 1e-2},
        "init": INIT19, "schedule": {"kind": "constant", "eta": "ntk"},
        "steps": 1000, "chunk": 500, "seeds": 10,
        "cases": _scaling_cases([32, 64, 128, 256], 16),
    },
    quick={"seeds": 5, "cases": _scaling_cases([16, 32, 64], 8)},
    finisher=_finish_scaling, search=_bisect_widths, claims=SCALING_CLAIMS,
))


# ------------------------------------------------------------ lazy training
#: The authors' ω2 grid for 784 × 1000 (App. G: "10 values in [0.002, 0.1]"), at ω1ω2 = He's
#: product 2/√(d0·d1) (0.0022588 for MNIST).
OMEGA2 = [0.002, 0.00744, 0.01289, 0.01833, 0.02378, 0.03467, 0.04556, 0.05644, 0.06733,
          0.07822]
#: The width the grid was made for.
GRID_WIDTH = 1000
MNIST_HE = 2.0 / math.sqrt(784 * 1000)
#: App. G's sentence read as a geometric grid over [0.002, 0.1], as the ratios ω2/ω1 it gives
#: on MNIST (``[float(v * v / MNIST_HE) for v in np.geomspace(0.002, 0.1, 10)]``); the
#: experiment sweeps the authors' grid ``OMEGA2`` instead.
RATIOS = [0.0017708754896942922, 0.004224126512767773, 0.01007594542908712,
          0.024034478130111593, 0.057330217104912255, 0.13675161888281498,
          0.3261980542101996, 0.7780907563639221, 1.8560050169669284, 4.427188724235731]


def omega2_grid(width: int) -> list[float]:
    """The grid for a student of this width, on any data: ω2·√(1000/width). With He's product
    and standardized inputs (‖x‖ ≈ √d0) the pre-activations have std ω1‖x‖ = 2/(√width·ω2)
    and the output scale is ω2√width, neither depending on d0; so at width 1000 digits use the
    authors' values exactly and every grid point keeps its layer scales and its place relative
    to He's ω2 = √(2/width) at any width."""
    return [float(v * math.sqrt(GRID_WIDTH / width)) for v in OMEGA2]


QUICK_WIDTH = 100
#: Quick mode's minibatch: a row is an epoch, and an epoch's evaluation (train and test sets,
#: network and linearization) costs more than its SGD steps, so the quick run buys SGD steps
#: with a smaller batch rather than with epochs. At 128, 300 epochs on 256 samples are 600
#: steps and the students stop at 4–32% training error; at 8 they are 9600 steps and every ω2
#: from the second grid point up ends below 1% (the paper's "zero training error").
QUICK_BATCH = 8


def _lazy_claims() -> tuple:
    from overparam.experiments.near_isometry_claims import CLAIMS

    return CLAIMS


register(Experiment(
    id="shallow/lazy-training", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1",
    title="Teacher–student: train/test error, lazy gap and movement against ω2 at fixed ω1ω2",
    spec={
        "problem": {"kind": "shallow", "width": GRID_WIDTH, "activation": "gelu",
                    "loss": "mean", "bias": True, "bias_init": "pytorch",
                    "data": {"kind": "dataset", "normalize": "standard",
                             "teacher": {"width": 1000, "activation": "relu", "bias": True,
                                         "inputs": "student", "lr": 0.01, "batch": 128,
                                         "max_epochs": 3000}},
                    "dynamics": {"kind": "sgd", "batch": 128},
                    "lazy": True, "ntk_every": 0},
        "init": {"kind": "omega", "product": "he", "omega2": OMEGA2[0]},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 300, "chunk": 50, "seeds": 5,
        "sweep": {"init.omega2": omega2_grid(GRID_WIDTH)},
    },
    quick={"seeds": 2, "steps": 300, "chunk": 300, "problem.width": QUICK_WIDTH,
           "problem.data.n_train": 256, "problem.data.teacher.width": 256,
           "problem.dynamics.batch": QUICK_BATCH, "sweep.init.omega2": omega2_grid(QUICK_WIDTH)[::2]},
    finisher=figures.finish_lazy, claims=_lazy_claims(),
))
