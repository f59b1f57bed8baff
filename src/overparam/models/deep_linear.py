"""Paper C's deep linear network a_N W_N ⋯ W_1: the end-to-end matrix, the layers' gradients
from the gradient at the end-to-end matrix, and σ_min of the inner product W_{N−1:2}."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)


def _from_output(Ws, a: float):
    """Left products P_j = W_{N:j+1} (P_N = I) and V = a·W_{N:1}, built from the output side."""
    ny = Ws[-1].shape[0]
    lefts = [None] * (len(Ws) + 1)
    lefts[-1] = jnp.eye(ny, dtype=Ws[0].dtype)
    for j in range(len(Ws), 0, -1):
        lefts[j - 1] = Ws[j - 1] if j == len(Ws) else lefts[j] @ Ws[j - 1]
    return lefts, a * lefts[0]


def _layer_grads(Ws, lefts, gV, a: float):
    """GD (7)'s gradients a W_{N:j+1}ᵀ ∇L W_{j−1:1}ᵀ with every product n_N rows thin:
    M_1 = ∇L, M_{j+1} = M_j W_jᵀ, and G_j = a P_jᵀ M_j (a rank-n_N outer product)."""
    grads, M = [], gV
    for j in range(1, len(Ws) + 1):
        grads.append(a * (lefts[j].T @ M) if j < len(Ws) else a * M)
        if j < len(Ws):
            M = M @ Ws[j - 1].T
    return grads


def end_to_end(Ws, a: float, from_output: bool):
    """V = a·W_N ⋯ W_1 (and the left products of the output-side order)."""
    if from_output:
        return _from_output(Ws, a)
    lefts, Vt = _from_output([W.T for W in reversed(Ws)], a)
    return lefts, Vt.T


def gradients(Ws, gV, a: float, from_output: bool, lefts):
    """All layers' gradients for ∇L(V) = gV, in the order chosen by ``end_to_end``."""
    if from_output:
        return _layer_grads(Ws, lefts, gV, a)
    g = _layer_grads([W.T for W in reversed(Ws)], lefts, gV.T, a)
    return [G.T for G in reversed(g)]


def _sv_range(A) -> tuple[jax.Array, jax.Array]:
    """(σ_max, σ_min) of a matrix with few rows, from its small Gram matrix."""
    ev = jnp.linalg.eigvalsh(A @ A.T)
    return jnp.sqrt(jnp.maximum(ev[-1], 0.0)), jnp.sqrt(jnp.maximum(ev[0], 0.0))


def inner_sigma_min(Ws) -> tuple[jax.Array, jax.Array, jax.Array]:
    """σ_min(W_{N−1:2}) and its n_N-th largest singular value (forming the width×width
    product), and §4.5's lower bound σ_{n_N}(W_{N:2})/σ_max(W_N); NaN for N = 2."""
    nan = jnp.asarray(jnp.nan)
    if len(Ws) < 3:
        return nan, nan, nan
    P = Ws[1]
    for W in Ws[2:-1]:
        P = W @ P
    sv = jnp.linalg.svd(P, compute_uv=False)
    nN = Ws[-1].shape[0]
    left = Ws[-1]
    for W in reversed(Ws[1:-1]):
        left = left @ W
    top_N = _sv_range(Ws[-1])[0]
    return sv[-1], sv[min(nN, sv.shape[0]) - 1], _sv_range(left)[1] / top_N
