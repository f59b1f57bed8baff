"""Memory terms of the deep linear network's settings."""

from __future__ import annotations

from pathlib import Path

from overparam.resources import (
    DATA_COPIES,
    Term,
    data_field,
    data_shape,
)
from overparam.spec.deep_linear import DeepLinear
from overparam.spec.setting import Setting

#: Copies of the weights alive per seed while a setting runs (see overparam.resources).
PARAM_COPIES = 6.0


def _deep_size_field(prob: DeepLinear) -> str:
    return "problem.widths" if prob.widths is not None else "problem.hidden"


def terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed of this setting (the logged rows are the family's to add)."""
    prob: DeepLinear = setting.problem
    samples, nx, ny = data_shape(prob.data, base_dir)
    widths = prob.layer_widths(nx, ny)
    n0, nN, N = widths[0], widths[-1], len(widths) - 1
    size = _deep_size_field(prob)
    params = sum(widths[j] * widths[j - 1] for j in range(1, N + 1))
    k = min(n0, samples)
    terms = [
        Term("weights W_1 … W_N", size, params, PARAM_COPIES),
        Term("initial weights W_i(0) (the per-layer movement)", size, params, 2.0),
        # chains from the thin side: min(n0, nN) rows or columns per layer
        Term("partial products", size, min(n0, nN) * sum(widths), 3.0),
        Term("data X, Y, basis U, W*", data_field(prob.data),
             samples * (n0 + nN) + n0 * k + 4 * nN * n0, DATA_COPIES),
        Term("SVD of X", data_field(prob.data), n0 * k + k * samples, 2.0, per_seed=False),
    ]
    if N >= 3 and prob.sigma_min_inner_every:
        inner = widths[N - 1] * widths[1] + max(widths[j] for j in range(2, N)) * widths[1]
        terms.append(Term("σ_min(W_{N−1:2}) product and SVD", size, inner, 2.0,
                          hint="set problem.sigma_min_inner_every: 0"))
    if setting.init.kind in ("orthogonal", "balanced"):  # Haar factors, one layer at a time
        big = max(max(widths[j], widths[j - 1]) ** 2 for j in range(1, N + 1))
        terms.append(Term("Haar factors of the init", size, big, 3.0, per_seed=False))
    if prob.loss in ("logistic", "softmax"):  # Newton on B ∈ R^{nN×rank} with its Hessian
        r = k
        terms.append(Term("Newton Hessian of the minimizer", "problem.data.n",
                          3 * (nN * r) ** 2 + nN * r * samples, 1.0, per_seed=False))
    return terms
