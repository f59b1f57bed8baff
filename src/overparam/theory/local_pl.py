"""Paper A formulas: local PL / descent-lemma constants, step sizes and rates (two-layer linear nets).

Two kinds of functions:

* ``jax.numpy`` formulas (jit- and vmap-safe, float64) evaluated inside the compiled GD loop:
  ``K_t, rho, local_step, K_bar, mu_bar, rho_bar, xu_step, xu_step_measured, rho_xu,
  lemma_e2_bound``.
* ``numpy``/``scipy`` set-up computations run once per seed (linear in the width h):
  ``table2_constants, theorem32_constants, eta_max, a_bounds, drift_bound``, the rates of
  eq 66-68 (the toy landscape of Prop. 2.1 / App. B is ``theory.toy_landscape``).

Equation numbers refer to paper A; decisions on its ambiguities are in docs/errata.md.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import brentq

from overparam import _jax  # noqa: F401  (float64)
from overparam.models.two_layer_linear import imbalance_eigs_qr

ArrayLike = jax.Array | np.ndarray | float

_NEWTON_STEPS = 8

# ---------------------------------------------------------------------------------------------
# (a) jax.numpy formulas used inside the GD loop
# ---------------------------------------------------------------------------------------------


def K_t(
    eta: ArrayLike, K: ArrayLike, s2max_T: ArrayLike, smax_W: ArrayLike, L: ArrayLike
) -> jax.Array:
    """Local smoothness constant K_t = Kσ²max(T) + √(2KL) + 6K²σmax(W)Lη² + 3Kσ²max(T)√(2KL)η (eq 12)."""
    r = jnp.sqrt(2.0 * K * L)
    return K * s2max_T + r + 6.0 * K**2 * smax_W * L * eta**2 + 3.0 * K * s2max_T * r * eta


def rho(eta: ArrayLike, mu_t: ArrayLike, K_t: ArrayLike) -> jax.Array:
    """Local rate ρ(η, t) = 1 − 2µ_tη + µ_tK_tη² (eq 10)."""
    return 1.0 - 2.0 * mu_t * eta + mu_t * K_t * eta**2


def _unit_cubic_root(a3: ArrayLike, a2: ArrayLike, a1: ArrayLike) -> jax.Array:
    """Unique positive root of a3η³ + a2η² + a1η = 1 for a1, a2, a3 ≥ 0 (not all 0; else +inf).

    With s = min(1/a1, a2^{-1/2}, a3^{-1/3}) the root lies in [s/3, s] (each term alone reaches 1
    at its own bound, and at s/3 the sum is ≤ 1/3 + 1/9 + 1/27 < 1). In x = η/s the cubic
    b3x³ + b2x² + b1x − 1 has max(b1, b2, b3) = 1; it is increasing and convex on x > 0, so Newton
    started at x = 1 decreases monotonically to the root (quadratic convergence; the derivative
    times x is ≥ 1 at the root, so the root is perfectly conditioned). A fixed number of steps
    suffices from the bracket [1/3, 1] (5 reach 1 ulp on 2e5 random cubics; 8 are used);
    iterates are clipped to it.
    """
    a1, a2, a3 = jnp.broadcast_arrays(
        jnp.asarray(a1, dtype=jnp.float64),
        jnp.asarray(a2, dtype=jnp.float64),
        jnp.asarray(a3, dtype=jnp.float64),
    )
    inv = jnp.stack(
        [
            jnp.where(a1 > 0, 1.0 / jnp.where(a1 > 0, a1, 1.0), jnp.inf),
            jnp.where(a2 > 0, jnp.where(a2 > 0, a2, 1.0) ** -0.5, jnp.inf),
            jnp.where(a3 > 0, jnp.cbrt(1.0 / jnp.where(a3 > 0, a3, 1.0)), jnp.inf),
        ]
    )
    s = jnp.min(inv, axis=0)
    finite = jnp.isfinite(s)
    s_safe = jnp.where(finite, s, 1.0)
    b1, b2, b3 = a1 * s_safe, a2 * s_safe**2, a3 * s_safe**3

    x = jnp.ones_like(s_safe)
    for _ in range(_NEWTON_STEPS):  # unrolled: cheap both eagerly and under jit
        f = ((b3 * x + b2) * x + b1) * x - 1.0
        fp = (3.0 * b3 * x + 2.0 * b2) * x + b1
        x = jnp.clip(x - f / fp, 1.0 / 3.0, 1.0)
    return jnp.where(finite, s_safe * x, jnp.inf)


def local_step(K: ArrayLike, s2max_T: ArrayLike, smax_W: ArrayLike, L: ArrayLike) -> jax.Array:
    """η with η·K_t(η) = 1 (eq 12, 18; docs/errata.md A5): positive root of the monotone cubic.

    6K²σmax(W)L·η³ + 3Kσ²max(T)√(2KL)·η² + (Kσ²max(T) + √(2KL))·η − 1 = 0; for L → 0 it is
    1/(Kσ²max(T)). Safeguarded Newton, relative accuracy ~1e-15.
    """
    r = jnp.sqrt(2.0 * K * L)
    return _unit_cubic_root(6.0 * K**2 * smax_W * L, 3.0 * K * s2max_T * r, K * s2max_T + r)


def mu_bar(
    mu: ArrayLike, alpha1: ArrayLike, alpha2: ArrayLike, eta0: ArrayLike, c: ArrayLike
) -> jax.Array:
    """Uniform PL constant µ̄ = µ[α1 + 2α2(1 − exp(η0^c))] (Thm 3.2 / E.1)."""
    return mu * (alpha1 - 2.0 * alpha2 * jnp.expm1(eta0**c))


def K_bar(
    t: ArrayLike,
    eta0: ArrayLike,
    K: ArrayLike,
    L0: ArrayLike,
    alpha2: ArrayLike,
    beta2: ArrayLike,
    rho_bar0: ArrayLike,
    Delta_tilde: ArrayLike,
    c: ArrayLike,
) -> jax.Array:
    """Uniform smoothness K̄_t (Thm 3.2 / E.1; the roots cover ρ̄0^t and Δ̃^t, docs/errata.md A4).

    K̄_t = √(2KL0ρ̄0^t) + 6K²β2L0η0²Δ̃^t + K exp(η0^c)α2[1 + 3√(2KL0Δ̃^t)η0].
    """
    dt = Delta_tilde**t
    return (
        jnp.sqrt(2.0 * K * L0 * rho_bar0**t)
        + 6.0 * K**2 * beta2 * L0 * eta0**2 * dt
        + K * jnp.exp(eta0**c) * alpha2 * (1.0 + 3.0 * jnp.sqrt(2.0 * K * L0 * dt) * eta0)
    )


def rho_bar(eta: ArrayLike, mu_bar: ArrayLike, K_bar: ArrayLike) -> jax.Array:
    """Uniform rate ρ̄(η, t) = 1 − 2µ̄η + µ̄K̄_tη² (Thm 3.2 / E.1)."""
    return 1.0 - 2.0 * mu_bar * eta + mu_bar * K_bar * eta**2


def _xu_root(C: ArrayLike, B: ArrayLike, K: ArrayLike, a: ArrayLike) -> jax.Array:
    """Positive root of C − ηa − (Kη/2)(B + ηa)² = 0, or 0 when C ≤ 0 (eq 62)."""
    C = jnp.asarray(C, dtype=jnp.float64)
    Cs = jnp.where(C > 0, C, 1.0)
    a3 = K * a**2 / 2.0 / Cs
    a2 = K * B * a / Cs
    a1 = (a + K * B**2 / 2.0) / Cs
    return jnp.where(C > 0, _unit_cubic_root(a3, a2, a1), 0.0)


def xu_step(
    c1: ArrayLike, c2: ArrayLike, alpha1: ArrayLike, alpha2: ArrayLike, K: ArrayLike, a: ArrayLike
) -> jax.Array:
    """Xu et al. step (eq 62 with uniform bounds, docs/errata.md A7): root of c1α1 − ηa − (Kη/2)(c2α2 + ηa)².

    a = ‖∇ℓ‖_F‖W‖_F ≥ 0; a = 0 gives 2c1α1/(K(c2α2)²); returns 0 when c1α1 ≤ 0.
    """
    return _xu_root(c1 * alpha1, c2 * alpha2, K, a)


def xu_step_measured(
    s2min_T: ArrayLike, s2max_T: ArrayLike, K: ArrayLike, a: ArrayLike
) -> jax.Array:
    """Largest η satisfying eq 62 with the measured σ²min(T_t), σ²max(T_t); 0 when σ²min(T_t) ≤ 0."""
    return _xu_root(s2min_T, s2max_T, K, a)


def rho_xu(
    eta: ArrayLike,
    mu: ArrayLike,
    K: ArrayLike,
    s2min_T: ArrayLike,
    s2max_T: ArrayLike,
    smax_W: ArrayLike,
    gradl_norm: ArrayLike,
) -> jax.Array:
    """Xu et al. local rate ρ(η, t) of Lemma C.1 (eq 64)."""
    g = gradl_norm
    return (
        1.0
        - 2.0 * eta * mu * s2min_T
        + K * mu * eta**2 * s2max_T**2
        + 2.0 * eta**2 * mu * smax_W * g
        + 2.0 * eta**3 * mu * K * s2max_T * smax_W * g
        + eta**4 * mu * K * smax_W**2 * g**2
    )


def lemma_e2_bound(K: ArrayLike, eta: ArrayLike, s2max_T: ArrayLike, L: ArrayLike) -> jax.Array:
    """Bound ‖D(k+1) − D(k)‖_F ≤ 2Kη²σ²max(T)L (Lemma E.2, eq 129)."""
    return 2.0 * K * eta**2 * s2max_T * L


# ---------------------------------------------------------------------------------------------
# (b) numpy / scipy set-up (once per seed)
# ---------------------------------------------------------------------------------------------


def table2_constants(
    W1_0: np.ndarray, W2_0: np.ndarray, W_star: np.ndarray, K: float, mu: float
) -> dict[str, float]:
    """Table 2 constants λ±, Δ, Δ±, β1, β2, α1, α2 from W1(0), W2(0), W* (λ_k of the full h×h D(0)).

    The spectrum of D(0) comes from the QR form (``imbalance_eigs_qr``) plus h−(n+m) zeros: O(h).

    λ_n(D) and λ_m(−D) exist only for h ≥ max(n, m); a ValueError is raised otherwise.
    """
    W1_0 = np.asarray(W1_0, dtype=np.float64)
    W2_0 = np.asarray(W2_0, dtype=np.float64)
    W_star = np.asarray(W_star, dtype=np.float64)
    n, h = W1_0.shape
    m = W2_0.shape[0]
    if h < max(n, m):
        raise ValueError(f"Table 2 needs h >= max(n, m); got n={n}, m={m}, h={h}")
    if h >= n + m:  # full spectrum of D(0): the n+m small eigenvalues and h−(n+m) zeros
        full = np.concatenate([imbalance_eigs_qr(W1_0, W2_0), np.zeros(h - n - m)])
    else:
        full = np.linalg.eigvalsh(W1_0.T @ W1_0 - W2_0.T @ W2_0)
    full = np.sort(full)[::-1]

    def lam(k: int) -> float:
        return float(full[k - 1])

    lam_plus = max(lam(1), 0.0)
    lam_minus = max(-lam(h), 0.0)
    ln = max(lam(n), 0.0)  # max(λ_n(D), 0)
    lm = max(-lam(h - m + 1), 0.0)  # max(λ_m(−D), 0) with λ_m(−D) = −λ_{h−m+1}(D)
    Delta = ln + lm
    Delta_plus = lam_plus - ln
    Delta_minus = lam_minus - lm
    s_star = np.linalg.svd(W_star, compute_uv=False)
    dist = float(np.sqrt(K / mu) * np.linalg.norm(W1_0 @ W2_0.T - W_star))
    beta1 = max(0.0, float(s_star[-1]) - dist)
    beta2 = float(s_star[0]) + dist
    alpha1 = 0.5 * (
        -Delta_plus
        - Delta_minus
        + np.sqrt((Delta_plus + Delta) ** 2 + 4.0 * beta1**2)
        + np.sqrt((Delta_minus + Delta) ** 2 + 4.0 * beta1**2)
    )
    alpha2 = 0.5 * (lam_plus + np.sqrt(lam_plus**2 + 4.0 * beta2**2)) + 0.5 * (
        lam_minus + np.sqrt(lam_minus**2 + 4.0 * beta2**2)
    )
    return {
        "lambda_plus": lam_plus,
        "lambda_minus": lam_minus,
        "Delta": Delta,
        "Delta_plus": Delta_plus,
        "Delta_minus": Delta_minus,
        "beta1": beta1,
        "beta2": beta2,
        "alpha1": float(alpha1),
        "alpha2": float(alpha2),
    }


def _K_bar0_np(
    eta0: ArrayLike, K: float, L0: float, alpha2: float, beta2: float, c: float
) -> ArrayLike:
    """K̄_0(η0) = √(2KL0) + 6K²β2L0η0² + K exp(η0^c)α2[1 + 3√(2KL0)η0] (eq 101), numpy."""
    r = np.sqrt(2.0 * K * L0)
    return (
        r
        + 6.0 * K**2 * beta2 * L0 * eta0**2
        + K * np.exp(eta0**c) * alpha2 * (1.0 + 3.0 * r * eta0)
    )


def _one_minus_rho_bar0(
    eta0: ArrayLike,
    K: float,
    mu: float,
    L0: float,
    alpha1: float,
    alpha2: float,
    beta2: float,
    c: float,
) -> ArrayLike:
    """1 − ρ̄(η0, 0) = µ̄η0(2 − K̄_0η0), without cancellation (Thm E.1), numpy."""
    mb = mu * (alpha1 - 2.0 * alpha2 * np.expm1(eta0**c))
    return mb * eta0 * (2.0 - _K_bar0_np(eta0, K, L0, alpha2, beta2, c) * eta0)


def theorem32_constants(
    K: float,
    mu: float,
    L0: float,
    alpha1: float,
    alpha2: float,
    beta2: float,
    eta0: float,
    c: float,
    d: float,
) -> dict[str, float]:
    """µ̄, K̄_0, ρ̄0 = ρ̄(η0, 0) and Δ̃ = (1 + η0^d)ρ̄0 of Theorem 3.2 / E.1 for a given η0."""
    mb = float(mu * (alpha1 - 2.0 * alpha2 * np.expm1(eta0**c)))
    kb0 = float(_K_bar0_np(eta0, K, L0, alpha2, beta2, c))
    rb0 = 1.0 - float(_one_minus_rho_bar0(eta0, K, mu, L0, alpha1, alpha2, beta2, c))
    return {"mu_bar": mb, "K_bar0": kb0, "rho_bar0": rb0, "Delta_tilde": (1.0 + eta0**d) * rb0}


_SCAN_LO = 1e-300
_SCAN_PER_DECADE = 24


def _first_root(f: Callable[[np.ndarray], np.ndarray], hi: float) -> float:
    """Smallest root of f on (0, hi] found by a log-spaced scan and brentq; inf if no sign change.

    The scan evaluates f on ``_SCAN_PER_DECADE`` log-spaced points per decade from 1e-300 to
    ``hi`` and takes the first sign change (or exact zero) relative to the first point, then
    refines it with brentq (xtol 1e-300, rtol 4 eps). Pairs of roots closer than one grid
    step (a factor 10^(1/24) ≈ 1.1) and tangential roots are not detected; a non-finite value
    ends the scan. If f already vanishes or changes sign below 1e-300, or ``hi`` itself lies
    below 1e-300 (a root there is 0 to double precision), 0.0 is returned.
    """
    if not hi >= _SCAN_LO:
        return 0.0
    n = int(np.ceil((np.log10(hi) - np.log10(_SCAN_LO)) * _SCAN_PER_DECADE)) + 1
    grid = np.logspace(np.log10(_SCAN_LO), np.log10(hi), n)
    with np.errstate(all="ignore"):
        vals = f(grid)
    s0 = np.sign(vals[0])
    if s0 == 0 or not np.isfinite(vals[0]):
        return 0.0
    bad = ~np.isfinite(vals)
    stop = int(np.argmax(bad)) if bad.any() else n
    change = np.nonzero(np.sign(vals[:stop]) != s0)[0]
    if change.size == 0:
        return float("inf")
    i = int(change[0])
    if vals[i] == 0:
        return float(grid[i])
    return float(
        brentq(f, grid[i - 1], grid[i], xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    )


def eta_max(
    K: float,
    mu: float,
    L0: float,
    alpha1: float,
    alpha2: float,
    beta2: float,
    c: float,
    d: float,
) -> dict[str, float]:
    """η0^(1) (eq 101), η0^(2) (eq 102), η0^(3) = log(1 + α1/(2α2))^{1/c} and η_max (Thm E.1).

    η0^(1): unique positive root of η0·K̄_0(η0) = 1 (increasing in η0; below 1/(Kα2)).
    η0^(2): smallest positive root of 4KL0η0² = (1 − exp(−η0^c))(1 − Δ̃(η0)), inf if none;
    searched as the first root of the equivalent (divided by η0(1 − exp(−η0^c)) > 0)
    g(η) = (1 − Δ̃)/η − 4KL0η/(1 − exp(−η^c)), which tends to 2µα1 as η → 0+ and stays finite,
    by the scan of ``_first_root`` over [1e-300, 700^{1/c}] (exp overflow beyond).
    When α1 ≤ 0 the theorem does not apply: eta0_3 and eta_max are nan (eta0_1, eta0_2 are
    still reported). L0 = 0 is allowed.
    """

    def f1(e: ArrayLike) -> ArrayLike:
        return e * _K_bar0_np(e, K, L0, alpha2, beta2, c) - 1.0

    def f2(e: ArrayLike) -> ArrayLike:
        omr = _one_minus_rho_bar0(e, K, mu, L0, alpha1, alpha2, beta2, c)
        one_minus_dt = omr / e - e ** (d - 1.0) * (1.0 - omr)
        return one_minus_dt - 4.0 * K * L0 * e / (-np.expm1(-(e**c)))

    hi1 = 1.0 / (K * alpha2) if alpha2 > 0 else 700.0 ** (1.0 / c)
    e1 = _first_root(f1, min(hi1 * 1.0000001, 700.0 ** (1.0 / c)))
    e2 = _first_root(f2, 700.0 ** (1.0 / c))
    if alpha1 > 0:
        e3 = float(np.log1p(alpha1 / (2.0 * alpha2)) ** (1.0 / c))
        em = min(e1, e2, e3)
    else:
        e3 = float("nan")
        em = float("nan")
    return {"eta0_1": e1, "eta0_2": e2, "eta0_3": e3, "eta_max": em}


def a_bounds(alpha1: float, alpha2: float, eta0: float, c: float) -> tuple[float, float]:
    """Hypothesis A4 (Thm E.1): α1 + 2α2(1 − exp(η0^c)) ≤ σ²min(T_t) ≤ σ²max(T_t) ≤ α2 exp(η0^c)."""
    return float(alpha1 - 2.0 * alpha2 * np.expm1(eta0**c)), float(alpha2 * np.exp(eta0**c))


def drift_bound(
    K: float, eta0: float, alpha2: float, L0: float, c: float, Delta_tilde: float
) -> float:
    """Hypothesis A3 (Thm E.1): ‖D(t) − D(0)‖_F ≤ 2Kη0²α2 exp(η0^c)L0/(1 − Δ̃)."""
    return float(2.0 * K * eta0**2 * alpha2 * np.exp(eta0**c) * L0 / (1.0 - Delta_tilde))


def rate_prior_local(mu: ArrayLike, K: ArrayLike, s2min: ArrayLike, s2max: ArrayLike) -> ArrayLike:
    """Optimal local rate of prior work 1 − (µ/K)(σ²min/σ²max)² (eq 66)."""
    return 1.0 - (mu / K) * (s2min / s2max) ** 2


def rate_this_local(mu: ArrayLike, K: ArrayLike, s2min: ArrayLike, s2max: ArrayLike) -> ArrayLike:
    """Optimal local rate of Paper A 1 − (µ/K)σ²min/σ²max (eq 66; eq 14 with squares)."""
    return 1.0 - (mu / K) * (s2min / s2max)


def rate_this_global(
    mu: ArrayLike, K: ArrayLike, alpha1: ArrayLike, alpha2: ArrayLike
) -> ArrayLike:
    """Optimal rate of convergence of Paper A 1 − (µ/K)α1/α2 (eq 67)."""
    return 1.0 - (mu / K) * (alpha1 / alpha2)


def rate_xu_global(
    mu: ArrayLike, K: ArrayLike, alpha1: ArrayLike, alpha2: ArrayLike, c1: ArrayLike, c2: ArrayLike
) -> ArrayLike:
    """Optimal rate of convergence of Xu et al. 1 − (µ/K)c1²α1²/(c2²α2²) (eq 68)."""
    return 1.0 - (mu / K) * (c1 * alpha1) ** 2 / (c2 * alpha2) ** 2
