"""The curvature along a gradient step (paper A, App. D): ⟨g, H(τ)g⟩/‖g‖² on τ ∈ [0, 1],
against closed-form polynomial coefficients, finite differences and dense grids."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overparam as op
from overparam.numerics import curvature
from overparam.problems.two_layer_linear import build_instance
from overparam.runner import plan

#: Compiled once per (function, τ tuple): eager HVPs dispatch hundreds of small ops.
_along = jax.jit(curvature.along_segment, static_argnums=(0, 4))
_extremes = jax.jit(curvature.segment_extremes, static_argnums=(0, 4))


def _phi(f, p, g):
    """s ↦ f(p − s g), compiled."""
    return jax.jit(lambda s: f(tuple(a - s * b for a, b in zip(p, g, strict=True))))


def _quartic_coefficients(W1, W2, G1, G2, X, Y, ridge=0.0):
    """φ''(s) = c0 + c1 s + c2 s² for φ(s) = ½‖X P(s) − Y‖² + (λ/2)‖P(s)‖², with
    P(s) = (W1 − sG1)(W2 − sG2)ᵀ = A + sB + s²C: for u(s) = u0 + u1 s + u2 s²,
    (½‖u‖²)'' = ‖u1‖² + 2⟨u0, u2⟩ + 6⟨u1, u2⟩ s + 6‖u2‖² s²."""
    A, B, C = W1 @ W2.T, -(G1 @ W2.T + W1 @ G2.T), G1 @ G2.T
    out = np.zeros(3)
    for u0, u1, u2, w in ((X @ A - Y, X @ B, X @ C, 1.0), (A, B, C, ridge)):
        out += w * np.array([np.sum(u1 * u1) + 2 * np.sum(u0 * u2), 6 * np.sum(u1 * u2),
                             6 * np.sum(u2 * u2)])
    return out


def _problem(seed=0, n=3, m=2, h=5):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((7, n)), rng.standard_normal((7, m))
    W1, W2 = rng.standard_normal((n, h)), rng.standard_normal((m, h))
    return X, Y, W1, W2


def _squared(X, Y, ridge=0.0):
    def f(p):
        P = p[0] @ p[1].T
        return 0.5 * jnp.sum((X @ P - Y) ** 2) + 0.5 * ridge * jnp.sum(P**2)
    return f


@pytest.mark.parametrize("ridge", [0.0, 0.7])
def test_squared_loss_curvature_is_the_closed_form_quadratic(ridge):
    X, Y, W1, W2 = _problem()
    f = _squared(X, Y, ridge)
    p = (jnp.asarray(W1), jnp.asarray(W2))
    g = jax.grad(f)(p)
    eta = 0.05
    taus = np.linspace(0.0, 1.0, 11)
    vals = np.asarray(_along(f, p, g, eta, tuple(taus)))
    G1, G2 = (np.asarray(a) for a in g)
    c = _quartic_coefficients(W1, W2, G1, G2, X, Y, ridge)
    s = taus * eta
    den = np.sum(G1 * G1) + np.sum(G2 * G2)
    np.testing.assert_allclose(vals, (c[0] + c[1] * s + c[2] * s**2) / den, rtol=1e-11)


def test_curvature_along_the_segment_matches_finite_differences_of_the_loss():
    """φ(s) = f(p − s g): φ''(τη)/‖g‖² by central differences (step 1e-4, error ~1e-7)."""
    X, Y, W1, W2 = _problem(1)
    f = _squared(X, Y)
    p = (jnp.asarray(W1), jnp.asarray(W2))
    g = jax.grad(f)(p)
    eta, h = 0.08, 1e-4
    den = float(sum(jnp.vdot(a, a) for a in g))

    phi_j = _phi(f, p, g)

    def phi(s):
        return float(phi_j(s))

    taus = (0.0, 0.3, 1.0)
    vals = np.asarray(_along(f, p, g, eta, taus))
    for tau, val in zip(taus, vals, strict=True):
        s = tau * eta
        fd = (phi(s + h) - 2 * phi(s) + phi(s - h)) / h**2 / den
        assert val == pytest.approx(fd, rel=1e-5)


def test_quadratic_extremes_against_a_dense_grid():
    rng = np.random.default_rng(2)
    t = np.linspace(0.0, 1.0, 200_001)
    for a, b, c in rng.standard_normal((50, 3)) * [3.0, 2.0, 1.0]:
        q = (a * t + b) * t + c
        hi, lo = curvature.quadratic_extremes(*(jnp.asarray((a * x + b) * x + c)
                                                for x in (0.0, 0.5, 1.0)))
        assert float(hi) == pytest.approx(q.max(), abs=1e-9)
        assert float(lo) == pytest.approx(q.min(), abs=1e-9)
    hi, lo = curvature.quadratic_extremes(*(jnp.asarray(v) for v in (1.0, 2.0, 3.0)))  # a = 0
    assert (float(hi), float(lo)) == (3.0, 1.0)


@pytest.mark.parametrize("seed", [0, 3])
def test_the_nine_point_grid_against_the_exact_quadratic(seed):
    """On the squared loss the 9-point grid's max and min lie inside the exact ones, short by
    at most |a|/256 (every τ is within 1/16 of a grid point, a = the τ² coefficient)."""
    X, Y, W1, W2 = _problem(seed)
    f = _squared(X, Y)
    p = (jnp.asarray(W1), jnp.asarray(W2))
    g = jax.grad(f)(p)
    eta = 2.0 / float(_along(f, p, g, 0.0, (0.0,))[0])  # a long step
    _, hi, lo = (float(x) for x in _extremes(f, p, g, eta, True))
    _, ghi, glo = (float(x) for x in _extremes(f, p, g, eta, False))
    q = np.asarray(_along(f, p, g, eta, curvature.EXACT_TAUS))
    a = abs(2 * (q[0] + q[2] - 2 * q[1]))
    assert a > 1e-3 * abs(q[0])  # the curvature does vary along this step
    slack = 1e-12 * abs(hi)
    assert hi - a / 256 - slack <= ghi <= hi + slack
    assert lo - slack <= glo <= lo + a / 256 + slack


def test_logistic_grid_is_the_finite_difference_curvature_at_nine_points():
    """A loss that is not polynomial along lines: each grid value is φ''(τη)/‖g‖²."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((9, 3)), rng.integers(0, 2, (9, 1)).astype(float)

    def f(p):
        z = X @ p[0] @ p[1].T
        return jnp.sum(jnp.logaddexp(0.0, z) - y * z) + 0.5 * jnp.sum((p[0] @ p[1].T) ** 2)

    p = (jnp.asarray(rng.standard_normal((3, 4))), jnp.asarray(rng.standard_normal((1, 4))))
    g = jax.grad(f)(p)
    eta, h = 0.2, 1e-4
    den = float(sum(jnp.vdot(a, a) for a in g))

    phi_j = _phi(f, p, g)

    def phi(s):
        return float(phi_j(s))

    fd = np.array([(phi(t * eta + h) - 2 * phi(t * eta) + phi(t * eta - h)) / h**2 / den
                   for t in curvature.GRID])
    c0, hi, lo = (float(x) for x in _extremes(f, p, g, eta, False))
    np.testing.assert_allclose([c0, hi, lo], [fd[0], fd.max(), fd.min()], rtol=1e-5)
    assert hi > lo  # not constant along the step


def test_the_run_logs_the_exact_segment_extremes_and_eq62s_a(tmp_path):
    """In the compiled loop (row-space coordinates) the columns equal the closed form on the
    dense h-column iterates, replayed by plain numpy GD."""
    spec = {"problem": {"kind": "two_layer_linear", "width": 12, "ridge": 0.1,
                        "data": {"kind": "synthetic", "n": 3, "m": 2, "target": "init",
                                 "noise": 0.3}},
            "schedule": {"kind": "constant", "eta": 0.045}, "steps": 4, "seeds": 1}
    steps = op.run(spec, out=tmp_path).steps
    p = plan(spec)
    inst = build_instance(p.settings[0], 0, p.base_dir)
    W1, W2, eta = inst.W1.copy(), inst.W2.copy(), 0.045
    for k in range(4):
        Gl = inst.X.T @ (inst.X @ W1 @ W2.T - inst.Y) + 0.1 * W1 @ W2.T  # ∇ℓ(W)
        G1, G2 = Gl @ W2, Gl.T @ W1
        c = _quartic_coefficients(W1, W2, G1, G2, inst.X, inst.Y, 0.1)
        s = np.linspace(0.0, eta, 100_001)
        q = (c[0] + c[1] * s + c[2] * s**2) / (np.sum(G1 * G1) + np.sum(G2 * G2))
        row = steps.iloc[k]
        assert row["curvature"] == pytest.approx(q[0], rel=1e-10)
        assert row["curvature_seg_max"] == pytest.approx(q.max(), rel=1e-10)
        assert row["curvature_seg_min"] == pytest.approx(q.min(), rel=1e-10)
        a = np.linalg.norm(Gl) * np.linalg.norm(W1 @ W2.T)
        assert row["xu_a"] == pytest.approx(a, rel=1e-12)
        W1, W2 = W1 - eta * G1, W2 - eta * G2
    assert (steps["curvature_seg_max"] - steps["curvature_seg_min"]).max() > 1e-3
