"""Paper D's directional bounds: each closed form against the comparison ODE it integrates
(solved numerically), the step-size sums against plain loops, and the bounds against gradient
flow / gradient descent on the population logistic loss in the plane, whose gradient is
computed here by polar Gauss–Legendre quadrature."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from overparam.theory import directional as dr

C0_GAUSS = math.sqrt(math.pi / 2.0)  # E‖x‖ for x ~ N(0, I_2)
V = np.array([0.0, 1.0])
W0 = np.array([0.6, -0.8])  # the paper's §5 initialization: cos θ(0) = −0.8


def _psi(theta: float) -> float:
    """ψ = artanh(cos θ), written independently of the module."""
    return math.atanh(math.cos(theta))


def _solve(rate, t_start: float, t_eval: np.ndarray, y0: float) -> np.ndarray:
    sol = solve_ivp(lambda t, y: [rate(t)], (t_start, float(t_eval[-1])), [y0],
                    method="DOP853", t_eval=t_eval, rtol=1e-12, atol=1e-12)
    assert sol.success
    return sol.y[0]


def _two_phase_psi(rate1, rate2, t0, T, psi0, psiT, t_eval):
    """ψ(t) from ψ(t0) = psi0 under rate1 up to T, then restarted at ψ(T) = psiT under rate2."""
    out = np.empty_like(t_eval)
    first = t_eval <= T
    out[first] = _solve(rate1, t0, t_eval[first], psi0)
    grid = np.concatenate([[T], t_eval[~first]])
    out[~first] = _solve(rate2, T, grid, psiT)[1:]
    return out


# --------------------------------------------------------------------------- angle helpers
def test_cos_from_exponent_is_stable_and_is_tanh():
    E = np.concatenate([np.linspace(-1e4, 1e4, 2001), [-1e4, 1e4, 0.0, 745.0, -745.0]])
    got = dr.cos_from_exponent(E)
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got, np.tanh(E / 2.0))
    assert got[-5] == -1.0 and got[-4] == 1.0
    mid = np.linspace(-30.0, 30.0, 601)
    np.testing.assert_allclose(dr.cos_from_exponent(mid), 1.0 - 2.0 / (np.exp(mid) + 1.0),
                               rtol=0, atol=2e-15)


def test_exponent_from_theta_inverts_cos():
    theta = np.linspace(1e-6, math.pi - 1e-6, 1001)
    E = dr.exponent_from_theta(theta)
    mp.mp.dps = 40
    want = [float(mp.log((1 + mp.cos(mp.mpf(x))) / (1 - mp.cos(mp.mpf(x))))) for x in theta]
    np.testing.assert_allclose(E, want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dr.cos_from_exponent(E), np.cos(theta), rtol=0, atol=1e-13)
    assert dr.exponent_from_theta(0.0) == np.inf and dr.cos_from_exponent(np.inf) == 1.0


# ------------------------------------------------------------------------------ Theorem 1
THM1_CASES = [  # c0, norm0, theta0, T, normT, thetaT, t0
    (C0_GAUSS, 1.0, 2.5, 3.0, 0.4, 1.2, 0.0),
    (1.0, 0.7, 2.9, 4.0, 0.05, 1.9, 1.5),
    (0.8, 3.0, 1.0, 2.0, 5.0, 0.6, 0.5),
]


@pytest.mark.parametrize(("c0", "norm0", "theta0", "T", "normT", "thetaT", "t0"), THM1_CASES)
def test_thm1_lower_solves_the_worst_case_norm_ode(c0, norm0, theta0, T, normT, thetaT, t0):
    """dψ/dt = c0/(π n(t)) with n = norm0 up to T and √(normT² + 0.6(t − T)) after."""
    t = np.linspace(t0, T + 40.0, 301)
    psi = _two_phase_psi(lambda s: c0 / (math.pi * norm0),
                         lambda s: c0 / (math.pi * math.sqrt(normT**2 + 0.6 * (s - T))),
                         t0, T, _psi(theta0), _psi(thetaT), t)
    got = dr.thm1_lower(t, c0, norm0, theta0, T, normT, thetaT, t0=t0)
    np.testing.assert_allclose(got, np.tanh(psi), rtol=0, atol=1e-9)
    assert got[0] == pytest.approx(math.cos(theta0), abs=1e-14)


def test_thm1_lower_without_a_switch_is_phase_one_everywhere():
    c0, norm0, theta0 = 1.0, 2.0, 2.0
    t = np.linspace(0.0, 30.0, 61)
    psi = _solve(lambda s: c0 / (math.pi * norm0), 0.0, t, _psi(theta0))
    for T in (math.nan, math.inf):
        got = dr.thm1_lower(t, c0, norm0, theta0, T, math.nan, math.nan)
        np.testing.assert_allclose(got, np.tanh(psi), rtol=0, atol=1e-9)


def test_thm1_lower_switch_before_start_is_phase_two_from_the_start():
    c0, norm0, theta0, t0 = 1.0, 0.5, 1.4, 5.0
    t = np.linspace(3.0, 40.0, 75)
    got = dr.thm1_lower(t, c0, norm0, theta0, 2.0, 9.0, 0.1, t0=t0)  # normT/thetaT unused
    want = dr.thm1_lower(t, c0, norm0, theta0, t0, norm0, theta0, t0=t0)
    np.testing.assert_array_equal(np.isnan(got), t < t0)
    np.testing.assert_allclose(got, want, rtol=0, atol=0)
    on = t >= t0
    psi = _solve(lambda s: c0 / (math.pi * math.sqrt(norm0**2 + 0.6 * (s - t0))), t0, t[on],
                 _psi(theta0))
    np.testing.assert_allclose(got[on], np.tanh(psi), rtol=0, atol=1e-9)


def test_thm1_printed_reading_differs_from_the_derived_phase_two():
    """The printed A2 = 4c0/√(0.6π) with C2 outside the root jumps at T and is not the bound."""
    c0, norm0, theta0, T, normT, thetaT = C0_GAUSS, 1.0, 2.5, 3.0, 0.4, 1.2
    t = np.linspace(T + 1e-9, T + 40.0, 400)
    A2p = 4 * c0 / math.sqrt(0.6 * math.pi)
    B2 = -2 * math.log(math.tan(thetaT / 2)) - 4 * c0 * normT / (0.6 * math.pi)
    C2 = normT**2 / 0.6
    printed = 1 - 2 / (np.exp(A2p * np.sqrt(t - T) + C2 + B2) + 1)
    ours = dr.thm1_lower(t, c0, norm0, theta0, T, normT, thetaT)
    assert ours[0] == pytest.approx(math.cos(thetaT), abs=1e-6)  # continuous at T
    assert abs(printed[0] - math.cos(thetaT)) > 0.05  # the printed reading is not
    assert np.max(np.abs(printed - ours)) > 0.05


# ------------------------------------------------------------------------- Proposition 4
@pytest.mark.parametrize(("c0", "theta0", "t0"), [(C0_GAUSS, 2.5, 0.0), (1.0, 3.1, 2.0),
                                                   (0.5, 0.3, 0.0)])
def test_prop4_solves_lemma7_for_two_matrices(c0, theta0, t0):
    """Lemma 7 with N = 2: d cos θ/dt = c0 sin²θ/π, integrated in cos θ itself."""
    t = np.linspace(t0, t0 + 25.0, 251)
    sol = solve_ivp(lambda s, c: c0 * (1 - c**2) / math.pi, (t0, t[-1]), [math.cos(theta0)],
                    method="DOP853", t_eval=t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dr.prop4(t, c0, theta0, t0=t0), sol.y[0], rtol=0, atol=1e-9)
    C1 = (1 + math.cos(theta0)) / (1 - math.cos(theta0))
    direct = 1 - 2 / (C1 * np.exp(2 * c0 * (t - t0) / math.pi) + 1)
    np.testing.assert_allclose(dr.prop4(t, c0, theta0, t0=t0), direct, rtol=0, atol=1e-13)
    assert math.isnan(dr.prop4(t0 - 1.0, c0, theta0, t0=t0))


# ------------------------------------------------------------------------------ Theorem 3
def _lower_norm(t, c0, N, norm0):
    return (norm0 ** (2 / N - 1) + (N - 2) * c0 * t) ** (-N / (N - 2))


def _upper_norm(t, N, norm0):
    return (norm0 ** (2 / N) + 0.6 * t) ** (N / 2)


@pytest.mark.parametrize("N", [3, 4, 6])
@pytest.mark.parametrize(("c0", "norm0", "theta0", "T", "normT", "thetaT", "t0"), THM1_CASES)
def test_thm3_lower_solves_lemma7_with_lemma8_norms(N, c0, norm0, theta0, T, normT, thetaT, t0):
    t = np.linspace(t0, T + 20.0, 201)
    k = 1 - 2 / N
    psi = _two_phase_psi(lambda s: c0 / math.pi * _lower_norm(s - t0, c0, N, norm0) ** k,
                         lambda s: c0 / math.pi * normT**k,
                         t0, T, _psi(theta0), _psi(thetaT), t)
    got = dr.thm3_lower(t, c0, N, norm0, theta0, T, normT, thetaT, t0=t0)
    np.testing.assert_allclose(got, np.tanh(psi), rtol=0, atol=1e-9)
    psi18 = _solve(lambda s: c0 / math.pi * _lower_norm(s - t0, c0, N, norm0) ** k, t0, t,
                   _psi(theta0))
    np.testing.assert_allclose(dr.eq18_lower(t, c0, N, norm0, theta0, t0=t0), np.tanh(psi18),
                               rtol=0, atol=1e-9)
    first = t <= T
    np.testing.assert_array_equal(got[first], dr.eq18_lower(t[first], c0, N, norm0, theta0,
                                                            t0=t0))


def test_thm3_lower_printed_constants():
    """Phase 1 as printed: C1 (A1 t/B1 + 1)^α with A1 = (N − 2)c0, B1 = ‖w_e(0)‖^{2/N−1}."""
    c0, N, norm0, theta0 = 1.3, 4, 0.8, 2.2
    t = np.linspace(0.0, 50.0, 101)
    A1, B1, alpha = (N - 2) * c0, norm0 ** (2 / N - 1), 2 / ((N - 2) * math.pi)
    C1 = (1 + math.cos(theta0)) / (1 - math.cos(theta0))
    want = 1 - 2 / (C1 * (A1 * t / B1 + 1) ** alpha + 1)
    np.testing.assert_allclose(dr.eq18_lower(t, c0, N, norm0, theta0), want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("N", [2, 3, 4, 6])
@pytest.mark.parametrize(("c0", "norm0", "theta0", "t0"), [(C0_GAUSS, 1.0, 2.5, 0.0),
                                                           (1.0, 0.3, 1.0, 3.0)])
def test_thm3_upper_solves_lemma7_with_the_upper_norm(N, c0, norm0, theta0, t0):
    t = np.linspace(t0, t0 + 6.0, 121)
    psi = _solve(lambda s: c0 / math.pi * _upper_norm(s - t0, N, norm0) ** (1 - 2 / N), t0, t,
                 _psi(theta0))
    got = dr.thm3_upper(t, c0, N, norm0, theta0, t0=t0)
    np.testing.assert_allclose(got, np.tanh(psi), rtol=0, atol=1e-9)
    D, F = norm0 ** (2 / N), 4 * c0 / (0.6 * N * math.pi)
    E = -2 * math.log(abs(math.tan(theta0 / 2)))
    printed = 1 - 2 / (np.exp(F * ((0.6 * (t - t0) + D) ** (N / 2) - D ** (N / 2)) + E) + 1)
    np.testing.assert_allclose(got, printed, rtol=0, atol=1e-12)


def test_thm3_upper_at_two_matrices_is_prop4_and_above_the_lower():
    c0, norm0, theta0 = C0_GAUSS, 0.7, 2.8
    t = np.linspace(0.0, 20.0, 201)
    np.testing.assert_allclose(dr.thm3_upper(t, c0, 2, norm0, theta0), dr.prop4(t, c0, theta0),
                               rtol=0, atol=1e-14)
    np.testing.assert_allclose(dr.eq18_lower(t, c0, 2, norm0, theta0), dr.prop4(t, c0, theta0),
                               rtol=0, atol=0)
    for N in (3, 4, 8):
        assert np.all(dr.thm3_upper(t, c0, N, norm0, theta0)
                      >= dr.eq18_lower(t, c0, N, norm0, theta0) - 1e-15)
    assert np.all(np.isnan(dr.thm3_upper(t, c0, 1, norm0, theta0)))
    assert np.all(np.isnan(dr.eq18_lower(t, c0, 1, norm0, theta0)))


def test_thm3_lower_switch_handling():
    c0, N, norm0, theta0 = 1.0, 4, 0.6, 2.0
    t = np.linspace(0.0, 10.0, 41)
    np.testing.assert_array_equal(dr.thm3_lower(t, c0, N, norm0, theta0, math.nan, 1.0, 1.0),
                                  dr.eq18_lower(t, c0, N, norm0, theta0))
    got = dr.thm3_lower(t, c0, N, norm0, theta0, -1.0, 5.0, 0.2, t0=2.0)
    want = 1 - 2 / (np.exp(2 * c0 * norm0**0.5 * (t - 2.0) / math.pi
                           - 2 * math.log(math.tan(theta0 / 2))) + 1)
    np.testing.assert_array_equal(np.isnan(got), t < 2.0)
    np.testing.assert_allclose(got[t >= 2.0], want[t >= 2.0], rtol=0, atol=1e-13)


# ------------------------------------------------------------------------------- Lemma 8
@pytest.mark.parametrize("N", [1, 2, 3, 4, 6])
def test_lemma8_bounds_solve_their_comparison_odes(N):
    c0, norm0, t0, h = 0.9, 1.7, 0.5, 1e-4
    t = np.linspace(t0 + 0.01, t0 + 1.5, 40)
    lo, up = dr.lemma8_norm_bounds(t, c0, N, norm0, t0=t0)
    lo_p, up_p = dr.lemma8_norm_bounds(t + h, c0, N, norm0, t0=t0)
    lo_m, up_m = dr.lemma8_norm_bounds(t - h, c0, N, norm0, t0=t0)

    def slope(f):
        return (f(lo_p, up_p) - f(lo_m, up_m)) / (2 * h)

    np.testing.assert_allclose(slope(lambda lo, up: up ** (2 / N)), 0.6, rtol=1e-7)
    if N > 2:  # dℓ^{2/N−1}/dt = (N − 2)c0
        np.testing.assert_allclose(slope(lambda lo, up: lo ** (2 / N - 1)), (N - 2) * c0,
                                   rtol=1e-7)
    elif N == 2:  # d ln ℓ/dt = −2c0
        np.testing.assert_allclose(slope(lambda lo, up: np.log(lo)), -2 * c0, rtol=1e-7)
    else:  # dℓ/dt = −c0 until ℓ reaches 0
        alive = t + h < t0 + norm0 / c0
        np.testing.assert_allclose(slope(lambda lo, up: lo)[alive], -c0, rtol=1e-7)
        assert np.all(lo[t > t0 + norm0 / c0] == 0.0)
    at0 = dr.lemma8_norm_bounds(t0, c0, N, norm0, t0=t0)
    assert at0[0] == pytest.approx(norm0, rel=1e-14) and at0[1] == pytest.approx(norm0, rel=1e-14)
    assert np.all(lo <= up)
    if N > 2:
        np.testing.assert_allclose(lo, _lower_norm(t - t0, c0, N, norm0), rtol=1e-14)
        np.testing.assert_allclose(up, _upper_norm(t - t0, N, norm0), rtol=1e-14)


def test_lemma8_rejects_nonpositive_depth_and_is_nan_before_start():
    with pytest.raises(ValueError):
        dr.lemma8_norm_bounds(1.0, 1.0, 0, 1.0)
    lo, up = dr.lemma8_norm_bounds(np.array([-1.0, 0.0]), 1.0, 4, 1.0)
    assert np.isnan(lo[0]) and np.isnan(up[0]) and lo[1] == pytest.approx(1.0)


# ------------------------------------------------------------- vectorization and scalar types
def test_scalar_and_array_times_agree():
    t = np.array([0.0, 0.7, 2.0, 3.5, 11.0])
    c0, norm0, theta0, T, normT, thetaT = 1.1, 0.9, 2.3, 3.0, 0.5, 1.4
    funcs = [
        lambda s: dr.thm1_lower(s, c0, norm0, theta0, T, normT, thetaT),
        lambda s: dr.prop4(s, c0, theta0),
        lambda s: dr.eq18_lower(s, c0, 4, norm0, theta0),
        lambda s: dr.thm3_lower(s, c0, 4, norm0, theta0, T, normT, thetaT),
        lambda s: dr.thm3_upper(s, c0, 4, norm0, theta0),
        lambda s: dr.lemma8_norm_bounds(s, c0, 4, norm0)[0],
        lambda s: dr.lemma8_norm_bounds(s, c0, 4, norm0)[1],
    ]
    for f in funcs:
        arr = f(t)
        assert isinstance(arr, np.ndarray) and arr.shape == t.shape and arr.dtype == np.float64
        for i, ti in enumerate(t):
            one = f(float(ti))
            assert np.ndim(one) == 0 and isinstance(one, np.floating)
            assert one == arr[i]
        np.testing.assert_array_equal(f(t.reshape(5, 1)), arr.reshape(5, 1))


# ------------------------------------------------------------------ gradient descent sums
def _s_loop(eta, A, C):
    out, acc, S = [0.0], 0.0, 0.0
    for e in eta:
        acc += e * e + C * e
        S += e / math.sqrt(A + acc)
        out.append(S)
    return np.array(out)


def test_s_minus_and_s_plus_match_loops():
    rng = np.random.default_rng(0)
    eta = rng.uniform(0.01, 2.0, size=57)
    c0, norm0 = 0.8, 1.9
    A = norm0**2 / c0**2
    np.testing.assert_allclose(dr.s_minus(eta, norm0, c0), _s_loop(eta, A, 0.0), rtol=1e-13)
    np.testing.assert_allclose(dr.s_plus(eta, norm0, c0), _s_loop(eta, A, 0.6 / c0**2),
                               rtol=1e-13)
    assert dr.s_minus([], norm0, c0).tolist() == [0.0]
    with pytest.raises(ValueError):
        dr.s_minus(np.ones((2, 2)), norm0, c0)


def test_lemma4_and_lemma5_by_hand_for_two_steps():
    eta, c0, norm0, theta0, delta = 0.5, 1.0, 2.0, 2.0, 0.5
    cos0 = math.cos(theta0)
    A, C = 4.0, 0.6
    Sm = [0.0, eta / math.sqrt(A + eta**2)]
    Sm.append(Sm[1] + eta / math.sqrt(A + 2 * eta**2))
    Sp = [0.0, eta / math.sqrt(A + eta**2 + C * eta)]
    Sp.append(Sp[1] + eta / math.sqrt(A + 2 * (eta**2 + C * eta)))
    B4 = (1 + cos0) / math.pi
    B5 = delta * (1 + cos0) / ((1 + delta) * math.pi)
    want4 = [1 - (1 - cos0) * math.exp(-B4 * s) for s in Sm]
    want5 = [1 - (1 - cos0) * math.exp(-B5 * s) for s in Sp]
    np.testing.assert_allclose(dr.lemma4_lower([eta, eta], c0, norm0, theta0), want4,
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(dr.lemma5_lower([eta, eta], c0, norm0, theta0, delta), want5,
                               rtol=0, atol=1e-15)
    assert want4[0] == pytest.approx(cos0) and want4[2] > want4[1] > want4[0]


def test_lemma4_and_lemma5_hypotheses():
    assert np.all(np.isnan(dr.lemma4_lower([0.1, 0.1], 1.0, 1.0, 1.2)))  # cos θ(0) > 0
    assert np.all(np.isnan(dr.lemma4_lower([0.1], 1.0, 1.0, math.pi / 2)))  # cos θ(0) = 0
    with pytest.raises(ValueError):
        dr.lemma5_lower([0.1], 1.0, 1.0, 1.0, 0.0)


def test_thm2_radius_value():
    assert dr.thm2_radius(0.3, 2.0) == pytest.approx(0.6 + 0.6 / math.pi, rel=1e-15)


# ------------------------------------------------ the population loss in the plane, by quadrature
def _radial_rule(law: str):
    """Nodes and weights for E over ‖x‖ (density included), with c0 = E‖x‖."""
    if law == "circle":  # x uniform on S¹
        return np.array([1.0]), np.array([1.0]), 1.0
    x, w = np.polynomial.legendre.leggauss(80)
    r, w = 6.0 * (x + 1.0), 6.0 * w
    return r, w * r * np.exp(-0.5 * r**2), C0_GAUSS  # x ~ N(0, I_2): Rayleigh radius


def _pop_grad(w: np.ndarray, law: str = "gauss") -> np.ndarray:
    """∇L(w) = −E[y x/(1 + e^{y wᵀx})], y = sgn(vᵀx), by Gauss–Legendre in the polar angle
    split where the label flips and where wᵀx = 0, times the radial rule."""
    r, wr, _ = _radial_rule(law)
    a = math.atan2(w[1], w[0])
    cuts = sorted({0.0, math.pi, (a + math.pi / 2) % (2 * math.pi),
                   (a - math.pi / 2) % (2 * math.pi)})
    cuts.append(cuts[0] + 2 * math.pi)
    xg, wg = np.polynomial.legendre.leggauss(32)
    phi = np.concatenate([0.5 * (b - c) * xg + 0.5 * (b + c) for c, b in zip(cuts[:-1], cuts[1:], strict=True)])
    wphi = np.concatenate([0.5 * (b - c) * wg for c, b in zip(cuts[:-1], cuts[1:], strict=True)]) / (2 * math.pi)
    u = np.stack([np.cos(phi), np.sin(phi)], axis=-1)
    y = np.where(u @ V >= 0.0, 1.0, -1.0)
    margin = y[:, None] * (u @ w)[:, None] * r[None, :]
    sig = 0.5 * (1.0 - np.tanh(0.5 * margin))  # 1/(1 + e^{margin})
    per_angle = (sig * r[None, :]) @ wr
    return -((y * per_angle * wphi)[:, None] * u).sum(axis=0)


def _angle(w: np.ndarray) -> tuple[float, float]:
    c = float(w @ V / np.linalg.norm(w))
    return c, math.sqrt(max(1.0 - c * c, 0.0))


@pytest.mark.parametrize("law", ["gauss", "circle"])
def test_population_gradient_satisfies_lemma2(law):
    """Check of the quadrature itself: −(I − w̄w̄ᵀ)∇L = (c0/π)(I − w̄w̄ᵀ)v and ‖∇L‖ ≤ c0."""
    c0 = _radial_rule(law)[2]
    for w in (W0, np.array([3.0, 1.0]), np.array([-0.02, 0.01]), np.array([-7.0, 4.0])):
        g = _pop_grad(w, law)
        wb = w / np.linalg.norm(w)
        P = np.eye(2) - np.outer(wb, wb)
        np.testing.assert_allclose(-P @ g, c0 / math.pi * P @ V, rtol=0, atol=1e-12)
        assert np.linalg.norm(g) <= c0


GD_POINTS = [np.array([0.6, -0.8]), np.array([1.5, 0.4]), np.array([-0.3, 2.0]),
             np.array([4.0, 0.2])]


@pytest.mark.parametrize("eta", [0.05, 0.7, 3.0])
def test_eq10_and_eq8_along_population_gd_steps(eta):
    """Eq 10 is ‖w(n+1)‖²; eq 8 with eq 10 gives the angle increment through (11)'s left side."""
    wn = np.stack(GD_POINTS)
    wnext = np.stack([w - eta * _pop_grad(w) for w in GD_POINTS])
    cos_n = wn @ V / np.linalg.norm(wn, axis=1)
    sin_n = np.sqrt(1 - cos_n**2)
    etas = np.full(len(wn), eta)
    np.testing.assert_allclose(dr.eq10_rhs(wn, wnext, C0_GAUSS, etas, sin_n),
                               np.sum(wnext**2, axis=1), rtol=1e-12)
    lhs = dr.cond11_lhs(wn, wnext)
    k = C0_GAUSS * eta / math.pi
    nxt = np.linalg.norm(wnext, axis=1)
    incr = (k * sin_n**2 - k**2 * sin_n**2 * cos_n / lhs) / nxt
    np.testing.assert_allclose(wnext @ V / nxt - cos_n, incr, rtol=1e-10, atol=1e-13)
    # (11) holding with equality for δ*: the increment is (δ*/(1 + δ*)) c0 η sin²θ/(π‖w(n+1)‖)
    pos = cos_n > 0
    d_star = lhs[pos] * math.pi / (C0_GAUSS * eta * cos_n[pos]) - 1
    rhs = np.array([dr.cond11_rhs(eta, C0_GAUSS, c, d) for c, d in zip(cos_n[pos], d_star, strict=True)])
    np.testing.assert_allclose(rhs, lhs[pos], rtol=1e-13)
    np.testing.assert_allclose(incr[pos], d_star / (1 + d_star) * k * sin_n[pos] ** 2
                               / nxt[pos], rtol=1e-10)
    single = dr.cond11_lhs(wn[0], wnext[0])
    assert np.ndim(single) == 0 and single == pytest.approx(lhs[0], rel=1e-15)


@pytest.mark.parametrize("eta_plus", [0.5, 2.0, 6.0])
def test_thm2_radius_gives_condition_11_with_delta_one(eta_plus):
    R1 = dr.thm2_radius(eta_plus, C0_GAUSS)
    for phi in np.linspace(0.05, math.pi - 0.05, 9):
        w = R1 * np.array([math.cos(phi), math.sin(phi)])
        for eta in (eta_plus, 0.5 * eta_plus):
            wnext = w - eta * _pop_grad(w)
            assert dr.cond11_lhs(w, wnext) >= dr.cond11_rhs(eta, C0_GAUSS, _angle(w)[0], 1.0)


def test_lemma4_and_lemma5_bound_population_gd():
    eta_val, steps = 0.1, 400
    ws = [W0.copy()]
    for _ in range(steps):
        ws.append(ws[-1] - eta_val * _pop_grad(ws[-1]))
    ws = np.stack(ws)
    cos = ws @ V / np.linalg.norm(ws, axis=1)
    theta0, norm0 = math.acos(cos[0]), float(np.linalg.norm(W0))
    eta = np.full(steps, eta_val)
    neg = np.flatnonzero(cos >= 0)[0]
    assert 5 < neg < steps
    b4 = dr.lemma4_lower(eta, C0_GAUSS, norm0, theta0)
    assert np.all(cos[:neg] >= b4[:neg] - 1e-13)
    # the largest δ for which (11) holds along this trajectory
    lhs = dr.cond11_lhs(ws[:-1], ws[1:])
    pos = cos[:-1] > 0
    delta = float(np.min(lhs[pos] * math.pi / (C0_GAUSS * eta_val * cos[:-1][pos])) - 1)
    assert delta > 0
    assert np.all(lhs >= dr.cond11_rhs(eta, C0_GAUSS, cos[:-1], delta) - 1e-12)
    b5 = dr.lemma5_lower(eta, C0_GAUSS, norm0, theta0, delta)
    assert np.all(cos >= b5 - 1e-13)
    assert b5[-1] > b5[0]


# ------------------------------------------------------ balanced flows (14) on the population loss
def _flow(N: int, law: str, t_end: float):
    """The induced flow (14) ẇ_e = −‖w_e‖^{2−2/N}(∇L + (N − 1)w̄_e w̄_eᵀ∇L) from W0, with the
    norm switch T (g(w) = −wᵀ∇L(w) crossing 0 upwards) located as an event."""

    def rhs(t, w):
        g = _pop_grad(w, law)
        n = np.linalg.norm(w)
        wb = w / n
        return -(n ** (2 - 2 / N)) * (g + (N - 1) * wb * (wb @ g))

    def switch(t, w):
        return -w @ _pop_grad(w, law)

    switch.direction = 1.0
    sol = solve_ivp(rhs, (0.0, t_end), W0, method="DOP853", rtol=1e-10, atol=1e-12,
                    dense_output=True, events=switch)
    assert sol.success
    T = float(sol.t_events[0][0]) if sol.t_events[0].size else math.nan
    return sol, T


@pytest.fixture(scope="module")
def flows():
    return {key: _flow(key[0], key[1], 20.0) for key in [(1, "gauss"), (2, "gauss"),
                                                         (2, "circle"), (4, "circle")]}


def _state(sol, t):
    w = sol.sol(t)
    return float(np.linalg.norm(w)), math.acos(_angle(w)[0])


@pytest.mark.parametrize("law", ["gauss", "circle"])
def test_prop4_is_the_exact_angle_of_the_two_matrix_flow(flows, law):
    sol, _ = flows[(2, law)]
    t = np.linspace(0.0, 20.0, 81)
    cos = (V @ sol.sol(t)) / np.linalg.norm(sol.sol(t), axis=0)
    c0 = _radial_rule(law)[2]
    np.testing.assert_allclose(dr.prop4(t, c0, math.acos(-0.8)), cos, rtol=0, atol=1e-8)
    lo, up = dr.lemma8_norm_bounds(t, c0, 2, 1.0)
    norms = np.linalg.norm(sol.sol(t), axis=0)
    assert np.all((lo <= norms * (1 + 1e-9)) & (norms <= up * (1 + 1e-9)))


def test_thm1_bounds_the_linear_predictor_flow(flows):
    sol, T = flows[(1, "gauss")]
    assert 0.0 < T < 20.0
    normT, thetaT = _state(sol, T)
    t = np.linspace(0.0, 20.0, 161)
    w = sol.sol(t)
    cos = (V @ w) / np.linalg.norm(w, axis=0)
    for t0 in (0.0, 0.5 * T, T + 2.0):  # drawn from the start, before and after the switch
        norm0, theta0 = _state(sol, t0)
        b = dr.thm1_lower(t, C0_GAUSS, norm0, theta0, T, normT, thetaT, t0=t0)
        on = t >= t0
        assert np.all(cos[on] >= b[on] - 1e-9)
        assert np.all(np.isnan(b[~on]))
    _, up = dr.lemma8_norm_bounds(t, C0_GAUSS, 1, 1.0)
    assert np.all(np.linalg.norm(w, axis=0) <= up * (1 + 1e-9))


def test_thm3_bounds_the_four_matrix_flow(flows):
    sol, T = flows[(4, "circle")]
    assert 0.0 < T < 20.0
    normT, thetaT = _state(sol, T)
    t = np.linspace(0.0, 20.0, 161)
    w = sol.sol(t)
    cos = (V @ w) / np.linalg.norm(w, axis=0)
    c0, theta0 = 1.0, math.acos(-0.8)
    lower = dr.thm3_lower(t, c0, 4, 1.0, theta0, T, normT, thetaT)
    upper = dr.thm3_upper(t, c0, 4, 1.0, theta0)
    assert np.all(lower - 1e-9 <= cos) and np.all(cos <= upper + 1e-9)
    assert np.all(dr.eq18_lower(t, c0, 4, 1.0, theta0) <= cos + 1e-9)
    lo, up = dr.lemma8_norm_bounds(t, c0, 4, 1.0)
    norms = np.linalg.norm(w, axis=0)
    assert np.all((lo <= norms * (1 + 1e-9)) & (norms <= up * (1 + 1e-9)))
