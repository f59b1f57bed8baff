"""The step-size policy interface: a pure function of (its state, the iterate's observables).

A schedule is built from its validated spec by a factory that closes over the spec's
parameters (optax style); ``init`` reads the run's theory constants once (a named initial
step size such as η_max is one of them) and the state carries what the steps need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)


class StepContext(NamedTuple):
    """What a schedule may look at on iterate t (scalars, one seed). A family fills the
    fields it has; a schedule reads only those it needs (``t`` always, the two-layer spectra
    only in paper A's schedules)."""

    t: jax.Array  # the step index
    L: jax.Array | None = None  # loss gap L(t) − ℓ*
    grad_norm2: jax.Array | None = None  # ‖∇L(t)‖² over all layers
    loss_after: Callable[[jax.Array], jax.Array] | None = None  # η ↦ L(params − η∇L) − ℓ*
    consts: dict[str, jax.Array] | None = None  # the run's theory constants (K, mu, alpha1…)
    gradl_norm: jax.Array | None = None  # ‖∇ℓ(W(t))‖_F
    W_fro: jax.Array | None = None  # ‖W(t)‖_F
    s2min_T: jax.Array | None = None
    s2max_T: jax.Array | None = None
    smax_W: jax.Array | None = None


class Schedule(NamedTuple):
    """init(theory constants) -> state; step(state, ctx) -> (η, loss evaluations, state)."""

    init: Callable[[dict[str, Any]], Any]
    step: Callable[[Any, StepContext], tuple[jax.Array, jax.Array, Any]]


ONE_EVAL = jnp.ones((), jnp.int32)


def initial_eta(choice: Any, consts: dict[str, Any]) -> Any:
    """A number as given; a named step size (eta_max, thm1, thm2, ...) is the family's
    resolved value, the theory constant ``eta0``."""
    return consts["eta0"] if isinstance(choice, str) else choice


def growth_cap(t: Any, eta0: Any, d: Any) -> Any:
    """(1 + η0^d)^{t/2} η0, the growth limit of eq 18/19 (JAX or NumPy arrays alike)."""
    return eta0 * jnp.exp(0.5 * jnp.asarray(t) * jnp.log1p(jnp.asarray(eta0) ** d))
