"""The edge of stability (Cohen, Kaur, Li, Kolter & Talwalkar, ICLR 2021) on the generic
probe: full-batch GD on a tanh MLP on scikit-learn's 8×8 digits at several step sizes.

The paper's finding: the sharpness λ_max(∇²L) rises during training (progressive sharpening)
until it reaches 2/η, then hovers near 2/η while the loss keeps decreasing, non-monotonically
over short spans. Digits are used because they ship with scikit-learn (no download) and a
500-image subset trains in seconds on a CPU; the paper used a 5k CIFAR-10 subset, which
changes the time scale but not the phenomenon. A second panel runs paper A's local-PL step
(eq 19 with K_t the curvature along the gradient) on the same network and asks whether it
stays below GD's stability limit 2/λ_max.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overparam.experiments import Experiment, register
from overparam.experiments.claims import Claim, Frames, Outcome, cannot, judged

PAPER = "E"
PAPER_TITLE = ("Gradient descent on neural networks typically occurs at the edge of "
               "stability (Cohen et al., ICLR 2021)")

#: The step sizes of the full run (2/η = 10, 8, 6.7, 5) and of quick mode.
ETAS, QUICK_ETAS = (0.2, 0.25, 0.3, 0.4), (0.3, 0.4)
#: Eq 19's initial step on the same network: its growth cap binds for the first ~100 steps.
LOCAL_ETA0 = 0.05
#: "reaches 2/η": the sharpness reaches this fraction of 2/η.
REACH = 0.9
#: "hovers near 2/η": after reaching it, the sharpness stays within this band around 2/η
#: on at least MOST of the measured steps.
BAND, MOST = (0.8, 1.2), 0.8
#: "progressive sharpening": the sharpness where it first reaches REACH·2/η is at least this
#: factor above its minimum before.
SHARPENING = 1.1

PROBLEM = {
    "kind": "jax_model", "model": "overparam.generic.models:mlp",
    "model_args": {"widths": [64, 32, 32, 10], "activation": "tanh"},
    "data": {"kind": "digits", "samples": 500},
    "loss": {"kind": "squared", "reduction": "mean"},
    "measure": ["sharpness", "curvature", "pl_ratio"],
    "every": {"sharpness": 20}, "lanczos": {"iters": 20},
}


def eos_cases(etas: tuple[float, ...]) -> list[dict[str, Any]]:
    """One case per constant step size, and eq 19's local step."""
    gd = [{"schedule": {"kind": "constant", "eta": eta}} for eta in etas]
    return gd + [{"schedule": {"kind": "local_pl", "eta0": LOCAL_ETA0}}]


# ------------------------------------------------------------------ the runs, per step size
def _gd_runs(f: Frames):
    """{η: [(run_id, sharpness trace, loss trace), ...]} of the constant-step runs that ran."""
    runs = f.runs[(f.runs["schedule.kind"] == "constant") & (f.runs["status"] != "failed")]
    out: dict[float, list] = {}
    for _, run in runs.iterrows():
        s = f.steps[f.steps["run_id"] == run["run_id"]]
        sharp = s.dropna(subset=["sharpness"])
        out.setdefault(float(run["schedule.eta"]), []).append(
            (run["run_id"], sharp["step"].to_numpy(), sharp["sharpness"].to_numpy(),
             s["loss"].to_numpy()))
    return out


def _reach(steps, sharp, eta: float) -> int | None:
    """Index (into the measured steps) where the sharpness first reaches REACH·2/η."""
    import numpy as np

    hit = np.flatnonzero(sharp >= REACH * 2.0 / eta)
    return int(hit[0]) if hit.size else None


def _per_run(f: Frames, measure) -> Outcome | list:
    groups = _gd_runs(f)
    if not groups:
        return cannot("no constant-step run finished")
    return [(eta, measure(eta, *run[1:])) for eta, group in sorted(groups.items())
            for run in group]


def _measured(f: Frames, measure, none: str = "no run reached 2/eta") -> Outcome | list:
    """(η, value) of every run where ``measure`` has a value, or why there is none."""
    rows = _per_run(f, measure)
    if isinstance(rows, Outcome):
        return rows
    return [(eta, m) for eta, m in rows if m is not None] or cannot(none)


def _reaches(f: Frames) -> Outcome:
    rows = _per_run(f, lambda eta, st, sh, loss: (sh.max() * eta / 2.0, _reach(st, sh, eta),
                                                  st))
    if isinstance(rows, Outcome):
        return rows
    ok = all(r[1][1] is not None for r in rows)
    text = "; ".join(f"eta {eta:g}: max sharpness {m[0]:.2f}x 2/eta" + (
        f" (from step {m[2][m[1]]})" if m[1] is not None else "") for eta, m in rows)
    return judged(ok, text, min(r[1][0] for r in rows))


def _hovers(f: Frames) -> Outcome:
    import numpy as np

    def share(eta, st, sh, loss):
        i = _reach(st, sh, eta)
        if i is None:
            return None
        ratio = sh[i:] * eta / 2.0
        return float(np.mean((ratio >= BAND[0]) & (ratio <= BAND[1])))

    done = _measured(f, share)
    if isinstance(done, Outcome):
        return done
    text = "; ".join(f"eta {eta:g}: {s:.0%} of measured steps in [{BAND[0]}, {BAND[1]}]x 2/eta"
                     for eta, s in done)
    return judged(min(s for _, s in done) >= MOST, text, min(s for _, s in done))


def _loss_at_eos(f: Frames) -> Outcome:
    import numpy as np

    def story(eta, st, sh, loss):
        i = _reach(st, sh, eta)
        if i is None:
            return None
        after = loss[st[i]:]
        return float(after[-1] / after[0]), int(np.sum(np.diff(after) > 0)), after.size - 1

    rows = _measured(f, story)
    if isinstance(rows, Outcome):
        return rows
    ok = all(r < 1.0 and ups > 0 for _, (r, ups, _) in rows)
    text = "; ".join(f"eta {eta:g}: loss x{r:.2f} after reaching 2/eta, rose on {ups} of {n} "
                     "steps" for eta, (r, ups, n) in rows)
    return judged(ok, text, max(r for _, (r, _, _) in rows))


def _sharpening(f: Frames) -> Outcome:
    def rise(eta, st, sh, loss):
        i = _reach(st, sh, eta)
        return None if i is None or i == 0 else float(sh[i] / sh[: i].min())

    done = _measured(f, rise, "no run reached 2/eta after step 0")
    if isinstance(done, Outcome):
        return done
    text = "; ".join(f"eta {eta:g}: x{r:.2f} from its minimum" for eta, r in done)
    return judged(min(r for _, r in done) >= SHARPENING, text, min(r for _, r in done))


def _local_step_stable(f: Frames) -> Outcome:
    import numpy as np

    runs = f.runs[(f.runs["schedule.kind"] == "local_pl") & (f.runs["status"] != "failed")]
    if runs.empty:
        return cannot("no local-PL run")
    s = f.steps[f.steps["run_id"].isin(runs["run_id"])].dropna(subset=["eta_sharpness"])
    if s.empty:
        return cannot("no sharpness measured on the local-PL run")
    x = s["eta_sharpness"].to_numpy()
    over = int(np.sum(x >= 2.0))
    status = ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items())
    return judged(over == 0, f"eta_t*lambda_max: max {np.nanmax(x):.3g}, >= 2 on {over} of "
                  f"{x.size} measured steps (runs: {status})", float(np.nanmax(x)))


CLAIMS = (
    Claim("E.reach", f"the sharpness rises to 2/eta (reaches >= {REACH} * 2/eta) for every "
          "step size", "§3, Fig 1", _reaches),
    Claim("E.hover", f"after reaching 2/eta the sharpness hovers near it (within {BAND[0]}-"
          f"{BAND[1]} x 2/eta on >= {MOST:.0%} of measured steps)", "§3, Fig 1", _hovers),
    Claim("E.loss", "at the edge of stability the loss keeps decreasing, non-monotonically "
          "(it rises on some steps)", "§3, Fig 1", _loss_at_eos),
    Claim("E.sharpening", f"progressive sharpening: before reaching 2/eta the sharpness rises "
          f"(>= {SHARPENING} x its earlier minimum)", "§3.1", _sharpening),
    Claim("E.local_pl", "paper A's local-PL step (eq 19, K_t = curvature along the gradient) "
          "stays below GD's stability limit 2/lambda_max", "paper A eq 19 on this network",
          _local_step_stable),
)


# ------------------------------------------------------------------ the figure
def _finish(root: Path, runs, steps, checks, quick) -> tuple[list[str], list[str]]:
    from overparam.experiments.probe_figures import eos_figure

    return eos_figure(root, runs, steps)


register(Experiment(
    id="probe/edge-of-stability", paper=PAPER, paper_title=PAPER_TITLE, figure="Fig 1",
    title="Full-batch GD on a tanh MLP: sharpness rises to 2/eta and hovers there",
    spec={"problem": PROBLEM, "steps": 3000, "seeds": 2, "cases": eos_cases(ETAS)},
    quick={"steps": 800, "seeds": 1, "cases": eos_cases(QUICK_ETAS)},
    finisher=_finish,
    claims=CLAIMS,
))
