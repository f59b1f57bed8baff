"""Lanczos extremes, SLQ and Hutchinson against dense spectra, and the matrix-free Hessian and
tangent-kernel operators against explicit Hessians and Jacobians (autodiff and finite
differences), at small sizes, under jit, vmap and scan."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from overparam import _jax  # noqa: F401  (float64)
from overparam.generic import operators as ops
from overparam.numerics import lanczos as lz
from overparam.numerics.haar import haar

REL = 1e-8  # the acceptance bar for the extremes


def _sym(seed: int, n: int) -> np.ndarray:
    """A random symmetric, indefinite n×n matrix."""
    g = np.random.default_rng(seed).standard_normal((n, n))
    return (g + g.T) / 2


def _with_spectrum(seed: int, spectrum: np.ndarray) -> np.ndarray:
    """Q diag(spectrum) Qᵀ with Q Haar-distributed."""
    q = haar(np.random.default_rng(seed), len(spectrum), len(spectrum))
    return (q * spectrum) @ q.T


def _gapped(seed: int, n: int, top: float = 5.0, bottom: float = -3.0) -> np.ndarray:
    """Spectrum: `top`, `bottom` and n − 2 values in [0, 1] (gaps at both ends)."""
    rng = np.random.default_rng(seed + 100)
    return _with_spectrum(seed, np.concatenate([[top, bottom], rng.uniform(0, 1, n - 2)]))


def _mv(A):
    A = jnp.asarray(A)
    return lambda v: A @ v


@partial(jax.jit, static_argnums=2)
def _run(A, v, k):
    """One compiled call (not one compilation per eager operation): the decomposition, its
    Ritz values and the extremes of A from v with k steps."""
    tri = lz.lanczos(_mv(A), v, k)
    return tri, lz.ritz(tri)[0], lz.extremes_of(_mv(A), tri)


def _extremes(A, v, k):
    return _run(A, v, k)[2]


def test_extreme_eigs_is_lanczos_then_its_extremes() -> None:
    A, v = _sym(4, 9), _v0(4, 9)
    ex = jax.jit(lambda A, v: lz.extreme_eigs(_mv(A), v, 5))(A, v)
    for got, want in zip(ex, _extremes(A, v, 5), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@partial(jax.jit, static_argnums=(2, 3))
def _slq_moments(A, z, k, qmax):
    """SLQ nodes and weights, and [estimate, stderr] of tr(A^q)/n for q = 0..qmax."""
    nodes, weights = lz.slq(_mv(A), z, k)
    moments = jnp.stack([jnp.stack(lz.slq_moment(nodes, weights, q)) for q in range(qmax + 1)])
    return nodes, weights, moments


_hutchinson = jax.jit(lambda A, z: lz.hutchinson(_mv(A), z))


def _v0(seed: int, n: int) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed + 7).standard_normal(n))


def _rel(a, b) -> float:
    return float(abs(a - b) / abs(b))


# --- a small 2-layer tanh network with a dict of params --------------------------------------


def _net(params, x):
    return jnp.tanh(x @ params["W1"].T + params["b1"]) @ params["W2"].T


def _net_setup(seed: int, d: int = 3, h: int = 5, o: int = 2, n: int = 6):
    """Params (dict), flat w, unravel, data X, Y."""
    rng = np.random.default_rng(seed)
    params = {"W1": jnp.asarray(rng.standard_normal((h, d))),
              "b1": jnp.asarray(0.5 * rng.standard_normal(h)),
              "W2": jnp.asarray(rng.standard_normal((o, h)) / np.sqrt(h))}
    X = jnp.asarray(rng.standard_normal((n, d)))
    Y = jnp.asarray(rng.standard_normal((n, o)))
    w, unravel = ops.flatten(params)
    return params, w, unravel, X, Y


def _net_loss(unravel, X, Y):
    return lambda w: 0.5 * jnp.mean(jnp.sum((_net(unravel(w), X) - Y) ** 2, axis=-1))


# --- Lanczos extremes --------------------------------------------------------------------------


@pytest.mark.parametrize("iters", [30, 45])  # k = n, and iters > n (clipped to n)
def test_extremes_match_eigvalsh_when_k_covers_n(iters: int) -> None:
    A = _sym(0, 30)
    eig = np.linalg.eigvalsh(A)
    tri, values, ex = _run(A, _v0(0, 30), iters)
    assert _rel(ex.lam_max, eig[-1]) < REL and _rel(ex.lam_min, eig[0]) < REL
    assert eig[0] < 0 < eig[-1]  # indefinite
    assert float(ex.residual) < 1e-10 * np.abs(eig).max()
    assert tri.alpha.shape == (30,) and tri.beta.shape == (29,) and tri.basis.shape == (30, 30)
    np.testing.assert_allclose(tri.basis @ tri.basis.T, np.eye(30), atol=1e-12)
    np.testing.assert_allclose(values, eig, atol=1e-10 * np.abs(eig).max())


def test_extremes_of_an_mlp_hessian_match_the_explicit_hessian() -> None:
    _, w, unravel, X, Y = _net_setup(1)
    loss = _net_loss(unravel, X, Y)
    H = np.asarray(jax.jit(jax.hessian(loss))(w))
    eig = np.linalg.eigvalsh(H)
    assert eig[0] < 0 < eig[-1]  # the Hessian at a random init is indefinite
    P = w.shape[0]
    ex = jax.jit(lambda w: lz.extreme_eigs(ops.hvp(loss, w), jnp.ones_like(w), P))(w)
    assert _rel(ex.lam_max, eig[-1]) < REL and _rel(ex.lam_min, eig[0]) < REL
    np.testing.assert_allclose(H @ np.asarray(ex.v_top), eig[-1] * np.asarray(ex.v_top),
                               atol=1e-7 * eig[-1])


def test_a_gap_converges_with_k_below_n_and_the_residual_says_how_far() -> None:
    n = 200
    A = _gapped(2, n)
    eig = np.linalg.eigvalsh(A)
    ex = _extremes(A, _v0(2, n), 25)
    assert _rel(ex.lam_max, eig[-1]) < REL and _rel(ex.lam_min, eig[0]) < REL
    assert float(ex.residual) < 1e-6
    rough = _extremes(A, _v0(2, n), 4)  # not converged: the residual is the honest error bar
    assert _rel(rough.lam_max, eig[-1]) > REL
    v = np.asarray(rough.v_top)
    np.testing.assert_allclose(rough.residual, np.linalg.norm(A @ v - rough.lam_max * v),
                               rtol=1e-10)
    assert np.min(np.abs(eig - float(rough.lam_max))) <= float(rough.residual)  # Bauer–Fike
    assert eig[-1] - eig[0] >= float(rough.lam_max - rough.lam_min) > 0  # Ritz values interlace


def test_a_warm_start_from_v_top_converges_in_three_steps() -> None:
    n = 150
    A = _with_spectrum(3, np.concatenate([[1.3], np.random.default_rng(3).uniform(-1, 1, n - 1)]))
    eig = np.linalg.eigvalsh(A)
    first = _extremes(A, _v0(3, n), 40)
    warm = _extremes(A, first.v_top, 3)
    cold = _extremes(A, _v0(4, n), 3)
    assert _rel(warm.lam_max, eig[-1]) < REL
    assert _rel(cold.lam_max, eig[-1]) > 1e-4
    assert float(warm.residual) < float(cold.residual)


def test_a_zero_or_nonfinite_start_falls_back_to_a_fixed_vector() -> None:
    A = _sym(5, 12)
    ref = _run(A, lz.fallback_vector(12), 12)[0]
    for bad in (np.zeros(12), np.full(12, np.nan), np.where(np.arange(12) == 3, np.inf, 0.0)):
        tri = _run(A, bad, 12)[0]
        assert np.isfinite(np.asarray(tri.basis)).all()
        np.testing.assert_allclose(tri.alpha, ref.alpha, atol=1e-13)
    mine = np.arange(12.0)
    tri = jax.jit(lambda A, v: lz.lanczos(_mv(A), v, 5, v_fallback=mine))(A, np.zeros(12))
    np.testing.assert_allclose(tri.basis[0], mine / np.linalg.norm(mine), atol=1e-15)
    with pytest.raises(ValueError, match="iters"):
        lz.lanczos(_mv(A), mine, 0)


def test_a_nonfinite_product_is_reported_not_hidden() -> None:
    ex = _extremes(np.full((6, 6), np.nan), np.ones(6), 4)
    assert np.isnan(float(ex.lam_max))


# --- invariant subspaces -----------------------------------------------------------------------


def _rank2(seed: int, n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    q = haar(np.random.default_rng(seed), n, 2)
    return a * np.outer(q[:, 0], q[:, 0]) + b * np.outer(q[:, 1], q[:, 1]), q


@pytest.mark.parametrize("a,b", [(3.0, -2.0), (3.0, 0.7)])  # indefinite, and PSD (λ_min = 0)
def test_a_rank_two_matrix_with_ten_iterations_gives_exact_finite_extremes(a, b) -> None:
    n = 8
    A, q = _rank2(6, n, a, b)
    eig = np.linalg.eigvalsh(A)
    for v0 in (_v0(6, n), q[:, 0]):  # generic start, and an exact eigenvector
        tri, values, ex = _run(A, v0, 10)
        assert np.isfinite(np.asarray(values)).all() and np.isfinite(np.asarray(tri.basis)).all()
        np.testing.assert_allclose(tri.basis @ tri.basis.T, np.eye(n), atol=1e-12)
        np.testing.assert_allclose(values, eig, atol=1e-12)  # no spurious value
        np.testing.assert_allclose([ex.lam_min, ex.lam_max], [eig[0], eig[-1]], atol=1e-12)
        assert float(ex.residual) < 1e-12
    _, weights, moments = _slq_moments(A, np.eye(n), 10, 4)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-13)
    exact = [np.trace(np.linalg.matrix_power(A, q)) / n for q in range(5)]
    np.testing.assert_allclose(moments[:, 0], exact, atol=1e-13)


def test_the_zero_matrix_gives_zeros() -> None:
    ex = _extremes(np.zeros((5, 5)), _v0(0, 5), 7)
    assert float(ex.lam_min) == 0.0 == float(ex.lam_max) and float(ex.residual) == 0.0
    assert np.isfinite(np.asarray(ex.v_top)).all()


# --- stochastic Lanczos quadrature -------------------------------------------------------------


def test_slq_is_the_gauss_rule_exact_to_degree_2k_minus_1_per_probe() -> None:
    n, k = 30, 4
    A = _sym(7, n)
    z = lz.rademacher(jax.random.key(7), 3, n)
    nodes, weights, _ = _slq_moments(A, z, k, 0)
    assert nodes.shape == weights.shape == (3, k)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-13)
    zh = np.asarray(z) / np.sqrt(n)
    for q in range(2 * k):  # degrees 0..7: exact; degree 8 is not
        exact = np.einsum("pi,ij,pj->p", zh, np.linalg.matrix_power(A, q), zh)
        np.testing.assert_allclose(np.sum(weights * nodes**q, axis=1), exact,
                                   rtol=1e-10, atol=1e-12)
    exact8 = np.einsum("pi,ij,pj->p", zh, np.linalg.matrix_power(A, 2 * k), zh)
    assert np.abs(np.sum(weights * nodes ** (2 * k), axis=1) - exact8).max() > 1e-6


def test_slq_moments_match_the_dense_spectrum_within_four_standard_errors() -> None:
    n, p = 40, 200
    A = _sym(8, n)
    _, _, moments = _slq_moments(A, lz.rademacher(jax.random.key(8), p, n), 10, 4)
    assert float(moments[0, 0]) == pytest.approx(1.0, abs=1e-13)
    for q in range(1, 5):
        est, se = moments[q]
        truth = np.trace(np.linalg.matrix_power(A, q)) / n
        Aq = np.linalg.matrix_power(A, q)  # one term ẑᵀA^qẑ has variance 2 Σ_{i≠j} (A^q)_ij² / n²
        se_exact = np.sqrt(2 * (np.sum(Aq**2) - np.sum(np.diag(Aq) ** 2)) / p) / n
        assert float(se) == pytest.approx(se_exact, rel=0.3)
        assert abs(float(est) - truth) <= 4 * float(se), (q, float(est), truth, float(se))


def test_slq_with_the_basis_vectors_as_probes_is_exact() -> None:
    n = 10
    A = _sym(9, n)
    sigma, eig = 0.1, np.linalg.eigvalsh(A)
    x = np.linspace(eig[0] - 2, eig[-1] + 2, 4001)

    @jax.jit
    def run(A):
        nodes, weights = lz.slq(_mv(A), jnp.eye(n), n, batch_size=4)
        moments = jnp.stack([lz.slq_moment(nodes, weights, q)[0] for q in range(7)])
        return moments, lz.slq_density(nodes, weights, x, sigma)

    moments, rho = run(A)
    np.testing.assert_allclose(
        moments, [np.trace(np.linalg.matrix_power(A, q)) / n for q in range(7)], rtol=1e-10)
    # the broadened density: total mass 1, mean = first moment, variance + σ²
    rho = np.asarray(rho)
    mass, mean = np.trapezoid(rho, x), np.trapezoid(x * rho, x)
    assert mass == pytest.approx(1.0, abs=1e-9)
    assert mean == pytest.approx(eig.mean(), abs=1e-9)
    assert np.trapezoid((x - mean) ** 2 * rho, x) == pytest.approx(eig.var() + sigma**2, abs=1e-9)


def test_slq_trace_equals_hutchinson_on_the_same_rademacher_probes() -> None:
    n = 25
    A = _sym(10, n)
    z = lz.rademacher(jax.random.key(10), 16, n)
    _, _, moments = _slq_moments(A, z, 6, 1)
    trace, se = _hutchinson(A, z)
    est, est_se = moments[1]
    np.testing.assert_allclose([n * est, n * est_se], [trace, se], rtol=1e-10)


# --- Hutchinson --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_covers_the_trace_and_its_stderr_is_the_closed_form(kind: str) -> None:
    n, p, seeds = 20, 30, 200
    A = _sym(11, n) + 0.5 * np.eye(n)
    draw = lz.rademacher if kind == "rademacher" else lz.gaussian_probes
    one = lambda key: lz.hutchinson(_mv(A), draw(key, p, n))  # noqa: E731
    trace, se = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(11), seeds))
    trace, se, truth = np.asarray(trace), np.asarray(se), np.trace(A)
    covered = np.mean(np.abs(trace - truth) <= 1.96 * se)
    assert covered >= 0.90, covered
    off = A - np.diag(np.diag(A))
    var = 2 * np.sum(off**2) if kind == "rademacher" else 2 * np.sum(A**2)  # one term's variance
    assert np.mean(se**2) == pytest.approx(var / p, rel=0.15)  # the reported stderr
    assert np.std(trace) == pytest.approx(np.sqrt(var / p), rel=0.15)  # the actual spread


def test_hutchinson_in_batches_and_with_one_probe() -> None:
    A = _sym(12, 9)
    z = lz.rademacher(jax.random.key(12), 10, 9)
    batched = jax.jit(lambda A, z: lz.hutchinson(_mv(A), z, batch_size=3))(A, z)
    np.testing.assert_allclose(batched, _hutchinson(A, z), rtol=1e-13)
    z0 = np.asarray(z[0])
    trace, se = _hutchinson(A, z[:1])
    assert float(trace) == pytest.approx(z0 @ A @ z0) and np.isnan(float(se))


# --- operators ---------------------------------------------------------------------------------


def test_hvp_matches_the_explicit_hessian_and_finite_differences() -> None:
    params, w, unravel, X, Y = _net_setup(13)
    assert ops.flatten(params)[0].shape == (5 * 3 + 5 + 2 * 5,)
    loss = _net_loss(unravel, X, Y)
    v, h = _v0(13, w.shape[0]), 1e-5

    @jax.jit
    def run(w, v):
        # central differences of the gradient: independent of forward-over-reverse
        fd = (jax.grad(loss)(w + h * v) - jax.grad(loss)(w - h * v)) / (2 * h)
        return ops.hvp(loss, w)(v), fd, jax.hessian(loss)(w) @ v

    hv, fd, Hv = run(w, v)
    np.testing.assert_allclose(hv, Hv, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-9)


def test_curvature_along_is_the_dense_rayleigh_quotient() -> None:
    _, w, unravel, X, Y = _net_setup(14)
    loss = _net_loss(unravel, X, Y)

    @jax.jit
    def run(w):
        g = jax.grad(loss)(w)
        return (g, jax.hessian(loss)(w), ops.curvature_along(loss, w, g),
                ops.curvature_along(loss, w, jnp.zeros_like(w)))

    g, H, curv, at_zero = map(np.asarray, run(w))
    assert float(curv) == pytest.approx(g @ H @ g / (g @ g), rel=1e-12)
    assert np.isnan(at_zero)


@pytest.mark.parametrize("n", [6, 30])  # m = 12 < P = 30 (full rank), m = 60 > P (rank P)
def test_ntk_matvec_and_extremes_match_the_explicit_jacobian(n: int) -> None:
    _, w, unravel, X, _ = _net_setup(15, n=n)
    model = lambda w: _net(unravel(w), X)  # noqa: E731
    P, m, h = w.shape[0], 2 * n, 1e-6
    assert ops.n_outputs(model, w) == m
    u = _v0(15, m)

    @jax.jit
    def run(w, u):
        J = jax.jacfwd(lambda w: model(w).ravel())(w)
        diff = lambda e: (model(w + h * e) - model(w - h * e)).ravel() / (2 * h)  # noqa: E731
        fd = jax.vmap(diff, out_axes=1)(jnp.eye(P))
        ex = lz.extreme_eigs(ops.ntk_matvec(model, w), jnp.ones(m), m)
        return J, fd, ops.ntk_matvec(model, w)(u), ops.ntk_dense(model, w), ex

    J, fd, Ku, K_dense, ex = run(w, u)
    J = np.asarray(J)
    assert J.shape == (m, P)
    np.testing.assert_allclose(J, fd, atol=1e-8)  # the reference Jacobian itself
    K = J @ J.T
    np.testing.assert_allclose(Ku, K @ np.asarray(u), rtol=1e-12)
    np.testing.assert_allclose(K_dense, K, rtol=1e-12, atol=1e-13)
    eig = np.linalg.eigvalsh(K)
    assert _rel(ex.lam_max, eig[-1]) < REL
    if m <= P:
        assert _rel(ex.lam_min, eig[0]) < REL
    else:
        assert abs(float(ex.lam_min)) < 1e-12 * eig[-1]  # rank P < m: λ_min = 0


def test_the_dense_jacobian_rule() -> None:
    assert ops.jacobian_bytes(100, 10) == (100 * 10 + 10 * 10) * 8
    assert ops.jacobian_fits(100, 10, 8800) and not ops.jacobian_fits(100, 10, 8799)
    assert ops.jacobian_fits(100, 10, 4400, itemsize=4)


# --- jit, vmap over seeds, scan over steps -----------------------------------------------------


def test_vmapped_lanczos_and_slq_equal_the_per_matrix_runs() -> None:
    n = 16
    As = jnp.asarray(np.stack([_sym(s, n) for s in range(3)]))
    v0s = jnp.stack([_v0(s, n) for s in range(3)])
    zs = lz.rademacher(jax.random.key(3), 3 * 4, n).reshape(3, 4, n)
    tris, values, exs = jax.vmap(lambda A, v: _run(A, v, 8))(As, v0s)
    slqs = jax.vmap(lambda A, z: _slq_moments(A, z, 5, 2))(As, zs)
    for s in range(3):
        one = _run(As[s], v0s[s], 8)
        for got, want in zip(jax.tree.leaves((tris, values, exs)), jax.tree.leaves(one),
                             strict=True):
            np.testing.assert_allclose(got[s], want, rtol=1e-10, atol=1e-12)
        for got, want in zip(slqs, _slq_moments(As[s], zs[s], 5, 2), strict=True):
            np.testing.assert_allclose(got[s], want, rtol=1e-10, atol=1e-12)


def test_warm_started_sharpness_along_gd_in_a_scan_over_vmapped_seeds() -> None:
    """Three seeds vmapped, five GD steps scanned, λ_max/λ_min of ∇²L each step, warm-started
    from the previous step's v_top, against eigvalsh of the explicit Hessian per step."""
    setups = [_net_setup(20 + s) for s in range(3)]
    unravel, X, Y = setups[0][2], setups[0][3], setups[0][4]
    loss = _net_loss(unravel, X, Y)
    w0 = jnp.stack([s[1] for s in setups])
    P, eta = w0.shape[1], 0.05

    def run(w):
        def step(carry, _):
            w, v = carry
            ex = lz.extreme_eigs(ops.hvp(loss, w), v, P)
            return (w - eta * jax.grad(loss)(w), ex.v_top), (w, ex.lam_min, ex.lam_max)

        return lax.scan(step, (w, jnp.zeros_like(w)), None, length=5)[1]

    ws, lo, hi = jax.jit(jax.vmap(run))(w0)
    H = jax.jit(jax.vmap(jax.hessian(loss)))(ws.reshape(15, P))
    eig = np.linalg.eigvalsh(np.asarray(H)).reshape(3, 5, P)
    assert np.all(eig[..., 0] < 0)  # λ_min is a genuine negative eigenvalue at every step
    np.testing.assert_array_less(np.abs(hi - eig[..., -1]), REL * np.abs(eig[..., -1]))
    np.testing.assert_array_less(np.abs(lo - eig[..., 0]), REL * np.abs(eig[..., 0]))
