"""The probe's training losses on a model's outputs F (samples × outputs) and targets Y."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)


def make_loss(spec: Any) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``loss(F, Y)`` without the ridge term: squared ½Σ‖f_i − y_i‖² (``sum``) or its mean
    over the samples; softmax cross-entropy −Σ_c y_ic log softmax(f_i)_c; logistic
    log(1 + exp(−y_i f_i)) with y_i = ±1 (numerically stable forms)."""
    mean = spec.reduction == "mean"

    def reduce(per_sample: jax.Array) -> jax.Array:
        return jnp.mean(per_sample) if mean else jnp.sum(per_sample)

    if spec.kind == "squared":
        return lambda F, Y: reduce(0.5 * jnp.sum((F - Y) ** 2, axis=-1))
    if spec.kind == "cross_entropy":
        return lambda F, Y: reduce(-jnp.sum(Y * jax.nn.log_softmax(F, axis=-1), axis=-1))
    return lambda F, Y: reduce(jnp.sum(jnp.logaddexp(0.0, -Y * F), axis=-1))


def check_targets(kind: str, Y: Any) -> str:
    """Why targets ``Y`` do not suit the loss ('' when they do)."""
    import numpy as np

    Y = np.asarray(Y)
    if kind == "logistic" and not np.all(np.isin(Y, (-1.0, 1.0))):
        return "logistic loss needs targets -1 or +1"
    if kind == "cross_entropy" and not (np.all(Y >= 0) and np.allclose(Y.sum(axis=1), 1.0)):
        return "cross_entropy needs rows of probabilities (one-hot, for labels)"
    return ""
