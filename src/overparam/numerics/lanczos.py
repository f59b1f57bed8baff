"""Matrix-free spectral estimates of a symmetric operator: Lanczos extremes, stochastic Lanczos
quadrature (SLQ) and Hutchinson's trace.

The operator is a function ``matvec(v) -> A v`` on R^n (a Hessian-vector product, an NTK
product); A is never formed. Everything here is a pure JAX function with fixed iteration
counts, so it runs under ``jax.jit``, ``jax.vmap`` (over seeds, probes or matrices) and inside
``lax.scan``; arrays are float64.

Definitions
-----------
* **Lanczos** with k = min(iters, n) steps builds an orthonormal basis q_0..q_{k-1} of the
  Krylov space span{v0, A v0, …, A^{k-1} v0} and the k×k tridiagonal T = Q A Qᵀ (diagonal
  α, off-diagonal β). Every new vector is orthogonalized against the whole basis so far,
  twice (classical Gram–Schmidt), so the basis stays orthonormal to round-off and no spurious
  copies of converged Ritz values appear. The eigenvalues of T (Ritz values) lie in
  [λ_min(A), λ_max(A)]; the extreme ones converge first, fastest where the spectrum has a gap.
* **Invariant subspace** (β_j ≤ 1e-12 · max‖A q‖, e.g. iters > rank(A)): the Ritz values so far
  are exact eigenvalues of A. The iteration then sets β_j = 0 and continues from the
  coordinate vector least covered by the basis, orthogonalized against it (with r < n basis
  vectors its residual norm is at least √(1 − r/n) > 0), so T is block diagonal and every
  Ritz value is still a Rayleigh–Ritz value of A on an orthonormal basis: no NaN and no
  spurious 0. The later blocks have zero first components, so SLQ's weights are unchanged.
* **Extremes**: λ_min and λ_max are the extreme Ritz values, ``v_top`` the unit Ritz vector of
  λ_max in R^n and ``residual`` = ‖A v_top − λ_max v_top‖ (computed with one more product).
  Some eigenvalue of A lies within ``residual`` of λ_max (Bauer–Fike for symmetric A); with a
  distance δ from λ_max to the rest of A's spectrum, it is within residual²/δ of an eigenvalue.
* **Warm start**: pass the previous call's ``v_top`` as v0; near an eigenvector a few steps
  recover λ_max. A v0 that is 0 or not finite falls back to ``v_fallback`` (default:
  ``fallback_vector(n)``, a fixed pseudo-random unit vector), so a first call can pass zeros.
* **SLQ** (Ubaru, Chen & Saad 2017): for each probe z (normalized inside), Lanczos from z
  gives nodes θ_j (Ritz values) and weights w_j = (first component of the j-th eigenvector
  of T)², Σ_j w_j = 1. The k-point Gauss rule is exact for polynomials of degree ≤ 2k − 1:
  Σ_j w_j θ_j^q = ẑᵀ A^q ẑ. The spectral density estimate is the mean over probes of
  Σ_j w_j δ(x − θ_j); with Rademacher probes (‖z‖² = n), tr(A^q) ≈ n · mean Σ_j w_j θ_j^q.
* **Hutchinson**: tr(A) ≈ mean over probes of zᵀ A z, reported with its standard error
  (sample std, ddof = 1, over √p; p ≥ 2, else NaN). For Rademacher probes the variance of
  one term is 2 Σ_{i≠j} A_ij², for Gaussian probes 2 ‖A‖_F².

Costs (products with A; a Hessian-vector product costs a small multiple of a gradient, see
``overparam.generic.operators``)
-------------------------------------------------------------------------------------------
* ``lanczos``: k products, plus O(k² n) flops for the reorthogonalization, memory (k + 1)·n.
* ``extreme_eigs``: k + 1 products.
* ``slq``: p·k products, memory p·(k + 1)·n at once (or ``batch_size``·(k + 1)·n).
* ``hutchinson``: p products.

Accuracy: with k ≥ the number of distinct eigenvalues (or k = n) the Ritz values are the
eigenvalues of A to round-off (about 1e-14 · ‖A‖); otherwise convergence of the extremes is
governed by the gap (Kaniel–Paige), and ``residual`` says how far it got.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from overparam import _jax  # noqa: F401  (float64)

Matvec = Callable[[jax.Array], jax.Array]

#: β below this fraction of the largest ‖A q‖ seen marks an invariant Krylov subspace.
BREAKDOWN = 1e-12
#: Smallest norm a vector is divided by (guards a division the result never uses).
_TINY = 1e-300


class Tridiagonal(NamedTuple):
    """A Lanczos decomposition: T = tridiag(β, α, β) ≈ Q A Qᵀ with Q = ``basis``."""

    alpha: jax.Array  # [k] diagonal of T
    beta: jax.Array  # [k-1] off-diagonal of T (0 where the Krylov space was invariant)
    basis: jax.Array  # [k, n] orthonormal rows q_j


class Extremes(NamedTuple):
    """The extreme eigenvalue estimates of one Lanczos run."""

    lam_min: jax.Array  # smallest Ritz value
    lam_max: jax.Array  # largest Ritz value
    v_top: jax.Array  # [n] unit Ritz vector of lam_max (the next call's v0)
    residual: jax.Array  # ‖A v_top − lam_max v_top‖


def fallback_vector(n: int) -> jax.Array:
    """The fixed unit start vector used when v0 is 0 or not finite: entries
    frac(43758.5453 · sin(12.9898 · i)) − ½, i = 1..n, normalized (a deterministic
    pseudo-random vector, cheap to build inside compiled code, aligned with no coordinate)."""
    i = jnp.arange(1, n + 1, dtype=jnp.float64)
    v = jnp.mod(43758.5453 * jnp.sin(12.9898 * i), 1.0) - 0.5
    return v / jnp.linalg.norm(v)


def start_vector(v0: jax.Array, v_fallback: jax.Array | None = None) -> jax.Array:
    """v0 / ‖v0‖, or the normalized fallback where ‖v0‖ is 0 or not finite."""
    v0 = jnp.asarray(v0, dtype=jnp.float64)
    fb = fallback_vector(v0.shape[-1]) if v_fallback is None else jnp.asarray(
        v_fallback, dtype=jnp.float64)
    fb = fb / jnp.linalg.norm(fb)
    nrm = jnp.linalg.norm(v0)
    ok = jnp.isfinite(nrm) & (nrm > 0)
    return jnp.where(ok, v0 / jnp.where(ok, nrm, 1.0), fb)


def _project_out(basis: jax.Array, w: jax.Array) -> jax.Array:
    """w minus its projection on the rows of ``basis`` (one classical Gram–Schmidt pass; the
    zero rows of the preallocated basis contribute nothing)."""
    return w - basis.T @ (basis @ w)


def lanczos(matvec: Matvec, v0: jax.Array, iters: int,
            v_fallback: jax.Array | None = None) -> Tridiagonal:
    """k = min(iters, n) Lanczos steps from v0 with full reorthogonalization (module docstring).

    ``iters`` is a static int; v0 is normalized inside (0 or non-finite: ``v_fallback``).
    A non-finite product propagates NaN into the result rather than being hidden."""
    if int(iters) < 1:
        raise ValueError(f"lanczos needs iters >= 1, got {iters}")
    q0 = start_vector(v0, v_fallback)
    n = q0.shape[-1]
    k = min(int(iters), n)
    basis = jnp.zeros((k + 1, n), q0.dtype).at[0].set(q0)
    alpha = jnp.zeros(k, q0.dtype)
    beta = jnp.zeros(k, q0.dtype)

    def step(j, carry):
        basis, alpha, beta, scale = carry
        q = basis[j]
        w = jnp.asarray(matvec(q), q0.dtype)
        scale = jnp.maximum(scale, jnp.linalg.norm(w))
        a = q @ w
        w = _project_out(basis, w)  # first pass (rows 0..j are set, the rest are zero)
        broken = jnp.linalg.norm(w) <= BREAKDOWN * scale  # False for NaN: NaN propagates
        cover = jnp.sum(basis * basis, axis=0)  # diagonal of the projector on the basis
        least = jax.nn.one_hot(jnp.argmin(cover), n, dtype=q0.dtype)
        w = _project_out(basis, jnp.where(broken, least, w))  # w's second pass, or the restart's
        b = jnp.linalg.norm(w)
        q_next = w / jnp.maximum(b, _TINY)
        return (basis.at[j + 1].set(q_next), alpha.at[j].set(a),
                beta.at[j].set(jnp.where(broken, 0.0, b)), scale)

    init = (basis, alpha, beta, jnp.zeros((), q0.dtype))
    basis, alpha, beta, _ = lax.fori_loop(0, k, step, init)
    return Tridiagonal(alpha=alpha, beta=beta[: k - 1], basis=basis[:k])


def tridiagonal_matrix(tri: Tridiagonal) -> jax.Array:
    """The dense k×k matrix T of one decomposition."""
    return jnp.diag(tri.alpha) + jnp.diag(tri.beta, 1) + jnp.diag(tri.beta, -1)


def ritz(tri: Tridiagonal) -> tuple[jax.Array, jax.Array]:
    """Ritz values (ascending, [k]) and their eigenvectors in the tridiagonal basis ([k, k],
    column j for value j; the Ritz vector in R^n is ``basis.T @ vectors[:, j]``)."""
    return jnp.linalg.eigh(tridiagonal_matrix(tri))


def extreme_eigs(matvec: Matvec, v0: jax.Array, iters: int,
                 v_fallback: jax.Array | None = None) -> Extremes:
    """λ_min, λ_max, the top Ritz vector and its residual norm, from k + 1 products."""
    return extremes_of(matvec, lanczos(matvec, v0, iters, v_fallback))


def extremes_of(matvec: Matvec, tri: Tridiagonal) -> Extremes:
    """The extremes of a decomposition already computed (one more product, for the residual)."""
    values, vectors = ritz(tri)
    v = tri.basis.T @ vectors[:, -1]
    v = v / jnp.linalg.norm(v)
    lam_max = values[-1]
    residual = jnp.linalg.norm(jnp.asarray(matvec(v), v.dtype) - lam_max * v)
    return Extremes(lam_min=values[0], lam_max=lam_max, v_top=v, residual=residual)


def _over_rows(fn: Callable, rows: jax.Array, batch_size: int | None):
    """fn over the rows of ``rows``: all at once (vmap) or ``batch_size`` at a time."""
    if batch_size is None:
        return jax.vmap(fn)(rows)
    return lax.map(fn, rows, batch_size=batch_size)


def slq(matvec: Matvec, probes: jax.Array, iters: int,
        batch_size: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Stochastic Lanczos quadrature: nodes [p, k] (Ritz values) and weights [p, k] (squared
    first components, each row summing to 1), one Lanczos run per probe row."""
    def one(z):
        values, vectors = ritz(lanczos(matvec, z, iters))
        return values, vectors[0] ** 2

    return _over_rows(one, jnp.asarray(probes, jnp.float64), batch_size)


def _mean_and_stderr(values: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean over the leading axis and its standard error (ddof = 1; NaN for one value)."""
    p = values.shape[0]
    se = jnp.std(values, axis=0, ddof=1) / jnp.sqrt(p) if p > 1 else jnp.full(
        values.shape[1:], jnp.nan)
    return jnp.mean(values, axis=0), se


def slq_moment(nodes: jax.Array, weights: jax.Array, q: int) -> tuple[jax.Array, jax.Array]:
    """The estimate of tr(A^q)/n (the spectral density's q-th moment) and its standard error
    over probes: mean over probes of Σ_j w_j θ_j^q (unbiased for Rademacher probes)."""
    return _mean_and_stderr(jnp.sum(weights * nodes**q, axis=-1))


def slq_density(nodes: jax.Array, weights: jax.Array, x: jax.Array,
                sigma: float) -> jax.Array:
    """The SLQ spectral density broadened by a Gaussian of width σ, at the points x: mean over
    probes of Σ_j w_j N(x; θ_j, σ²). It integrates to 1; its mean is the first moment and its
    variance adds σ² to the spectrum's."""
    x = jnp.asarray(x, jnp.float64)
    z = (x[..., None, None] - nodes) / sigma
    kernel = jnp.exp(-0.5 * z**2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return jnp.mean(jnp.sum(weights * kernel, axis=-1), axis=-1)


def hutchinson(matvec: Matvec, probes: jax.Array,
               batch_size: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Hutchinson's trace estimate mean_z zᵀ A z over the probe rows and its standard error
    (sample std, ddof = 1, over √p); p products."""
    def one(z):
        return z @ jnp.asarray(matvec(z), z.dtype)

    return _mean_and_stderr(_over_rows(one, jnp.asarray(probes, jnp.float64), batch_size))


def rademacher(key: jax.Array, p: int, n: int) -> jax.Array:
    """p Rademacher probes in R^n ([p, n], entries ±1): the minimum-variance Hutchinson probe."""
    return jax.random.rademacher(key, (p, n), dtype=jnp.float64)


def gaussian_probes(key: jax.Array, p: int, n: int) -> jax.Array:
    """p standard Gaussian probes in R^n ([p, n])."""
    return jax.random.normal(key, (p, n), dtype=jnp.float64)
