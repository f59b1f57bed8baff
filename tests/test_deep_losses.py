"""Paper C's convex losses: gradients, minimizer, semi-norm, and the constants α, β."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.special

from overparam.losses import deep_linear as dl

NAMES = ["squared_half", "squared_mean", "logistic", "softmax"]
NX, M, NY = 6, 10, 3  # one shape everywhere: each jitted helper compiles once per loss


def _problem(name, seed=0, rank=None):
    """(X, Y) with X ∈ R^{NX×M} of the given rank and labels that suit the loss."""
    rng = np.random.default_rng(seed)
    r = rank or min(NX, M)
    X = rng.standard_normal((NX, r)) @ rng.standard_normal((r, M))
    if name == "logistic":
        return X, (rng.standard_normal((1, M)) > 0).astype(float)
    if name == "softmax":
        return X, np.eye(NY)[:, rng.integers(0, NY, M)]
    return X, rng.standard_normal((NY, M))


def _projector(X):
    """P_X = X (XᵀX)† Xᵀ, computed without basis()."""
    return X @ np.linalg.pinv(X)


@partial(jax.jit, static_argnames="name")
def _value_and_grad(name, ridge, W, X, Y, U):
    return jax.value_and_grad(lambda W: dl.make_loss(name, ridge)(W, X, Y, U))(W)


@partial(jax.jit, static_argnames="name")
def _reduced_hessian(name, ridge, B, X, Y, U, Ur):
    """Hessian of b ↦ L(b Uᵣᵀ) (b = vec B)."""
    def g(b):
        return dl.make_loss(name, ridge)(b.reshape(B.shape) @ Ur.T, X, Y, U)

    return jax.hessian(g)(B.reshape(-1))


class Bound:
    """L(W) and ∇L(W) on fixed data (U from basis(), which is checked on its own)."""

    def __init__(self, name, ridge, X, Y):
        self.name, self.ridge = name, ridge
        self.args = tuple(jnp.asarray(a) for a in (X, Y, dl.basis(X)))

    def value(self, W):
        return float(_value_and_grad(self.name, self.ridge, jnp.asarray(W), *self.args)[0])

    def grad(self, W):
        return np.asarray(_value_and_grad(self.name, self.ridge, jnp.asarray(W), *self.args)[1])

    def reduced_hessian_eigs(self, B, Ur):
        """Curvatures of L in the ‖·‖_X geometry: ‖B Uᵣᵀ‖_X = ‖B‖_F for orthonormal Uᵣ."""
        H = np.asarray(_reduced_hessian(self.name, self.ridge, jnp.asarray(B), *self.args,
                                        jnp.asarray(Ur)))
        return np.linalg.eigvalsh(0.5 * (H + H.T))


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_central_differences(name):
    X, Y = _problem(name, seed=1)
    L = Bound(name, 0.3, X, Y)
    rng = np.random.default_rng(2)
    W = rng.standard_normal((Y.shape[0], NX))
    g = L.grad(W)
    h = 1e-5
    for _ in range(4):
        D = rng.standard_normal(W.shape)
        fd = (L.value(W + h * D) - L.value(W - h * D)) / (2 * h)
        assert fd == pytest.approx(np.sum(g * D), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_loss_values_match_their_formulas(name):
    X, Y = _problem(name, seed=3)
    lam = 0.2
    W = np.random.default_rng(4).standard_normal((Y.shape[0], NX))
    Z = W @ X
    if name == "squared_half":
        data = 0.5 * np.sum((Z - Y) ** 2)
    elif name == "squared_mean":
        data = np.sum((Z - Y) ** 2) / M
    elif name == "logistic":
        data = np.mean(np.log1p(np.exp(Z)) - Y * Z)
    else:
        data = np.mean(scipy.special.logsumexp(Z, axis=0) - np.sum(Y * Z, axis=0))
    ridge_term = lam * np.sum((W @ _projector(X)) ** 2)
    assert Bound(name, lam, X, Y).value(W) == pytest.approx(data + ridge_term, rel=1e-12)


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("name", NAMES)
def test_ridge_term_is_lambda_times_seminorm_squared(name, rank):
    X, Y = _problem(name, seed=5, rank=rank)
    W = np.random.default_rng(6).standard_normal((Y.shape[0], NX))
    diff = Bound(name, 0.7, X, Y).value(W) - Bound(name, 0.0, X, Y).value(W)
    assert diff == pytest.approx(0.7 * np.sum((W @ _projector(X)) ** 2), rel=1e-11)


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("name", NAMES)
def test_minimizer_is_stationary_and_in_the_range(name, rank):
    X, Y = _problem(name, seed=7, rank=rank)
    lam = 0.0 if name.startswith("squared") else 0.05
    c = dl.constants(name, lam, X, Y)
    L = Bound(name, lam, X, Y)
    g_zero = np.linalg.norm(L.grad(np.zeros_like(c.W_star)))
    assert np.linalg.norm(L.grad(c.W_star)) <= 1e-9 * max(1.0, g_zero)
    scale = max(1.0, np.abs(c.W_star).max())
    assert np.allclose(c.W_star @ _projector(X), c.W_star, rtol=0, atol=1e-12 * scale)
    assert c.L_star == pytest.approx(L.value(c.W_star), rel=1e-14)
    bump = 1e-3 * np.random.default_rng(8).standard_normal(c.W_star.shape) @ _projector(X)
    assert c.L_star < L.value(c.W_star + bump)


@pytest.mark.parametrize("rank", [None, 3])
def test_squared_minimizer_is_min_norm_least_squares(rank):
    X, Y = _problem("squared_half", seed=8, rank=rank)
    expected = Y @ np.linalg.pinv(X)
    for name in ("squared_half", "squared_mean"):
        assert np.allclose(dl.constants(name, 0.0, X, Y).W_star, expected, atol=1e-10)


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("name", ["squared_half", "squared_mean"])
def test_squared_alpha_beta_are_the_hessian_extremes(name, rank):
    X, Y = _problem(name, seed=9, rank=rank)
    Ur = scipy.linalg.orth(X)
    for lam in (0.0, 0.4):
        c = dl.constants(name, lam, X, Y)
        eig = Bound(name, lam, X, Y).reduced_hessian_eigs(np.zeros((NY, Ur.shape[1])), Ur)
        assert eig.min() == pytest.approx(c.alpha, rel=1e-10)
        assert eig.max() == pytest.approx(c.beta, rel=1e-10)
        assert c.kappa == pytest.approx(c.beta / c.alpha, rel=1e-14)


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("name", ["logistic", "softmax"])
def test_logistic_softmax_alpha_beta_bound_the_hessian(name, rank):
    X, Y = _problem(name, seed=10, rank=rank)
    lam, ny = 0.1, Y.shape[0]
    c = dl.constants(name, lam, X, Y)
    L = Bound(name, lam, X, Y)
    Ur = scipy.linalg.orth(X)
    rng = np.random.default_rng(11)
    zero = np.zeros((ny, Ur.shape[1]))
    points = [zero, c.W_star @ Ur] + [s * rng.standard_normal(zero.shape) for s in (0.1, 1.0)]
    for B in points:
        eig = L.reduced_hessian_eigs(B, Ur)
        assert eig.min() >= c.alpha * (1 - 1e-10)
        assert eig.max() <= c.beta * (1 + 1e-10)
    # At W = 0 the curvature is known: logistic σ'(0) = ¼ attains β; softmax with uniform
    # p = 1/ny has diag(p) − ppᵀ of norm 1/ny, so λmax/(ny·m) + 2λ.
    top = c.beta if name == "logistic" else c.lam_max / (ny * M) + 2 * lam
    assert L.reduced_hessian_eigs(zero, Ur).max() == pytest.approx(top, rel=1e-10)


def test_rank_deficient_basis_and_constants():
    X, Y = _problem("squared_half", seed=12, rank=3)
    U = dl.basis(X)
    assert U.shape == (NX, NX)
    assert np.allclose(np.linalg.norm(U[:, :3], axis=0), 1.0) and np.all(U[:, 3:] == 0.0)
    assert np.allclose(U @ U.T, _projector(X), atol=1e-12)
    ev = np.sort(np.linalg.eigvalsh(X @ X.T))[::-1]
    assert ev[3] < 1e-10 * ev[0] < ev[2]
    c = dl.constants("squared_half", 0.0, X, Y)
    assert c.rank == 3 == np.linalg.matrix_rank(X)
    assert np.array_equal(c.U, U)
    assert c.lam_max == pytest.approx(ev[0], rel=1e-12)
    assert c.lam_min_plus == pytest.approx(ev[2], rel=1e-10)
    assert c.alpha == pytest.approx(ev[2], rel=1e-10)


@pytest.mark.parametrize("shape", [(4, 12), (6, 4), (5, 5)])
def test_basis_shape_and_projector_full_rank(shape):
    X = np.random.default_rng(13).standard_normal(shape)
    U = dl.basis(X)
    assert U.shape == (shape[0], min(shape))
    assert np.allclose(U.T @ U, np.eye(min(shape)), atol=1e-12)
    assert np.allclose(U @ U.T, _projector(X), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_invariant_off_the_range(name):
    X, Y = _problem(name, seed=14, rank=3)
    L = Bound(name, 0.3, X, Y)
    rng = np.random.default_rng(15)
    W = rng.standard_normal((Y.shape[0], NX))
    A = 10.0 * rng.standard_normal(W.shape)
    assert L.value(W + A @ (np.eye(NX) - _projector(X))) == pytest.approx(L.value(W), rel=1e-11)


def test_loss_is_jit_and_vmap_friendly():
    X, Y = _problem("softmax", seed=16)
    loss = dl.make_loss("softmax", 0.1)
    Ws = np.random.default_rng(17).standard_normal((5, NY, NX))
    args = tuple(jnp.asarray(a) for a in (X, Y, dl.basis(X)))
    batched = jax.jit(jax.vmap(loss, in_axes=(0, None, None, None)))(jnp.asarray(Ws), *args)
    single = [Bound("softmax", 0.1, X, Y).value(W) for W in Ws]
    assert np.allclose(batched, single, rtol=1e-13)


def test_unknown_loss_names_raise():
    X, Y = _problem("squared_half")
    with pytest.raises(ValueError, match="unknown loss"):
        dl.make_loss("hinge", 0.0)
    with pytest.raises(ValueError, match="unknown loss"):
        dl.constants("squared", 0.0, X, Y)
