"""Spherically symmetric input laws for the population logistic loss (paper D).

The population loss and its gradient see x only through its projection onto the plane
span(w, v). For a spherically symmetric x that 2-D marginal has a uniform angle and an
independent radius r = ‖P₂x‖, so each law here provides: c0 = E r (the constant of
Lemma 2 and of every convergence bound), samplers for finite-sample and SGD runs, the
density of r, and a short quadrature rule for E f(r) built from the double-exponential
rules, accurate to ~1e−13 for the smooth integrands of the loss.

Laws: ``gaussian`` (N(0, I_d)), ``uniform_sphere`` (uniform on S^{d−1}), ``student_t``
(multivariate t with ν = df) and ``radial`` (x = R·u, u uniform on S^{d−1}, R from a
``scipy.stats`` law, folded to |R| when that law takes negative values).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from scipy import integrate
from scipy.special import gammaln

from overparam import _jax  # noqa: F401  (float64)
from overparam.numerics import quadrature

KINDS = ("gaussian", "uniform_sphere", "student_t", "radial")

#: Nodes whose weight·(1 + r + r²) (weight·(1 + r) when E r² is infinite) is below this
#: fraction of the largest are dropped: the loss integrands grow at most linearly in r and
#: the rule should also give E r², so the dropped tail is negligible for them.
DROP = 1e-20
#: exp_sinh range in t: r from ~1e−51 to ~1e227 before dropping, wide enough for tails as
#: heavy as r^{−2.05} (Student-t with ν = 1.05) to be integrated against f(r) = r.
_T_MIN, _T_MAX = -5.0, 6.5
#: Inner rule (radial laws, d ≥ 3) in s = √(R − r); its integrand decays like s^{−2α−5}.
_T_MAX_INNER = 5.0
#: tanh-sinh range in t: end gaps down to ~1e−61, so inverse-square-root end singularities
#: (the d = 3 sphere at ρ = 1) lose nothing to truncation (t ≤ 3.5 would cost ~1e−11).
_T_MAX_FINITE = 4.5


# ---------------------------------------------------------------------------------------
# Unit sphere: the 2-D marginal radius ρ = ‖P₂u‖ of u uniform on S^{d−1}
# ---------------------------------------------------------------------------------------


def sphere_c0(d: int) -> float:
    """E‖P₂u‖ for u uniform on S^{d−1}: Γ(3/2)Γ(d/2)/Γ((d+1)/2) (1 for d = 2)."""
    return math.exp(gammaln(1.5) + gammaln(0.5 * d) - gammaln(0.5 * (d + 1)))


def _sphere_logpdf(rho: np.ndarray, one_minus: np.ndarray, d: int) -> np.ndarray:
    """log of (d−2)ρ(1−ρ²)^{(d−4)/2} (d ≥ 3), with 1 − ρ given separately for precision."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = math.log(d - 2) + np.log(rho)
        if d != 4:  # log(1 − ρ²) = log((1 − ρ)(1 + ρ))
            out = out + (0.5 * (d - 4)) * (np.log(one_minus) + np.log1p(rho))
    return np.where((rho > 0) & (one_minus > 0), out, -np.inf)


# ---------------------------------------------------------------------------------------
# Radial laws: R from scipy.stats
# ---------------------------------------------------------------------------------------


class _Law(NamedTuple):
    """A validated radius law: the frozen scipy law, whether it is folded (R = |X|), the
    points where the density of R may be non-analytic, and E R, E R²."""

    dist: object
    folded: bool
    breaks: tuple[float, ...]  # sorted; may end with inf
    mean: float
    second: float


def _law_logpdf(law: _Law, r: np.ndarray) -> np.ndarray:
    """log density of R at r ≥ 0: log p(r), or log(p(r) + p(−r)) for a folded law."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lp = law.dist.logpdf(r)
        if law.folded:
            lp = np.logaddexp(lp, law.dist.logpdf(-r))
    return np.where(np.isnan(lp), -np.inf, lp)


def _quad_moment(law: _Law, k: int) -> float:
    """E R^k = ∫ r^k p_R(r) dr by adaptive quadrature, split at the law's break points."""
    total = 0.0
    for a, b in zip(law.breaks[:-1], law.breaks[1:], strict=True):

        def f(r: float) -> float:
            return r**k * math.exp(float(_law_logpdf(law, r)))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            val, _ = integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=400)
        total += val
    return total


@functools.lru_cache(maxsize=64)
def _make_law(law: str, args: tuple[float, ...], scale: float) -> _Law:
    """Freeze and validate ``scipy.stats.<law>(*args, scale=scale)`` as a radius law."""
    obj = getattr(scipy.stats, law, None) if isinstance(law, str) else None
    if not isinstance(obj, scipy.stats.rv_continuous):
        raise ValueError(f"law must name a continuous scipy.stats distribution, got {law!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if len(args) != obj.numargs:
        raise ValueError(
            f"args must hold the {obj.numargs} shape parameter(s) of law {law!r}"
            f" ({obj.shapes or 'none'}), got {args!r}"
        )
    try:
        dist = obj(*args, scale=scale)
        lo, hi = (float(v) for v in dist.support())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"args {args!r} do not fit law {law!r}: {exc}") from None
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"args {args!r} are outside the parameter range of law {law!r}")
    if hi <= 0:
        raise ValueError(f"law {law!r} has no positive values, so it cannot give a radius")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        mean_exists = bool(np.isfinite(dist.mean()))
        second_exists = bool(np.isfinite(dist.moment(2)))
    if not mean_exists:
        raise ValueError(
            f"law {law!r} with args {args!r} has no finite mean, so c0 = E‖P₂x‖ does not exist"
        )
    folded = lo < 0
    ends = {0.0, min(-lo, hi), max(-lo, hi)} if folded else {lo, hi}
    breaks = tuple(sorted(ends))
    law_ = _Law(dist, folded, breaks, math.nan, math.nan)
    mean = _quad_moment(law_, 1)
    second = _quad_moment(law_, 2) if second_exists else math.inf
    if not (math.isfinite(mean) and mean > 0):
        raise ValueError(f"law {law!r} with args {args!r}: E R is not a finite positive number")
    return law_._replace(mean=mean, second=second)


def _radial_logpdf(law: _Law, d: int, r: float, level: int) -> float:
    """log density of r = ‖P₂x‖ for x = R·u in R^d, d ≥ 3, at one r > 0.

    p_r(r) = ∫_{R>r} p_R(R) p_ρ(r/R)/R dR. With R = r + s² the (R − r)^{(d−4)/2} factor
    (singular for d = 3) becomes s^{d−4}·2s ds, leaving
    p_r(r) = 2(d−2) r ∫ p_R(R) R^{2−d} (R + r)^{(d−4)/2} s^{d−3} ds, smooth in s;
    it is split where p_R may be non-analytic and integrated by DE rules in logs.
    """
    cuts = [b for b in law.breaks if b > r]
    if not cuts:
        return -np.inf
    s_breaks = [0.0] + [math.sqrt(b - r) if math.isfinite(b) else math.inf for b in cuts]
    total = 0.0
    for a, b in zip(s_breaks[:-1], s_breaks[1:], strict=True):
        if math.isfinite(b):
            s, w = _finite_piece(level, a, b)
        else:
            s, w = _tail_piece(level, a, math.sqrt(law.mean + r), _T_MAX_INNER)
        with np.errstate(all="ignore"):
            R = r + s * s
            log_t = (
                _law_logpdf(law, R)
                + (2 - d) * np.log(R)
                + (0.5 * (d - 4)) * np.log(R + r)
                + ((d - 3) * np.log(s) if d > 3 else 0.0)
                + np.log(w)
            )
            terms = np.where(np.isfinite(log_t), np.exp(log_t), 0.0)
        total += float(np.sum(terms))
    if total <= 0:
        return -np.inf
    return math.log(2.0 * (d - 2) * r) + math.log(total)


# ---------------------------------------------------------------------------------------
# Double-exponential pieces
# ---------------------------------------------------------------------------------------


def _finite_piece(level: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """tanh-sinh nodes and weights on [a, b]; nodes come from the end gaps, so none near an
    end collapses onto it (densities with end-point singularities stay finite there)."""
    rule = quadrature.on_interval(quadrature.tanh_sinh(level, t_max=_T_MAX_FINITE), a, b)
    return rule.x, rule.w


def _tail_piece(
    level: int, a: float, scale: float, t_max: float = _T_MAX
) -> tuple[np.ndarray, np.ndarray]:
    """exp-sinh nodes and weights on [a, ∞), centred on the length scale ``scale``."""
    rule = quadrature.exp_sinh(level, t_min=_T_MIN, t_max=t_max)
    return a + scale * rule.x, scale * rule.w


def _pieces(level: int, breaks: list[float], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Composite rule over consecutive break points (the last may be inf)."""
    xs, ws = [], []
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        x, w = _finite_piece(level, a, b) if math.isfinite(b) else _tail_piece(level, a, scale)
        xs.append(x)
        ws.append(w)
    return np.concatenate(xs), np.concatenate(ws)


def _finish(
    x: np.ndarray, quad_w: np.ndarray, logpdf: np.ndarray, second_finite: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weights quad_w·density (formed in logs, so far-tail nodes neither overflow nor
    underflow), then drop nodes whose weight·(1 + r + r²) is below DROP × the largest
    (weight·(1 + r) when E r² is infinite: then only E r and the loss must converge)."""
    with np.errstate(divide="ignore"):
        logw = np.log(quad_w) + logpdf
    w = np.where(np.isfinite(logw), np.exp(np.where(np.isfinite(logw), logw, 0.0)), 0.0)
    wx = w * x
    size = w + wx + wx * x if second_finite else w + wx
    keep = (w > 0) & (size >= DROP * np.max(size))
    order = np.argsort(x[keep])
    return x[keep][order], w[keep][order]


# ---------------------------------------------------------------------------------------
# The public law
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spherical:
    """A spherically symmetric law of x ∈ R^d, described through its 2-D marginal radius.

    Build it with :func:`make_distribution`, which validates the parameters. ``df`` is the
    Student-t ν; ``law``, ``args`` and ``scale`` define the radius R of a ``radial`` law.
    """

    kind: str
    d: int
    df: float | None = None
    law: str | None = None
    args: tuple[float, ...] = ()
    scale: float = 1.0

    def __post_init__(self) -> None:
        _validate(self)

    # -- moments ---------------------------------------------------------------------

    def c0(self) -> float:
        """E‖P₂x‖, the constant c0 of paper D's Lemma 2 and bounds."""
        if self.kind == "gaussian":
            return math.sqrt(0.5 * math.pi)
        if self.kind == "uniform_sphere":
            return sphere_c0(self.d)
        if self.kind == "student_t":
            return student_t_c0(self.df)
        return self._law().mean * sphere_c0(self.d)

    def second_moment(self) -> float:
        """E‖P₂x‖² (inf when it does not exist): E‖x‖²·2/d by symmetry."""
        if self.kind == "gaussian":
            return 2.0
        if self.kind == "uniform_sphere":
            return 2.0 / self.d
        if self.kind == "student_t":
            return 2.0 * self.df / (self.df - 2.0) if self.df > 2 else math.inf
        return self._law().second * 2.0 / self.d

    # -- samplers --------------------------------------------------------------------

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n independent draws, shape (n, d), float64 (for finite-sample and SGD runs)."""
        if self.kind == "gaussian":
            return rng.standard_normal((n, self.d))
        if self.kind == "uniform_sphere":
            return _unit(rng.standard_normal((n, self.d)))
        if self.kind == "student_t":
            z = rng.standard_normal((n, self.d))
            g = rng.chisquare(self.df, n)
            return z / np.sqrt(g / self.df)[:, None]
        law = self._law()
        u = _unit(rng.standard_normal((n, self.d)))
        R = np.asarray(law.dist.rvs(size=n, random_state=rng), dtype=np.float64)
        return np.abs(R)[:, None] * u if law.folded else R[:, None] * u

    def jax_sample(self, key: jax.Array, n: int) -> jax.Array:
        """n draws, shape (n, d), with jax.random (usable inside compiled loops).

        Radial laws have none: scipy's samplers do not run under JAX.
        """
        if self.kind == "radial":
            raise ValueError("radial laws have no exact JAX sampler; use a finite sample")
        if self.kind == "student_t":
            kz, kg = jax.random.split(key)
            z = jax.random.normal(kz, (n, self.d), dtype=jnp.float64)
            g = 2.0 * jax.random.gamma(kg, 0.5 * self.df, (n,), dtype=jnp.float64)
            return z / jnp.sqrt(g / self.df)[:, None]
        z = jax.random.normal(key, (n, self.d), dtype=jnp.float64)
        if self.kind == "gaussian":
            return z
        return z / jnp.linalg.norm(z, axis=1, keepdims=True)

    # -- the radius law --------------------------------------------------------------

    def radius_density(self, r: np.ndarray) -> np.ndarray:
        """Density of r = ‖P₂x‖ at each r (0 off the support).

        Not defined for the d = 2 sphere, where r ≡ 1 is a point mass.
        """
        r = np.asarray(r, dtype=np.float64)
        if self.kind == "uniform_sphere" and self.d == 2:
            raise ValueError("uniform_sphere with d = 2 has r ≡ 1: a point mass, no density")
        flat = r.ravel()
        pos = np.where(flat > 0, flat, 1.0)
        lp = np.where(flat > 0, self._logpdf(pos, None), -np.inf)
        return np.exp(lp).reshape(r.shape)

    def radius_rule(self, level: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Nodes r_i ≥ 0 and weights w_i > 0 with Σ w_i f(r_i) ≈ E f(r).

        Accurate to ~1e−13 relative for f analytic on the support and growing at most
        linearly (e.g. r·σ(−b r), softplus(−b r)), and for f = r² where E r² is finite.
        Step 2^−level; the d = 2 sphere gives ([1], [1]). A radial law whose density is
        singular at a finite end other than 0 (e.g. ``arcsine`` at 1) is limited to ~1e−8:
        scipy evaluates its density at doubles, which cannot get closer to that end.
        """
        x, w = _cached_rule(self, int(level))
        return x.copy(), w.copy()

    # -- internals -------------------------------------------------------------------

    def _law(self) -> _Law:
        return _make_law(self.law, self.args, float(self.scale))

    def _logpdf(self, r: np.ndarray, one_minus: np.ndarray | None, level: int = 5) -> np.ndarray:
        """log density of r > 0; for the sphere ``one_minus`` = 1 − r (exact) if known."""
        if self.kind == "gaussian":
            with np.errstate(over="ignore"):
                return np.log(r) - 0.5 * r * r
        if self.kind == "uniform_sphere":
            return _sphere_logpdf(r, 1.0 - r if one_minus is None else one_minus, self.d)
        if self.kind == "student_t":
            nu = self.df
            # log(1 + r²/ν) without overflow for huge r
            return np.log(r) - (0.5 * nu + 1.0) * np.logaddexp(0.0, 2.0 * np.log(r) - math.log(nu))
        law = self._law()
        if self.d == 2:
            return _law_logpdf(law, r)
        return np.array([_radial_logpdf(law, self.d, float(ri), max(level, 5)) for ri in r])


def _unit(z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (a normalized Gaussian is uniform on the sphere)."""
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def student_t_c0(nu: float) -> float:
    """E‖P₂x‖ for the multivariate t with ν > 1 degrees of freedom.

    x = z/√(g/ν) with g ~ χ²_ν independent of z, so E r = E‖P₂z‖·√ν·E g^{−1/2}
    = √(π/2)·√ν·Γ((ν−1)/2)/(√2 Γ(ν/2)) = (√(πν)/2)·Γ((ν−1)/2)/Γ(ν/2).
    """
    return 0.5 * math.sqrt(math.pi * nu) * math.exp(gammaln(0.5 * (nu - 1)) - gammaln(0.5 * nu))


@functools.lru_cache(maxsize=64)
def _cached_rule(dist: Spherical, level: int) -> tuple[np.ndarray, np.ndarray]:
    """The radius rule, computed once per law and level."""
    second_finite = math.isfinite(dist.second_moment())
    if dist.kind == "uniform_sphere":
        if dist.d == 2:
            return np.array([1.0]), np.array([1.0])
        rule = quadrature.on_interval(quadrature.tanh_sinh(level, t_max=_T_MAX_FINITE), 0.0, 1.0)
        one_minus = np.where(rule.x >= 0.5, rule.gap, 1.0 - rule.x)
        return _finish(rule.x, rule.w, dist._logpdf(rule.x, one_minus), second_finite)
    if dist.kind in ("gaussian", "student_t"):
        x, qw = _tail_piece(level, 0.0, 1.0)
        return _finish(x, qw, dist._logpdf(x, None), second_finite)
    law = dist._law()
    breaks = sorted({0.0, *law.breaks}) if dist.d > 2 else list(law.breaks)
    x, qw = _pieces(level, breaks, law.mean * sphere_c0(dist.d))
    return _finish(x, qw, dist._logpdf(x, None, level), second_finite)


def _validate(dist: Spherical) -> None:
    """One-line ValueErrors naming the offending parameter."""
    if dist.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {dist.kind!r}")
    if isinstance(dist.d, bool) or not isinstance(dist.d, int | np.integer) or dist.d < 2:
        raise ValueError(
            f"d must be an integer >= 2 (the 2-D marginal needs d >= 2), got {dist.d!r}"
        )
    if dist.kind == "student_t":
        if dist.df is None:
            raise ValueError("df is required for kind='student_t'")
        if not (math.isfinite(dist.df) and dist.df > 1):
            raise ValueError(f"df must be > 1 for c0 to exist, got {dist.df!r}")
    elif dist.df is not None:
        raise ValueError(f"df applies only to kind='student_t', got df={dist.df!r}")
    if not isinstance(dist.args, tuple):
        raise ValueError(f"args must be a tuple of numbers, got {dist.args!r}")
    if dist.kind == "radial":
        if dist.law is None:
            raise ValueError("law is required for kind='radial' (a scipy.stats name, e.g. 'chi')")
        _make_law(dist.law, dist.args, float(dist.scale))
        return
    if dist.law is not None or dist.args != ():
        raise ValueError(f"law and args apply only to kind='radial', got law={dist.law!r}")
    if dist.scale != 1.0:
        raise ValueError(f"scale applies only to kind='radial', got scale={dist.scale!r}")


def make_distribution(
    kind: str,
    d: int,
    *,
    df: float | None = None,
    law: str | None = None,
    args: tuple[float, ...] = (),
    scale: float = 1.0,
) -> Spherical:
    """A validated :class:`Spherical`; a bad parameter raises a ValueError naming it."""
    try:
        if isinstance(args, str | bytes):
            raise TypeError
        args = tuple(float(a) for a in args)
    except (TypeError, ValueError):
        raise ValueError(f"args must be a tuple of numbers, got {args!r}") from None
    return Spherical(
        kind=kind,
        d=int(d) if isinstance(d, np.integer) else d,
        df=None if df is None else float(df),
        law=law,
        args=args,
        scale=float(scale),
    )
