"""Damped Newton minimization of a smooth convex function, robust to round-off near the optimum.

Armijo backtracking on f alone stalls once f's decrease, about half the Newton decrement
gᵀH⁻¹g, falls below the rounding of f itself (≈ eps·|f|): every trial step then looks like no
progress, the step shrinks to nothing and the iterate stops with a gradient far above what
float64 allows (e.g. ‖∇f‖ ≈ 3e-9 at |f| ≈ 0.5). The line search here accepts a step when
*either* merit decreases sufficiently: f (Armijo), or ‖∇f‖ (along the Newton direction d,
d/dt ‖∇f(x − t d)‖ = −‖∇f(x)‖ at t = 0, so a sufficient decrease always exists). Near the
optimum the gradient is computed to relative accuracy long after f stops resolving the
decrease, so the full step is taken and Newton's quadratic convergence finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from overparam import _jax  # noqa: F401  (float64)

#: Sufficient-decrease fraction for both merits (f's Armijo constant and ‖∇f‖'s).
ARMIJO = 0.25
#: Smallest trial step before the search gives up (the iterate is at its round-off floor).
MIN_STEP = 1e-12


class NewtonResult(NamedTuple):
    x: jax.Array  # the minimizer estimate
    grad_norm: jax.Array  # ‖∇f(x)‖
    steps: jax.Array  # Newton steps taken
    converged: jax.Array  # ‖∇f(x)‖ ≤ gtol·max(1, ‖∇f(x0)‖)


def minimize(
    f: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    hess: Callable[[jax.Array], jax.Array] | None = None,
    *,
    gtol: float = 1e-13,
    max_steps: int = 100,
) -> NewtonResult:
    """argmin f from x0 (a flat vector) by damped Newton; traceable, so it runs under jit.

    ``hess`` gives the Hessian matrix at x (default: ``jax.hessian(f)``). It stops when
    ‖∇f‖ ≤ gtol·max(1, ‖∇f(x0)‖), when no trial step down to ``MIN_STEP`` decreases either
    merit (the round-off floor of both), or after ``max_steps`` steps.
    """
    grad = jax.grad(f)
    hess = jax.hessian(f) if hess is None else hess
    g0 = grad(x0)
    tol = gtol * jnp.maximum(1.0, jnp.linalg.norm(g0))

    def accepted(x, d, fx, gnorm, dec, t):
        xt = x - t * d
        armijo = f(xt) <= fx - ARMIJO * t * dec
        gradient = jnp.linalg.norm(grad(xt)) <= (1.0 - ARMIJO * t) * gnorm
        return armijo | gradient

    def step(state):
        x, g, k, _ = state
        d = jnp.linalg.solve(hess(x), g)
        fx, gnorm, dec = f(x), jnp.linalg.norm(g), jnp.dot(g, d)
        t = lax.while_loop(lambda t: ~accepted(x, d, fx, gnorm, dec, t) & (t >= MIN_STEP),
                           lambda t: 0.5 * t, jnp.asarray(1.0, x.dtype))
        moved = t >= MIN_STEP
        x_new = jnp.where(moved, x - t * d, x)
        return x_new, grad(x_new), k + 1, moved

    def more(state):
        _, g, k, moved = state
        return (jnp.linalg.norm(g) > tol) & (k < max_steps) & moved

    x, g, k, _ = lax.while_loop(more, step, (x0, g0, jnp.asarray(0), jnp.asarray(True)))
    gnorm = jnp.linalg.norm(g)
    return NewtonResult(x=x, grad_norm=gnorm, steps=k, converged=gnorm <= tol)
