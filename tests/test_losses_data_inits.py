"""Losses (µ, K, minimizer), data generators and initial weights."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overparam.data.synthetic import make_X, random_orthogonal
from overparam.inits.two_layer_linear import draw_init
from overparam.losses import two_layer_linear as losses
from overparam.spec import GaussianInit, OrthogonalInit, ScaledInit, SyntheticData


def _data(name, rng, N=30, n=4, m=3):
    X = rng.standard_normal((N, n))
    if name == "squared":
        return X, rng.standard_normal((N, m))
    if name == "logistic":
        return X, (rng.standard_normal((N, 1)) > 0).astype(float)
    return X, np.eye(m)[rng.integers(0, m, N)]


@pytest.mark.parametrize("name", ["squared", "logistic", "softmax"])
def test_curvature_lies_between_mu_and_K(name):
    """Monte Carlo over points and directions: µ ≤ dᵀ∇²ℓ d / ‖d‖² ≤ K (Assumption 2.1)."""
    rng = np.random.default_rng(1)
    X, Y = _data(name, rng)
    lc = losses.constants(name, 0.1, X, Y)
    f = losses.make_loss(name, 0.1)
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    hvp = jax.jit(lambda W, D: jax.jvp(jax.grad(lambda w: f(w, Xj, Yj)), (W,), (D,))[1])
    curv = []
    for _ in range(200):
        W = jnp.asarray(3 * rng.standard_normal(lc.W_star.shape))
        D = jnp.asarray(rng.standard_normal(lc.W_star.shape))
        curv.append(float(jnp.vdot(D, hvp(W, D)) / jnp.vdot(D, D)))
    assert min(curv) >= lc.mu * (1 - 1e-12) and max(curv) <= lc.K * (1 + 1e-12)
    if name == "squared":  # the bounds are attained: exact extreme eigenvalues of XᵀX + λ
        ev = np.linalg.eigvalsh(X.T @ X)
        assert lc.K == pytest.approx(ev[-1] + 0.1) and lc.mu == pytest.approx(ev[0] + 0.1)


@pytest.mark.parametrize("name", ["squared", "logistic", "softmax"])
def test_minimizer_has_zero_gradient(name):
    rng = np.random.default_rng(2)
    X, Y = _data(name, rng)
    lc = losses.constants(name, 0.05, X, Y)
    g = jax.grad(losses.make_loss(name, 0.05))(
        jnp.asarray(lc.W_star), jnp.asarray(X), jnp.asarray(Y)
    )
    assert float(jnp.linalg.norm(g)) < 1e-10
    assert lc.l_star == pytest.approx(
        float(losses.make_loss(name, 0.05)(jnp.asarray(lc.W_star), jnp.asarray(X), jnp.asarray(Y)))
    )


def test_logistic_equals_two_class_softmax_with_a_zero_column():
    rng = np.random.default_rng(3)
    X, y = _data("logistic", rng)
    W = rng.standard_normal((X.shape[1], 1))
    Y2 = np.hstack([1 - y, y])
    W2 = np.hstack([np.zeros_like(W), W])
    assert float(losses.logistic(W, X, y)) == pytest.approx(
        float(losses.softmax(W2, X, Y2)), rel=1e-13
    )


def test_data_generators():
    rng = np.random.default_rng(4)
    Q = random_orthogonal(rng, 7)
    np.testing.assert_allclose(Q @ Q.T, np.eye(7), atol=1e-13)
    spec = SyntheticData(kind="synthetic", n=5, m=5, x="spectrum", x_singular_range=(1.8, 2.3))
    s = np.linalg.svd(make_X(spec, rng), compute_uv=False)
    assert s.min() >= 1.8 and s.max() <= 2.3


@pytest.mark.parametrize(
    ("kind", "std1", "std2"),
    [
        ("xavier", np.sqrt(2 / (6 + 400)), np.sqrt(2 / (400 + 5))),
        ("he", np.sqrt(2 / 6), np.sqrt(2 / 400)),
        ("lecun", np.sqrt(1 / 6), np.sqrt(1 / 400)),
    ],
)
def test_fan_inits_have_their_variance(kind, std1, std2):
    """Sample std of 2400 and 2000 entries is within 5% (≈ 3.5 standard errors)."""
    W1, W2 = draw_init(ScaledInit(kind=kind), 6, 5, 400, np.random.default_rng(5), Path("."))
    assert W1.shape == (6, 400) and W2.shape == (5, 400)
    assert W1.std() == pytest.approx(std1, rel=0.05) and W2.std() == pytest.approx(std2, rel=0.05)


def test_gaussian_p_and_orthogonal():
    W1, _ = draw_init(
        GaussianInit(kind="gaussian", p=0.375), 6, 5, 1000, np.random.default_rng(6), Path(".")
    )
    assert W1.std() == pytest.approx(1000**-0.375, rel=0.05)
    W1, W2 = draw_init(
        OrthogonalInit(kind="orthogonal", gain=2.0), 6, 5, 40, np.random.default_rng(7), Path(".")
    )
    np.testing.assert_allclose(W1 @ W1.T, 4 * np.eye(6), atol=1e-12)
    np.testing.assert_allclose(W2 @ W2.T, 4 * np.eye(5), atol=1e-12)


def test_a_user_npy_is_read_once_while_unchanged(tmp_path, monkeypatch):
    """Every seed and setting reuses one read; a rewritten file is read again."""
    import os

    from overparam.data import synthetic

    f = tmp_path / "X.npy"
    np.save(f, np.arange(6.0).reshape(3, 2))
    reads = []
    real_load = np.load
    monkeypatch.setattr(synthetic.np, "load", lambda *a, **k: reads.append(a) or real_load(*a, **k))
    first = synthetic.load_npy(f, "problem.data.X")
    for _ in range(4):
        assert synthetic.load_npy(f, "problem.data.X") is first
    assert len(reads) == 1 and not first.flags.writeable
    np.save(f, np.ones((3, 2)))
    os.utime(f, ns=(1, 1))  # a new modification time even on a coarse clock
    assert synthetic.load_npy(f, "problem.data.X").sum() == 6.0 and len(reads) == 2
