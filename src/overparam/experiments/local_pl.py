"""Paper A's experiments (§4 and App. G): registered specs, their figures
(:mod:`overparam.experiments.local_pl_figures`) and claims."""

from __future__ import annotations

from overparam.experiments import Experiment, register
from overparam.experiments import local_pl_claims as claims
from overparam.experiments import local_pl_figures as figures
from overparam.experiments.local_pl_figures import (  # noqa: F401  (the legends' names)
    BOUND_OF,
    SCHEDULE_LABEL,
    _schedule_label,
)

PAPER = "A"
PAPER_TITLE = "Local PL and descent lemma: two-layer linear networks, general loss"
SYNTH_FIG1 = {"kind": "synthetic", "n": 10, "m": 10, "x": "orthogonal", "target": "init"}


# ------------------------------------------------------------------ Fig 1
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
    finisher=figures.finish_tightness, claims=claims.FIG1_CLAIMS,
))


# ------------------------------------------------------------------ Fig 2
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
    finisher=figures.finish_comparison, claims=claims.FIG2_CLAIMS,
))


# ------------------------------------------------------------------ Fig 3
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
    finisher=figures.finish_toy, claims=claims.FIG3_CLAIMS,
))


# ------------------------------------------------------------------ Fig 4
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
    finisher=figures.finish_kappa, claims=claims.FIG4_CLAIMS,
))


# ------------------------------------------------------------------ Fig 5
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
    finisher=figures.finish_plain, claims=claims.FIG5_CLAIMS,
))


# ------------------------------------------------------- general loss (§3)
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
    finisher=figures.finish_general, claims=claims.GENERAL_CLAIMS,
))
