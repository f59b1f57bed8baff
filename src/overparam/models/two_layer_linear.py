"""Structural helpers of the two-layer linear model Φ = W1 W2ᵀ (Paper A, eq 7-8, Lemma A.2, E.2).

Shapes: W1 ∈ R^{n×h}, W2 ∈ R^{m×h}, ∇ℓ ∈ R^{n×m}. The width h may be large, so nothing of
size h×h is ever formed: every quantity is obtained from Gram matrices of size at most
2(n+m). All functions except the numpy set-up/test helpers ``imbalance_eigs_qr`` and
``dense_T_singular_values`` are pure ``jax.numpy`` (float64, jit- and vmap-safe; Python
branches are on static shapes only).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)

Array = jax.Array


def product(W1: Array, W2: Array) -> Array:
    """End-to-end matrix W = W1 W2ᵀ (n×m) of Problem 2."""
    return jnp.asarray(W1) @ jnp.asarray(W2).T


def _sym_eigvals(G: Array) -> Array:
    """Ascending eigenvalues of the symmetrized matrix G, tiny negatives clipped to 0 (PSD input)."""
    G = 0.5 * (G + G.T)
    return jnp.clip(jnp.linalg.eigvalsh(G), 0.0, None)


def gram_spectra(W1: Array, W2: Array) -> dict[str, Array]:
    """Extreme squared singular values of W1 (n of them) and W2 (m of them) via W1W1ᵀ, W2W2ᵀ (Lemma A.2)."""
    W1 = jnp.asarray(W1)
    W2 = jnp.asarray(W2)
    e1 = _sym_eigvals(W1 @ W1.T)
    e2 = _sym_eigvals(W2 @ W2.T)
    return {
        "sig2min_W1": e1[0],
        "sig2max_W1": e1[-1],
        "sig2min_W2": e2[0],
        "sig2max_W2": e2[-1],
    }


def sigma2_T(W1: Array, W2: Array) -> tuple[Array, Array]:
    """(σ²_min(T), σ²_max(T)) of T(U) = (U W2, Uᵀ W1) by Lemma A.2 (sums of the Gram extremes)."""
    s = gram_spectra(W1, W2)
    return s["sig2min_W1"] + s["sig2min_W2"], s["sig2max_W1"] + s["sig2max_W2"]


def _signature(n: int, m: int) -> Array:
    """J = diag(I_n, −I_m) as a vector."""
    return jnp.concatenate([jnp.ones(n), -jnp.ones(m)])


def imbalance_eigs(W1: Array, W2: Array) -> Array:
    """The n+m eigenvalues (descending) of D = W1ᵀW1 − W2ᵀW2 that can be nonzero (Table 2).

    With A = [W1; W2], J = diag(I_n, −I_m) and G = AAᵀ = V S Vᵀ, D = AᵀJA has the nonzero
    spectrum of S^{1/2} Vᵀ J V S^{1/2} ((n+m)×(n+m)); the other h−(n+m) eigenvalues of D are
    exactly 0. Eigenvalues s_i ≤ 8(n+m)·eps·s_max of G are set to 0 (numerical rank), which
    makes exactly rank-deficient cases (e.g. balanced W1 = W2) exact; the error is
    ~eps·‖G‖ for well-conditioned G and at most ~sqrt(eps)·‖G‖ when G is nearly singular
    (use ``imbalance_eigs_qr`` for full accuracy at set-up). For h < n+m, D itself is small:
    its h eigenvalues are returned padded with n+m−h exact zeros.
    """
    W1 = jnp.asarray(W1)
    W2 = jnp.asarray(W2)
    n, h = W1.shape
    m = W2.shape[0]
    N = n + m
    A = jnp.concatenate([W1, W2], axis=0)
    j = _signature(n, m)
    if h >= N:
        G = A @ A.T
        S, V = jnp.linalg.eigh(0.5 * (G + G.T))
        tol = 8.0 * N * jnp.finfo(G.dtype).eps * S[-1]
        B = V * jnp.sqrt(jnp.where(S > tol, S, 0.0))[None, :]
        M = B.T @ (B * j[:, None])
        ev = jnp.linalg.eigvalsh(0.5 * (M + M.T))
    else:
        M = A.T @ (A * j[:, None])
        ev = jnp.sort(jnp.concatenate([jnp.linalg.eigvalsh(0.5 * (M + M.T)), jnp.zeros(N - h)]))
    return ev[::-1]


def imbalance_eigs_qr(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """numpy, set-up only: same as ``imbalance_eigs`` via Householder QR [W1; W2]ᵀ = QR and R J Rᵀ.

    Backward stable (error ~eps·‖A‖² even for rank-deficient A); O(h(n+m)²), nothing h×h
    (for h < n+m the small h×h D is used directly).
    """
    W1 = np.asarray(W1, dtype=np.float64)
    W2 = np.asarray(W2, dtype=np.float64)
    n, h = W1.shape
    m = W2.shape[0]
    N = n + m
    A = np.concatenate([W1, W2], axis=0)
    j = np.concatenate([np.ones(n), -np.ones(m)])
    if h >= N:
        R = np.linalg.qr(A.T, mode="r")
        ev = np.linalg.eigvalsh((R * j[None, :]) @ R.T)
    else:
        ev = np.concatenate([np.linalg.eigvalsh(A.T @ (A * j[:, None])), np.zeros(N - h)])
    return np.sort(ev)[::-1]


def row_space_coordinates(
    W1: np.ndarray, W2: np.ndarray, with_basis: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """numpy, set-up: (B1, B2, Q) with W1 = B1 Qᵀ, W2 = B2 Qᵀ, QᵀQ = I, from one QR of [W1; W2]ᵀ.

    GD (eq 7-8) updates W1 by ∇ℓ W2 and W2 by ∇ℓᵀ W1, so the rows of W1(t), W2(t) stay in
    the row space of [W1(0); W2(0)] (dimension ≤ n+m), and everything the loop measures
    (W1W2ᵀ, the Grams W_iW_iᵀ, ‖∇L‖, ‖D(t) − D(0)‖_F, ‖D(k+1) − D(k)‖_F, ⟨g, Hg⟩/‖g‖², σ(T))
    is invariant under W_i ↦ W_i Q. GD on (B1, B2) with (n+m) columns is therefore GD on
    (W1, W2) written in an orthonormal basis Q of that row space: the same numbers to round-off
    at a width-independent cost per step. With [W1; W2]ᵀ = QR (Householder, backward stable),
    [B1; B2] = Rᵀ. For h ≤ n+m nothing is gained: (W1, W2, I_h) is returned. ``with_basis=False``
    skips forming Q (None is returned in its place).
    """
    W1 = np.asarray(W1, dtype=np.float64)
    W2 = np.asarray(W2, dtype=np.float64)
    n, h = W1.shape
    if h <= n + W2.shape[0]:
        return W1, W2, (np.eye(h) if with_basis else None)
    A = np.concatenate([W1, W2], axis=0)
    if with_basis:
        Q, R = np.linalg.qr(A.T)
    else:
        Q, R = None, np.linalg.qr(A.T, mode="r")
    B = np.ascontiguousarray(R.T)
    return B[:n], B[n:], Q


def kth_largest_eig_of_D(
    eigs_small: Array, h: int, k: int, tol: float | Array | None = None
) -> Array:
    """k-th largest (1-based) eigenvalue λ_k of the full h×h D from its small spectrum (Table 2).

    ``eigs_small`` are the N = n+m values returned by ``imbalance_eigs``. The spectrum of D is
    that list with h−N zeros appended (h ≥ N) or with N−h of its zeros removed (h < N).
    Entries with |λ| ≤ tol (default 8·N·eps·max|λ|) are treated as exact zeros.
    """
    s = jnp.asarray(eigs_small)
    N = s.shape[0]
    if tol is None:
        tol = 8.0 * N * jnp.finfo(s.dtype).eps * jnp.max(jnp.abs(s))
    s = jnp.sort(jnp.where(jnp.abs(s) <= tol, 0.0, s))[::-1]
    z = h - N
    P = jnp.sum(s > 0)
    Q = jnp.sum(s == 0)
    neg_idx = jnp.clip(k - 1 - z, 0, N - 1)
    pos_idx = jnp.clip(k - 1, 0, N - 1)
    val = jnp.where(k <= P, s[pos_idx], jnp.where(k <= P + Q + z, 0.0, s[neg_idx]))
    return val


def _trace_SGSG(P: Array, S: Array) -> Array:
    """‖Pᵀ S P‖_F = sqrt(tr(SGSG)) for G = PPᵀ and a small symmetric S, guarded at 0."""
    SG = S @ (P @ P.T)
    return jnp.sqrt(jnp.clip(jnp.sum(SG * SG.T), 0.0, None))


def imbalance_drift_fro(W1: Array, W2: Array, W1_0: Array, W2_0: Array) -> Array:
    """‖D(t) − D(0)‖_F (hypothesis A3, Thm E.1) through a 2(n+m)×2(n+m) Gram.

    With E_i = W_i − W_i(0), D(t) − D(0) = W1_0ᵀE1 + E1ᵀW1_0 + E1ᵀE1 − (same for 2)
    = PᵀSP, P = [W1_0; W2_0; E1; E2], S = [[0, J], [J, J]], J = diag(I_n, −I_m), and the norm
    is sqrt(tr(SGSG)), G = PPᵀ. Every term of that trace carries two E factors, so a small
    drift is resolved to ~eps relative (the equivalent trace with the Gram of
    [W1; W2; W1_0; W2_0] would cancel down from ‖W‖⁴ and give only ~sqrt(eps)·‖W‖²).
    """
    W1 = jnp.asarray(W1)
    W2 = jnp.asarray(W2)
    W1_0 = jnp.asarray(W1_0)
    W2_0 = jnp.asarray(W2_0)
    n, m = W1.shape[0], W2.shape[0]
    P = jnp.concatenate([W1_0, W2_0, W1 - W1_0, W2 - W2_0], axis=0)
    J = jnp.diag(_signature(n, m))
    Z = jnp.zeros_like(J)
    S = jnp.block([[Z, J], [J, J]])
    return _trace_SGSG(P, S)


def imbalance_step_fro(W1: Array, W2: Array, gradl: Array, eta: float | Array) -> Array:
    """‖D(k+1) − D(k)‖_F of one GD step (eq 130-131, transposes corrected).

    With W1 ← W1 − η∇ℓ W2 and W2 ← W2 − η∇ℓᵀ W1 the cross terms cancel and
    D(k+1) − D(k) = η²(W2ᵀ∇ℓᵀ∇ℓ W2 − W1ᵀ∇ℓ∇ℓᵀ W1) = η² BᵀJB with B = [∇ℓW2; ∇ℓᵀW1]
    ((n+m)×h) and J = diag(I_n, −I_m); the norm is η² sqrt(tr(JGJG)), G = BBᵀ. The printed
    eq 131 writes W1ᵀ∇ℓᵀ∇ℓW1, which is undefined for n ≠ m.
    """
    W1 = jnp.asarray(W1)
    W2 = jnp.asarray(W2)
    g = jnp.asarray(gradl)
    n, m = W1.shape[0], W2.shape[0]
    B = jnp.concatenate([g @ W2, g.T @ W1], axis=0)
    return jnp.asarray(eta) ** 2 * _trace_SGSG(B, jnp.diag(_signature(n, m)))


def dense_T_singular_values(W1: Array, W2: Array) -> np.ndarray:
    """The nm singular values (descending, zero-padded) of T(U) = (U W2, Uᵀ W1) as a dense ((n+m)h)×(nm) matrix (eq 8; tests only)."""
    W1 = np.asarray(W1, dtype=np.float64)
    W2 = np.asarray(W2, dtype=np.float64)
    n, m = W1.shape[0], W2.shape[0]
    # Column (i, j) is T(E_ij): U W2 has row i equal to W2[j], Uᵀ W1 has row j equal to W1[i].
    top = np.einsum("ai,jk->akij", np.eye(n), W2).reshape(n * W2.shape[1], n * m)
    bottom = np.einsum("bj,ik->bkij", np.eye(m), W1).reshape(m * W1.shape[1], n * m)
    M = np.concatenate([top, bottom], axis=0)
    # eigvalsh of the nm×nm MᵀM: the same singular values as an SVD of the tall M, and fast
    # where LAPACK's SVD of a ((n+m)h)×(nm) matrix takes a second.
    sv = np.sqrt(np.clip(np.linalg.eigvalsh(M.T @ M), 0.0, None))[::-1]
    return np.concatenate([sv, np.zeros(n * m - sv.size)])


def sigma_W(W: Array) -> tuple[Array, Array]:
    """(σ_min, σ_max) of the n×m product W over its min(n, m) singular values (Table 2, eq 12)."""
    s = jnp.linalg.svd(jnp.asarray(W), compute_uv=False)
    return s[-1], s[0]
