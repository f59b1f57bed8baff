"""The shared damped Newton solver reaches float64's gradient floor, even where f cannot see it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.special
from jax import lax

from overparam import _jax  # noqa: F401  (float64)
from overparam.numerics import newton

OFFSET = 1e5  # f's rounding (≈ eps·1e5 ≈ 1e-11) hides its decrease long before ∇f is small
SEEDS = range(8)


def _problem(seed: int, n: int = 200, d: int = 10):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    y = (rng.standard_normal(n) > 0).astype(float)
    return A, y, 0.1


def _f(A, y, lam):
    """OFFSET + mean logistic loss + (λ/2)‖x‖²."""
    Aj, yj = jnp.asarray(A), jnp.asarray(y)

    def f(x):
        z = Aj @ x
        return OFFSET + jnp.mean(jnp.logaddexp(0.0, z) - yj * z) + 0.5 * lam * jnp.sum(x**2)

    return f


def _f_numpy(A, y, lam, x):
    """f − OFFSET in NumPy (the reference solver sees f without the rounding of the offset)."""
    z = A @ x
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * x @ x)


def _grad_numpy(A, y, lam, x):
    """∇f in closed form, independent of autodiff: Aᵀ(σ(Ax) − y)/n + λx."""
    return A.T @ (scipy.special.expit(A @ x) - y) / len(y) + lam * x


@jax.jit
def _armijo_only(A, y, lam, x):
    """The line search on f alone (what the solvers did before): it stalls on f's rounding."""
    f = _f(A, y, lam)
    grad, hess = jax.grad(f), jax.hessian(f)

    def step(state):
        x, k, _ = state
        g = grad(x)
        d = jnp.linalg.solve(hess(x), g)
        f0, dec = f(x), g @ d
        t = lax.while_loop(lambda t: (f(x - t * d) > f0 - 0.25 * t * dec) & (t > 1e-12),
                           lambda t: 0.5 * t, 1.0)
        return x - t * d, k + 1, t > 1e-12

    return lax.while_loop(lambda s: (s[1] < 100) & s[2], step, (x, 0, True))[0]


@jax.jit
def _solve(A, y, lam, x0):
    return newton.minimize(_f(A, y, lam), x0)


def test_reaches_the_gradient_floor_where_armijo_on_f_stalls():
    new, old = [], []
    for seed in SEEDS:
        A, y, lam = _problem(seed)
        x0 = jnp.full(A.shape[1], 3.0)  # far from the optimum: the damped phase is exercised
        res = _solve(A, y, lam, x0)
        assert bool(res.converged)
        g0 = np.linalg.norm(_grad_numpy(A, y, lam, np.asarray(x0)))
        new.append(np.linalg.norm(_grad_numpy(A, y, lam, np.asarray(res.x))) / g0)
        old.append(np.linalg.norm(_grad_numpy(A, y, lam, np.asarray(_armijo_only(A, y, lam, x0))))
                   / g0)
        if seed == 0:  # the point is the minimizer an independent solver finds
            ref = scipy.optimize.minimize(
                lambda x, A=A, y=y, lam=lam: _f_numpy(A, y, lam, x), np.asarray(x0),
                jac=lambda x, A=A, y=y, lam=lam: _grad_numpy(A, y, lam, x), method="BFGS",
                options={"gtol": 1e-12})
            assert np.allclose(res.x, ref.x, rtol=0, atol=1e-8)
    assert max(new) <= 1e-11
    # The old search stops orders of magnitude above that floor: this test fails on it.
    assert np.median(old) > 100 * max(new)


def test_quadratic_is_solved_in_one_step_with_the_given_hessian():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((5, 5))
    H = M @ M.T + np.eye(5)
    b = rng.standard_normal(5)
    Hj, bj = jnp.asarray(H), jnp.asarray(b)
    res = newton.minimize(lambda x: 0.5 * x @ Hj @ x - bj @ x, jnp.zeros(5), lambda x: Hj)
    assert int(res.steps) == 1
    assert np.allclose(res.x, np.linalg.solve(H, b), rtol=1e-13, atol=0)


def test_stops_at_max_steps_and_says_it_did_not_converge():
    A, y, lam = _problem(0)
    res = newton.minimize(_f(A, y, lam), jnp.full(A.shape[1], 3.0), max_steps=1)
    assert int(res.steps) == 1 and not bool(res.converged)
