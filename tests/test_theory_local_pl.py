"""Tests of overparam.theory.local_pl against mpmath transcriptions, dense computations and GD runs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from overparam.models import two_layer_linear as tl
from overparam.theory import local_pl as lp
from overparam.theory import toy_landscape as toy


@pytest.fixture(autouse=True)
def _mp_digits():
    """50 digits for this module's references, whatever another module left set."""
    with mp.workdps(50):
        yield

# ---------------------------------------------------------------------------------------------
# mpmath transcriptions of the printed formulas (independent of the implementation)
# ---------------------------------------------------------------------------------------------


def mp_K_t(eta, K, s2max, smax_W, L):
    eta, K, s2max, smax_W, L = map(mp.mpf, (eta, K, s2max, smax_W, L))
    return (
        K * s2max
        + mp.sqrt(2 * K * L)
        + 6 * K**2 * smax_W * L * eta**2
        + 3 * K * s2max * mp.sqrt(2 * K * L) * eta
    )


def mp_K_bar(t, eta0, K, L0, alpha2, beta2, rho_bar0, Dt, c):
    eta0, K, L0, alpha2, beta2, rho_bar0, Dt, c = map(
        mp.mpf, (eta0, K, L0, alpha2, beta2, rho_bar0, Dt, c)
    )
    return (
        mp.sqrt(2 * K * L0 * rho_bar0**t)
        + 6 * K**2 * beta2 * L0 * eta0**2 * Dt**t
        + K * mp.exp(eta0**c) * alpha2 * (1 + 3 * mp.sqrt(2 * K * L0 * Dt**t) * eta0)
    )


def mp_thm32(K, mu, L0, a1, a2, b2, eta0, c, d):
    K, mu, L0, a1, a2, b2, eta0, c, d = map(mp.mpf, (K, mu, L0, a1, a2, b2, eta0, c, d))
    mb = mu * (a1 + 2 * a2 * (1 - mp.exp(eta0**c)))
    kb0 = (
        mp.sqrt(2 * K * L0)
        + 6 * K**2 * b2 * L0 * eta0**2
        + K * mp.exp(eta0**c) * a2 * (1 + 3 * mp.sqrt(2 * K * L0) * eta0)
    )
    rb0 = 1 - 2 * mb * eta0 + mb * kb0 * eta0**2
    return mb, kb0, rb0, (1 + eta0**d) * rb0


def mp_eq101(eta0, K, mu, L0, a1, a2, b2, c, d):
    return eta0 * mp_thm32(K, mu, L0, a1, a2, b2, eta0, c, d)[1] - 1


def mp_eq102(eta0, K, mu, L0, a1, a2, b2, c, d):
    """(1 − exp(−η0^c))(1 − Δ̃) − 4KL0η0²: zero at η0^(2), > 0 just above 0 when α1 > 0."""
    Dt = mp_thm32(K, mu, L0, a1, a2, b2, eta0, c, d)[3]
    eta0 = mp.mpf(eta0)
    return (1 - mp.exp(-(eta0 ** mp.mpf(c)))) * (1 - Dt) - 4 * mp.mpf(K) * mp.mpf(L0) * eta0**2


def mp_bisect(f, lo, hi, iters: int = 140):
    """Root of f in [lo, hi] by bisection on the exact sign (findroot's |f| test fails on tiny f)."""
    lo, hi = mp.mpf(lo), mp.mpf(hi)
    flo = mp.sign(f(lo))
    assert flo != 0 and mp.sign(f(hi)) == -flo
    for _ in range(iters):
        mid = (lo + hi) / 2
        if mp.sign(f(mid)) == flo:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mp_positive_real_roots(coeffs):
    roots = mp.polyroots([mp.mpf(x) for x in coeffs[::-1]], maxsteps=400, extraprec=300, asc=True)
    return sorted(mp.re(r) for r in roots if abs(mp.im(r)) < mp.mpf(10) ** -30 and mp.re(r) > 0)


# ---------------------------------------------------------------------------------------------
# (a) jnp formulas
# ---------------------------------------------------------------------------------------------

POINTS = [
    # eta, K, s2max_T, smax_W, L
    (1e-3, 1.0, 2000.0, 600.0, 3.0),
    (0.2, 2.5, 3.0, 1.2, 0.7),
    (5e-6, 0.3, 1e4, 50.0, 1e-9),
    (0.01, 7.0, 12.0, 3.0, 0.0),
]


@pytest.mark.parametrize("eta,K,s2max,smaxW,L", POINTS)
def test_K_t_and_rho_vs_mpmath(eta, K, s2max, smaxW, L) -> None:
    ref = mp_K_t(eta, K, s2max, smaxW, L)
    got = float(lp.K_t(eta, K, s2max, smaxW, L))
    assert abs(got - float(ref)) <= 1e-14 * float(ref)
    mu_t = 0.37 * s2max
    r_ref = 1 - 2 * mp.mpf(mu_t) * eta + mp.mpf(mu_t) * ref * mp.mpf(eta) ** 2
    r_got = float(lp.rho(eta, mu_t, got))
    assert abs(r_got - float(r_ref)) <= 1e-14 * max(1.0, abs(float(r_ref)))


LOCAL_STEP_CASES = [
    (1.0, 2000.0, 600.0, 3.0),
    (2.5, 3.0, 1.2, 0.7),
    (0.3, 1e4, 50.0, 1e-9),
    (1.0, 1e-6, 1e3, 1e6),  # cubic term dominates
    (1.0, 1.0, 1.0, 1e-30),  # nearly linear
    (3.0, 0.5, 1e-3, 40.0),
]


@pytest.mark.parametrize("K,s2max,smaxW,L", LOCAL_STEP_CASES)
def test_local_step_vs_mpmath_polyroots(K, s2max, smaxW, L) -> None:
    K_, s2, sw, L_ = map(mp.mpf, (K, s2max, smaxW, L))
    r = mp.sqrt(2 * K_ * L_)
    roots = mp_positive_real_roots([6 * K_**2 * sw * L_, 3 * K_ * s2 * r, K_ * s2 + r, -1])
    assert len(roots) == 1
    got = float(lp.local_step(K, s2max, smaxW, L))
    assert abs(got - float(roots[0])) <= 2e-15 * float(roots[0])
    # defining equation η·K_t(η) = 1
    assert abs(float(mp.mpf(got) * mp_K_t(got, K, s2max, smaxW, L)) - 1.0) <= 1e-14


def test_local_step_L_zero_and_degenerate() -> None:
    assert float(lp.local_step(2.0, 8.0, 5.0, 0.0)) == pytest.approx(1.0 / 16.0, rel=1e-15)
    assert np.isinf(float(lp.local_step(2.0, 0.0, 5.0, 0.0)))
    # only the constant and the √(2KL) term: η = 1/√(2KL)
    assert float(lp.local_step(2.0, 0.0, 0.0, 4.0)) == pytest.approx(1.0 / 4.0, rel=1e-15)


XU_CASES = [
    # c1, c2, alpha1, alpha2, K, a
    (0.5, 1.5, 802.0, 1326.0, 1.0, 50.0),
    (0.5, 1.5, 3.0, 7.0, 2.0, 1e-4),
    (0.3, 2.0, 1.0, 1.5, 0.5, 1e3),
]


@pytest.mark.parametrize("c1,c2,a1,a2,K,a", XU_CASES)
def test_xu_step_vs_mpmath_and_eq62(c1, c2, a1, a2, K, a) -> None:
    C, B, K_, a_ = mp.mpf(c1) * a1, mp.mpf(c2) * a2, mp.mpf(K), mp.mpf(a)
    # C − ηa − (Kη/2)(B + ηa)² = 0  ⇔  (K a²/2)η³ + K B a η² + (a + K B²/2)η − C = 0
    roots = mp_positive_real_roots([K_ * a_**2 / 2, K_ * B * a_, a_ + K_ * B**2 / 2, -C])
    assert len(roots) == 1
    got = float(lp.xu_step(c1, c2, a1, a2, K, a))
    assert abs(got - float(roots[0])) <= 2e-15 * float(roots[0])

    def lhs62(eta):
        eta = mp.mpf(eta)
        return C - eta * a_ - K_ * eta / 2 * (B + eta * a_) ** 2

    assert lhs62(got * (1 - 1e-9)) > 0 > lhs62(got * (1 + 1e-9))  # largest admissible η
    got_m = float(lp.xu_step_measured(c1 * a1, c2 * a2, K, a))
    assert abs(got_m - got) <= 1e-15 * got


def test_xu_step_degenerate() -> None:
    c1, c2, a1, a2, K = 0.5, 1.5, 3.0, 7.0, 2.0
    assert float(lp.xu_step(c1, c2, a1, a2, K, 0.0)) == pytest.approx(
        2 * c1 * a1 / (K * (c2 * a2) ** 2), rel=1e-15
    )
    assert float(lp.xu_step(c1, c2, 0.0, a2, K, 3.0)) == 0.0
    assert float(lp.xu_step_measured(-1.0, 4.0, K, 3.0)) == 0.0


def test_rho_xu_vs_mpmath_and_derivation() -> None:
    eta, mu, K, s2min, s2max, smaxW, g = 1e-3, 0.8, 1.7, 300.0, 900.0, 40.0, 2.5
    e, mu_, K_, a, b, w, g_ = map(mp.mpf, (eta, mu, K, s2min, s2max, smaxW, g))
    printed = (
        1
        - 2 * e * mu_ * a
        + K_ * mu_ * e**2 * b**2
        + 2 * e**2 * mu_ * w * g_
        + 2 * e**3 * mu_ * K_ * b * w * g_
        + e**4 * mu_ * K_ * w**2 * g_**2
    )
    # eq 64 = 1 − 2µ[ησ²min − η²σmax(W)‖∇ℓ‖ − (K/2)(ησ²max + η²σmax(W)‖∇ℓ‖)²] (descent + PL)
    derived = 1 - 2 * mu_ * (e * a - e**2 * w * g_ - K_ / 2 * (e * b + e**2 * w * g_) ** 2)
    assert abs(printed - derived) < mp.mpf(10) ** -40
    got = float(lp.rho_xu(eta, mu, K, s2min, s2max, smaxW, g))
    assert abs(got - float(printed)) <= 1e-14


def test_K_bar_mu_bar_rho_bar_vs_mpmath() -> None:
    K, mu, L0, a1, a2, b2, c, d = 1.3, 0.7, 2.0, 5.0, 9.0, 3.0, 0.5, 1.01
    eta0 = 2e-3
    mb, kb0, rb0, Dt = mp_thm32(K, mu, L0, a1, a2, b2, eta0, c, d)
    assert abs(float(lp.mu_bar(mu, a1, a2, eta0, c)) - float(mb)) <= 1e-14 * float(mb)
    for t in [0, 1, 7, 50]:
        ref = mp_K_bar(t, eta0, K, L0, a2, b2, float(rb0), float(Dt), c)
        got = float(lp.K_bar(t, eta0, K, L0, a2, b2, float(rb0), float(Dt), c))
        assert abs(got - float(ref)) <= 1e-14 * float(ref)
    assert abs(float(mp_K_bar(0, eta0, K, L0, a2, b2, rb0, Dt, c)) - float(kb0)) <= 1e-40
    got = float(lp.rho_bar(eta0, float(mb), float(kb0)))
    assert abs(got - float(rb0)) <= 1e-14
    consts = lp.theorem32_constants(K, mu, L0, a1, a2, b2, eta0, c, d)
    for key, ref in zip(
        ["mu_bar", "K_bar0", "rho_bar0", "Delta_tilde"], [mb, kb0, rb0, Dt], strict=True
    ):
        assert abs(consts[key] - float(ref)) <= 1e-14 * abs(float(ref)), key


def test_lemma_e2_bound_value() -> None:
    assert float(lp.lemma_e2_bound(2.0, 0.1, 3.0, 5.0)) == pytest.approx(
        2 * 2.0 * 0.01 * 3.0 * 5.0, rel=1e-15
    )


def test_jnp_functions_jit_vmap_match_unbatched() -> None:
    rng = np.random.default_rng(0)
    B = 6
    eta = rng.uniform(1e-4, 1e-2, B)
    K = rng.uniform(0.5, 2.0, B)
    s2min = rng.uniform(1.0, 5.0, B)
    s2max = s2min + rng.uniform(1.0, 50.0, B)
    smaxW = rng.uniform(0.5, 5.0, B)
    L = np.concatenate([[0.0], rng.uniform(0.0, 3.0, B - 1)])
    a = np.concatenate([[0.0], rng.uniform(0.0, 10.0, B - 1)])
    t = np.arange(B)

    def all_of(e, k, smin, smax, sw, l_, aa, tt):
        kt = lp.K_t(e, k, smax, sw, l_)
        mb = lp.mu_bar(0.9, smin, smax, e, 0.5)
        kb = lp.K_bar(tt, e, k, l_, smax, sw, 0.6, 0.7, 0.5)
        return (
            kt,
            lp.rho(e, 0.9 * smin, kt),
            lp.local_step(k, smax, sw, l_),
            mb,
            kb,
            lp.rho_bar(e, mb, kb),
            lp.xu_step(0.5, 1.5, smin, smax, k, aa),
            lp.xu_step_measured(smin, smax, k, aa),
            lp.rho_xu(e, 0.9, k, smin, smax, sw, aa),
            lp.lemma_e2_bound(k, e, smax, l_),
        )

    batched = jax.jit(jax.vmap(all_of))(eta, K, s2min, s2max, smaxW, L, a, t)
    for b in range(B):
        single = all_of(eta[b], K[b], s2min[b], s2max[b], smaxW[b], L[b], a[b], int(t[b]))
        for x, y in zip(batched, single, strict=True):
            assert x.dtype == jnp.float64
            np.testing.assert_allclose(float(x[b]), float(y), rtol=2e-15)


# ---------------------------------------------------------------------------------------------
# (b) set-up constants
# ---------------------------------------------------------------------------------------------


def _instance(n: int, m: int, h: int, noise: float, seed: int):
    """X orthogonal (K = µ = 1), W1, W2 i.i.d. N(0, 1), W* = W1W2ᵀ + noise."""
    rng = np.random.default_rng(seed)
    X = np.linalg.qr(rng.standard_normal((n, n)))[0]
    W1 = rng.standard_normal((n, h))
    W2 = rng.standard_normal((m, h))
    W_star = W1 @ W2.T + noise * rng.standard_normal((n, m))
    return X, W1, W2, W_star


@pytest.mark.parametrize("n,m,h", [(3, 2, 4), (3, 4, 7), (2, 3, 12), (4, 4, 30)])
def test_table2_vs_dense_D(n, m, h) -> None:
    K, mu = 2.0, 0.5
    _, W1, W2, W_star = _instance(n, m, h, 0.3, 100 + h)
    got = lp.table2_constants(W1, W2, W_star, K, mu)
    D = W1.T @ W1 - W2.T @ W2
    lam = np.sort(np.linalg.eigvalsh(D))[::-1]  # λ_k(D), k = 1..h
    lam_neg = np.sort(np.linalg.eigvalsh(-D))[::-1]  # λ_k(−D)
    lp_, lm_ = max(lam[0], 0.0), max(lam_neg[0], 0.0)
    ln, lmm = max(lam[n - 1], 0.0), max(lam_neg[m - 1], 0.0)
    Dl = ln + lmm
    Dp, Dm = lp_ - ln, lm_ - lmm
    s = np.linalg.svd(W_star, compute_uv=False)
    dist = np.sqrt(K / mu) * np.linalg.norm(W1 @ W2.T - W_star, "fro")
    b1, b2 = max(0.0, s[-1] - dist), s[0] + dist
    a1 = (-Dp - Dm + np.hypot(Dp + Dl, 2 * b1) + np.hypot(Dm + Dl, 2 * b1)) / 2
    a2 = (lp_ + np.hypot(lp_, 2 * b2)) / 2 + (lm_ + np.hypot(lm_, 2 * b2)) / 2
    ref = dict(
        lambda_plus=lp_,
        lambda_minus=lm_,
        Delta=Dl,
        Delta_plus=Dp,
        Delta_minus=Dm,
        beta1=b1,
        beta2=b2,
        alpha1=a1,
        alpha2=a2,
    )
    assert set(got) == set(ref)
    scale = max(1.0, np.abs(lam).max(), b2)
    for key, val in ref.items():
        assert abs(got[key] - val) <= 1e-12 * scale, key


def test_table2_requires_h_at_least_max_nm() -> None:
    _, W1, W2, W_star = _instance(3, 2, 2, 0.1, 0)
    with pytest.raises(ValueError):
        lp.table2_constants(W1, W2, W_star, 1.0, 1.0)


@pytest.mark.parametrize(
    "n,m,h,noise,seed",
    [(3, 4, 7, 0.05, 0), (2, 3, 12, 0.3, 1), (4, 4, 30, 0.2, 2), (4, 4, 30, 1.0, 3)],
)
def test_lemma_E3_alpha_bounds_on_random_instances(n, m, h, noise, seed) -> None:
    _, W1, W2, W_star = _instance(n, m, h, noise, seed)
    c = lp.table2_constants(W1, W2, W_star, 1.0, 1.0)
    s2min, s2max = (float(v) for v in tl.sigma2_T(W1, W2))
    assert c["alpha1"] > 0
    assert c["alpha1"] <= s2min <= s2max <= c["alpha2"]
    smin, smax = (float(v) for v in tl.sigma_W(W1 @ W2.T))
    assert c["beta1"] <= smin <= smax <= c["beta2"]


ETA_CASES = [
    # K, mu, L0, alpha1, alpha2, beta2, c, d
    (1.0, 1.0, 3.0, 802.0, 1326.0, 156.0, 0.5, 1.01),  # Fig 1-like, η0^(1) binds
    (1.0, 1.0, 100.0, 5.0, 10.0, 3.0, 0.5, 2.0),  # η0^(2) binds
    (1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.5, 2.0),  # L0 = 0
    (2.0, 0.5, 2.0, 0.05, 3.0, 1.5, 0.5, 1.01),  # small margin: η0^(2) astronomically small
]


@pytest.mark.parametrize("K,mu,L0,a1,a2,b2,c,d", ETA_CASES)
def test_eta_max_roots_vs_mpmath(K, mu, L0, a1, a2, b2, c, d) -> None:
    res = lp.eta_max(K, mu, L0, a1, a2, b2, c, d)
    args = (K, mu, L0, a1, a2, b2, c, d)
    # eq 101: unique positive root; reference by 50-digit bisection on [0, 1/(Kα2)]
    e1 = mp_bisect(lambda e: mp_eq101(e, *args), 0, mp.mpf(1) / (K * a2))
    assert abs(res["eta0_1"] - float(e1)) <= 1e-15 * float(e1)
    # eq 102: root, refined in mpmath, and positivity of the residual on a fine grid below it;
    # 1 − Δ̃ ≈ 2µ̄η0 cancels ~log10(1/η0) digits, so the working precision grows with it
    r2 = res["eta0_2"]
    with mp.workdps(50 + int(-np.log10(r2))):
        _check_eq102_root(r2, args)
    e3 = np.log(1 + a1 / (2 * a2)) ** (1 / c)
    assert res["eta0_3"] == pytest.approx(e3, rel=1e-14)
    assert res["eta_max"] == min(res["eta0_1"], res["eta0_2"], res["eta0_3"])


def _check_eq102_root(r2: float, args: tuple) -> None:
    e2 = mp_bisect(lambda e: mp_eq102(e, *args), mp.mpf(r2) * 0.9, mp.mpf(r2) * 1.1)
    assert abs(r2 - float(e2)) <= 2e-14 * float(e2)  # root of η^(d−1): 1/(d−1) amplification
    lo = max(r2 * 1e-12, 1e-300)
    for e in np.logspace(np.log10(lo), np.log10(r2 * (1 - 1e-6)), 300):
        assert mp_eq102(e, *args) > 0, e
    assert mp_eq102(r2 * (1 + 1e-6), *args) < 0


def test_eta_max_binding_terms_and_nan() -> None:
    fig1 = lp.eta_max(*ETA_CASES[0])
    assert fig1["eta_max"] == fig1["eta0_1"] < fig1["eta0_2"]
    bind2 = lp.eta_max(*ETA_CASES[1])
    assert bind2["eta_max"] == bind2["eta0_2"] < bind2["eta0_1"]
    bad = lp.eta_max(1.0, 1.0, 3.0, -1.0, 10.0, 2.0, 0.5, 2.0)
    assert np.isnan(bad["eta_max"]) and np.isnan(bad["eta0_3"])
    assert np.isfinite(bad["eta0_1"])
    assert lp._first_root(lambda e: 1.0 + e, 10.0) == np.inf


def test_eta_max_below_the_scan_floor_is_zero() -> None:
    """A huge K·α2 puts η0^(1) < 1/(Kα2) below 1e-300: η_max is 0 to double precision."""
    K, alpha2 = 1e150, 1e155
    assert 1.0 / (K * alpha2) < 1e-300
    em = lp.eta_max(K, 1.0, 1.0, 1.0, alpha2, alpha2, 0.5, 1.01)
    assert em["eta0_1"] == 0.0 and em["eta_max"] == 0.0
    assert lp._first_root(lambda e: e - 1e-305, 1e-302) == 0.0


def test_a_bounds_and_drift_bound_values() -> None:
    lo, hi = lp.a_bounds(5.0, 9.0, 0.04, 0.5)
    assert lo == pytest.approx(5.0 + 18.0 * (1 - np.exp(0.2)), rel=1e-14)
    assert hi == pytest.approx(9.0 * np.exp(0.2), rel=1e-14)
    assert lp.drift_bound(2.0, 0.01, 9.0, 3.0, 0.5, 0.75) == pytest.approx(
        2 * 2.0 * 1e-4 * 9.0 * np.exp(0.1) * 3.0 / 0.25, rel=1e-14
    )


def test_rates_eq66_68() -> None:
    mu, K, s2min, s2max, a1, a2 = 0.5, 2.0, 3.0, 12.0, 4.0, 10.0
    assert lp.rate_prior_local(mu, K, s2min, s2max) == pytest.approx(1 - 0.25 / 16, rel=1e-15)
    assert lp.rate_this_local(mu, K, s2min, s2max) == pytest.approx(1 - 0.25 / 4, rel=1e-15)
    assert lp.rate_this_global(mu, K, a1, a2) == pytest.approx(1 - 0.25 * 0.4, rel=1e-15)
    assert lp.rate_xu_global(mu, K, a1, a2, 0.5, 1.5) == pytest.approx(
        1 - 0.25 * (2.0 / 15.0) ** 2, rel=1e-15
    )
    assert lp.rate_this_local(mu, K, s2min, s2max) < lp.rate_prior_local(mu, K, s2min, s2max)
    assert lp.rate_this_global(mu, K, a1, a2) < lp.rate_xu_global(mu, K, a1, a2, 0.5, 1.5)


# ---------------------------------------------------------------------------------------------
# Theorem 3.1 / 3.2 along an actual GD run (squared loss, X orthogonal: K = µ = 1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["constant", "local"])
def test_theorem_3_1_and_3_2_along_gd(schedule: str) -> None:
    n, m, h, T, c, d = 4, 4, 30, 60, 0.5, 1.01
    X, W1, W2, _ = _instance(n, m, h, 0.0, 3)
    rng = np.random.default_rng(4)
    Y = X @ (W1 @ W2.T) + 0.5 * rng.standard_normal((n, m))
    W_star = X.T @ Y
    K = mu = 1.0
    W1_0, W2_0 = W1.copy(), W2.copy()

    def loss(A, B):
        return 0.5 * np.linalg.norm(Y - X @ A @ B.T) ** 2

    L0 = loss(W1, W2)
    tc = lp.table2_constants(W1, W2, W_star, K, mu)
    em = lp.eta_max(K, mu, L0, tc["alpha1"], tc["alpha2"], tc["beta2"], c, d)
    eta0 = em["eta_max"]
    th = lp.theorem32_constants(K, mu, L0, tc["alpha1"], tc["alpha2"], tc["beta2"], eta0, c, d)
    lo4, hi4 = lp.a_bounds(tc["alpha1"], tc["alpha2"], eta0, c)
    a3 = lp.drift_bound(K, eta0, tc["alpha2"], L0, c, th["Delta_tilde"])
    step = jax.jit(lp.local_step)
    L = L0
    for t in range(T):
        s2min, s2max = (float(v) for v in tl.sigma2_T(W1, W2))
        smin_W, smax_W = (float(v) for v in tl.sigma_W(W1 @ W2.T))
        assert tc["beta1"] <= smin_W + 1e-12 and smax_W <= tc["beta2"]  # A1, A2
        assert lo4 <= s2min and s2max <= hi4  # A4
        assert float(tl.imbalance_drift_fro(W1, W2, W1_0, W2_0)) <= a3  # A3
        if schedule == "constant":
            eta = eta0
        else:
            eta = min((1 + eta0**d) ** (t / 2) * eta0, float(step(K, s2max, smax_W, L)))
            assert eta >= eta0
        kt = float(lp.K_t(eta, K, s2max, smax_W, L))
        r = float(lp.rho(eta, mu * s2min, kt))
        kb = float(
            lp.K_bar(
                t, eta0, K, L0, tc["alpha2"], tc["beta2"], th["rho_bar0"], th["Delta_tilde"], c
            )
        )
        rb = float(lp.rho_bar(eta, th["mu_bar"], kb))
        assert 0 < eta * kt < 2
        assert r <= rb * (1 + 1e-12)  # µ̄ ≤ µ_t, K_t ≤ K̄_t  ⇒  ρ ≤ ρ̄
        if schedule == "constant":
            assert rb <= th["rho_bar0"] * (1 + 1e-12)
        g = X.T @ (X @ W1 @ W2.T - Y)
        inc = float(tl.imbalance_step_fro(W1, W2, g, eta))
        assert inc <= float(lp.lemma_e2_bound(K, eta, s2max, L)) * (1 + 1e-12)  # Lemma E.2
        W1, W2 = W1 - eta * g @ W2, W2 - eta * g.T @ W1
        L_new = loss(W1, W2)
        if L_new < 1e-20 * L0:  # float64 floor of the residual reached
            break
        assert L_new <= r * L * (1 + 1e-12)  # eq 10
        assert L_new <= L0 * th["rho_bar0"] ** (t + 1) * (1 + 1e-9)  # eq 17
        L = L_new
    assert t >= 10


# ---------------------------------------------------------------------------------------------
# Toy landscape (Prop. 2.1, App. B, eq 58-59)
# ---------------------------------------------------------------------------------------------


def _jax_toy(x):
    return 0.5 * (x[0] * x[1] - 1.0) ** 2


def test_toy_hessian_K_mu_vs_jax_autodiff() -> None:
    g = np.linspace(-2.0, 2.0, 9)
    x1, x2 = np.meshgrid(g, g + 0.1)
    pts = jnp.stack([x1.ravel(), x2.ravel()], axis=1)
    H = jax.jit(jax.vmap(jax.hessian(_jax_toy)))(pts)
    np.testing.assert_allclose(
        toy.toy_hessian(x1, x2).reshape(-1, 2, 2), np.asarray(H), rtol=1e-14, atol=1e-14
    )
    lam = np.linalg.eigvalsh(np.asarray(H))[:, -1]
    np.testing.assert_allclose(toy.toy_K_over_exact(x1, x2).ravel(), lam, rtol=1e-13, atol=1e-13)
    grad = np.asarray(jax.jit(jax.vmap(jax.grad(_jax_toy)))(pts))
    Lval = toy.toy_loss(x1, x2).ravel()
    np.testing.assert_allclose(Lval, np.asarray(jax.jit(jax.vmap(_jax_toy))(pts)), rtol=1e-14)
    ok = Lval > 1e-8
    np.testing.assert_allclose(
        toy.toy_mu_over(x1, x2).ravel()[ok], (grad**2).sum(1)[ok] / (2 * Lval[ok]), rtol=1e-12
    )


def test_toy_printed_eq59_erratum() -> None:
    lam = np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(_jax_toy))(jnp.array([1.0, 2.0]))))[-1]
    assert toy.toy_K_over_exact(1.0, 2.0) == pytest.approx(lam, rel=1e-14)
    assert toy.toy_K_over_exact(1.0, 2.0) == pytest.approx((5 + np.sqrt(45)) / 2, rel=1e-14)
    assert toy.toy_K_over_printed(1.0, 2.0) == pytest.approx((5 + np.sqrt(18)) / 2, rel=1e-14)
    assert abs(toy.toy_K_over_printed(1.0, 2.0) - lam) > 1.0
    # agreement where 2x1x2 − 1 = 0
    x1 = np.array([0.25, 1.0, -3.0])
    x2 = 0.5 / x1
    np.testing.assert_allclose(
        toy.toy_K_over_printed(x1, x2), toy.toy_K_over_exact(x1, x2), rtol=1e-14
    )
