"""Paper C's constants and bounds: rates of the convex twin, Theorem 2's trajectory
comparison, Lemma 5, the step sizes of Theorems 1 and 4–6, and the convergence region (14).

Everything here is a plain function of scalars (jnp-friendly, so it runs inside the loop)
except the region constants, which are computed once per run from the initial weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from scipy.sparse.linalg import LinearOperator, svds

from overparam import _jax  # noqa: F401  (float64)


def q_rate(alpha: float, beta: float, eta_star: float):
    """Eq 10: the squared contraction factor of GD with step η* on an α-strongly convex,
    β-smooth loss: ‖W(t+1) − W*‖² ≤ q‖W(t) − W*‖² (q = (1 − η*α)² or (1 − η*β)²)."""
    lo = 1.0 - alpha * eta_star * (2.0 - eta_star * alpha)
    hi = 1.0 - beta * eta_star * (2.0 - eta_star * beta)
    return jnp.where(eta_star <= 2.0 / (alpha + beta), lo, hi)


def rate_eq3(alpha: float, beta: float, eta_star: float):
    """Eq 3 for any η* < 2/β: E(t+1) ≤ (1 − 2αη*(1 − βη*/2)) E(t); at η* = 1/β it is 1 − 1/κ."""
    return 1.0 - 2.0 * alpha * eta_star * (1.0 - 0.5 * beta * eta_star)


def D(tau, q, t):
    """D(τ, q, t) = min{τ/(1 − q), 2(q + τ)^t} of Theorem 2."""
    return jnp.minimum(tau / (1.0 - q), 2.0 * (q + tau) ** t)


def bound_12a(tau, q, t, e0):
    """(12a): ‖a_N W_{N:1}(t) − W(t)‖²_X ≤ D ‖a_N W_{N:1}(0) − W*‖²_X."""
    return D(tau, q, t) * e0


def bound_12b(tau, q, t, e0, beta):
    """(12b): |E_DLN(t) − E(t)| ≤ β(q^{t/2}√D + D/2) ‖a_N W_{N:1}(0) − W*‖²_X."""
    d = D(tau, q, t)
    return beta * (q ** (0.5 * t) * jnp.sqrt(d) + 0.5 * d) * e0


def bound_12c(tau, q, t, e0, beta):
    """(12c): E_DLN(t) ≤ 3β(q + τ)^t ‖a_N W_{N:1}(0) − W*‖²_X."""
    return 3.0 * beta * (q + tau) ** t * e0


def bound_lemma5(tau, q, t, e0):
    """Lemma 5: ‖V(t) − W*‖²_X ≤ (q + 7τ)^t ‖V(0) − W*‖²_X."""
    return (q + 7.0 * tau) ** t * e0


# Theorem 2 as Lemma 6's proof derives it, before its last line replaces 14τ and 7τ by τ.
# With τ the constant of (16) measured on a run, that relabelling is not what the proof
# shows; these are the bounds it does show. They need q + 7τ < 1 (Lemma 5's contraction,
# which the proof uses for V(t)); where it fails they are NaN.
def D_proof(tau, q, t):
    """min{14τ/(1 − q), 2(q + 7τ)^t}: Lemma 6's proof of (18a)."""
    return jnp.minimum(14.0 * tau / (1.0 - q), 2.0 * (q + 7.0 * tau) ** t)


def _where_proof_applies(value, tau, q):
    return jnp.where(q + 7.0 * tau < 1.0, value, jnp.nan)


def bound_12a_proof(tau, q, t, e0):
    """(12a) as proved: ‖V(t) − W(t)‖²_X ≤ min{14τ/(1 − q), 2(q + 7τ)^t} e0."""
    return _where_proof_applies(D_proof(tau, q, t) * e0, tau, q)


def bound_12b_proof(tau, q, t, e0, beta):
    """(12b) as proved: |E_DLN(t) − E(t)| ≤ β(q^{t/2}√D + D/2) e0 with D = ``D_proof``."""
    d = D_proof(tau, q, t)
    return _where_proof_applies(beta * (q ** (0.5 * t) * jnp.sqrt(d) + 0.5 * d) * e0, tau, q)


def bound_12c_proof(tau, q, t, e0, beta):
    """(12c) as proved: E_DLN(t) ≤ 3β(q + 7τ)^t e0."""
    return _where_proof_applies(3.0 * beta * (q + 7.0 * tau) ** t * e0, tau, q)


def eta_choice(choice: float | str, widths: Sequence[int], beta: float, x_norm2: float,
               c: float, eps: float, alpha: float = math.nan) -> float:
    """The deep network's step size η for a schedule's ``eta`` (a number or a paper C rule;
    ``cor3`` needs α)."""
    N, nN = len(widths) - 1, widths[-1]
    if choice == "thm1":
        return nN / (beta * N)
    if choice == "thm4":
        return (1.0 - eps) * eta0_thm4(widths, beta, c)
    if choice == "data_norm":
        return nN / (N * x_norm2)
    if choice == "cor3":
        return eta_cor3(widths, alpha, beta)
    return float(choice)


def eta_cor3(widths: Sequence[int], alpha: float, beta: float) -> float:
    """Corollary 3: η = 2n_N/((α + β)N), i.e. the twin's η* = 2/(α + β), where q (10) is
    1 − 4κ/(1 + κ)², eq 4's rate."""
    return 2.0 * widths[-1] / ((alpha + beta) * (len(widths) - 1))


def eta0_thm4(widths: Sequence[int], beta: float, c: float) -> float:
    """Theorems 4–6: η0 = 2n_N/(e^{2c} β N)."""
    return 2.0 * widths[-1] / (math.exp(2.0 * c) * beta * (len(widths) - 1))


def eta1(widths: Sequence[int], beta: float) -> float:
    """Theorem 2's upper bound η1 = 2n_N/(βN) (η* < 2/β)."""
    return 2.0 * widths[-1] / (beta * (len(widths) - 1))


def rate_thm4(kappa: float, eta: float, eta0: float, c: float) -> float:
    """Theorems 4–6: E_DLN(t) ≤ (1 − 4e^{−c}(η/η0)(1 − η/η0)/κ)^t E_DLN(0)."""
    r = eta / eta0
    return 1.0 - 4.0 * math.exp(-c) * r * (1.0 - r) / kappa


def _sv_extremes(A: np.ndarray) -> tuple[float, float]:
    """(σ_max, σ_min) of A, σ_min being the min(rows, cols)-th singular value, via the small Gram."""
    G = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    ev = np.clip(np.linalg.eigvalsh(G), 0.0, None)
    return float(np.sqrt(ev[-1])), float(np.sqrt(ev[0]))


def _log_prod(ns: Sequence[int]) -> float:
    return float(sum(math.log(n) for n in ns))


def spectral_norm_chain(mats: Sequence[np.ndarray]) -> float:
    """‖M_k ⋯ M_1‖ (mats = [M_1, …, M_k]) by Lanczos on the composed operator, never forming
    the product."""
    rows, cols = mats[-1].shape[0], mats[0].shape[1]

    def mv(x):
        for M in mats:
            x = M @ x
        return x

    def rmv(y):
        for M in reversed(mats):
            y = M.T @ y
        return y

    if min(rows, cols) <= 64:  # small: dense is exact and cheap
        P = mats[0]
        for M in mats[1:]:
            P = M @ P
        return float(np.linalg.norm(P, 2))
    op = LinearOperator((rows, cols), matvec=mv, rmatvec=rmv, dtype=np.float64)
    s = svds(op, k=1, return_singular_vectors=False, tol=1e-10, random_state=0)
    return float(s[0])


def region_constants(Ws: Sequence[np.ndarray], widths: Sequence[int], U: np.ndarray) -> dict:
    """The smallest c1, c2 (and M at θ = 0) for which W(0) satisfies Lemma 3's region (14).

    c1 = max over the four families of 2·log(σ_max / reference),
    c2 = max of −2·log(σ_min / reference), with references √(n_{N−1}⋯n_i) for W_{N:i+1}
    (1 ≤ i ≤ N−1) and √(n_{i−1}⋯n_1) for W_{i−1:1} restricted to R(X) (2 ≤ i ≤ N).
    σ_min is the min(rows, cols)-th singular value. ``U`` spans R(X) (zero columns allowed).
    """
    N = len(Ws)
    Ur = U[:, np.linalg.norm(U, axis=0) > 0]
    up, down = [], []
    left = np.eye(widths[-1])  # W_{N:i+1}, built from the left (n_N rows: cheap)
    for i in range(N - 1, 0, -1):
        left = left @ Ws[i]
        smax, smin = _sv_extremes(left)
        ref = 0.5 * _log_prod(widths[i:N])
        up.append(2.0 * (math.log(smax) - ref))
        down.append(-2.0 * (math.log(smin) - ref) if smin > 0 else math.inf)
    right = Ur  # W_{i−1:1} restricted to R(X), built from the right (rank(X) columns)
    for i in range(2, N + 1):
        right = Ws[i - 2] @ right
        smax, smin = _sv_extremes(right)
        ref = 0.5 * _log_prod(widths[1:i])
        up.append(2.0 * (math.log(smax) - ref))
        down.append(-2.0 * (math.log(smin) - ref) if smin > 0 else math.inf)
    # ‖W_{j:i}(0)‖ ≤ (M/2)(Π_{i≤k≤j−1} n_k · max{n_{i−1}, n_j})^{1/2}, 1 < i ≤ j < N.
    M = 0.0
    for i in range(2, N):
        for j in range(i, N):
            norm = spectral_norm_chain(Ws[i - 1:j])
            ref = 0.5 * (_log_prod(widths[i:j]) + math.log(max(widths[i - 1], widths[j])))
            M = max(M, 2.0 * norm / math.exp(ref))
    return {"c1": max(up), "c2": max(down), "M_region": M if N > 2 else float("nan")}
