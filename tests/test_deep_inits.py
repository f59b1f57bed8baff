"""Initial weights of the deep linear network: paper C eq (8) by Monte Carlo, exact structure
of the orthogonal and balanced schemes, normalization, and the errors users see."""

from __future__ import annotations

import math

import numpy as np
import pytest

from overparam.errors import SpecError
from overparam.inits import deep_linear as di
from overparam.spec import BalancedInit, GaussianInit, NpyInit, OrthogonalInit, ScaledInit

GAUSS = GaussianInit(kind="gaussian")
ORTHO = OrthogonalInit(kind="orthogonal")
BALANCED = BalancedInit(kind="balanced")
HERE = None  # base_dir is only read by the npy scheme


def _product(Ws):
    P = Ws[0]
    for W in Ws[1:]:
        P = W @ P
    return P


def _eye_close(A, scale):
    return np.allclose(A, scale * np.eye(A.shape[0]), rtol=0, atol=1e-12 * scale)


CASES = [
    (GAUSS, [3, 5, 7, 4, 2]),
    (ORTHO, [3, 5, 7, 4, 2]),
    (ORTHO, [2, 4, 4, 4, 3]),
    (OrthogonalInit(kind="orthogonal", peak=3), [2, 4, 4, 4, 3]),
    (OrthogonalInit(kind="orthogonal", peak=2), [2, 3, 5, 5, 1]),
    (ORTHO, [4, 6, 3]),
    (BALANCED, [3, 6, 6, 6, 2]),
    (BALANCED, [4, 5, 5, 5, 3]),
    (BALANCED, [3, 5, 2]),
]


@pytest.mark.parametrize(("spec", "widths"), CASES)
def test_eq8_norm_is_preserved_in_expectation(spec, widths):
    """E‖a_N W_{N:1} x‖² = ‖x‖²: the sample mean of the ratio over 3000 draws lies within
    5 sample standard errors of 1 (a false alarm has probability below 1e-6)."""
    rng = np.random.default_rng(sum(widths) * 101 + len(widths))
    x = rng.standard_normal(widths[0]) * 2.0
    a = di.normalization(widths)
    ratios = np.array([np.sum((a * _product(di.draw(spec, widths, rng, HERE)) @ x) ** 2)
                       for _ in range(3000)]) / np.sum(x**2)
    se = ratios.std(ddof=1) / math.sqrt(ratios.size)
    assert abs(ratios.mean() - 1.0) < 5 * se, (ratios.mean(), se)


@pytest.mark.parametrize(("spec", "widths"), CASES)
def test_shapes(spec, widths):
    Ws = di.draw(spec, widths, np.random.default_rng(0), HERE)
    assert [W.shape for W in Ws] == [(widths[j], widths[j - 1]) for j in range(1, len(widths))]


@pytest.mark.parametrize(("widths", "peak", "expected"), [
    ([3, 5, 7, 4, 2], None, 2),
    ([2, 4, 4, 4, 3], None, 1),
    ([2, 4, 4, 4, 3], 3, 3),
    ([2, 3, 5, 5, 1], 2, 2),
    ([4, 6, 3], None, 1),
    ([3, 3, 3, 3], None, 1),
])
def test_orthogonal_embeddings_then_projections(widths, peak, expected):
    """W_iᵀW_i = n_i I up to the peak, W_jW_jᵀ = n_{j−1} I after it (times gain²)."""
    assert di.orthogonal_peak(widths, peak) == expected
    gain = 1.5
    spec = OrthogonalInit(kind="orthogonal", gain=gain, peak=peak)
    Ws = di.draw(spec, widths, np.random.default_rng(1), HERE)
    for j, W in enumerate(Ws, start=1):
        if j <= expected:
            assert _eye_close(W.T @ W, gain**2 * widths[j])
        else:
            assert _eye_close(W @ W.T, gain**2 * widths[j - 1])


def test_gain_and_std_scale_the_same_draw():
    widths = [3, 5, 7, 4, 2]
    one = di.draw(ORTHO, widths, np.random.default_rng(2), HERE)
    two = di.draw(OrthogonalInit(kind="orthogonal", gain=2.0), widths,
                  np.random.default_rng(2), HERE)
    assert all(np.allclose(b, 2.0 * a, rtol=1e-15, atol=0) for a, b in zip(one, two, strict=True))
    g1 = di.draw(GAUSS, widths, np.random.default_rng(3), HERE)
    g3 = di.draw(GaussianInit(kind="gaussian", std=3.0), widths, np.random.default_rng(3), HERE)
    assert all(np.allclose(b, 3.0 * a, rtol=1e-15, atol=0) for a, b in zip(g1, g3, strict=True))


@pytest.mark.parametrize("widths", [[3, 6, 6, 6, 2], [4, 5, 5, 5, 3], [5, 5, 5, 5], [3, 5, 2],
                                    [2, 4, 4, 4, 4, 4, 1]])
def test_balanced_structure_and_telescoping(widths):
    """W_1ᵀW_1 = nI, W_NW_Nᵀ = nI, middle layers are √n × orthogonal, and
    W_{N−1:1} = n^{(N−1)/2} U_{N−1}[I; 0]V_1ᵀ telescopes, so
    a_N W_{N:1} = √(n/nN) U_N O[:nN, :n0] V_1ᵀ with O = V_NᵀU_{N−1} orthogonal: its singular
    values are ≤ √(n/nN), and at least n0 + nN − n of them equal √(n/nN) (CS decomposition)."""
    n0, n, nN, N = widths[0], widths[1], widths[-1], len(widths) - 1
    Ws = di.draw(BALANCED, widths, np.random.default_rng(4), HERE)
    assert _eye_close(Ws[0].T @ Ws[0], n)
    assert _eye_close(Ws[-1] @ Ws[-1].T, n)
    for W in Ws[1:-1]:
        assert _eye_close(W.T @ W, n) and _eye_close(W @ W.T, n)
    head = _product(Ws[:-1])
    assert _eye_close(head.T @ head, float(n) ** (N - 1))
    s = np.linalg.svd(di.normalization(widths) * _product(Ws), compute_uv=False)
    top = math.sqrt(n / nN)
    assert np.all(s <= top * (1 + 1e-12))
    assert np.sum(np.isclose(s, top, rtol=1e-10)) >= max(0, n0 + nN - n)
    if n0 == n == nN:
        assert np.allclose(s, 1.0, rtol=1e-12)


@pytest.mark.parametrize(("rows", "cols"), [(5, 2), (2, 5), (4, 4)])
def test_haar_is_orthonormal_and_sign_unbiased(rows, cols):
    """Orthonormal columns or rows; E[Q_00] = 0 (an unfixed QR sign would bias it)."""
    rng = np.random.default_rng(5)
    Q = di.haar(rng, rows, cols)
    assert Q.shape == (rows, cols)
    G = Q.T @ Q if rows >= cols else Q @ Q.T
    assert _eye_close(G, 1.0)
    corner = np.array([di.haar(rng, rows, cols)[0, 0] for _ in range(2000)])
    assert abs(corner.mean()) < 5 * corner.std(ddof=1) / math.sqrt(corner.size)


def test_normalization_matches_the_product_and_survives_deep_wide_nets():
    for widths in ([3, 5, 7, 4, 2], [1, 1], [10, 128, 128, 10]):
        assert di.normalization(widths) == pytest.approx(1 / math.sqrt(math.prod(widths[1:])),
                                                         rel=1e-14)
    deep = [10] + [1000] * 120 + [10]  # n1⋯nN = 10^361 overflows a float
    assert math.log10(di.normalization(deep)) == pytest.approx(-180.5, rel=1e-12)


@pytest.mark.parametrize(("widths", "peak", "field"), [
    ([3, 5, 7, 4, 2], 3, "init.peak"),  # n2 = 7 > n3 = 4 before the peak
    ([3, 5, 7, 4, 2], 1, "init.peak"),  # n1 = 5 < n2 = 7 after the peak
    ([3, 5, 7, 4, 2], 4, "init.peak"),  # p = N
    ([3, 5, 2, 6, 2], None, "problem.widths"),  # two peaks
    ([3, 5, 2, 6, 2], 3, "problem.widths"),
    ([5, 3, 2], None, "problem.widths"),  # n0 > n1
    ([2, 3, 4], None, "problem.widths"),  # nN > n_{N−1}
])
def test_orthogonal_rejects_widths_that_are_not_one_peak(widths, peak, field):
    spec = OrthogonalInit(kind="orthogonal", peak=peak)
    with pytest.raises(SpecError) as exc:
        di.draw(spec, widths, np.random.default_rng(0), HERE)
    assert exc.value.field == field


@pytest.mark.parametrize("widths", [[3, 6, 5, 6, 2], [4, 3, 3, 2], [2, 3, 3, 4]])
def test_balanced_rejects_unequal_or_narrow_hidden_widths(widths):
    with pytest.raises(SpecError) as exc:
        di.draw(BALANCED, widths, np.random.default_rng(0), HERE)
    assert exc.value.field == "init.kind"


def test_fan_based_inits_are_not_deep_inits():
    with pytest.raises(SpecError) as exc:
        di.draw(ScaledInit(kind="he"), [2, 3, 1], np.random.default_rng(0), None)
    assert exc.value.field == "init.kind"


def test_npy_weights_load_and_errors_name_the_field(tmp_path):
    widths = [3, 4, 2]
    rng = np.random.default_rng(6)
    Ws = [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))]
    for j, W in enumerate(Ws, start=1):
        np.save(tmp_path / f"W{j}.npy", W)
    ok = NpyInit(kind="npy", weights=["W1.npy", "W2.npy"])
    loaded = di.draw(ok, widths, rng, tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(loaded, Ws, strict=True))

    def field_of(spec):
        with pytest.raises(SpecError) as exc:
            di.draw(spec, widths, rng, tmp_path)
        return exc.value.field

    assert field_of(NpyInit(kind="npy", weights=["W1.npy"])) == "init.weights"
    assert field_of(NpyInit(kind="npy", weights=["W1.npy", "W1.npy"])) == "init.weights[1]"
    assert field_of(NpyInit(kind="npy", weights=["missing.npy", "W2.npy"])) == "init.weights[0]"
    with pytest.raises(SpecError, match=r"\(4, 3\).*expected \(2, 4\)"):
        di.draw(NpyInit(kind="npy", weights=["W1.npy", "W1.npy"]), widths, rng, tmp_path)
