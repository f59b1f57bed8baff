"""Paper C's scalar theory: the twin's rates (eq 3, eq 10), Theorem 2's D and bounds, Lemma 5,
the step sizes, Lemma 3's region constants (14), the chained spectral norm and Theorem 1's ε."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from overparam.inits import deep_linear as di
from overparam.problems.deep_linear import thm1_eps
from overparam.spec import GaussianInit, OrthogonalInit
from overparam.theory import deep_linear as th


# ------------------------------------------------------------------ eq 10
def _q_brute(alpha, beta, eta_star, n=200_001):
    lam = np.linspace(alpha, beta, n)
    return float(np.max((1.0 - eta_star * lam) ** 2))


@pytest.mark.parametrize(("alpha", "beta"), [(0.3, 2.0), (1.0, 1.5), (0.05, 7.0)])
@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9, 1.0, 1.2, 1.6, 1.95])
def test_q_rate_is_the_worst_contraction_over_the_spectrum(alpha, beta, frac):
    """q = max_{λ∈[α,β]} (1 − η*λ)²: the maximum of a convex function of λ sits at an end of
    the interval, so the grid maximum equals the larger endpoint value exactly."""
    eta_star = frac * 2.0 / (alpha + beta)  # frac > 1: the second branch of eq 10
    q = float(th.q_rate(alpha, beta, eta_star))
    ends = max((1.0 - eta_star * alpha) ** 2, (1.0 - eta_star * beta) ** 2)
    assert q == pytest.approx(ends, rel=1e-13, abs=1e-15)
    assert q == pytest.approx(_q_brute(alpha, beta, eta_star), rel=1e-12, abs=1e-15)


def test_q_rate_branches_are_the_endpoints():
    alpha, beta = 0.5, 4.0
    lo, hi = 0.3 * 2 / (alpha + beta), 1.7 * 2 / (alpha + beta)
    assert float(th.q_rate(alpha, beta, lo)) == pytest.approx((1 - lo * alpha) ** 2, rel=1e-14)
    assert float(th.q_rate(alpha, beta, hi)) == pytest.approx((1 - hi * beta) ** 2, rel=1e-14)


@pytest.mark.parametrize("kappa", [1.0, 2.0, 10.0, 1e3])
def test_q_rate_at_the_optimal_step(kappa):
    alpha = 0.7
    beta = kappa * alpha
    q = float(th.q_rate(alpha, beta, 2.0 / (alpha + beta)))
    assert q == pytest.approx(1.0 - 4.0 * kappa / (1.0 + kappa) ** 2, rel=1e-12, abs=1e-15)
    assert q == pytest.approx(((kappa - 1) / (kappa + 1)) ** 2, rel=1e-12, abs=1e-15)


def test_q_rate_vectorized_over_steps():
    alpha, beta = 0.2, 3.0
    etas = np.array([0.1, 0.5, 2 / 3.2, 0.63, 0.66])
    got = np.asarray(th.q_rate(alpha, beta, etas))
    want = [_q_brute(alpha, beta, e, 20_001) for e in etas]
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ------------------------------------------------- GD on a quadratic in ‖·‖_X
def _quadratic(seed=3, nx=6, m=4, ny=3):
    """½‖WX − Y‖²_F with rank(X) = m < nx: strongly convex only in the semi-norm ‖·‖_X."""
    rng = np.random.default_rng(seed)
    Q1 = np.linalg.qr(rng.standard_normal((nx, m)))[0]
    Q2 = np.linalg.qr(rng.standard_normal((m, m)))[0]
    X = Q1 @ np.diag(np.linspace(1.0, 2.0, m)) @ Q2  # κ = 4
    Y = rng.standard_normal((ny, m))
    P = X @ np.linalg.pinv(X)
    ev = np.linalg.eigvalsh(X @ X.T)
    ev = ev[ev > 1e-10 * ev[-1]]
    W_star = Y @ np.linalg.pinv(X)
    return X, Y, P, float(ev[0]), float(ev[-1]), W_star


def _loss(W, X, Y):
    return 0.5 * float(np.sum((W @ X - Y) ** 2))


@pytest.mark.parametrize("frac", [0.1, 0.5, "opt", 0.9, 0.97])
def test_gd_contracts_by_q_and_loss_by_rate_eq3(frac):
    """η* = frac·2/β (0.5: η* = 1/β, 'opt': 2/(α+β)); both branches of eq 10 occur."""
    X, Y, P, alpha, beta, W_star = _quadratic()
    eta = 2.0 / (alpha + beta) if frac == "opt" else frac * 2.0 / beta
    assert (eta > 2.0 / (alpha + beta)) == (frac in (0.9, 0.97))
    q = float(th.q_rate(alpha, beta, eta))
    r3 = th.rate_eq3(alpha, beta, eta)
    L_star = _loss(W_star, X, Y)
    W = np.random.default_rng(7).standard_normal(W_star.shape) * 3.0
    for _ in range(25):
        W_new = W - eta * (W @ X - Y) @ X.T
        d0 = np.sum(((W - W_star) @ P) ** 2)
        d1 = np.sum(((W_new - W_star) @ P) ** 2)
        assert d1 <= q * d0 * (1 + 1e-8) + 1e-24
        E0, E1 = _loss(W, X, Y) - L_star, _loss(W_new, X, Y) - L_star
        if E0 > 1e-12:
            assert E1 <= r3 * E0 * (1 + 1e-9) + 1e-13
        W = W_new


@pytest.mark.parametrize("frac", [0.5, 1.4])
def test_q_is_attained_on_the_extreme_eigenvector(frac):
    """Starting W(0) − W* along the eigenvector of λ⁺min (first branch) or λmax (second
    branch) of XXᵀ, one step contracts ‖·‖²_X by exactly q: the bound is tight."""
    X, Y, P, alpha, beta, W_star = _quadratic()
    eta = frac * 2.0 / (alpha + beta)
    ev, vec = np.linalg.eigh(X @ X.T)
    keep = ev > 1e-10 * ev[-1]
    v = vec[:, keep][:, 0] if frac <= 1 else vec[:, keep][:, -1]
    W = W_star + np.outer(np.arange(1.0, W_star.shape[0] + 1), v)
    W_new = W - eta * (W @ X - Y) @ X.T
    ratio = np.sum(((W_new - W_star) @ P) ** 2) / np.sum(((W - W_star) @ P) ** 2)
    assert ratio == pytest.approx(float(th.q_rate(alpha, beta, eta)), rel=1e-9)


def test_rate_eq3_at_one_over_beta():
    for alpha, beta in ((0.5, 2.0), (1.0, 1.0), (0.01, 3.0)):
        assert th.rate_eq3(alpha, beta, 1.0 / beta) == pytest.approx(1.0 - alpha / beta,
                                                                     rel=1e-14, abs=1e-15)
    # A hand-computed value away from 1/β: 1 − 2·0.5·0.4·(1 − 2·0.4/2) = 0.76.
    assert th.rate_eq3(0.5, 2.0, 0.4) == pytest.approx(0.76, rel=1e-14)


# --------------------------------------------------- Theorem 2, Lemma 5
def test_D_and_bounds_by_hand():
    tau, q, e0, beta = 0.1, 0.5, 3.0, 2.0
    # t = 3: τ/(1−q) = 0.2 < 2·0.6³ = 0.432, so the first branch.
    assert float(th.D(tau, q, 3)) == pytest.approx(0.2, rel=1e-14)
    # t = 10: 2·0.6¹⁰ = 0.0120932352 < 0.2, so the second branch.
    assert float(th.D(tau, q, 10)) == pytest.approx(0.0120932352, rel=1e-12)
    D10 = 0.0120932352
    assert float(th.bound_12a(tau, q, 10, e0)) == pytest.approx(D10 * 3.0, rel=1e-12)
    want_b = 2.0 * (0.5**5 * math.sqrt(D10) + D10 / 2) * 3.0
    assert float(th.bound_12b(tau, q, 10, e0, beta)) == pytest.approx(want_b, rel=1e-12)
    assert float(th.bound_12b(tau, q, 3, e0, beta)) == pytest.approx(
        2.0 * (0.5**1.5 * math.sqrt(0.2) + 0.1) * 3.0, rel=1e-12)
    assert float(th.bound_12c(tau, q, 10, e0, beta)) == pytest.approx(
        3 * 2.0 * 0.0060466176 * 3.0, rel=1e-12)
    # Lemma 5: (q + 7τ)^t = 1.2³ = 1.728.
    assert float(th.bound_lemma5(tau, q, 3, e0)) == pytest.approx(1.728 * 3.0, rel=1e-12)


def test_D_switches_branch_along_t():
    tau, q = 0.05, 0.7
    t = np.arange(0, 40)
    got = np.asarray(th.D(np.full(t.shape, tau), q, t))
    first = tau / (1 - q)
    second = 2 * (q + tau) ** t
    np.testing.assert_allclose(got, np.minimum(first, second), rtol=1e-13)
    branch = got < first
    assert not branch[0] and branch[-1]  # both branches occur
    # At t = 0 with τ = 0 the comparison is exact: (12a) forces zero deviation.
    assert float(th.D(0.0, q, 0)) == 0.0


# ------------------------------------------------------------- step sizes
def test_step_sizes():
    widths, beta = [5, 8, 8, 8, 3], 4.0
    N, nN = 4, 3
    assert th.eta_choice("thm1", widths, beta, 9.0, 0.5, 0.1) == pytest.approx(nN / (beta * N))
    assert th.eta_choice("data_norm", widths, beta, 9.0, 0.5, 0.1) == pytest.approx(nN / (N * 9.0))
    eta0 = 2 * nN / (math.exp(2 * 0.3) * beta * N)
    assert th.eta0_thm4(widths, beta, 0.3) == pytest.approx(eta0, rel=1e-14)
    assert th.eta_choice("thm4", widths, beta, 9.0, 0.3, 0.2) == pytest.approx(0.8 * eta0)
    assert th.eta_choice(0.0123, widths, beta, 9.0, 0.3, 0.2) == 0.0123
    assert th.eta1(widths, beta) == pytest.approx(2 * nN / (beta * N))
    # Thm 4: 1 − 4e^{−c}(η/η0)(1 − η/η0)/κ with η/η0 = 0.8, c = 0.3, κ = 5.
    assert th.rate_thm4(5.0, 0.8 * eta0, eta0, 0.3) == pytest.approx(
        1 - 4 * math.exp(-0.3) * 0.8 * 0.2 / 5.0, rel=1e-14)


# ------------------------------------------------------- region (14)
def _prod(mats):
    P = mats[0]
    for M in mats[1:]:
        P = M @ P
    return P


def _dense_region(Ws, widths, X):
    """Lemma 3's constants from full SVDs of explicitly formed products and P_X."""
    N = len(Ws)
    P = X @ np.linalg.pinv(X)
    r = np.linalg.matrix_rank(X)
    c1, c2 = -np.inf, -np.inf
    for i in range(1, N):  # W_{N:i+1}
        s = np.linalg.svd(_prod(Ws[i:]), compute_uv=False)
        ref = math.sqrt(math.prod(widths[i:N]))
        c1, c2 = max(c1, 2 * math.log(s[0] / ref)), max(c2, -2 * math.log(s[-1] / ref))
    for i in range(2, N + 1):  # W_{i−1:1} on R(X): its r nonzero singular values
        s = np.linalg.svd(_prod(Ws[: i - 1]) @ P, compute_uv=False)[:r]
        ref = math.sqrt(math.prod(widths[1:i]))
        c1, c2 = max(c1, 2 * math.log(s[0] / ref)), max(c2, -2 * math.log(s[-1] / ref))
    M = 0.0
    for i in range(2, N):
        for j in range(i, N):
            norm = np.linalg.norm(_prod(Ws[i - 1:j]), 2)
            ref = math.sqrt(math.prod(widths[i:j]) * max(widths[i - 1], widths[j]))
            M = max(M, 2 * norm / ref)
    return c1, c2, (M if N > 2 else math.nan)


def _basis(X):
    """Orthonormal basis of range(X) padded with zero columns to X's column count."""
    B = scipy.linalg.orth(X)
    return np.hstack([B, np.zeros((X.shape[0], min(X.shape) - B.shape[1]))])


REGION_CASES = [
    (GaussianInit(kind="gaussian"), [4, 7, 6, 3], 10),
    (GaussianInit(kind="gaussian"), [3, 8, 9, 7, 5], 2),  # rank(X) = 2 < n0
    (GaussianInit(kind="gaussian", std=0.3), [6, 9, 4], 12),  # N = 2: no M
    (OrthogonalInit(kind="orthogonal"), [3, 5, 8, 4], 7),
    (OrthogonalInit(kind="orthogonal", peak=2), [2, 4, 6, 6, 3], 2),
]


@pytest.mark.parametrize(("init", "widths", "m"), REGION_CASES)
def test_region_constants_match_dense_svds(init, widths, m):
    rng = np.random.default_rng(len(widths) * 17 + m)
    Ws = di.draw(init, widths, rng, None)
    X = rng.standard_normal((widths[0], m))
    got = th.region_constants(Ws, widths, _basis(X))
    c1, c2, M = _dense_region(Ws, widths, X)
    assert got["c1"] == pytest.approx(c1, rel=1e-8, abs=1e-9)
    assert got["c2"] == pytest.approx(c2, rel=1e-8, abs=1e-9)
    if math.isnan(M):
        assert math.isnan(got["M_region"])
    else:
        assert got["M_region"] == pytest.approx(M, rel=1e-9)


@pytest.mark.parametrize("widths", [[4, 7, 7, 3], [3, 6, 6, 6, 5], [2, 5, 5, 5, 2]])
@pytest.mark.parametrize("m", [2, 12])
def test_region_constants_vanish_for_one_peak_orthogonal(widths, m):
    """n0 ≤ n1 = … = n_{N−1} ≥ nN: every product in (14) is √(reference) times a matrix with
    orthonormal rows or columns, so σmax = σmin = reference and c1 = c2 = 0. The last line
    of (14), ‖W_{j:i}‖ ≤ (M/2)(…)^{1/2}, has the norm equal to its reference, so the smallest
    M is 2, not 0."""
    rng = np.random.default_rng(sum(widths) + m)
    Ws = di.draw(OrthogonalInit(kind="orthogonal"), widths, rng, None)
    X = rng.standard_normal((widths[0], m))
    got = th.region_constants(Ws, widths, _basis(X))
    assert abs(got["c1"]) < 1e-10 and abs(got["c2"]) < 1e-10
    assert got["M_region"] == pytest.approx(2.0, abs=1e-10)
    c1, c2, M = _dense_region(Ws, widths, X)
    assert abs(c1) < 1e-10 and abs(c2) < 1e-10 and M == pytest.approx(2.0, abs=1e-10)


def test_region_constants_see_a_scaled_layer():
    """Scaling W_2 by s multiplies every product containing it by s: c1 = 2 log s exactly
    (s > 1) on the orthogonal init, c2 = 2 log s for s < 1."""
    widths = [3, 6, 6, 6, 2]
    rng = np.random.default_rng(11)
    Ws = di.draw(OrthogonalInit(kind="orthogonal"), widths, rng, None)
    U = _basis(rng.standard_normal((3, 9)))
    for s in (1.7, 0.4):
        scaled = [W * (s if k == 1 else 1.0) for k, W in enumerate(Ws)]
        got = th.region_constants(scaled, widths, U)
        assert got["c1"] == pytest.approx(max(2 * math.log(s), 0.0), abs=1e-10)
        assert got["c2"] == pytest.approx(max(-2 * math.log(s), 0.0), abs=1e-10)
        assert got["M_region"] == pytest.approx(2 * max(s, 1.0), rel=1e-10)


# --------------------------------------------------- spectral_norm_chain
@pytest.mark.parametrize("dims", [
    [4, 5, 7, 3],  # small: dense
    [80, 70, 90, 75],  # rows 75, cols 80 > 64: Lanczos
    [66, 100, 66, 130],
])
def test_spectral_norm_chain(dims):
    rng = np.random.default_rng(sum(dims))
    mats = [rng.standard_normal((dims[k + 1], dims[k])) for k in range(len(dims) - 1)]
    want = np.linalg.norm(_prod(mats), 2)
    assert th.spectral_norm_chain(mats) == pytest.approx(want, rel=1e-9)


def test_spectral_norm_chain_low_rank_large():
    """A rank-one chain through a width-3 bottleneck (Lanczos path)."""
    rng = np.random.default_rng(5)
    mats = [rng.standard_normal((3, 70)), rng.standard_normal((90, 3))]
    want = np.linalg.norm(mats[1] @ mats[0], 2)
    assert th.spectral_norm_chain(mats) == pytest.approx(want, rel=1e-9)


# -------------------------------------------------------------- Theorem 1
@pytest.mark.parametrize(("kappa", "r"), [(4.0, 0.9), (10.0, 0.95), (2.0, 0.3), (3.0, 0.5)])
def test_thm1_eps_on_a_geometric_loss(kappa, r):
    E = 7.0 * r ** np.arange(30.0)
    assert thm1_eps(E, kappa) == pytest.approx(1.0 - kappa * (1.0 - r), rel=1e-10, abs=1e-12)


def test_thm1_eps_takes_the_worst_step():
    """The smallest ε with E(t) ≤ (1 − (1−ε)/κ)^t E(0) for all t is set by the slowest
    average rate (E(t)/E(0))^{1/t}."""
    kappa = 5.0
    E = np.array([1.0, 0.5, 0.45, 0.1, 0.0])  # E = 0 carries no rate
    per = [0.5, 0.45**0.5, 0.1 ** (1 / 3)]
    assert thm1_eps(E, kappa) == pytest.approx(max(1 - kappa * (1 - p) for p in per), rel=1e-12)
    rate = 1 - (1 - thm1_eps(E, kappa)) / kappa
    assert np.all(E <= rate ** np.arange(5.0) * E[0] * (1 + 1e-12))
    assert math.isnan(thm1_eps(np.array([0.0, 0.0]), kappa))
