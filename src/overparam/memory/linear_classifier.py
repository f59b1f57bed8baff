"""Memory terms of the linear classifier's settings."""

from __future__ import annotations

from pathlib import Path

from overparam.resources import (
    DATA_COPIES,
    Term,
)
from overparam.spec.linear_classifier import LinearClassifier
from overparam.spec.setting import Setting

#: Copies of the weights alive per seed while a setting runs (see overparam.resources).
PARAM_COPIES = 5.0
#: Stage vectors a flow solver keeps per step, besides the weights themselves.
FLOW_STAGES = {"tsit5": 9, "dopri8": 16, "kvaerno5": 10}


def _classifier_size_field(prob: LinearClassifier, j: int) -> str:
    """The field that sets n_j of [dim, n1, …, 1]."""
    if j == 0:
        return "problem.dim"
    return "problem.widths" if prob.widths is not None else "problem.hidden"


def terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed of this setting (the logged rows are the family's to add)."""
    prob: LinearClassifier = setting.problem
    widths = prob.layer_widths()
    N, d = len(widths) - 1, prob.dim
    params = sum(widths[j + 1] * widths[j] for j in range(N))
    size = "problem.dim" if N == 1 or widths[0] >= max(widths[1:-1]) else \
        _classifier_size_field(prob, 1)
    dyn = prob.dynamics
    terms = [Term("layers W_1 … W_N", size, params, PARAM_COPIES)]
    if N >= 2:  # balance_drift forms W_{j+1}ᵀW_{j+1} and W_j W_jᵀ: n_j × n_j, 0 < j < N
        grams = sum(widths[j] ** 2 for j in range(1, N))
        terms.append(Term("balance Gram matrices", _classifier_size_field(prob, 1), grams, 2.0))
    samples = getattr(dyn, "samples", None)
    if samples:
        terms.append(Term("fixed sample", "problem.dynamics.samples", samples * (d + 1),
                          DATA_COPIES + 1))
    if dyn.kind == "sgd":
        terms.append(Term("SGD batch", "problem.dynamics.batch", dyn.batch * (d + 2), 3.0))
    if dyn.kind in ("flow", "induced_flow"):
        state = d if dyn.kind == "induced_flow" else params
        terms.append(Term("flow solver stages", size, state, FLOW_STAGES[dyn.solver]))
        if dyn.solver == "kvaerno5":  # implicit: the Newton iteration's dense Jacobian
            terms.append(Term("implicit solver Jacobian", size, state * state, 2.0,
                              hint="use solver: tsit5 or dopri8"))
    # the population loss on (angle nodes) × (radius nodes) of the plane rule
    angles, radii = 7 * 2**prob.quadrature_level + 1, 7 * 2**prob.radius_level
    field = ("problem.quadrature_level" if prob.quadrature_level >= prob.radius_level
             else "problem.radius_level")
    terms.append(Term("population-loss quadrature", field, angles * radii, 4.0))
    return terms
