"""Population logistic loss and its exact gradient under spherically symmetric data.

With y = sgn(vᵀx), L(w) = E ln(1 + e^{−y wᵀx}) and ∇L(w) = −E[y x σ(−y wᵀx)] only see
the 2-D marginal of x in span(w, v). In the orthonormal frame (w̄, e) of that plane,
x = r(cos φ, sin φ) with φ uniform and r the 2-D marginal radius, v = (cos θ, sin θ);
the components out of the plane vanish by symmetry. The φ-integral is split where the
integrand is not smooth or is steep: at the label boundary θ ± π/2 (y jumps) and at ±π/2
(wᵀx changes sign, a logistic of width 1/(‖w‖r)); each of the four arcs is integrated by
tanh-sinh, r by the distribution's radius rule. Everything is a fixed-size JAX
computation, so it runs inside the compiled loop.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.numerics import quadrature


class PlaneRule(NamedTuple):
    """Quadrature for E over the 2-D marginal: the radius rule and a tanh-sinh rule on [−1, 1]."""

    r: np.ndarray
    r_w: np.ndarray
    x: np.ndarray
    x_w: np.ndarray


def plane_rule(r_nodes: np.ndarray, r_weights: np.ndarray, level: int = 5) -> PlaneRule:
    """Bundle a distribution's radius rule with the angular rule (step 2^−level)."""
    ts = quadrature.tanh_sinh(level)
    return PlaneRule(np.asarray(r_nodes, float), np.asarray(r_weights, float), ts.x, ts.w)


def frame(w: jax.Array, v: jax.Array):
    """‖w‖, w̄, the unit e ⊥ w̄ in span(w, v) (0 when w ∥ v) and θ = ∠(w, v) ∈ [0, π]."""
    nw = jnp.linalg.norm(w)
    wbar = w / jnp.where(nw > 0, nw, 1.0)
    c = wbar @ v
    perp = v - c * wbar
    s = jnp.linalg.norm(perp)
    e = perp / jnp.where(s > 0, s, 1.0)
    return nw, wbar, e, jnp.arctan2(s, c)


def _arcs(theta: jax.Array, rule: PlaneRule):
    """Angles, weights (including 1/2π) and labels of the four arcs of [−π/2, 3π/2)."""
    h = 0.5 * jnp.pi
    ends = jnp.stack([-h, theta - h, h, theta + h, 3 * h])
    labels = jnp.array([-1.0, 1.0, 1.0, -1.0])
    a, b = ends[:-1, None], ends[1:, None]
    half = 0.5 * (b - a)
    phi = (a + half * (1.0 + rule.x[None, :])).ravel()
    wphi = (half * rule.x_w[None, :]).ravel() / (2 * jnp.pi)
    y = jnp.repeat(labels, rule.x.size)
    return phi, wphi, y


def loss_and_grad(w: jax.Array, v: jax.Array, rule: PlaneRule) -> tuple[jax.Array, jax.Array]:
    """(L(w), ∇L(w)) of the population logistic loss; v must be a unit vector.

    At w = 0: L = ln 2 and ∇L = −(c0/π)v (half of −E[y x], as σ(0) = 1/2).
    """
    nw, wbar, e, theta = frame(w, v)
    phi, wphi, y = _arcs(theta, rule)
    r, rw = jnp.asarray(rule.r), jnp.asarray(rule.r_w)
    z = (y * nw * jnp.cos(phi))[:, None] * r[None, :]
    loss = jnp.sum(wphi[:, None] * rw[None, :] * jax.nn.softplus(-z))
    k = (jax.nn.sigmoid(-z) * r[None, :]) @ rw  # E_r[r σ(−z)] per angle
    g1 = -jnp.sum(wphi * y * jnp.cos(phi) * k)
    g2 = -jnp.sum(wphi * y * jnp.sin(phi) * k)
    c0 = jnp.sum(rw * r)
    grad = jnp.where(nw > 0, g1 * wbar + g2 * e, -(c0 / jnp.pi) * v)
    return loss, grad


def sample_loss_and_grad(w: jax.Array, X: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Finite-sample logistic loss (1/n) Σ ln(1 + e^{−y_i wᵀx_i}) and its gradient."""
    z = y * (X @ w)
    loss = jnp.mean(jax.nn.softplus(-z))
    grad = -(X.T @ (y * jax.nn.sigmoid(-z))) / X.shape[0]
    return loss, grad


def labels(X: jax.Array, v: jax.Array) -> jax.Array:
    """y = sgn(vᵀx) with sgn(0) = 1."""
    return jnp.where(X @ v >= 0, 1.0, -1.0)
