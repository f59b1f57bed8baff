"""The step-size policy interface: a pure function of (its state, the iterate's observables)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from overparam import _jax  # noqa: F401  (float64)


class StepContext(NamedTuple):
    """What a schedule may look at on iterate t (all scalars, one seed)."""

    t: jax.Array
    L: jax.Array  # loss gap L(t) − ℓ*
    grad_norm2: jax.Array  # ‖∇L(t)‖²_F over all layers
    gradl_norm: jax.Array  # ‖∇ℓ(W(t))‖_F
    W_fro: jax.Array  # ‖W(t)‖_F
    s2min_T: jax.Array
    s2max_T: jax.Array
    smax_W: jax.Array
    consts: dict[str, jax.Array]  # per-run theory constants (K, mu, alpha1, eta0, ...)
    loss_after: Callable[[jax.Array], jax.Array]  # η ↦ L(params − η∇L) − ℓ*


class Schedule(NamedTuple):
    """init(consts) -> state; step(state, ctx) -> (η, function evaluations, new state)."""

    init: Callable[[dict[str, jax.Array]], Any]
    step: Callable[[Any, StepContext], tuple[jax.Array, jax.Array, Any]]


def growth_cap(t: jax.Array, eta0: jax.Array, d: jax.Array) -> jax.Array:
    """(1 + η0^d)^{t/2} η0, the growth limit of eq 18/19."""
    import jax.numpy as jnp

    return eta0 * jnp.exp(0.5 * t * jnp.log1p(eta0**d))
