"""Curvature of a function along a gradient step: ⟨g, ∇²f(p − τηg) g⟩/‖g‖² for τ ∈ [0, 1].

The descent lemma along the step actually taken needs this curvature on the whole segment
from p to p − ηg, not only at its start (paper A, App. D, eq 73–74: Lemma D.1 bounds it at
τ = 0, Lemma D.2 uniformly in τ). Each value is one forward-over-reverse Hessian-vector
product, so nothing of size (parameters)² is formed.

Where f is a polynomial of degree 4 along the line (the squared loss of a two-layer linear
net: the product (W1 − sG1)(W2 − sG2)ᵀ is quadratic in s), the curvature is a quadratic in
τ; three values (τ = 0, ½, 1) determine it and ``quadratic_extremes`` gives its exact max
and min on [0, 1]. Otherwise a grid of points (``GRID``, both ends included) estimates them
from below (max) and above (min).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)

#: τ where the curvature of a degree-4 loss is evaluated: its quadratic in τ is exact.
EXACT_TAUS = (0.0, 0.5, 1.0)
#: The grid for any other loss: 9 points, τ = 0, 1/8, …, 1.
GRID = tuple(j / 8 for j in range(9))


def along_segment(f: Callable[[Any], jax.Array], params: Any, g: Any, eta: jax.Array,
                  taus: tuple[float, ...]) -> jax.Array:
    """⟨g, ∇²f(params − τηg) g⟩/‖g‖² at each τ of ``taus`` (a vector, one HVP per τ).

    ``params`` and ``g`` are matching tuples of arrays; a zero g gives NaN.
    """
    den = sum(jnp.vdot(a, a) for a in g)

    def at(tau: jax.Array) -> jax.Array:
        point = tuple(p - tau * eta * d for p, d in zip(params, g, strict=True))
        _, hg = jax.jvp(jax.grad(f), (point,), (tuple(g),))
        return sum(jnp.vdot(a, b) for a, b in zip(g, hg, strict=True)) / den

    return jax.vmap(at)(jnp.asarray(taus, jnp.float64))


def quadratic_extremes(q0: jax.Array, qh: jax.Array, q1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(max, min) over τ ∈ [0, 1] of the quadratic with values q0, qh, q1 at τ = 0, ½, 1.

    q(τ) = aτ² + bτ + q0 with a = 2(q0 + q1 − 2qh), b = q1 − q0 − a; the interior extremum,
    at τ* = −b/(2a), counts only where it lies in (0, 1).
    """
    a = 2.0 * (q0 + q1 - 2.0 * qh)
    b = q1 - q0 - a
    safe = jnp.where(a != 0, a, 1.0)
    ts = jnp.clip(-b / (2.0 * safe), 0.0, 1.0)
    qs = jnp.where(a != 0, (a * ts + b) * ts + q0, q0)
    return jnp.maximum(jnp.maximum(q0, q1), qs), jnp.minimum(jnp.minimum(q0, q1), qs)


def segment_extremes(f: Callable[[Any], jax.Array], params: Any, g: Any, eta: jax.Array,
                     exact: bool) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(curvature at τ = 0, its max and its min over τ ∈ [0, 1]) along the step p − τηg.

    ``exact``: f is a quartic along lines, so the max and min are those of the quadratic
    through τ = 0, ½, 1; else they are taken over ``GRID``.
    """
    if exact:
        q = along_segment(f, params, g, eta, EXACT_TAUS)
        hi, lo = quadratic_extremes(q[0], q[1], q[2])
        return q[0], hi, lo
    q = along_segment(f, params, g, eta, GRID)
    return q[0], jnp.max(q), jnp.min(q)
