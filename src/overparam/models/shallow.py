"""The shallow network Φ(W, V) = V φ(W X) of paper B (with optional biases,
V φ(W X + b1 1ᵀ) + b2 1ᵀ), its Jacobian's Gram matrix (the empirical NTK) and the
Hadamard-power form of the Khatri–Rao Gram.

The NTK ∇Φ ∇Φ* is a (d2·n)×(d2·n) matrix, formed from d1×(d2·n) factors: nothing of size
(parameters)² and nothing width×width is built. Entry ((p,a), (q,b)) belongs to outputs p, q
and samples a, b (row-major vec of Z ∈ R^{d2×n}).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)

Act = Callable[[jax.Array], jax.Array]


def forward(W: jax.Array, V: jax.Array, X: jax.Array, act: Act, b1: jax.Array | None = None,
            b2: jax.Array | None = None) -> jax.Array:
    """Z = V φ(W X + b1 1ᵀ) + b2 1ᵀ ∈ R^{d2×n} (no bias where b1, b2 are None)."""
    pre = W @ X if b1 is None else W @ X + b1[:, None]
    Z = V @ act(pre)
    return Z if b2 is None else Z + b2[:, None]


def ntk_gram(W: jax.Array, V: jax.Array, X: jax.Array, act: Act, dact: Act,
             b1: jax.Array | None = None) -> jax.Array:
    """∇Φ(Θ)∇Φ*(Θ) = J Jᵀ: the V-block I_{d2} ⊗ φᵀφ plus the W-block
    [(p,a),(q,b)] = x_aᵀx_b Σ_c V_pc V_qc φ'_ca φ'_cb (adjoint (39)). With biases (b1 given;
    b2 then exists too) a bias is a weight on a constant input 1: x_aᵀx_b becomes
    x_aᵀx_b + 1 and φᵀφ becomes φᵀφ + 11ᵀ."""
    pre = W @ X if b1 is None else W @ X + b1[:, None]
    phi, dphi = act(pre), dact(pre)
    d2, n = V.shape[0], X.shape[1]
    A = (V.T[:, :, None] * dphi[:, None, :]).reshape(W.shape[0], d2 * n)
    G = X.T @ X if b1 is None else X.T @ X + 1.0
    F = phi.T @ phi if b1 is None else phi.T @ phi + 1.0
    K_w = (A.T @ A) * jnp.tile(G, (d2, d2))
    K_v = jnp.kron(jnp.eye(d2), F)
    return K_w + K_v


def ntk_extremes(W, V, X, act: Act, dact: Act, b1=None) -> tuple[jax.Array, jax.Array]:
    """(λ_min, λ_max) of J Jᵀ, i.e. σ²_min and σ²_max of ∇Φ*(Θ)."""
    ev = jnp.linalg.eigvalsh(ntk_gram(W, V, X, act, dact, b1))
    return ev[0], ev[-1]


def dense_jacobian(W: np.ndarray, V: np.ndarray, X: np.ndarray, act: Act,
                   b1: np.ndarray | None = None, b2: np.ndarray | None = None) -> np.ndarray:
    """The explicit Jacobian of vec(Z) in (vec W, vec V[, b1, b2]), by autodiff (small sizes,
    tests)."""
    params = tuple(jnp.asarray(a) for a in (W, V, b1, b2) if a is not None)

    def flat(p):
        return forward(p[0], p[1], jnp.asarray(X), act, *p[2:]).ravel()

    blocks = jax.jacrev(flat)(params)
    return np.concatenate([np.asarray(j).reshape(j.shape[0], -1) for j in blocks], axis=1)


def khatri_rao_gram(X: np.ndarray, t: int) -> np.ndarray:
    """(X^{*t})ᵀ X^{*t} = (XᵀX)^{∘t}: the Gram of the t-fold Khatri–Rao power, never formed."""
    return (X.T @ X) ** t


def sigma_min_khatri_rao(X: np.ndarray, t: int) -> float:
    """σ_min(X^{*t}) = √λ_min((XᵀX)^{∘t}) (0 when X^{*t} has fewer rows than columns' rank)."""
    ev = np.linalg.eigvalsh(khatri_rao_gram(X, t))
    return float(np.sqrt(max(ev[0], 0.0)))


def default_t(d0: int, n: int) -> int:
    """Least t with C(d0+t−1, t) ≥ n: the symmetric t-tensors of R^d0 can hold n independent
    columns (the paper's n ≃ d0^t). In closed form where the count would not end: for d0 = 1
    every power has one row, so no t holds n > 1 columns (1 then, and σ_min(X^{*t}) = 0 for
    every t); for d0 = 2, C(t+1, t) = t + 1."""
    from math import comb

    if d0 == 1:
        return 1
    if d0 == 2:
        return max(1, n - 1)
    t = 1
    while comb(d0 + t - 1, t) < n:
        t += 1
    return t
