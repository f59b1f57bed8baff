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
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import gammaln

from overparam import _jax  # noqa: F401  (float64)
from overparam.data import radial_rules as rr
from overparam.data.radial_rules import sphere_c0
from overparam.numerics import quadrature

KINDS = ("gaussian", "uniform_sphere", "student_t", "radial")


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

    def _law(self) -> rr.Law:
        return rr.make_law(self.law, self.args, float(self.scale))

    def _logpdf(self, r: np.ndarray, one_minus: np.ndarray | None, level: int = 5) -> np.ndarray:
        """log density of r > 0; for the sphere ``one_minus`` = 1 − r (exact) if known."""
        if self.kind == "gaussian":
            with np.errstate(over="ignore"):
                return np.log(r) - 0.5 * r * r
        if self.kind == "uniform_sphere":
            return rr.sphere_logpdf(r, 1.0 - r if one_minus is None else one_minus, self.d)
        if self.kind == "student_t":
            nu = self.df
            # log(1 + r²/ν) without overflow for huge r
            return np.log(r) - (0.5 * nu + 1.0) * np.logaddexp(0.0, 2.0 * np.log(r) - math.log(nu))
        law = self._law()
        if self.d == 2:
            return rr.law_logpdf(law, r)
        return np.array([rr.radial_logpdf(law, self.d, float(ri), max(level, 5)) for ri in r])


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
        rule = quadrature.on_interval(quadrature.tanh_sinh(level, t_max=rr.T_MAX_FINITE), 0.0, 1.0)
        one_minus = np.where(rule.x >= 0.5, rule.gap, 1.0 - rule.x)
        return rr.finish(rule.x, rule.w, dist._logpdf(rule.x, one_minus), second_finite)
    if dist.kind in ("gaussian", "student_t"):
        x, qw = rr.tail_piece(level, 0.0, 1.0)
        return rr.finish(x, qw, dist._logpdf(x, None), second_finite)
    law = dist._law()
    breaks = sorted({0.0, *law.breaks}) if dist.d > 2 else list(law.breaks)
    x, qw = rr.pieces(level, breaks, law.mean * sphere_c0(dist.d))
    return rr.finish(x, qw, dist._logpdf(x, None, level), second_finite)


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
        rr.make_law(dist.law, dist.args, float(dist.scale))
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
