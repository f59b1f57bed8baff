"""The (deep) linear classifier of paper D: x ↦ W_N ⋯ W_1 x with scalar output.

Layers are W_j ∈ R^{n_j × n_{j−1}}, n_0 = d, n_N = 1; the end-to-end vector is
w_e = (W_N ⋯ W_1)ᵀ ∈ R^d. With one output every chain is built from the output side as a
row vector, so a product costs O(Σ n_j n_{j−1}).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)


def end_to_end(Ws) -> jax.Array:
    """w_e = (W_N ⋯ W_1)ᵀ, multiplied from the output side (a row vector at every step)."""
    row = Ws[-1][0]
    for W in reversed(Ws[:-1]):
        row = row @ W
    return row


def layer_grads(Ws, g: jax.Array):
    """∂L/∂W_j for L(W) = ℓ(w_e) with ∇ℓ(w_e) = g: the pull-back through the product."""
    _, pull = jax.vjp(end_to_end, tuple(Ws))
    return pull(g)[0]


def balance_drift(Ws) -> jax.Array:
    """max_j ‖W_{j+1}ᵀW_{j+1} − W_j W_jᵀ‖_F (0 for an exactly balanced net; NaN for N = 1).

    Formed as n_j × n_j matrices: the Gram identity that avoids them subtracts numbers of
    size ‖W‖⁴ and would hide a drift below ~1e-8·‖W‖², which is what a balanced flow keeps.
    """
    if len(Ws) < 2:
        return jnp.asarray(jnp.nan)
    gaps = [jnp.linalg.norm(Ws[j + 1].T @ Ws[j + 1] - Ws[j] @ Ws[j].T)
            for j in range(len(Ws) - 1)]
    return jnp.max(jnp.stack(gaps))


def induced_velocity(w: jax.Array, g: jax.Array, N: int) -> jax.Array:
    """Eq (14): ẇ_e = −‖w_e‖^{2−2/N}(∇L + (N − 1) w̄_e w̄_eᵀ ∇L) for a balanced net."""
    nw = jnp.linalg.norm(w)
    wbar = w / jnp.where(nw > 0, nw, 1.0)
    return -(nw ** (2.0 - 2.0 / N)) * (g + (N - 1) * wbar * (wbar @ g))


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    u = rng.standard_normal(n)
    return u / np.linalg.norm(u)


def rank_one_layers(w0: np.ndarray, widths: list[int], rng: np.random.Generator,
                    scales: list[float]) -> list[np.ndarray]:
    """W_1 = s_1 u_2 w̄0ᵀ, W_j = s_j u_{j+1}u_jᵀ, W_N = s_N u_Nᵀ with random unit u_j; the
    product is (Π s_j) w̄0ᵀ. Balanced (W_{j+1}ᵀW_{j+1} = W_jW_jᵀ) when all s_j are equal."""
    N = len(widths) - 1
    if N == 1:
        return [scales[0] * (w0 / np.linalg.norm(w0))[None, :]]
    us = [w0 / np.linalg.norm(w0)] + [_unit(rng, widths[j]) for j in range(1, N)]
    Ws = [scales[j] * np.outer(us[j + 1], us[j]) for j in range(N - 1)]
    Ws.append(scales[-1] * us[-1][None, :])
    return Ws
