"""The exact population logistic loss and gradient against independent computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, stats

from overparam.data import linear_classifier as spherical
from overparam.losses import linear_classifier as pop

CASES = [(0.5, 2.0), (1.0, 2.498), (30.0, 0.3), (200.0, 1.0), (1e-3, 3.0), (2.0, 0.0)]


def _rule(dist, level=4):
    return pop.plane_rule(*dist.radius_rule(5), level=level)


def _circle_reference(nw: float, th: float) -> list[float]:
    """(∂L/∂w̄, ∂L/∂e, L) on U(S¹) by 30-digit quadrature, split at every kink."""
    mp.mp.dps = 30  # conftest restores the precision after the test
    nw, th = mp.mpf(nw), mp.mpf(th)

    def f(phi, comp):
        y = 1 if mp.cos(phi - th) >= 0 else -1
        z = y * nw * mp.cos(phi)
        s = 1 / (1 + mp.e**z)
        return [-y * mp.cos(phi) * s, -y * mp.sin(phi) * s, mp.log(1 + mp.e ** (-z))][comp]

    pts = sorted({-mp.pi / 2, th - mp.pi / 2, mp.pi / 2, th + mp.pi / 2, 3 * mp.pi / 2})
    return [float(mp.quad(lambda p, c=c: f(p, c), pts) / (2 * mp.pi)) for c in range(3)]


def _gauss_reference(nw: float, th: float) -> list[float]:
    """The Gaussian case in Cartesian coordinates u = w̄ᵀx, s = eᵀx (independent N(0, 1)):
    integrating s out leaves 1-D integrals over u with P(y = 1 | u) = Φ(u cot θ)."""
    cot = np.cos(th) / np.sin(th)
    p = lambda u: stats.norm.cdf(u * cot)  # noqa: E731
    sig = lambda z: 0.5 * (1 + np.tanh(z / 2))  # noqa: E731
    sp = lambda z: np.logaddexp(0.0, z)  # noqa: E731
    kw = {"points": [0.0], "epsabs": 1e-15, "epsrel": 1e-13, "limit": 400}
    g1 = -integrate.quad(lambda u: stats.norm.pdf(u) * u * (p(u) * sig(-nw * u)
                                                            - (1 - p(u)) * sig(nw * u)),
                         -40, 40, **kw)[0]
    L = integrate.quad(lambda u: stats.norm.pdf(u) * (p(u) * sp(-nw * u)
                                                      + (1 - p(u)) * sp(nw * u)), -40, 40, **kw)[0]
    return [g1, -np.sin(th) / np.sqrt(2 * np.pi), L]


def _planar(nw, th):
    return jnp.array([nw, 0.0]), jnp.array([np.cos(th), np.sin(th)])


@pytest.mark.parametrize("nw,th", CASES)
def test_circle_matches_high_precision_quadrature(nw, th):
    rule = _rule(spherical.make_distribution("uniform_sphere", 2))
    L, g = pop.loss_and_grad(*_planar(nw, th), rule)
    g1, g2, Lr = _circle_reference(nw, th)
    assert abs(float(L) - Lr) < 1e-13
    assert abs(float(g[0]) - g1) < 1e-13 and abs(float(g[1]) - g2) < 1e-13


@pytest.mark.parametrize("nw,th", [c for c in CASES if 0 < c[1]])
def test_gaussian_matches_the_cartesian_reduction(nw, th):
    rule = _rule(spherical.make_distribution("gaussian", 2))
    L, g = pop.loss_and_grad(*_planar(nw, th), rule)
    g1, g2, Lr = _gauss_reference(nw, th)
    assert abs(float(L) - Lr) < 2e-12 and abs(float(g[0]) - g1) < 2e-12
    assert abs(float(g[1]) - g2) < 1e-13


def test_higher_dimensions_reduce_to_the_plane():
    """A random w, v in R^7: the gradient lies in span(w, v) and equals the planar one."""
    rng = np.random.default_rng(0)
    dist = spherical.make_distribution("gaussian", 7)
    rule = _rule(dist)
    w, v = rng.standard_normal(7), rng.standard_normal(7)
    v /= np.linalg.norm(v)
    L, g = pop.loss_and_grad(jnp.asarray(w), jnp.asarray(v), rule)
    th = np.arccos(w @ v / np.linalg.norm(w))
    g1, g2, Lr = _gauss_reference(np.linalg.norm(w), th)
    wbar = w / np.linalg.norm(w)
    e = v - (v @ wbar) * wbar
    e /= np.linalg.norm(e)
    np.testing.assert_allclose(np.asarray(g), g1 * wbar + g2 * e, atol=2e-12)
    assert abs(float(L) - Lr) < 2e-12


@pytest.mark.parametrize("kind,d,kw", [("gaussian", 3, {}), ("uniform_sphere", 3, {}),
                                       ("uniform_sphere", 10, {}), ("student_t", 4, {"df": 3.0})])
def test_lemma2_tangential_part_is_c0_sin2_over_pi(kind, d, kw):
    dist = spherical.make_distribution(kind, d, **kw)
    rule = _rule(dist)
    rng = np.random.default_rng(1)
    v = np.eye(d)[-1]
    for scale in (0.01, 1.0, 20.0):
        w = scale * rng.standard_normal(d)
        _, g = pop.loss_and_grad(jnp.asarray(w), jnp.asarray(v), rule)
        wbar = w / np.linalg.norm(w)
        tang = -(v @ np.asarray(g) - (v @ wbar) * (wbar @ np.asarray(g)))
        sin2 = 1 - (wbar @ v) ** 2
        assert abs(tang - dist.c0() * sin2 / np.pi) < 1e-12


def test_gradient_is_the_derivative_of_the_loss():
    """Central finite differences of L along random directions (d = 4, Student-t data)."""
    dist = spherical.make_distribution("student_t", 4, df=5.0)
    rule = _rule(dist, level=5)
    v = jnp.asarray(np.eye(4)[0])
    rng = np.random.default_rng(2)
    w = rng.standard_normal(4)
    f = jax.jit(lambda x: pop.loss_and_grad(x, v, rule))
    g = np.asarray(f(jnp.asarray(w))[1])
    for _ in range(3):
        u = rng.standard_normal(4)
        h = 1e-4
        fd = (float(f(jnp.asarray(w + h * u))[0]) - float(f(jnp.asarray(w - h * u))[0])) / (2 * h)
        assert abs(fd - g @ u) < 1e-8


def test_origin_and_gradient_norm_bound():
    dist = spherical.make_distribution("gaussian", 3)
    rule = _rule(dist)
    v = jnp.asarray([0.0, 0.0, 1.0])
    L, g = pop.loss_and_grad(jnp.zeros(3), v, rule)
    assert abs(float(L) - np.log(2)) < 1e-14
    np.testing.assert_allclose(np.asarray(g), -dist.c0() / np.pi * np.asarray(v), atol=1e-14)
    _, g_small = pop.loss_and_grad(jnp.asarray([1e-9, 0.0, 0.0]), v, rule)
    np.testing.assert_allclose(np.asarray(g_small), np.asarray(g), atol=1e-9)
    rng = np.random.default_rng(3)
    for _ in range(5):  # Prop. 3 (i): ‖∇L‖ ≤ c0
        _, g = pop.loss_and_grad(jnp.asarray(3 * rng.standard_normal(3)), v, rule)
        assert np.linalg.norm(np.asarray(g)) <= dist.c0()


def test_monte_carlo_agrees_within_five_standard_errors():
    dist = spherical.make_distribution("uniform_sphere", 5)
    rule = _rule(dist)
    v = np.eye(5)[1]
    w = np.array([0.7, -0.4, 0.2, 0.0, 1.1])
    X = dist.sample(np.random.default_rng(4), 400_000)
    y = np.where(X @ v >= 0, 1.0, -1.0)
    z = y * (X @ w)
    per = -(y / (1 + np.exp(z)))[:, None] * X
    L, g = pop.loss_and_grad(jnp.asarray(w), jnp.asarray(v), rule)
    se = per.std(axis=0) / np.sqrt(len(X))
    assert np.all(np.abs(per.mean(axis=0) - np.asarray(g)) < 5 * se)
    Ls, gs = pop.sample_loss_and_grad(jnp.asarray(w), jnp.asarray(X), jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(gs), per.mean(axis=0), atol=1e-12)
    losses = np.logaddexp(0, -z)
    assert abs(float(Ls) - float(L)) < 5 * losses.std() / np.sqrt(len(X))


def test_interval_rule_keeps_end_distances():
    """∫_0^1 (1 − x)^{−1/2} dx = 2 by tanh-sinh, with 1 − x taken from the rule's gaps."""
    from overparam.numerics import quadrature

    rule = quadrature.on_interval(quadrature.tanh_sinh(5, t_max=4.5), 0.0, 1.0)
    one_minus = np.where(rule.x >= 0.5, rule.gap, 1.0 - rule.x)
    assert abs(np.sum(rule.w / np.sqrt(one_minus)) - 2.0) < 1e-12
    assert np.all(one_minus > 0)
