"""Activations (closed-form derivatives, sup|φ'|, sup|φ''|) and their Hermite expansion
(coefficients, moments, the expected Gram matrix of eq 56), each checked against an
independent computation: autodiff, finite differences, closed forms, 30-digit mpmath, a 2-D
quadrature with no Hermite polynomials in it, and Monte Carlo."""

from __future__ import annotations

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, special, stats

from overparam.models import activations as A
from overparam.numerics import hermite as H


@pytest.fixture(autouse=True)
def _mp_digits():
    """30 digits for this module's references, whatever another module left set."""
    with mp.workdps(30):
        yield

SMOOTH = ("gelu", "softplus", "sigmoid", "tanh")
SCALES = (0.05, 1.0, 3.0)

# Independent reference formulas (numpy / scipy), float64.
REF_NP = {
    "gelu": lambda x: x * special.ndtr(x),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "sigmoid": special.expit,
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "relu": lambda x: np.maximum(x, 0.0),
}

# The same at 30 digits.
REF_MP = {
    "gelu": lambda x: x * mp.ncdf(x),
    "softplus": lambda x: mp.log1p(mp.exp(x)) if x < 0 else x + mp.log1p(mp.exp(-x)),
    "sigmoid": lambda x: 1 / (1 + mp.exp(-x)),
    "tanh": mp.tanh,
    "elu": lambda x: x if x > 0 else mp.expm1(x),
    "relu": lambda x: x if x > 0 else mp.mpf(0),
}


def _np(f, x):
    return np.asarray(jax.jit(f)(jnp.asarray(x, dtype=jnp.float64)))


def _points(name: str) -> np.ndarray:
    x = np.concatenate([np.linspace(-12.0, 12.0, 241), [-30.0, -20.0, 20.0, 30.0]])
    if A.get(name).kinks:
        x = x[np.abs(x) > 1e-3]  # derivatives are compared away from the kink
    return x


# --------------------------------------------------------------------------- activations


def test_registry_and_get():
    assert A.ACTIVATIONS == ("gelu", "softplus", "sigmoid", "tanh", "elu", "relu")
    for name in A.ACTIVATIONS:
        act = A.get(name)
        assert act.name == name and act.note
        assert act.kinks == ((0.0,) if name in ("elu", "relu") else ())
        assert act.in_assumptions == (name != "relu")
    with pytest.raises(ValueError, match="gelu, softplus, sigmoid, tanh, elu, relu"):
        A.get("swish")


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_fn_matches_reference(name):
    x = np.concatenate([np.linspace(-40.0, 40.0, 801), [-700.0, 700.0]])
    got, ref = _np(A.get(name).fn, x), REF_NP[name](x)
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_derivatives_match_autodiff(name):
    """On [−12, 12]; farther out autodiff of σ(1 − σ) cancels (tails are checked below)."""
    act, x = A.get(name), _points(name)
    x = x[np.abs(x) <= 12]
    grad1 = jax.grad(act.fn)
    g1, g2 = jax.jit(jax.vmap(lambda t: (grad1(t), jax.grad(grad1)(t))))(jnp.asarray(x))
    # atol: autodiff's 1 − tanh² and σ(1 − σ) cancel to a few ulp of 1 where φ' is tiny
    np.testing.assert_allclose(_np(act.d1, x), g1, rtol=1e-13, atol=4e-15)
    np.testing.assert_allclose(_np(act.d2, x), g2, rtol=1e-12, atol=4e-15)


REF_MP_D = {  # (φ', φ'') at 30 digits
    "gelu": (lambda x: mp.ncdf(x) + x * mp.npdf(x), lambda x: (2 - x * x) * mp.npdf(x)),
    "softplus": (lambda x: 1 / (1 + mp.exp(-x)), lambda x: 1 / (4 * mp.cosh(x / 2) ** 2)),
    "sigmoid": (
        lambda x: 1 / (4 * mp.cosh(x / 2) ** 2),
        lambda x: -mp.tanh(x / 2) / (4 * mp.cosh(x / 2) ** 2),
    ),
    "tanh": (lambda x: 1 / mp.cosh(x) ** 2, lambda x: -2 * mp.tanh(x) / mp.cosh(x) ** 2),
    "elu": (lambda x: 1 if x >= 0 else mp.exp(x), lambda x: 0 if x >= 0 else mp.exp(x)),
    "relu": (lambda x: 1 if x >= 0 else 0, lambda x: 0),
}


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_derivatives_relative_accuracy_in_the_tails(name):
    act = A.get(name)
    x = np.array([-30.0, -20.0, -7.5, -1.25, 0.5, 2.0, 9.0, 20.0, 30.0])
    for f, ref in zip((act.d1, act.d2), REF_MP_D[name], strict=True):
        want = np.array([float(ref(mp.mpf(v))) for v in x])
        np.testing.assert_allclose(_np(f, x), want, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_derivatives_match_finite_differences(name):
    act, x, h = A.get(name), _points(name), 1e-4
    x = x[np.abs(x) > 2 * h] if act.kinks else x
    fd1 = (REF_NP[name](x + h) - REF_NP[name](x - h)) / (2 * h)
    fd2 = (_np(act.d1, x + h) - _np(act.d1, x - h)) / (2 * h)
    # central differences: truncation h²·sup|φ'''|/6 plus rounding ~1e−16·|φ|/h
    np.testing.assert_allclose(_np(act.d1, x), fd1, rtol=0, atol=1e-8)
    np.testing.assert_allclose(_np(act.d2, x), fd2, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_derivatives_work_under_jit(name):
    act = A.get(name)
    x = np.linspace(-5.0, 5.0, 11)
    x = x[x != 0] if act.kinks else x
    compiled = jax.jit(lambda x: (act.fn(x), act.d1(x), act.d2(x)))(jnp.asarray(x))
    d1, d2 = REF_MP_D[name]
    refs = (REF_NP[name](x), [float(d1(mp.mpf(t))) for t in x], [float(d2(mp.mpf(t))) for t in x])
    for out, ref in zip(compiled, refs, strict=True):
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-300)


def test_kinks_take_right_hand_values():
    zero = jnp.asarray([0.0])
    assert _np(A.get("relu").d1, zero)[0] == 1.0
    assert _np(A.get("relu").d2, zero)[0] == 0.0
    assert _np(A.get("elu").d1, zero)[0] == 1.0
    assert _np(A.get("elu").d2, zero)[0] == 0.0
    assert _np(A.get("elu").d2, jnp.asarray([-1e-12]))[0] == pytest.approx(1.0, abs=1e-11)


def _pdf(x: float) -> float:
    """The standard normal density ϕ."""
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


_SUPS = {
    "tanh": (1.0, 4.0 / (3.0 * math.sqrt(3.0))),
    "sigmoid": (0.25, math.sqrt(3.0) / 18.0),
    "softplus": (1.0, 0.25),  # φ' = σ → 1 only at +∞
    # φ'' = (2 − x²)ϕ: φ' peaks at x = √2; |φ''| peaks at 0 (2ϕ(0)) and not at x = 2 (2ϕ(2))
    "gelu": (
        stats.norm.cdf(math.sqrt(2.0)) + math.sqrt(2.0) * _pdf(math.sqrt(2.0)),
        math.sqrt(2.0 / math.pi),
    ),
    "elu": (1.0, 1.0),  # φ'' = eˣ → 1 as x → 0⁻
    "relu": (1.0, math.inf),
}


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_sup_derivatives_closed_forms(name):
    d1, d2 = _SUPS[name]
    assert A.dphi_max(name) == pytest.approx(d1, abs=1e-12)
    if math.isinf(d2):
        assert A.ddphi_max(name) == math.inf
    else:
        assert A.ddphi_max(name) == pytest.approx(d2, abs=1e-12)


def test_gelu_second_derivative_secondary_extremum_is_smaller():
    assert 2.0 * _pdf(2.0) < A.ddphi_max("gelu") == pytest.approx(2.0 * _pdf(0.0), abs=1e-12)


def test_sups_are_cached_and_accept_unregistered_activations():
    assert A.dphi_max(A.get("tanh")) == A.dphi_max("tanh")
    A.ddphi_max("tanh")  # computed once (whatever ran before in this process) ...
    info = A._cached.cache_info()
    A.ddphi_max("tanh")  # ... and then read from the cache
    assert A._cached.cache_info().hits == info.hits + 1
    doubled = replace(
        A.get("tanh"),
        fn=lambda x: 2 * jnp.tanh(x),
        d1=lambda x: 2 / jnp.cosh(x) ** 2,
        d2=lambda x: -4 * jnp.tanh(x) / jnp.cosh(x) ** 2,
    )
    assert A.dphi_max(doubled) == pytest.approx(2.0, abs=1e-12)
    assert A.ddphi_max(doubled) == pytest.approx(8.0 / (3.0 * math.sqrt(3.0)), abs=1e-12)


# --------------------------------------------------------------------------- coefficients


_MP_CUTS = [-16, -8, -4, -2, -1, -0.25, 0, 0.25, 1, 2, 4, 8, 16]


def _mp_mean(f) -> float:
    """E[f(g)], g ~ N(0, 1), by mpmath Gauss–Legendre at 30 digits on [−16, 16] cut at 0,
    ±1/4, ±1, ±2, ±4, ±8 (f grows at most polynomially: the rest is below 1e−40)."""
    return float(mp.quad(lambda g: f(g) * mp.npdf(g), _MP_CUTS, method="gauss-legendre"))


def _mp_coefficients(name: str, scale: float, order: int) -> list:
    """c_i = E[φ(s g) He_i(g)] as in :func:`_mp_mean`. Each quad uses the same nodes, so
    φ·ϕ·He_0..He_order is evaluated once per node."""
    s, f, memo = mp.mpf(scale), REF_MP[name], {}

    def at(g):
        if g not in memo:
            he = [mp.mpf(1), g]
            for k in range(1, order):
                he.append(g * he[-1] - k * he[-2])
            v = f(s * g) * mp.npdf(g)
            memo[g] = [v * h for h in he]
        return memo[g]

    return [
        mp.quad(lambda g, i=i: at(g)[i], _MP_CUTS, method="gauss-legendre")
        for i in range(order + 1)
    ]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_coefficients_match_mpmath(name, scale):
    ref = np.array([float(v) for v in _mp_coefficients(name, scale, 10)])
    got = H.coefficients(name, 10, scale)
    assert np.all(np.abs(got - ref) <= 1e-10 * np.maximum(1.0, np.abs(ref)))
    fact = np.sqrt([math.factorial(i) for i in range(11)])
    np.testing.assert_allclose(
        H.normalized_coefficients(name, 10, scale), ref / fact, rtol=0, atol=1e-14
    )


@pytest.mark.parametrize(("name", "scale"), [("tanh", 10.0), ("gelu", 1e-3), ("elu", 10.0)])
def test_coefficients_match_mpmath_at_extreme_scales(name, scale):
    ref = np.array([float(v) for v in _mp_coefficients(name, scale, 10)])
    got = H.coefficients(name, 10, scale)
    assert np.all(np.abs(got - ref) <= 1e-10 * np.maximum(1.0, np.abs(ref)))


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_stein_shift_with_the_derivative(name):
    """Stein's identity E[φ(s g) He_{i+1}(g)] = s E[φ'(s g) He_i(g)]: the coefficients of φ
    at order i + 1 from those of the closed-form φ' (as an activation of its own), to order 40.
    In normalized form: √(i+1)·a_{i+1}(φ) = s·a_i(φ')."""
    act = A.get(name)
    deriv = replace(act, name=f"{name}'", fn=act.d1)
    for scale in (0.3, 2.0):
        a = H.normalized_coefficients(act, 41, scale)
        b = H.normalized_coefficients(deriv, 40, scale)
        lhs = np.sqrt(np.arange(1, 42)) * a[1:]
        np.testing.assert_allclose(lhs, scale * b, rtol=0, atol=3e-15 * max(1.0, scale))
    # softplus' = sigmoid exactly, so their coefficients are shifts of each other
    if name == "softplus":
        c, d = H.coefficients("softplus", 12), H.coefficients("sigmoid", 11)
        root = np.sqrt([math.factorial(i) for i in range(12)])  # c_i's error scales with √(i!)
        assert np.all(np.abs(c[1:] - d) <= 1e-15 * root)


@pytest.mark.parametrize("scale", (1e-3, *SCALES, 10.0))
def test_relu_coefficients_closed_form(scale):
    """Stein: c_i = s^i E[φ^{(i)}(s g)]; for relu (positively homogeneous) c_0 = s/√(2π),
    c_1 = s/2 and, with φ'' = δ, c_i = s E[δ^{(i−2)}(g)] = s He_{i−2}(0) ϕ(0) for i ≥ 2
    (He_k(0) = (−1)^{k/2}(k − 1)!! for even k, 0 for odd k)."""
    order = 80
    he0 = np.zeros(order + 1)  # He_k(0)
    he0[0] = 1.0
    for k in range(1, order):
        he0[k + 1] = -k * he0[k - 1]
    ref = np.empty(order + 1)
    ref[0], ref[1] = scale / math.sqrt(2 * math.pi), scale / 2
    ref[2:] = scale * he0[: order - 1] / math.sqrt(2 * math.pi)
    lognorm = np.array([0.5 * math.lgamma(i + 1) for i in range(order + 1)])
    np.testing.assert_allclose(
        H.normalized_coefficients("relu", order, scale),
        ref * np.exp(-lognorm),
        rtol=0,
        atol=1e-15 * max(1.0, scale),
    )
    # c_i = √(i!)·(normalized): absolute error ~1e−16·√(i!)·s
    err = np.abs(H.coefficients("relu", 12, scale) - ref[:13])
    assert np.all(err <= 1e-15 * np.exp(lognorm[:13]) * max(1.0, scale))


@pytest.mark.parametrize("scale", SCALES)
def test_symmetry_zeros(scale):
    """tanh is odd, sigmoid − 1/2 odd, gelu(x) − x/2 and softplus(x) − x/2 even: the matching
    coefficients vanish (normalized ones to rounding, at order 60)."""
    n = 60
    tanh = H.normalized_coefficients("tanh", n, scale)
    sig = H.normalized_coefficients("sigmoid", n, scale)
    gelu = H.normalized_coefficients("gelu", n, scale)
    soft = H.normalized_coefficients("softplus", n, scale)
    tol = 1e-15 * max(1.0, scale)
    assert np.max(np.abs(tanh[0::2])) < tol
    assert np.max(np.abs(sig[2::2])) < tol and sig[0] == pytest.approx(0.5, abs=1e-15)
    assert np.max(np.abs(gelu[3::2])) < tol and gelu[1] == pytest.approx(scale / 2, abs=tol)
    assert np.max(np.abs(soft[3::2])) < tol and soft[1] == pytest.approx(scale / 2, abs=tol)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_stein_identity(name, scale):
    """c_1 = s E[φ'(s g)] and c_2 = s² E[φ''(s g)] (φ'' bounded), with scipy's adaptive quad
    on the closed-form derivatives."""
    act = A.get(name)

    def mean(f):
        f = jax.jit(f)
        fun = lambda g: float(f(scale * g)) * _pdf(g)  # noqa: E731
        return sum(
            integrate.quad(fun, a, b, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
            for a, b in ((-np.inf, 0.0), (0.0, np.inf))
        )

    c = H.coefficients(name, 2, scale)
    assert c[1] == pytest.approx(scale * mean(act.d1), abs=1e-12)
    if name != "relu":  # relu's φ'' is a Dirac mass
        assert c[2] == pytest.approx(scale**2 * mean(act.d2), abs=1e-12)


# --------------------------------------------------------------------------- moments


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_second_moment_and_c_inf(name, scale):
    m2 = H.second_moment(name, scale)
    f = REF_MP[name]
    ref = _mp_mean(lambda g: f(mp.mpf(scale) * g) ** 2)
    assert m2 == pytest.approx(ref, rel=1e-13, abs=1e-300)
    if name == "relu":
        assert m2 == pytest.approx(scale**2 / 2, rel=1e-14)
    # Parseval: Σ_{i≤400} c_i²/i! → E[φ²] from below. The relative tail left at order 400:
    # relu 1.06e−5 (c_i²/i! ~ i^−5/2), elu 1.3e−7 (~ i^−7/2), tanh at scale 3 6.5e−10 (poles
    # at ±iπ/6: e^{−(π/3)√i}); the others reach rounding.
    a2 = H.normalized_coefficients(name, 400, scale) ** 2
    tail = m2 * {"relu": 1.1e-5, "elu": 2e-7}.get(name, 1e-9 if scale > 1 else 1e-14)
    assert -1e-15 * m2 <= m2 - np.sum(a2) <= tail
    ci = H.c_inf(name, scale)
    # E[φ²] − c_0² − c_1² is good only to ~1e−16·E[φ²] (cancellation); c_inf avoids it
    assert ci**2 == pytest.approx(m2 - a2[0] - a2[1], rel=0, abs=1e-15 * m2)
    assert -1e-15 * m2 <= ci**2 - np.sum(a2[2:]) <= tail + 1e-15 * m2


def test_c_inf_small_scale_without_cancellation():
    """At s = 1e−3, tanh(s g) ≈ s g − s³g³/3, so c_3 ≈ −2s³ and c_∞² ≈ c_3²/3! = 4s⁶/6: twelve
    orders below E[φ²] ≈ s², where E[φ²] − c_0² − c_1² would keep only ~4 digits."""
    s = 1e-3
    assert H.c_inf("tanh", s) == pytest.approx(2 * s**3 / math.sqrt(6), rel=1e-4)
    a = H.normalized_coefficients("tanh", 30, s)
    assert H.c_inf("tanh", s) == pytest.approx(math.sqrt(np.sum(a[2:] ** 2)), rel=1e-10)


@pytest.mark.parametrize("name", SMOOTH)
def test_printed_norm_diverges(name):
    """Definition 4 as printed, ‖φ‖²_H = Σ c_i², is infinite: c_i² = i!·(c_i²/i!) grows
    without bound while Σ c_i²/i! = E[φ²] stays finite."""
    order = 61
    p = H.printed_norm_partial(name, order)
    c = H.coefficients(name, order)
    np.testing.assert_allclose(p**2, np.cumsum(c**2), rtol=1e-12)
    assert np.all(np.diff(p) >= 0)
    assert p[20] > 1e3 and p[40] > 1e15 and p[61] > 1e29
    a2 = H.normalized_coefficients(name, order) ** 2
    assert np.sum(a2) == pytest.approx(H.second_moment(name), rel=1e-7)


# --------------------------------------------------------------------------- expected Gram


def _unit_columns(seed: int, d0: int = 5, n: int = 6) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((d0, n))
    return X / np.linalg.norm(X, axis=0)


def _bound(name: str, G: np.ndarray, scale: float, order: int) -> np.ndarray:
    tail = H.second_moment(name, scale) - np.sum(H.normalized_coefficients(name, order, scale) ** 2)
    return np.abs(np.clip(G, -1, 1)) ** (order + 1) * max(tail, 0.0)


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_expected_gram_matches_kernel_quadrature(name):
    """Off-diagonal entries against the polar 2-D rule. At order 400 every activation agrees
    to 1e−9; at the default order 60 the error stays within the stated truncation bound
    (which for relu/elu, whose c_i²/i! decay like a power of i, is the larger term)."""
    for seed in range(2):
        G = (lambda X: X.T @ X)(_unit_columns(seed))
        iu = np.triu_indices_from(G, 1)
        for scale in (1.0, 3.0):
            ref = np.array([H.kernel_quadrature(name, r, scale) for r in G[iu]])
            K400 = H.expected_gram(name, G, scale, order=400)
            np.testing.assert_allclose(K400[iu], ref, rtol=0, atol=1e-9)
            K60 = H.expected_gram(name, G, scale)
            assert np.all(np.abs(K60[iu] - ref) <= _bound(name, G, scale, 60)[iu] + 1e-12)
            np.testing.assert_array_equal(np.diag(K60), H.second_moment(name, scale))
            np.testing.assert_allclose(K60, K60.T, rtol=0, atol=0)


@pytest.mark.parametrize("name", A.ACTIVATIONS)
@pytest.mark.parametrize("scale", (0.05, 1.0, 10.0))
def test_kernel_quadrature_end_points(name, scale):
    """ρ = 0: u, v independent, E = c_0²; ρ = ±1: E[φ²] and E[φ(s g)φ(−s g)]."""
    c0 = H.coefficients(name, 0, scale)[0]
    m2 = H.second_moment(name, scale)
    f = REF_MP[name]
    anti = _mp_mean(lambda g: f(scale * g) * f(-scale * g))
    assert H.kernel_quadrature(name, 0.0, scale) == pytest.approx(c0**2, rel=1e-12, abs=1e-15 * m2)
    assert H.kernel_quadrature(name, 1.0, scale) == pytest.approx(m2, rel=1e-12)
    assert H.kernel_quadrature(name, -1.0, scale) == pytest.approx(
        float(anti), rel=1e-12, abs=1e-15 * m2
    )
    G = np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert H.expected_gram(name, G, scale)[0, 1] == pytest.approx(
        float(anti), rel=1e-13, abs=1e-16 * m2
    )


@pytest.mark.parametrize("scale", (0.05, 1.0, 3.0))
def test_relu_arc_cosine_kernel(scale):
    rho = np.concatenate([np.linspace(-0.95, 0.95, 9), [-1.0, 1.0]])
    ref = scale**2 / (2 * np.pi) * (np.sqrt(1 - rho**2) + (np.pi - np.arccos(rho)) * rho)
    quad = np.array([H.kernel_quadrature("relu", r, scale) for r in rho])
    np.testing.assert_allclose(quad, ref, rtol=1e-13, atol=1e-16)
    G = (lambda X: X.T @ X)(_unit_columns(7))
    ref = (
        scale**2
        / (2 * np.pi)
        * (np.sqrt(np.clip(1 - G**2, 0, None)) + (np.pi - np.arccos(np.clip(G, -1, 1))) * G)
    )
    np.testing.assert_allclose(
        H.expected_gram("relu", G, scale, order=400), ref, rtol=0, atol=1e-9 * scale**2
    )


@pytest.mark.parametrize("name", A.ACTIVATIONS)
def test_expected_gram_monte_carlo(name):
    """φ(s W̃X)ᵀφ(s W̃X)/d1 with W̃ ~ N(0, 1), d1 = 100 000: every entry within 5 standard
    errors (the per-entry sample std of φ(s w·x_a)φ(s w·x_b) over √d1)."""
    X, s, d1 = _unit_columns(11), 1.3, 100_000
    W = np.random.default_rng(123).standard_normal((d1, X.shape[0]))
    F = _np(A.get(name).fn, s * (W @ X))
    prod = F[:, :, None] * F[:, None, :]
    mc, se = prod.mean(0), prod.std(0) / math.sqrt(d1)
    K = H.expected_gram(name, X.T @ X, s)
    assert np.all(np.abs(mc - K) <= 5 * se)


def test_validation():
    with pytest.raises(ValueError):
        H.coefficients("tanh", -1)
    with pytest.raises(ValueError):
        H.coefficients("tanh", 3, scale=0.0)
    with pytest.raises(ValueError):
        H.expected_gram("tanh", np.array([[1.0, 1.5], [1.5, 1.0]]))
    with pytest.raises(ValueError):
        H.kernel_quadrature("tanh", 1.2)
    with pytest.raises(ValueError, match="allowed"):
        H.second_moment("swish")


def test_high_orders_stay_finite():
    a = H.normalized_coefficients("gelu", 320, 2.0)
    assert np.all(np.isfinite(a)) and np.sum(a**2) == pytest.approx(H.second_moment("gelu", 2.0))
    c = H.coefficients("tanh", 320)  # √(i!) overflows past i = 300
    assert np.all(np.isfinite(c[:301])) and np.all(np.isinf(c[301::2]))
