"""Spherical input laws: c0, samplers, radius densities and radius rules, each checked
against an independent computation (mpmath, scipy, closed forms or Monte Carlo)."""

from __future__ import annotations

import math
import warnings

import jax
import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit

from overparam.data.linear_classifier import make_distribution


@pytest.fixture(autouse=True)
def _mp_digits():
    """30 digits for this module's references, whatever another module left set."""
    with mp.workdps(30):
        yield

GAUSS = ("gaussian", 3, {})
SPHERES = [("uniform_sphere", d, {}) for d in (2, 3, 5, 10)]
TS = [("student_t", 3, {"df": nu}) for nu in (1.5, 3.0, 10.0)]
RADIALS = [
    ("radial", 2, {"law": "chi", "args": (2,)}),
    ("radial", 5, {"law": "chi", "args": (5,)}),
    ("radial", 2, {"law": "t", "args": (3,)}),
    ("radial", 3, {"law": "t", "args": (3,)}),
    ("radial", 3, {"law": "lognorm", "args": (0.5,)}),
    ("radial", 3, {"law": "uniform"}),
]


def _make(case):
    kind, d, kw = case
    return make_distribution(kind, d, **kw)


def _id(case) -> str:
    kind, d, kw = case
    extra = ",".join(f"{k}={v}" for k, v in kw.items())
    return f"{kind}-d{d}" + (f"-{extra}" if extra else "")


def _mp_density(kind: str, d: int, nu: float | None):
    """The 2-D marginal radius density as an mpmath function."""
    if kind == "gaussian":
        return lambda r: r * mp.exp(-r * r / 2)
    if kind == "uniform_sphere":
        return lambda r: (d - 2) * r * (1 - r * r) ** (mp.mpf(d - 4) / 2)
    return lambda r: r * (1 + r * r / nu) ** (-mp.mpf(nu) / 2 - 1)


def _mp_expect(kind: str, d: int, nu: float | None, f, scale: float = 1.0) -> mp.mpf:
    """E f(r) by mpmath quadrature of the density, split near the scale of f's features."""
    p = _mp_density(kind, d, nu)
    hi = 1 if kind == "uniform_sphere" else mp.inf
    cuts = [c * scale for c in (1, 10, 40) if c * scale < (1 if hi == 1 else 1e30)]
    return mp.quad(lambda r: f(r) * p(r), [0, *cuts, hi])


# --------------------------------------------------------------------------------- c0


@pytest.mark.parametrize("case", [GAUSS, *SPHERES[1:], *TS], ids=_id)
def test_c0_matches_mpmath_integral_of_the_density(case):
    kind, d, kw = case
    ref = _mp_expect(kind, d, kw.get("df"), lambda r: r)
    assert _make(case).c0() == pytest.approx(float(ref), rel=1e-14)


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_sphere_c0_matches_gaussian_over_chi_mean(d):
    # z = ‖z‖·u with ‖z‖ ~ χ_d independent of u, so E‖P₂u‖ = E‖P₂z‖ / E‖z‖.
    chi_mean = mp.quad(
        lambda r: (
            r
            * r ** (d - 1)
            * mp.exp(-r * r / 2)
            / (2 ** (mp.mpf(d) / 2 - 1) * mp.gamma(mp.mpf(d) / 2))
        ),
        [0, mp.inf],
    )
    ref = mp.sqrt(mp.pi / 2) / chi_mean
    assert make_distribution("uniform_sphere", d).c0() == pytest.approx(float(ref), rel=1e-14)


def test_gaussian_c0_and_student_t_limit():
    assert make_distribution("gaussian", 4).c0() == pytest.approx(math.sqrt(math.pi / 2), rel=1e-15)
    big = make_distribution("student_t", 4, df=1e6).c0()
    assert big == pytest.approx(math.sqrt(math.pi / 2), rel=1e-6)


# -------------------------------------------------------------------------- samplers

MC_CASES = [GAUSS, *SPHERES, TS[1], TS[2], *RADIALS]


def _check_mean_radius(x: np.ndarray, c0: float, cols) -> None:
    r = np.linalg.norm(x[:, cols], axis=1)
    se = r.std() / math.sqrt(r.size)
    assert abs(r.mean() - c0) < 5 * se + 1e-14, (r.mean(), c0, se)


@pytest.mark.parametrize("case", MC_CASES, ids=_id)
def test_sample_mean_radius_and_centre(case):
    dist = _make(case)
    x = dist.sample(np.random.default_rng(12345), 200_000)
    assert x.shape == (200_000, dist.d) and x.dtype == np.float64
    # the 2-D marginal of any coordinate pair has the same radius law
    _check_mean_radius(x, dist.c0(), [0, 1])
    _check_mean_radius(x, dist.c0(), [dist.d - 2, dist.d - 1])
    se = x.std(axis=0) / math.sqrt(x.shape[0])
    assert np.all(np.abs(x.mean(axis=0)) < 5 * se + 1e-14)


@pytest.mark.parametrize("case", [GAUSS, SPHERES[0], SPHERES[2], TS[1]], ids=_id)
def test_jax_sample_mean_radius_and_centre(case):
    dist = _make(case)
    x = np.asarray(dist.jax_sample(jax.random.PRNGKey(7), 200_000))
    assert x.shape == (200_000, dist.d) and x.dtype == np.float64
    _check_mean_radius(x, dist.c0(), [0, 1])
    se = x.std(axis=0) / math.sqrt(x.shape[0])
    assert np.all(np.abs(x.mean(axis=0)) < 5 * se)


def test_sphere_samples_have_unit_norm():
    dist = make_distribution("uniform_sphere", 6)
    x = dist.sample(np.random.default_rng(0), 1000)
    xj = np.asarray(dist.jax_sample(jax.random.PRNGKey(0), 1000))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(xj, axis=1), 1.0, rtol=0, atol=1e-15)


def test_heavy_tailed_student_t_samplers_follow_the_radius_cdf():
    # ν = 1.5: E r² is infinite, so compare the law itself: P(r ≤ q) = 1 − (1 + q²/ν)^{−ν/2}.
    nu, n = 1.5, 200_000
    dist = make_distribution("student_t", 4, df=nu)
    xs = [
        dist.sample(np.random.default_rng(3), n),
        np.asarray(dist.jax_sample(jax.random.PRNGKey(3), n)),
    ]
    for x in xs:
        r = np.linalg.norm(x[:, :2], axis=1)
        for q in (0.3, 1.0, 3.0, 30.0):
            p = 1 - (1 + q * q / nu) ** (-nu / 2)
            assert abs(np.mean(r <= q) - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_radial_has_no_jax_sampler():
    dist = make_distribution("radial", 3, law="chi", args=(3,))
    with pytest.raises(ValueError, match="no exact JAX sampler; use a finite sample"):
        dist.jax_sample(jax.random.PRNGKey(0), 10)


# ------------------------------------------------------------------- radius density


def test_radius_density_matches_scipy():
    r = np.array([1e-3, 0.2, 0.7, 1.0, 2.5, 6.0])
    g = make_distribution("gaussian", 5).radius_density(r)
    np.testing.assert_allclose(g, stats.rayleigh.pdf(r), rtol=1e-14)
    for nu in (1.5, 3.0):
        t = make_distribution("student_t", 5, df=nu).radius_density(r)
        biv = stats.multivariate_t(loc=[0, 0], shape=np.eye(2), df=nu)
        ref = 2 * np.pi * r * biv.pdf(np.stack([r, 0 * r], axis=1))
        np.testing.assert_allclose(t, ref, rtol=1e-12)
    rho = np.array([1e-3, 0.2, 0.5, 0.9, 0.999])
    for d in (3, 4, 7):
        s = make_distribution("uniform_sphere", d).radius_density(rho)
        # ρ² ~ Beta(1, (d − 2)/2)
        np.testing.assert_allclose(s, 2 * rho * stats.beta.pdf(rho**2, 1, (d - 2) / 2), rtol=1e-12)
    assert make_distribution("uniform_sphere", 3).radius_density(
        np.array([1.5, -0.1])
    ).tolist() == [0, 0]


def test_radial_radius_density_closed_forms():
    r = np.array([1e-6, 0.05, 0.4, 0.8, 0.99])
    # R ~ χ_5 on the unit sphere of R^5 is N(0, I_5): a Rayleigh marginal.
    chi5 = make_distribution("radial", 5, law="chi", args=(5,))
    np.testing.assert_allclose(chi5.radius_density(r), stats.rayleigh.pdf(r), rtol=1e-12)
    # R ~ U(0, 1), d = 3: p(r) = r ∫_r^1 dR / (R √(R² − r²)) = arccos r.
    unif = make_distribution("radial", 3, law="uniform")
    np.testing.assert_allclose(unif.radius_density(r), np.arccos(r), rtol=1e-12)
    assert unif.radius_density(np.array([1.2])).tolist() == [0.0]


def test_d2_sphere_is_a_point_mass():
    dist = make_distribution("uniform_sphere", 2)
    r, w = dist.radius_rule()
    assert r.tolist() == [1.0] and w.tolist() == [1.0]
    assert dist.c0() == 1.0 and dist.second_moment() == 1.0
    with pytest.raises(ValueError, match="point mass"):
        dist.radius_density(np.array([0.5]))


# ---------------------------------------------------------------------- radius rule

RULE_CASES = [GAUSS, *SPHERES[1:], *TS, *RADIALS]


@pytest.mark.parametrize("case", RULE_CASES, ids=_id)
def test_rule_reproduces_mass_c0_and_second_moment(case):
    dist = _make(case)
    r, w = dist.radius_rule()
    assert np.all(r >= 0) and np.all(w > 0)
    assert np.sum(w) == pytest.approx(1.0, rel=1e-12)
    assert np.sum(w * r) == pytest.approx(dist.c0(), rel=1e-12)
    m2 = dist.second_moment()
    if math.isfinite(m2):
        assert np.sum(w * r * r) == pytest.approx(m2, rel=1e-12)


@pytest.mark.parametrize("b", [0.01, 1.0, 30.0, 100.0])
@pytest.mark.parametrize("case", [GAUSS, SPHERES[1], SPHERES[2], SPHERES[3], *TS], ids=_id)
def test_rule_integrates_the_logistic_gradient_kernel(case, b):
    # E[r σ(−b r)]: the radial factor of the population gradient at ‖w‖ = b.
    kind, d, kw = case
    r, w = _make(case).radius_rule()
    ref = _mp_expect(kind, d, kw.get("df"), lambda x: x / (1 + mp.exp(b * x)), 1 / b)
    assert np.sum(w * r * expit(-b * r)) == pytest.approx(float(ref), rel=1e-11, abs=1e-300)


def test_rule_lengths_at_level_5():
    lengths = {
        _id(case): _make(case).radius_rule(5)[0].size for case in [GAUSS, *SPHERES, *TS, *RADIALS]
    }
    print("radius rule lengths at level 5:", lengths)
    assert lengths.pop("uniform_sphere-d2") == 1
    caps = {
        "gaussian": 150,
        "uniform_sphere-d3": 230,
        "uniform_sphere-d5": 200,
        "uniform_sphere-d10": 170,
        "student_t": 280,
        "radial": 280,
    }
    for name, n in lengths.items():
        cap = next(v for k, v in caps.items() if name.startswith(k))
        assert n <= cap, (name, n)


def test_rule_is_a_copy():
    dist = make_distribution("gaussian", 3)
    r, w = dist.radius_rule()
    w[:] = 0.0
    assert np.sum(dist.radius_rule()[1]) == pytest.approx(1.0, rel=1e-14)


# --------------------------------------------------------------------------- radial


@pytest.mark.parametrize("d", [2, 5])
def test_radial_chi_reproduces_the_gaussian(d):
    rad = make_distribution("radial", d, law="chi", args=(d,))
    gau = make_distribution("gaussian", d)
    assert rad.c0() == pytest.approx(gau.c0(), rel=1e-12)
    assert rad.second_moment() == pytest.approx(gau.second_moment(), rel=1e-12)
    (r1, w1), (r2, w2) = rad.radius_rule(), gau.radius_rule()
    for f in (lambda r: r, lambda r: r * r, lambda r: r * expit(-3.0 * r)):
        assert np.sum(w1 * f(r1)) == pytest.approx(np.sum(w2 * f(r2)), rel=1e-11)


def test_radial_folded_student_t_radius():
    # R = |T₃|: E R = 2√3/π and E R² = 3; on S² the sphere factor is π/4 and E ρ² = 2/3.
    d2 = make_distribution("radial", 2, law="t", args=(3,))
    d3 = make_distribution("radial", 3, law="t", args=(3,))
    assert d2.c0() == pytest.approx(2 * math.sqrt(3) / math.pi, rel=1e-12)
    assert d3.c0() == pytest.approx(math.sqrt(3) / 2, rel=1e-12)
    assert d2.second_moment() == pytest.approx(3.0, rel=1e-12)
    assert d3.second_moment() == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize("b", [0.01, 1.0, 30.0])
def test_radial_rule_logistic_kernel_against_nested_quad(b):
    # d = 3: ρ = sin φ with density sin φ on [0, π/2], so E f(r) = E_R ∫ sin φ f(R sin φ) dφ.
    r, w = make_distribution("radial", 3, law="t", args=(3,)).radius_rule()

    def inner(R: float) -> float:
        g = lambda p: math.sin(p) * R * math.sin(p) * expit(-b * R * math.sin(p))  # noqa: E731
        return integrate.quad(g, 0, math.pi / 2, epsabs=0, epsrel=1e-13, limit=200)[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        ref = sum(
            integrate.quad(
                lambda R: 2 * stats.t.pdf(R, 3) * inner(R), lo, hi, epsabs=0, epsrel=1e-12
            )[0]
            for lo, hi in [(0, 1 / b), (1 / b, 10 / b), (10 / b, np.inf)]
        )
    assert np.sum(w * r * expit(-b * r)) == pytest.approx(ref, rel=1e-11)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "laplace", "d": 3}, "kind"),
        ({"kind": "gaussian", "d": 1}, "d"),
        ({"kind": "gaussian", "d": 3, "df": 3.0}, "df"),
        ({"kind": "gaussian", "d": 3, "scale": 2.0}, "scale"),
        ({"kind": "student_t", "d": 3}, "df"),
        ({"kind": "student_t", "d": 3, "df": 1.0}, "df must be > 1 for c0 to exist"),
        ({"kind": "radial", "d": 3}, "law"),
        ({"kind": "radial", "d": 3, "law": "no_such_law"}, "law"),
        ({"kind": "radial", "d": 3, "law": "rv_continuous"}, "law"),
        ({"kind": "radial", "d": 3, "law": "chi"}, "args"),
        ({"kind": "radial", "d": 3, "law": "chi", "args": (3, 4)}, "args"),
        ({"kind": "radial", "d": 3, "law": "uniform", "args": (1,)}, "args"),
        ({"kind": "radial", "d": 3, "law": "chi", "args": (-1,)}, "args"),
        ({"kind": "radial", "d": 3, "law": "chi", "args": ("x",)}, "args"),
        ({"kind": "radial", "d": 3, "law": "chi", "args": (3,), "scale": -1.0}, "scale"),
        ({"kind": "radial", "d": 3, "law": "cauchy"}, "law"),
        ({"kind": "radial", "d": 3, "law": "t", "args": (1,)}, "law"),
        ({"kind": "radial", "d": 3, "law": "weibull_max", "args": (2,)}, "law"),
    ],
)
def test_bad_parameters_raise_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}") as info:
        make_distribution(**kwargs)
    assert "\n" not in str(info.value)


def test_heavy_tail_without_mean_says_so():
    with pytest.raises(ValueError, match="no finite mean"):
        make_distribution("radial", 3, law="cauchy")
