"""Convex losses ℓ(W) of the end-to-end matrix W ∈ R^{n×m}, with their constants µ, K and minimizer.

squared:  ℓ(W) = ½‖Y − XW‖²_F + (λ/2)‖W‖²_F,       K = σ²max(X) + λ,   µ = σ²min(X) + λ
logistic: ℓ(W) = Σ_i log(1 + e^{z_i}) − y_i z_i + (λ/2)‖W‖²,  z = XW (m = 1),  K = σ²max(X)/4 + λ, µ = λ
softmax:  ℓ(W) = Σ_i logsumexp(z_i) − ⟨y_i, z_i⟩ + (λ/2)‖W‖²,                 K = σ²max(X)/2 + λ, µ = λ
(µ, K: paper A Assumption 2.1; the softmax Hessian diag(p) − ppᵀ has norm ≤ ½.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from overparam import _jax  # noqa: F401  (float64)
from overparam.numerics import newton

LossFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def squared(W: jax.Array, X: jax.Array, Y: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum((Y - X @ W) ** 2)


def logistic(W: jax.Array, X: jax.Array, Y: jax.Array) -> jax.Array:
    z = X @ W
    return jnp.sum(jnp.logaddexp(0.0, z) - Y * z)


def softmax(W: jax.Array, X: jax.Array, Y: jax.Array) -> jax.Array:
    z = X @ W
    return jnp.sum(logsumexp(z, axis=1) - jnp.sum(Y * z, axis=1))


DATA_TERMS: dict[str, LossFn] = {"squared": squared, "logistic": logistic, "softmax": softmax}
CURVATURE_FACTOR = {"squared": 1.0, "logistic": 0.25, "softmax": 0.5}


def make_loss(name: str, ridge: float) -> LossFn:
    """ℓ(W; X, Y) including the ridge term."""
    term = DATA_TERMS[name]

    def loss(W: jax.Array, X: jax.Array, Y: jax.Array) -> jax.Array:
        return term(W, X, Y) + 0.5 * ridge * jnp.sum(W**2)

    return loss


class LossConstants(NamedTuple):
    K: float
    mu: float
    W_star: np.ndarray
    l_star: float


def constants(name: str, ridge: float, X: np.ndarray, Y: np.ndarray) -> LossConstants:
    """K, µ, the minimizer W* = argmin ℓ and ℓ* = ℓ(W*) for one data set."""
    s = np.linalg.svd(X, compute_uv=False)
    smax2 = float(s[0] ** 2)
    smin2 = float(s[-1] ** 2) if X.shape[0] >= X.shape[1] else 0.0
    K = CURVATURE_FACTOR[name] * smax2 + ridge
    mu = (smin2 + ridge) if name == "squared" else ridge
    W_star = minimizer(name, ridge, X, Y)
    l_star = float(make_loss(name, ridge)(jnp.asarray(W_star), jnp.asarray(X), jnp.asarray(Y)))
    return LossConstants(K=K, mu=mu, W_star=W_star, l_star=l_star)


def minimizer(name: str, ridge: float, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """argmin ℓ: least squares in closed form, damped Newton otherwise."""
    n = X.shape[1]
    if name == "squared":
        if ridge > 0:
            return np.linalg.solve(X.T @ X + ridge * np.eye(n), X.T @ Y)
        return np.linalg.lstsq(X, Y, rcond=None)[0]
    return np.asarray(_newton(name, ridge, jnp.asarray(X), jnp.asarray(Y)))


@partial(jax.jit, static_argnames="name")
def _newton(name: str, ridge: float, X: jax.Array, Y: jax.Array) -> jax.Array:
    """argmin ℓ by damped Newton on vec W with the autodiff Hessian (``numerics.newton``: its
    line search cannot stall on round-off of ℓ near the optimum). The data are arguments, so
    it compiles once per shape, not once per data set."""
    n, m = X.shape[1], Y.shape[1]
    loss = make_loss(name, ridge)

    def f(w: jax.Array) -> jax.Array:
        return loss(w.reshape(n, m), X, Y)

    return newton.minimize(f, jnp.zeros(n * m)).x.reshape(n, m)
