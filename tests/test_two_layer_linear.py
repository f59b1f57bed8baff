"""Tests of overparam.models.two_layer_linear against explicit dense (h×h) computations."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overparam.models import two_layer_linear as tl

SHAPES = [(3, 2, 1), (3, 2, 4), (3, 4, 7), (2, 3, 12), (4, 4, 30)]


def _rand(n: int, m: int, h: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, h)), rng.standard_normal((m, h))


def _dense_D(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    return W1.T @ W1 - W2.T @ W2


def _padded_sv2(W: np.ndarray) -> np.ndarray:
    """Squared singular values of W (rows) padded with zeros to W.shape[0] entries, ascending."""
    s = np.linalg.svd(W, compute_uv=False) ** 2
    return np.sort(np.concatenate([s, np.zeros(W.shape[0] - s.size)]))


def test_product() -> None:
    W1, W2 = _rand(3, 4, 6, 0)
    np.testing.assert_allclose(
        np.asarray(tl.product(W1, W2)), np.einsum("ik,jk->ij", W1, W2), rtol=1e-14
    )


@pytest.mark.parametrize("n,m,h", SHAPES)
def test_gram_spectra_vs_svd(n: int, m: int, h: int) -> None:
    W1, W2 = _rand(n, m, h, 1)
    s = tl.gram_spectra(W1, W2)
    e1, e2 = _padded_sv2(W1), _padded_sv2(W2)
    scale = max(e1[-1], e2[-1])
    assert abs(float(s["sig2min_W1"]) - e1[0]) <= 1e-13 * scale
    assert abs(float(s["sig2max_W1"]) - e1[-1]) <= 1e-13 * scale
    assert abs(float(s["sig2min_W2"]) - e2[0]) <= 1e-13 * scale
    assert abs(float(s["sig2max_W2"]) - e2[-1]) <= 1e-13 * scale
    assert float(s["sig2min_W1"]) >= 0.0 and float(s["sig2min_W2"]) >= 0.0


@pytest.mark.parametrize("n,m,h", SHAPES)
def test_sigma2_T_lemma_A2_vs_dense_operator(n: int, m: int, h: int) -> None:
    W1, W2 = _rand(n, m, h, 2)
    sv = tl.dense_T_singular_values(W1, W2)
    s2min, s2max = tl.sigma2_T(W1, W2)
    assert sv.shape == (n * m,)
    np.testing.assert_allclose(float(s2max), sv[0] ** 2, rtol=1e-12)
    np.testing.assert_allclose(float(s2min), sv[-1] ** 2, rtol=1e-12, atol=1e-12 * sv[0] ** 2)
    # full spectrum of T*T is {σ_i²(W1) + σ_j²(W2)} (Sylvester operator U ↦ W1W1ᵀU + UW2W2ᵀ)
    sums = np.sort([a + b for a, b in itertools.product(_padded_sv2(W1), _padded_sv2(W2))])[::-1]
    np.testing.assert_allclose(sv**2, sums, rtol=1e-11, atol=1e-12 * sums[0])


def test_dense_T_singular_values_is_not_trivially_lemma() -> None:
    """σ²_min(T) is the sum of minima, not e.g. the minimum of the two (so the check can fail)."""
    W1 = np.diag([1.0, 3.0]) @ np.eye(2, 5)
    W2 = np.diag([2.0, 5.0, 7.0]) @ np.eye(3, 5)
    sv = tl.dense_T_singular_values(W1, W2)
    np.testing.assert_allclose(sv[-1] ** 2, 1.0 + 4.0, rtol=1e-14)
    np.testing.assert_allclose(sv[0] ** 2, 9.0 + 49.0, rtol=1e-14)


@pytest.mark.parametrize("n,m,h", SHAPES)
def test_imbalance_eigs_vs_dense_D(n: int, m: int, h: int) -> None:
    W1, W2 = _rand(n, m, h, 3)
    N = n + m
    full = np.sort(np.linalg.eigvalsh(_dense_D(W1, W2)))[::-1]
    scale = np.max(np.abs(full))
    for small in [np.asarray(tl.imbalance_eigs(W1, W2)), tl.imbalance_eigs_qr(W1, W2)]:
        assert small.shape == (N,)
        assert np.all(np.diff(small) <= 0)
        if h >= N:
            merged = np.sort(np.concatenate([small, np.zeros(h - N)]))[::-1]
            np.testing.assert_allclose(merged, full, atol=1e-12 * scale)
        else:
            merged = np.sort(np.concatenate([full, np.zeros(N - h)]))[::-1]
            np.testing.assert_allclose(small, merged, atol=1e-12 * scale)


@pytest.mark.parametrize("h", [6, 30])
def test_imbalance_eigs_rank_deficient_exact(h: int) -> None:
    """Balanced W1 = W2 (D = 0) and W2 = 0 (D = W1ᵀW1): errors at the eps·‖G‖ level, not sqrt(eps)."""
    n = m = 3
    W1 = np.random.default_rng(16).standard_normal((n, h))
    scale = np.linalg.norm(W1, 2) ** 2
    for f in (tl.imbalance_eigs, tl.imbalance_eigs_qr):
        assert np.max(np.abs(np.asarray(f(W1, W1.copy())))) <= 1e-13 * scale
        ev = np.asarray(f(W1, np.zeros((m, h))))
        ref = np.concatenate([np.linalg.svd(W1, compute_uv=False) ** 2, np.zeros(m)])
        np.testing.assert_allclose(ev, ref, atol=1e-13 * scale)


@pytest.mark.parametrize("n,m,h", SHAPES)
def test_kth_largest_eig_of_D_all_k(n: int, m: int, h: int) -> None:
    W1, W2 = _rand(n, m, h, 4)
    full = np.sort(np.linalg.eigvalsh(_dense_D(W1, W2)))[::-1]
    small = tl.imbalance_eigs(W1, W2)
    scale = np.max(np.abs(full))
    for k in range(1, h + 1):
        assert abs(float(tl.kth_largest_eig_of_D(small, h, k)) - full[k - 1]) <= 1e-12 * scale, k


@pytest.mark.parametrize("h", [2, 3, 6, 10])
def test_kth_largest_with_structural_zeros(h: int) -> None:
    """D = W1ᵀW1 (W2 = 0) is PSD of rank min(n, h); balanced W1 = W2 gives D = 0."""
    n = m = 3
    rng = np.random.default_rng(5)
    W1 = rng.standard_normal((n, h))
    for W2, name in [(np.zeros((m, h)), "psd"), (W1.copy(), "balanced")]:
        full = np.sort(np.linalg.eigvalsh(_dense_D(W1, W2)))[::-1]
        small = tl.imbalance_eigs(W1, W2)
        for k in range(1, h + 1):
            got = float(tl.kth_largest_eig_of_D(small, h, k))
            assert abs(got - full[k - 1]) <= 1e-12 * max(1.0, np.abs(full).max()), (name, k)
        if name == "psd":
            last = float(tl.kth_largest_eig_of_D(small, h, h))
            assert last == 0.0 if h > n else abs(last - full[-1]) <= 1e-12 * full[0]


@pytest.mark.parametrize("n,m,h", [(3, 2, 4), (3, 4, 9), (4, 4, 30)])
def test_imbalance_drift_vs_dense(n: int, m: int, h: int) -> None:
    W1_0, W2_0 = _rand(n, m, h, 6)
    rng = np.random.default_rng(7)
    W1 = W1_0 + 0.3 * rng.standard_normal((n, h))
    W2 = W2_0 + 0.3 * rng.standard_normal((m, h))
    ref = np.linalg.norm(_dense_D(W1, W2) - _dense_D(W1_0, W2_0))
    np.testing.assert_allclose(float(tl.imbalance_drift_fro(W1, W2, W1_0, W2_0)), ref, rtol=1e-12)
    assert (
        float(tl.imbalance_drift_fro(W1_0, W2_0, W1_0, W2_0)) <= 1e-12 * np.linalg.norm(W1_0) ** 2
    )


def test_imbalance_drift_tiny_is_resolved() -> None:
    """A drift 1e-8 × ‖W‖² is resolved to 1e-6 relative (a trace formula would only give ~1e-2)."""
    n, m, h = 4, 3, 40
    W1_0, W2_0 = _rand(n, m, h, 8)
    rng = np.random.default_rng(9)
    E1, E2 = 1e-8 * rng.standard_normal((n, h)), 1e-8 * rng.standard_normal((m, h))
    W1, W2 = W1_0 + E1, W2_0 + E2
    E1, E2 = W1 - W1_0, W2 - W2_0  # exact representable increments
    ref = np.linalg.norm(W1_0.T @ E1 + E1.T @ W1 - W2_0.T @ E2 - E2.T @ W2)
    np.testing.assert_allclose(float(tl.imbalance_drift_fro(W1, W2, W1_0, W2_0)), ref, rtol=1e-6)


@pytest.mark.parametrize("n,m,h", [(3, 2, 4), (2, 3, 3), (3, 4, 9), (4, 4, 30)])
def test_imbalance_step_vs_actual_gd_step(n: int, m: int, h: int) -> None:
    W1, W2 = _rand(n, m, h, 10)
    g = np.random.default_rng(11).standard_normal((n, m))
    eta = 0.037
    W1n, W2n = W1 - eta * g @ W2, W2 - eta * g.T @ W1
    ref = np.linalg.norm(_dense_D(W1n, W2n) - _dense_D(W1, W2))
    np.testing.assert_allclose(float(tl.imbalance_step_fro(W1, W2, g, eta)), ref, rtol=1e-10)
    # the corrected eq 131 matrix itself
    inc = eta**2 * (W2.T @ g.T @ g @ W2 - W1.T @ g @ g.T @ W1)
    np.testing.assert_allclose(
        inc, _dense_D(W1n, W2n) - _dense_D(W1, W2), atol=1e-12 * np.abs(inc).max()
    )


def test_printed_eq131_transpose_is_wrong_for_square() -> None:
    """For n = m the printed W1ᵀ∇ℓᵀ∇ℓW1 is defined but does not give D(k+1) − D(k)."""
    n = m = 3
    W1, W2 = _rand(n, m, 8, 12)
    g = np.random.default_rng(13).standard_normal((n, m))
    eta = 0.05
    W1n, W2n = W1 - eta * g @ W2, W2 - eta * g.T @ W1
    actual = _dense_D(W1n, W2n) - _dense_D(W1, W2)
    printed = eta**2 * (W2.T @ g.T @ g @ W2 - W1.T @ g.T @ g @ W1)
    assert np.linalg.norm(printed - actual) > 1e-3 * np.linalg.norm(actual)


def test_sigma_W_vs_numpy() -> None:
    W = np.random.default_rng(14).standard_normal((5, 3))
    s = np.linalg.svd(W, compute_uv=False)
    smin, smax = tl.sigma_W(W)
    np.testing.assert_allclose([float(smin), float(smax)], [s[-1], s[0]], rtol=1e-14)


def test_jit_vmap_match_unbatched() -> None:
    n, m, h, B = 3, 4, 9, 5
    rng = np.random.default_rng(15)
    W1 = rng.standard_normal((B, n, h))
    W2 = rng.standard_normal((B, m, h))
    W1_0 = rng.standard_normal((B, n, h))
    W2_0 = rng.standard_normal((B, m, h))
    g = rng.standard_normal((B, n, m))
    eta = rng.uniform(0.01, 0.1, B)

    def all_of(w1, w2, w10, w20, gg, e):
        ev = tl.imbalance_eigs(w1, w2)
        s2 = tl.sigma2_T(w1, w2)
        return (
            tl.product(w1, w2),
            s2[0],
            s2[1],
            ev,
            tl.kth_largest_eig_of_D(ev, h, n),
            tl.imbalance_drift_fro(w1, w2, w10, w20),
            tl.imbalance_step_fro(w1, w2, gg, e),
            tl.sigma_W(tl.product(w1, w2))[0],
            tl.gram_spectra(w1, w2)["sig2max_W2"],
        )

    batched = jax.jit(jax.vmap(all_of))(W1, W2, W1_0, W2_0, g, eta)
    for b in range(B):
        single = all_of(W1[b], W2[b], W1_0[b], W2_0[b], g[b], eta[b])
        for x, y in zip(batched, single, strict=True):
            np.testing.assert_allclose(np.asarray(x[b]), np.asarray(y), rtol=1e-12, atol=1e-12)
    assert jnp.asarray(batched[3]).dtype == jnp.float64
