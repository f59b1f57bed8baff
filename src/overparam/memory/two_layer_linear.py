"""Memory terms of the two-layer linear network's settings."""

from __future__ import annotations

from pathlib import Path

from overparam.resources import (
    DATA_COPIES,
    Term,
    data_field,
    data_shape,
)
from overparam.spec.data import SyntheticData
from overparam.spec.setting import Setting
from overparam.spec.two_layer_linear import TwoLayerLinear

#: Copies of the weights alive per seed while a setting runs (see overparam.resources).
PARAM_COPIES = 12.0


def terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed of this setting (the logged rows are the family's to add)."""
    prob: TwoLayerLinear = setting.problem
    samples, n, m = data_shape(prob.data, base_dir)
    h = prob.width
    terms = [
        # the loop carries the row-space coordinates (B1, B2): (n+m) × min(h, n+m)
        Term("weights W1, W2", "problem.width", (n + m) * min(h, n + m),
             PARAM_COPIES),
        Term("instances W1(0), W2(0) (host)", "problem.width", (n + m) * h, 1.0),
        Term("data X, Y", data_field(prob.data), samples * (n + m), DATA_COPIES),
        # the (n+m)×h QR of the imbalance spectrum and W1 W2ᵀ at init, one seed at a time
        Term("set-up QR of [W1; W2]", "problem.width", (n + m) * h, 3.0, per_seed=False),
    ]
    if isinstance(prob.data, SyntheticData):  # Haar factors of the generators
        square = n * n + (samples * samples if prob.data.x == "spectrum" else 0)
        terms.append(Term("data generator", data_field(prob.data), square, 3.0, per_seed=False))
    if prob.loss == "squared":
        terms.append(Term("XᵀX of the minimizer", "problem.data.n", n * n, 2.0, per_seed=False))
    else:  # Newton on W ∈ R^{n×m}: jax.hessian pushes nm tangents through the samples × m
        # logits, then the dense (nm)² Hessian
        terms.append(Term("Newton Hessian of the minimizer", "problem.data.n",
                          n * m * (samples * m + n * m), 3.0, per_seed=False))
    return terms
