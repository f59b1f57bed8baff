"""Probabilists' Hermite expansion of an activation and the expected Gram matrix it gives.

With g ~ N(0, 1) and s the first-layer standard deviation ω1, c_i = E[φ(s g) He_i(g)], so
φ(s g) = Σ_i c_i He_i(g)/i! in L²(N(0, 1)) and, for unit vectors x_a, x_b and w ~ N(0, I),
E[φ(s wᵀx_a) φ(s wᵀx_b)] = Σ_i (c_i²/i!) ρ^i with ρ = x_aᵀx_b — eq (56) per unit width.
Everything is computed with the normalized Hermite functions He_i/√(i!) (stable three-term
recurrence, no factorials), so high orders neither overflow nor cancel.

Quadrature: composite Gauss–Legendre on g ∈ [−L, L], L = 12 + 2√order, with panel ends at
0 and at every kink k/s, panels no wider than min(0.5, 1/s, 2/√(order + 1)), 20 points each.
Inside a panel the integrand is analytic (the kinks are panel ends); the singularities of
φ(s g) (tanh, sigmoid, softplus: distance ≥ π/(2s) from the real axis) and the oscillation of
He_i (wavelength ≈ π/√i) are at least about one panel width away, so each panel converges
geometrically (error far below rounding at 20 points). Gauss–Hermite on the whole line
converges only like exp(−c·√N·π/(2s)): for tanh at s = 10 it still errs by 1e−9 with 3000
nodes, and across a kink it converges algebraically; Gauss–Laguerre on half-lines would
need the even/odd split of each branch. The rule is fixed per (scale, kinks, order).

Accuracy (checked against 30-digit mpmath): the normalized coefficients c_i/√(i!) are
accurate to ~3e−16·√E[φ(s g)²] absolute at every order tested (≤ 60, scales 1e−3 to 10), so
c_i itself is accurate to that times √(i!): better than 1e−11 for i ≤ 10; at order 60 a
coefficient is meaningful only to about 1e−16·√(60!) ≈ 1e25 absolute, i.e. use the
normalized ones (that is what every series needs). c_i overflows to inf beyond i = 300.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.models.activations import Activation, resolve

_GL_POINTS = 20
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_ONE = 1e-12  # |G_ab ∓ 1| within this: use the exact moment instead of the series


@functools.lru_cache(maxsize=32)
def _compiled(fn):
    return jax.jit(fn)


def _phi(act: Activation, x: np.ndarray) -> np.ndarray:
    """φ at the points x (any shape), compiled once per activation and padded length (next
    power of two), so the many rule sizes do not each trigger a compilation."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel()
    size = max(1024, 1 << max(0, flat.size - 1).bit_length())
    padded = np.zeros(size)
    padded[: flat.size] = flat
    out = np.asarray(_compiled(act.fn)(jnp.asarray(padded)), dtype=np.float64)
    return out[: flat.size].reshape(x.shape)


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be positive and finite, got {scale}")
    return scale


@functools.lru_cache(maxsize=16)
def _leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)
    t.setflags(write=False)
    w.setflags(write=False)
    return t, w


@functools.lru_cache(maxsize=64)
def _line_rule(scale: float, kinks: tuple[float, ...], order: int) -> tuple[np.ndarray, ...]:
    """Nodes g and weights (including the N(0,1) density) of the composite Gauss–Legendre rule
    described in the module docstring."""
    half = 12.0 + 2.0 * math.sqrt(order)
    width = min(0.5, 1.0 / scale, 2.0 / math.sqrt(order + 1))
    cuts = {-half, 0.0, half} | {k / scale for k in kinks if abs(k / scale) < half}
    ends = np.array(sorted(cuts))
    t, wt = _leggauss(_GL_POINTS)
    xs, ws = [], []
    for a, b in zip(ends[:-1], ends[1:], strict=True):
        m = max(1, math.ceil((b - a) / width))
        edges = np.linspace(a, b, m + 1)
        mid = 0.5 * (edges[:-1] + edges[1:])[:, None]
        hw = 0.5 * (edges[1:] - edges[:-1])[:, None]
        xs.append((mid + hw * t).ravel())
        ws.append((hw * wt).ravel())
    g = np.concatenate(xs)
    w = np.concatenate(ws) * _INV_SQRT_2PI * np.exp(-0.5 * g * g)
    g.setflags(write=False)
    w.setflags(write=False)
    return g, w


def _rule(act: Activation, scale: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    return _line_rule(scale, tuple(float(k) for k in act.kinks), int(order))


def _normalized(act: Activation, order: int, scale: float) -> np.ndarray:
    """E[φ(s g) He_i(g)/√(i!)] for i = 0..order, by the recurrence
    h_{i+1} = (g h_i − √i h_{i−1})/√(i + 1), accumulated on the fly. Sums are numpy's
    pairwise ones, not BLAS dots (those contend with JAX's CPU threads for the cores)."""
    g, w = _rule(act, scale, order)
    f = w * _phi(act, scale * g)
    out = np.empty(order + 1)
    prev, cur = np.zeros_like(g), np.ones_like(g)
    for i in range(order + 1):
        out[i] = np.sum(f * cur)
        prev, cur = cur, (g * cur - math.sqrt(i) * prev) / math.sqrt(i + 1)
    return out


def _check_order(order: int) -> int:
    if int(order) != order or order < 0:
        raise ValueError(f"order must be a non-negative integer, got {order}")
    return int(order)


def normalized_coefficients(act: Activation | str, order: int, scale: float = 1.0) -> np.ndarray:
    """c_i/√(i!) for i = 0..order: the coefficients of φ(s·) on the orthonormal Hermite
    polynomials He_i/√(i!), accurate to ~3e−16·√E[φ(s g)²] absolute at any order."""
    return _normalized(resolve(act), _check_order(order), _check_scale(scale))


def coefficients(act: Activation | str, order: int, scale: float = 1.0) -> np.ndarray:
    """c_i = E[φ(s g) He_i(g)] for i = 0..order (probabilists' He_i, g ~ N(0, 1)).

    Absolute error ~3e−16·√(i!·E[φ(s g)²]) (see the module docstring): below 1e−10 for
    i ≤ 10 at any scale in [1e−3, 10]; inf past i = 300.
    """
    order = _check_order(order)
    a = normalized_coefficients(act, order, scale)
    small = [math.sqrt(math.factorial(i)) for i in range(min(order, 170) + 1)]
    with np.errstate(over="ignore"):
        large = np.exp(0.5 * np.array([math.lgamma(i + 1) for i in range(171, order + 1)]))
    return a * np.concatenate([small, large])


def second_moment(act: Activation | str, scale: float = 1.0) -> float:
    """E[φ(s g)²] (= Σ c_i²/i!), by direct quadrature."""
    a, s = resolve(act), _check_scale(scale)
    g, w = _rule(a, s, 0)
    return float(np.sum(w * _phi(a, s * g) ** 2))


def _antipodal_moment(act: Activation, scale: float) -> float:
    """E[φ(s g) φ(−s g)] (= Σ (−1)^i c_i²/i!), the kernel at ρ = −1."""
    g, w = _rule(act, scale, 0)
    return float(np.sum(w * _phi(act, scale * g) * _phi(act, -scale * g)))


def c_inf(act: Activation | str, scale: float = 1.0) -> float:
    """c_∞ = √(Σ_{i≥2} c_i²/i!) = √(E[φ²] − c_0² − c_1²), computed without cancellation as
    the L² norm of the residual φ(s g) − c_0 − c_1 g."""
    a, s = resolve(act), _check_scale(scale)
    g, w = _rule(a, s, 1)
    f = _phi(a, s * g)
    c0, c1 = np.sum(w * f), np.sum(w * f * g)
    return float(math.sqrt(np.sum(w * (f - c0 - c1 * g) ** 2)))


def printed_norm_partial(act: Activation | str, order: int, scale: float = 1.0) -> np.ndarray:
    """Partial sums √(Σ_{i≤k} c_i²), k = 0..order, of Definition 4's norm as printed
    (‖φ‖²_H = Σ c_i², without the 1/i!).

    For every activation here the sums diverge: c_i² = i!·(c_i²/i!) while c_i²/i! decays
    only geometrically (gelu: ≈ (s²/(1+s²))^i), like e^{−2d√i} (tanh, sigmoid, softplus, whose
    nearest complex singularity sits at distance d = π/(2s), π/s, π/s) or like a power of i
    (relu, elu), so the printed norm is infinite. The finite quantity is
    Σ c_i²/i! = E[φ(s g)²]. Where |c_i|/√(i!) falls below the ~1e−16·√E[φ²] accuracy of the
    normalized coefficients, the sums show rounding noise × √(i!), not the true terms.
    """
    c = coefficients(act, order, scale)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.cumsum(c * c))


def expected_gram(
    act: Activation | str, G: np.ndarray, scale: float = 1.0, order: int = 60
) -> np.ndarray:
    """Eq (56) per unit width: E[φ(s XᵀWᵀ) φ(s W X)]/d1 = Σ_i (c_i²/i!) G^{∘i}, G = XᵀX.

    G must have |G_ab| ≤ 1 (unit-norm columns). Entries with G_ab = ±1 (within 1e−12) get
    the exact moments E[φ²] and E[φ(s g)φ(−s g)]; the others the series truncated after
    ``order``, whose error is at most |ρ|^{order+1}·(E[φ²] − Σ_{i≤order} c_i²/i!).
    """
    a = resolve(act)
    s, order = _check_scale(scale), _check_order(order)
    G = np.asarray(G, dtype=np.float64)
    if np.any(np.abs(G) > 1.0 + 1e-9):
        raise ValueError("expected_gram needs |G_ab| ≤ 1 (Gram matrix of unit-norm columns)")
    rho = np.clip(G, -1.0, 1.0)
    coef = _normalized(a, order, s) ** 2
    K = np.full_like(rho, coef[order])
    for c in coef[-2::-1]:  # Horner in the Hadamard powers
        K = K * rho + c
    K = np.where(np.abs(rho - 1.0) <= _ONE, second_moment(a, s), K)
    return np.where(np.abs(rho + 1.0) <= _ONE, _antipodal_moment(a, s), K)


def kernel_quadrature(
    act: Activation | str, rho: float, scale: float = 1.0, nodes: int = 80
) -> float:
    """E[φ(s u) φ(s(ρu + √(1−ρ²) v))], u, v independent N(0, 1), by a 2-D product rule in
    polar coordinates: an independent reference for :func:`expected_gram` (no Hermite
    polynomials involved).

    With u = r cos θ, v = r sin θ the two arguments are s r cos θ and s r cos(θ − θ0),
    cos θ0 = ρ. They change sign on the rays θ = ±π/2 and θ0 ± π/2: that is where a kink at 0
    sits and where a smooth φ(s·) has its steep part, so the circle is cut there and each arc
    gets ``nodes`` Gauss–Legendre points (clustered at the cuts), times ``nodes`` points on
    each of r ∈ [0, 8] and [8, 16]. Every piece is analytic: error ~1e−14 for scale ≤ 10.
    A product Gauss–Hermite rule in (u, v) is not accurate enough here: at scale 3 it misses
    by 2e−5 (gelu) and 1e−3 (tanh) even with 200 nodes per axis.
    """
    a, s = resolve(act), _check_scale(scale)
    rho = float(rho)
    if abs(rho) > 1.0 + 1e-12:
        raise ValueError(f"rho must lie in [−1, 1], got {rho}")
    if any(k != 0.0 for k in a.kinks):
        raise NotImplementedError("kernel_quadrature handles kinks at 0 only")
    rho = min(1.0, max(-1.0, rho))
    th0 = math.acos(rho)
    cuts = np.array([0.5 * np.pi, -0.5 * np.pi, th0 + 0.5 * np.pi, th0 - 0.5 * np.pi])
    cuts = np.unique(np.round(np.mod(cuts + np.pi, 2 * np.pi) - np.pi, 14))
    ends = np.append(cuts, cuts[0] + 2 * np.pi)
    t, wt = _leggauss(int(nodes))
    th, wth = [], []
    for lo, hi in zip(ends[:-1], ends[1:], strict=True):
        if hi - lo > 1e-13:
            th.append(0.5 * (lo + hi) + 0.5 * (hi - lo) * t)
            wth.append(0.5 * (hi - lo) * wt)
    th, wth = np.concatenate(th), np.concatenate(wth)
    r = np.concatenate([4.0 + 4.0 * t, 12.0 + 4.0 * t])
    wr = np.concatenate([4.0 * wt, 4.0 * wt]) * r * np.exp(-0.5 * r * r) / (2 * np.pi)
    fu = _phi(a, s * r[:, None] * np.cos(th)[None, :])
    fv = _phi(a, s * r[:, None] * np.cos(th - th0)[None, :])
    return float(np.sum(wr[:, None] * fu * fv * wth[None, :]))
