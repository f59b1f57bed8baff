"""Convex losses L(W) of paper C with their constants α, β in the semi-norm ‖·‖_X and minimizer.

Convention: W ∈ R^{ny×nx}, X ∈ R^{nx×m} (columns are samples), Y ∈ R^{ny×m}, z = WX.
‖A‖_X = ‖A P_X‖_F = ‖A U‖_F with P_X the projector on range(X) and U = basis(X); X may be
rank-deficient, so L is strongly convex only on the classes W + anything·(I − P_X).
Every loss carries the ridge term λ‖W‖²_X (λ, not λ/2: it adds 2λ to α and β, Example 2).

    squared_half   ½‖WX − Y‖²_F                            α = λ⁺min + 2λ        β = λmax + 2λ
    squared_mean   (1/m)‖WX − Y‖²_F                        α = 2λ⁺min/m + 2λ     β = 2λmax/m + 2λ
    logistic       (1/m) Σ_i log(1 + e^{z_i}) − y_i z_i    α = 2λ                β = λmax/(4m) + 2λ
    softmax        (1/m) Σ_i lse(z_:,i) − ⟨y_:,i, z_:,i⟩     α = 2λ                β = λmax/(2m) + 2λ

λmax, λ⁺min: largest and smallest nonzero eigenvalue of XXᵀ. logistic takes ny = 1 and 0/1
labels, softmax one-hot columns; its Hessian diag(p) − ppᵀ has norm ≤ ½.
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

#: L(W, X, Y, U) with U = basis(X).
DeepLossFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


def _squared_half(Z: jax.Array, Y: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum((Z - Y) ** 2)


def _squared_mean(Z: jax.Array, Y: jax.Array) -> jax.Array:
    return jnp.sum((Z - Y) ** 2) / Z.shape[1]


def _logistic(Z: jax.Array, Y: jax.Array) -> jax.Array:
    return jnp.sum(jnp.logaddexp(0.0, Z) - Y * Z) / Z.shape[1]


def _softmax(Z: jax.Array, Y: jax.Array) -> jax.Array:
    return jnp.sum(logsumexp(Z, axis=0) - jnp.sum(Y * Z, axis=0)) / Z.shape[1]


DATA_TERMS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "squared_half": _squared_half,
    "squared_mean": _squared_mean,
    "logistic": _logistic,
    "softmax": _softmax,
}
LOSSES = tuple(DATA_TERMS)


def _check_name(name: str) -> None:
    if name not in DATA_TERMS:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")


def _svd_rank(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Thin SVD of X and its numerical rank (numpy.linalg.matrix_rank's tolerance)."""
    X = np.asarray(X, dtype=np.float64)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    tol = (s.max() if s.size else 0.0) * max(X.shape) * np.finfo(np.float64).eps
    return U, s, Vt, int(np.count_nonzero(s > tol))


def basis(X: np.ndarray) -> np.ndarray:
    """U ∈ R^{nx×min(nx,m)}: the first r columns an orthonormal basis of range(X), the rest zero.

    Zero columns keep the shape independent of the rank (one compiled program for every seed)
    while U Uᵀ = P_X, so ‖A U‖_F = ‖A‖_X.
    """
    U, _, _, r = _svd_rank(X)
    return _zero_tail(U, r)


def _zero_tail(U: np.ndarray, r: int) -> np.ndarray:
    U = U.copy()
    U[:, r:] = 0.0
    return U


def make_loss(name: str, ridge: float) -> DeepLossFn:
    """L(W; X, Y, U) = data term + ridge·‖W U‖²_F (pure jnp: jit, vmap and grad apply)."""
    _check_name(name)
    term = DATA_TERMS[name]

    def loss(W: jax.Array, X: jax.Array, Y: jax.Array, U: jax.Array) -> jax.Array:
        return term(W @ X, Y) + ridge * jnp.sum((W @ U) ** 2)

    return loss


@partial(jax.jit, static_argnames="name")
def _value(name: str, ridge: float, W: jax.Array, X: jax.Array, Y: jax.Array, U: jax.Array
           ) -> jax.Array:
    return make_loss(name, ridge)(W, X, Y, U)


class DeepLossConstants(NamedTuple):
    alpha: float  # strong convexity in ‖·‖_X
    beta: float  # smoothness in ‖·‖_X
    kappa: float  # β/α (inf when α = 0)
    W_star: np.ndarray  # the minimizer with W* = W* P_X
    L_star: float  # L(W*)
    U: np.ndarray  # basis(X)
    rank: int  # r = rank(X)
    lam_max: float  # λmax(XXᵀ)
    lam_min_plus: float  # smallest nonzero eigenvalue of XXᵀ (0 when X = 0)


def constants(name: str, ridge: float, X: np.ndarray, Y: np.ndarray) -> DeepLossConstants:
    """α, β, κ, the minimizer W* (in the range of X) and L* = L(W*) for one data set."""
    _check_name(name)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    m = X.shape[1]
    Ufull, s, Vt, r = _svd_rank(X)
    U = _zero_tail(Ufull, r)
    lam_max = float(s[0] ** 2) if r else 0.0
    lam_min_plus = float(s[r - 1] ** 2) if r else 0.0
    if name == "squared_half":
        alpha, beta = lam_min_plus + 2 * ridge, lam_max + 2 * ridge
    elif name == "squared_mean":
        alpha, beta = 2 * lam_min_plus / m + 2 * ridge, 2 * lam_max / m + 2 * ridge
    elif name == "logistic":
        alpha, beta = 2 * ridge, lam_max / (4 * m) + 2 * ridge
    else:
        alpha, beta = 2 * ridge, lam_max / (2 * m) + 2 * ridge
    kappa = beta / alpha if alpha > 0 else float("inf")
    W_star = _minimizer(name, ridge, Ufull, s, Vt, r, Y)
    L_star = float(_value(name, ridge, *(jnp.asarray(a) for a in (W_star, X, Y, U))))
    return DeepLossConstants(alpha=alpha, beta=beta, kappa=kappa, W_star=W_star, L_star=L_star,
                             U=U, rank=r, lam_max=lam_max, lam_min_plus=lam_min_plus)


def _minimizer(name: str, ridge: float, U: np.ndarray, s: np.ndarray, Vt: np.ndarray, r: int,
               Y: np.ndarray) -> np.ndarray:
    """W* = B Uᵣᵀ, where B minimizes the loss in reduced coordinates: with X = Uᵣ Sᵣ Vᵣᵀ and
    Z = Uᵣᵀ X = Sᵣ Vᵣᵀ (full row rank), L(B Uᵣᵀ) = data(B Z) + λ‖B‖²_F.

    squared_half: (BZ − Y)Zᵀ + 2λB = 0 ⇒ B = Y Vᵣ Sᵣ (Sᵣ² + 2λ)⁻¹ (min-norm least squares at λ = 0);
    squared_mean: (2/m)(BZ − Y)Zᵀ + 2λB = 0 ⇒ B = Y Vᵣ Sᵣ (Sᵣ² + mλ)⁻¹;
    logistic, softmax: Newton on B. (m·L = Σ_i row term + λm‖B‖² is overparam.losses.two_layer_linear's sum-form
    loss with X_A = Zᵀ, W_A = Bᵀ, Y_A = Yᵀ and ridge_A = 2λm; the Newton here takes the data as
    arguments, so it compiles once per shape rather than once per data set.)
    """
    ny, nx = Y.shape[0], U.shape[0]
    if r == 0:
        return np.zeros((ny, nx))
    Ur, sr, Vr = U[:, :r], s[:r], Vt[:r].T
    if name == "squared_half":
        B = (Y @ Vr) * (sr / (sr**2 + 2 * ridge))
    elif name == "squared_mean":
        B = (Y @ Vr) * (sr / (sr**2 + Y.shape[1] * ridge))
    else:
        Z = sr[:, None] * Vr.T
        B = np.asarray(_newton(name, jnp.asarray(Z), jnp.asarray(Y), ridge))
    return B @ Ur.T


@partial(jax.jit, static_argnames="name")
def _newton(name: str, Z: jax.Array, Y: jax.Array, ridge: float) -> jax.Array:
    """argmin_B data(BZ, Y) + λ‖B‖²_F by damped Newton (``numerics.newton``: a line search on
    f or on ‖∇f‖, so round-off of f near the optimum cannot stall it), to a relative gradient
    of 1e-13 or 100 steps.

    The Hessian is assembled in closed form, (1/m) Σ_i H_i ⊗ z_i z_iᵀ + 2λI with
    H_i = diag(p_i) − p_i p_iᵀ (softmax) or diag(σ_i(1 − σ_i)) (logistic): two matrix
    products instead of one autodiff pass per coordinate.
    """
    term = DATA_TERMS[name]
    (ny, m), r = Y.shape, Z.shape[0]
    n = ny * r

    def f(b: jax.Array) -> jax.Array:
        B = b.reshape(ny, r)
        return term(B @ Z, Y) + ridge * jnp.sum(B**2)

    def hess(b: jax.Array) -> jax.Array:
        S = b.reshape(ny, r) @ Z
        P = jax.nn.sigmoid(S) if name == "logistic" else jax.nn.softmax(S, axis=0)
        if name == "logistic":
            T = (P * (1.0 - P))[:, None, :] * Z[None]
        else:
            T = P[:, None, :] * Z[None]
        blocks = T @ Z.T  # (ny, r, r): Σ_i w_ai z_i z_iᵀ
        H = jnp.einsum("ab,ajk->ajbk", jnp.eye(ny), blocks).reshape(n, n)
        if name == "softmax":
            A = T.reshape(n, m)
            H = H - A @ A.T
        return H / m + 2.0 * ridge * jnp.eye(n)

    return newton.minimize(f, jnp.zeros(n), hess).x.reshape(ny, r)
