"""Paper D's directional-convergence bounds for logistic loss on spherically symmetric data.

Everything is written in terms of the angle θ between the end-to-end vector (w, or w_e for a
deep linear net) and the target direction v, through the exponent

    E(θ) := −2 ln tan(θ/2) = ln((1 + cos θ)/(1 − cos θ)),   cos θ = 1 − 2/(e^E + 1) = tanh(E/2).

With ψ := E/2 = artanh(cos θ), the directional dynamics of every model in the paper reads
dψ/dt = (d cos θ/dt)/sin²θ = (c0/π)·‖w‖^{1 − 2/N} (Lemma 2 with eq 4 for the linear predictor,
N = 1; Lemma 7 for a balanced N-matrix linear net), so each bound is "integrate a bound on the
norm factor, then map back through tanh". The functions return cos θ bounds, are vectorized
over the flow time t (or the step index n for gradient descent), and use float64 numpy.

Every flow bound takes a start time t0 at which the state (‖w(t0)‖, θ(t0)) is known: the flows
are autonomous, so a bound drawn from t0 is the paper's bound applied to the trajectory that
starts there. Values at t < t0 are NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

Array = np.ndarray

NORM_RATE = 0.6
"""Twice Lemma 3(i)'s bound g(w) ≤ 0.3: d‖w‖²/dt ≤ 0.6 for the linear predictor and, for a
balanced net, d‖w_e‖^{2/N}/dt = 2g(w_e) ≤ 0.6."""


# ----------------------------------------------------------------------------- angle helpers
def cos_from_exponent(E: ArrayLike) -> Array | np.float64:
    """cos θ = 1 − 2/(e^E + 1), evaluated as tanh(E/2) so that |E| up to any size is finite."""
    return _out(np.tanh(0.5 * np.asarray(E, dtype=np.float64)))


def exponent_from_theta(theta: ArrayLike) -> Array | np.float64:
    """E(θ) = −2 ln tan(θ/2) (the B1 / B2 / E constants of Theorems 1 and 3); +∞ at θ = 0."""
    th = np.asarray(theta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return _out(-2.0 * np.log(np.tan(0.5 * th)))


def _out(a: Array) -> Array | np.float64:
    """A 0-d result as a numpy scalar, anything else unchanged."""
    return a[()] if a.ndim == 0 else a


def _elapsed(t: ArrayLike, t0: float) -> tuple[Array, Array]:
    """(t, t − t0) as float64 arrays; the elapsed time is NaN before the start time."""
    t = np.asarray(t, dtype=np.float64)
    s = t - float(t0)
    return t, np.where(s >= 0.0, s, np.nan)


def _switch(T: float, t0: float, norm0: float, theta0: float, normT: float,
            thetaT: float) -> tuple[float, float, float]:
    """The phase-2 start (T, ‖w(T)‖, θ(T)) as used from t0: a switch before t0 means the curve
    is phase 2 from t0 itself, restarted from the state at t0."""
    if T < t0:
        return float(t0), float(norm0), float(theta0)
    return float(T), float(normT), float(thetaT)


# ------------------------------------------------------------- linear predictor, gradient flow
def thm1_lower(t: ArrayLike, c0: float, norm0: float, theta0: float, T: float, normT: float,
               thetaT: float, t0: float = 0.0) -> Array | np.float64:
    """Theorem 1: lower bound on cos θ(t) under gradient flow on the population loss (1) with a
    linear predictor, drawn from the state (‖w(t0)‖, θ(t0)) = (norm0, theta0).

    Phase 1 (t0 ≤ t ≤ T, the norm is decreasing, so ‖w(t)‖ ≤ norm0): dψ/dt = c0/(π‖w‖) ≥
    c0/(π norm0) gives the exponent A1 (t − t0) + B1, A1 = 2c0/(π norm0), B1 = E(θ(t0)).

    Phase 2 (t > T): Lemma 3(i) gives ‖w(t)‖² ≤ ‖w(T)‖² + 0.6 (t − T), hence

        ψ(t) − ψ(T) ≥ (c0/π) ∫_0^{t−T} ds/√(‖w(T)‖² + 0.6 s)
                    = (2c0/(0.6π)) (√(‖w(T)‖² + 0.6 (t − T)) − ‖w(T)‖),

    i.e. the exponent 2ψ(t) ≥ A2 √(t − T + C2) + B2 with A2 = 4c0/(π√0.6),
    C2 = ‖w(T)‖²/0.6 and B2 = E(θ(T)) − 4c0‖w(T)‖/(0.6π). The printed statement reads
    A2 = 4c0/√(0.6π) and places C2 outside the square root; that reading is not what the
    integration gives (it is not even continuous at t = T), so the derived form is used.
    It is evaluated as E(θ(T)) + 4c0 (t − T)/(π(√(‖w(T)‖² + 0.6(t − T)) + ‖w(T)‖)), the same
    number without the cancellation between A2√C2 and B2.

    T = inf{t: d‖w‖²/dt ≥ 0}. A non-finite T (no switch seen) gives phase 1 everywhere; a
    switch before t0 makes the whole curve phase 2 restarted from the state at t0 (normT and
    thetaT are then not used).
    """
    t, s = _elapsed(t, t0)
    E1 = 2.0 * c0 / (math.pi * norm0) * s + exponent_from_theta(theta0)
    if not math.isfinite(T):
        return cos_from_exponent(E1)
    T, normT, thetaT = _switch(T, t0, norm0, theta0, normT, thetaT)
    u = np.maximum(t - T, 0.0)
    E2 = exponent_from_theta(thetaT) + 4.0 * c0 * u / (
        math.pi * (np.sqrt(normT**2 + NORM_RATE * u) + normT))
    return cos_from_exponent(np.where(t <= T, E1, E2))


# ---------------------------------------------------------- balanced deep linear, gradient flow
def prop4(t: ArrayLike, c0: float, theta0: float, t0: float = 0.0) -> Array | np.float64:
    """Proposition 4 (N = 2, balanced (13), gradient flow): the exact angle,
    cos θ(t) = 1 − 2/(C1 e^{2c0 (t − t0)/π} + 1), C1 = (1 + cos θ(t0))/(1 − cos θ(t0)).

    For N = 2 Lemma 7 has no norm factor, so dψ/dt = c0/π exactly. Evaluated in exponent form,
    ln C1 = E(θ(t0)), so large times and angles near 0 or π stay finite.
    """
    _, s = _elapsed(t, t0)
    return cos_from_exponent(exponent_from_theta(theta0) + 2.0 * c0 * s / math.pi)


def eq18_lower(t: ArrayLike, c0: float, N: int, norm0: float, theta0: float,
               t0: float = 0.0) -> Array | np.float64:
    """Eq 18 (Theorem 3's polynomial bound, valid for every t ≥ t0):
    cos θ(t) ≥ 1 − 2/(C1 (A1 (t − t0)/B1 + 1)^α + 1), A1 = (N − 2)c0,
    B1 = ‖w_e(t0)‖^{2/N − 1}, α = 2/((N − 2)π), C1 = e^{E(θ(t0))}.

    It integrates Lemma 7, dψ/dt = (c0/π)‖w_e‖^{1 − 2/N}, against Lemma 8's lower norm bound
    ℓ(t) = (B1 + A1 (t − t0))^{−N/(N−2)}, for which ℓ^{1 − 2/N} = 1/(B1 + A1 (t − t0)).
    N = 2 returns the N → 2 limit, which is Proposition 4's exact angle; N < 2 gives NaN.
    """
    t, s = _elapsed(t, t0)
    B = exponent_from_theta(theta0)
    if N == 2:
        return prop4(t, c0, theta0, t0)
    if N < 2:
        return _out(np.full_like(s, np.nan))
    A1, B1, alpha = (N - 2) * c0, norm0 ** (2.0 / N - 1.0), 2.0 / ((N - 2) * math.pi)
    return cos_from_exponent(B + alpha * np.log1p(A1 * s / B1))


def thm3_lower(t: ArrayLike, c0: float, N: int, norm0: float, theta0: float, T: float,
               normT: float, thetaT: float, t0: float = 0.0) -> Array | np.float64:
    """Theorem 3 (balanced (13), gradient flow, N > 2): the two-phase lower bound on cos θ(t)
    as the theorem states it, drawn from the state (‖w_e(t0)‖, θ(t0)) = (norm0, theta0).

    Phase 1 (t ≤ T): eq 18 (see ``eq18_lower``, which holds for all t).
    Phase 2 (t > T): the norm no longer decreases (Lemma 6), so ‖w_e(t)‖ ≥ ‖w_e(T)‖ and
    Lemma 7 gives the exponent A2 (t − T) + B2, A2 = 2c0‖w_e(T)‖^{1 − 2/N}/π, B2 = E(θ(T)).

    T = inf{t: d‖w_e‖²/dt ≥ 0}; a non-finite T gives phase 1 everywhere and a switch before t0
    makes the whole curve phase 2 restarted from the state at t0. N = 2 follows
    ``eq18_lower``'s limit (and then both phases are Proposition 4's exact angle); N < 2: NaN.
    """
    t = np.asarray(t, dtype=np.float64)
    phase1 = np.asarray(eq18_lower(t, c0, N, norm0, theta0, t0))
    if N < 2 or not math.isfinite(T):
        return _out(phase1)
    T, normT, thetaT = _switch(T, t0, norm0, theta0, normT, thetaT)
    A2 = 2.0 * c0 * normT ** (1.0 - 2.0 / N) / math.pi
    E2 = A2 * np.maximum(t - T, 0.0) + exponent_from_theta(thetaT)
    return _out(np.where(t <= T, phase1, np.tanh(0.5 * E2)))


def thm3_upper(t: ArrayLike, c0: float, N: int, norm0: float, theta0: float,
               t0: float = 0.0) -> Array | np.float64:
    """Theorem 3's upper bound: cos θ(t) ≤ 1 − 2/(e^{F[(0.6(t − t0) + D)^{N/2} − D^{N/2}] + E} + 1),
    D = ‖w_e(t0)‖^{2/N}, E = E(θ(t0)) = −2 ln|tan(θ(t0)/2)| (the printed "tan θ(0)/2" is a
    misprint of this), F = 4c0/(0.6Nπ).

    It integrates Lemma 7 against Lemma 8's upper norm bound u(t) = (D + 0.6(t − t0))^{N/2}:
    u^{1 − 2/N} = (D + 0.6 s)^{N/2 − 1} integrates to (2/(0.6N))[(D + 0.6s)^{N/2} − D^{N/2}].
    This needs 1 − 2/N ≥ 0, so it holds for every balanced flow with N ≥ 2; at N = 2 the
    exponent is E + 2c0 (t − t0)/π and the bound coincides with Proposition 4's exact angle.
    N < 2 gives NaN (for N = 1 the same expression is a lower bound: Theorem 1's phase 2).
    """
    _, s = _elapsed(t, t0)
    if N < 2:
        return _out(np.full_like(s, np.nan))
    D = norm0 ** (2.0 / N)
    F = 4.0 * c0 / (NORM_RATE * N * math.pi)
    growth = (NORM_RATE * s + D) ** (0.5 * N) - D ** (0.5 * N)
    return cos_from_exponent(F * growth + exponent_from_theta(theta0))


def lemma8_norm_bounds(t: ArrayLike, c0: float, N: int, norm0: float,
                       t0: float = 0.0) -> tuple[Array | np.float64, Array | np.float64]:
    """Lemma 8(i), eq 17: (lower, upper) bounds on ‖w_e(t)‖ for a balanced N-matrix flow (14),
    (‖w_e(t0)‖^{2/N} + 0.6 s)^{N/2} ≥ ‖w_e(t)‖ ≥ (‖w_e(t0)‖^{2/N − 1} + (N − 2)c0 s)^{−N/(N−2)},
    s = t − t0.

    Both come from one identity of the flow (14): d‖w_e‖^{2/N}/dt = 2g(w_e) with
    g(w) = −wᵀ∇L(w), together with g ≤ 0.3 (Lemma 3(i)) and g ≥ −c0‖w‖ (Proposition 3(i)).
    Nothing in that argument needs N > 2, so the bounds are returned for every N ≥ 1:
      * upper: z = ‖w_e‖^{2/N} grows at most at rate 0.6, any N ≥ 1 (N = 1 is Theorem 1's
        ‖w‖² ≤ ‖w(0)‖² + 0.6t);
      * lower: dz/dt ≥ −2c0 z^{N/2}. For N > 2 this is the paper's eq 17. For N = 2 it gives
        ‖w_e(t)‖ ≥ ‖w_e(t0)‖ e^{−2c0 s} (the N → 2 limit of eq 17). For N = 1 it gives
        ‖w(t)‖ ≥ ‖w(t0)‖ − c0 s, clipped at 0 once it stops being informative.
    """
    _, s = _elapsed(t, t0)
    if N < 1:
        raise ValueError(f"N must be a positive number of matrices, got {N}")
    upper = (norm0 ** (2.0 / N) + NORM_RATE * s) ** (0.5 * N)
    if N == 2:
        lower = norm0 * np.exp(-2.0 * c0 * s)
    else:  # ℓ^{2/N − 1} moves linearly at rate (N − 2)c0; for N < 2 it reaches 0 and stops
        base = np.maximum(norm0 ** (2.0 / N - 1.0) + (N - 2) * c0 * s, 0.0)
        lower = base ** (N / (2.0 - N))
    return _out(np.asarray(lower)), _out(np.asarray(upper))


# ------------------------------------------------------------ linear predictor, gradient descent
def _steps(eta: ArrayLike) -> Array:
    eta = np.asarray(eta, dtype=np.float64)
    if eta.ndim != 1:
        raise ValueError(f"eta must be a 1-D sequence of step sizes, got shape {eta.shape}")
    return eta


def _s_sum(eta: Array, A: float, increments: Array) -> Array:
    """Σ_{k<n} η_k/√(A + Σ_{i≤k} increments_i) for n = 0..len(eta)."""
    terms = eta / np.sqrt(A + np.cumsum(increments))
    return np.concatenate([[0.0], np.cumsum(terms)])


def s_minus(eta: ArrayLike, norm0: float, c0: float) -> Array:
    """Lemma 4's S_n^− = Σ_{k<n} η_k/√(A + Σ_{i≤k} η_i²), A = ‖w(0)‖²/c0², for
    n = 0..len(eta) (S_0 = 0). The root bounds ‖w(k+1)‖/c0: ‖w(k+1)‖² = ‖w(k)‖² + 2η_k g(w(k))
    + η_k²‖∇L‖², with ‖∇L‖ ≤ c0 (Proposition 3(i)) and g ≤ 0 while θ > π/2 (Lemma 3(ii))."""
    eta = _steps(eta)
    return _s_sum(eta, norm0**2 / c0**2, eta**2)


def s_plus(eta: ArrayLike, norm0: float, c0: float) -> Array:
    """Lemma 5's S_n^+ = Σ_{k<n} η_k/√(A + Σ_{i≤k} (η_i² + C η_i)), A = ‖w(0)‖²/c0²,
    C = 0.6/c0², for n = 0..len(eta) (S_0 = 0): the norm may now also grow, by at most 0.6η
    in ‖w‖² per step (Lemma 3(i))."""
    eta = _steps(eta)
    return _s_sum(eta, norm0**2 / c0**2, eta**2 + (NORM_RATE / c0**2) * eta)


def lemma4_lower(eta: ArrayLike, c0: float, norm0: float, theta0: float) -> Array:
    """Lemma 4, eq 9: cos θ(n) ≥ 1 − (1 − cos θ(0)) e^{−B S_n^−}, B = (1 + cos θ(0))/π, for
    gradient descent with steps η_0, η_1, … (n = 0..len(eta)).

    Hypothesis vᵀw(0) < 0 (cos θ(0) < 0) and θ(0) ≠ π; the bound holds while cos θ(n) < 0,
    which the caller checks on the trajectory. Without the hypothesis there is no bound: NaN.
    """
    eta = _steps(eta)
    cos0 = math.cos(theta0)
    if not cos0 < 0.0:
        return np.full(eta.size + 1, np.nan)
    B = (1.0 + cos0) / math.pi
    return 1.0 - 2.0 * math.sin(0.5 * theta0) ** 2 * np.exp(-B * s_minus(eta, norm0, c0))


def lemma5_lower(eta: ArrayLike, c0: float, norm0: float, theta0: float,
                 delta: float) -> Array:
    """Lemma 5, eq 12: if condition (11) holds with some δ > 0 at every step, then
    cos θ(n) ≥ 1 − (1 − cos θ(0)) e^{−B S_n^+}, B = δ(1 + cos θ(0))/((1 + δ)π)
    (n = 0..len(eta)). Needs w(0) ≠ 0 and θ(0) ≠ π."""
    if not delta > 0.0:
        raise ValueError(f"Lemma 5 needs delta > 0, got {delta}")
    B = delta * (1.0 + math.cos(theta0)) / ((1.0 + delta) * math.pi)
    return 1.0 - 2.0 * math.sin(0.5 * theta0) ** 2 * np.exp(-B * s_plus(eta, norm0, c0))


def cond11_lhs(w_n: ArrayLike, w_next: ArrayLike) -> Array | np.float64:
    """Left side of (11): ‖w(n+1)‖ + w̄(n)ᵀw(n+1), row-wise for arrays of shape (n, d)."""
    a, b = np.asarray(w_n, dtype=np.float64), np.asarray(w_next, dtype=np.float64)
    along = np.sum(a * b, axis=-1) / np.linalg.norm(a, axis=-1)
    return _out(np.asarray(np.linalg.norm(b, axis=-1) + along))


def cond11_rhs(eta: ArrayLike, c0: float, cos_theta: ArrayLike,
               delta: float) -> Array | np.float64:
    """Right side of (11): (1 + δ) c0 η_n cos θ(n)/π. Where it holds, eq 8 with eq 10 gives
    cos θ(n+1) − cos θ(n) ≥ (δ/(1 + δ)) c0 η_n sin²θ(n)/(π‖w(n+1)‖)."""
    eta = np.asarray(eta, dtype=np.float64)
    return _out(np.asarray((1.0 + delta) * c0 * eta * np.asarray(cos_theta) / math.pi))


def thm2_radius(eta_plus: float, c0: float) -> float:
    """Theorem 2's R1 = η₊c0 + η₊c0/π: once vᵀw(n) ≥ R1 (so ‖w(n)‖ ≥ R1) and η_n ≤ η₊,
    ‖w(n+1)‖ + w̄(n)ᵀw(n+1) ≥ 2(‖w(n)‖ − η_n c0) ≥ 2c0η_n/π, i.e. (11) with δ = 1."""
    return eta_plus * c0 + eta_plus * c0 / math.pi


def eq10_rhs(w_n: ArrayLike, w_next: ArrayLike, c0: float, eta: ArrayLike,
             sin_theta: ArrayLike) -> Array | np.float64:
    """Eq 10 (Lemma 12): (w̄(n)ᵀw(n+1))² + (c0 η_n/π)² sin²θ(n), which equals ‖w(n+1)‖² for a
    gradient step on the population loss: by Lemma 2 the step's component orthogonal to w(n)
    is (c0 η_n/π)(I − w̄w̄ᵀ)v, of length c0 η_n sin θ(n)/π. Row-wise for shape (n, d)."""
    a, b = np.asarray(w_n, dtype=np.float64), np.asarray(w_next, dtype=np.float64)
    along = np.sum(a * b, axis=-1) / np.linalg.norm(a, axis=-1)
    tang = c0 * np.asarray(eta, dtype=np.float64) * np.asarray(sin_theta) / math.pi
    return _out(np.asarray(along**2 + tang**2))
