"""The radius laws of paper D's inputs and the double-exponential rules for E f(r).

Used by ``data.linear_classifier``: the 2-D marginal radius of the unit sphere, radial laws
R from ``scipy.stats`` and their marginal densities, and composite tanh-sinh / exp-sinh rules
whose weights are formed in logs and trimmed (``finish``).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.stats
from scipy import integrate
from scipy.special import gammaln

from overparam.numerics import quadrature

#: Nodes whose weight·(1 + r + r²) (weight·(1 + r) when E r² is infinite) is below this
#: fraction of the largest are dropped: the loss integrands grow at most linearly in r and
#: the rule should also give E r², so the dropped tail is negligible for them.
DROP = 1e-20
#: exp_sinh range in t: r from ~1e−51 to ~1e227 before dropping, wide enough for tails as
#: heavy as r^{−2.05} (Student-t with ν = 1.05) to be integrated against f(r) = r.
T_MIN, T_MAX = -5.0, 6.5
#: Inner rule (radial laws, d ≥ 3) in s = √(R − r); its integrand decays like s^{−2α−5}.
T_MAX_INNER = 5.0
#: tanh-sinh range in t: end gaps down to ~1e−61, so inverse-square-root end singularities
#: (the d = 3 sphere at ρ = 1) lose nothing to truncation (t ≤ 3.5 would cost ~1e−11).
T_MAX_FINITE = 4.5


# ---------------------------------------------------------------------------------------
# Unit sphere: the 2-D marginal radius ρ = ‖P₂u‖ of u uniform on S^{d−1}
# ---------------------------------------------------------------------------------------


def sphere_c0(d: int) -> float:
    """E‖P₂u‖ for u uniform on S^{d−1}: Γ(3/2)Γ(d/2)/Γ((d+1)/2) (1 for d = 2)."""
    return math.exp(gammaln(1.5) + gammaln(0.5 * d) - gammaln(0.5 * (d + 1)))


def sphere_logpdf(rho: np.ndarray, one_minus: np.ndarray, d: int) -> np.ndarray:
    """log of (d−2)ρ(1−ρ²)^{(d−4)/2} (d ≥ 3), with 1 − ρ given separately for precision."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = math.log(d - 2) + np.log(rho)
        if d != 4:  # log(1 − ρ²) = log((1 − ρ)(1 + ρ))
            out = out + (0.5 * (d - 4)) * (np.log(one_minus) + np.log1p(rho))
    return np.where((rho > 0) & (one_minus > 0), out, -np.inf)


# ---------------------------------------------------------------------------------------
# Radial laws: R from scipy.stats
# ---------------------------------------------------------------------------------------


class Law(NamedTuple):
    """A validated radius law: the frozen scipy law, whether it is folded (R = |X|), the
    points where the density of R may be non-analytic, and E R, E R²."""

    dist: object
    folded: bool
    breaks: tuple[float, ...]  # sorted; may end with inf
    mean: float
    second: float


def law_logpdf(law: Law, r: np.ndarray) -> np.ndarray:
    """log density of R at r ≥ 0: log p(r), or log(p(r) + p(−r)) for a folded law."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lp = law.dist.logpdf(r)
        if law.folded:
            lp = np.logaddexp(lp, law.dist.logpdf(-r))
    return np.where(np.isnan(lp), -np.inf, lp)


def quad_moment(law: Law, k: int) -> float:
    """E R^k = ∫ r^k p_R(r) dr by adaptive quadrature, split at the law's break points."""
    total = 0.0
    for a, b in zip(law.breaks[:-1], law.breaks[1:], strict=True):

        def f(r: float) -> float:
            return r**k * math.exp(float(law_logpdf(law, r)))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            val, _ = integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=400)
        total += val
    return total


@functools.lru_cache(maxsize=64)
def make_law(law: str, args: tuple[float, ...], scale: float) -> Law:
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
    law_ = Law(dist, folded, breaks, math.nan, math.nan)
    mean = quad_moment(law_, 1)
    second = quad_moment(law_, 2) if second_exists else math.inf
    if not (math.isfinite(mean) and mean > 0):
        raise ValueError(f"law {law!r} with args {args!r}: E R is not a finite positive number")
    return law_._replace(mean=mean, second=second)


def radial_logpdf(law: Law, d: int, r: float, level: int) -> float:
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
            s, w = finite_piece(level, a, b)
        else:
            s, w = tail_piece(level, a, math.sqrt(law.mean + r), T_MAX_INNER)
        with np.errstate(all="ignore"):
            R = r + s * s
            log_t = (
                law_logpdf(law, R)
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


def finite_piece(level: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """tanh-sinh nodes and weights on [a, b]; nodes come from the end gaps, so none near an
    end collapses onto it (densities with end-point singularities stay finite there)."""
    rule = quadrature.on_interval(quadrature.tanh_sinh(level, t_max=T_MAX_FINITE), a, b)
    return rule.x, rule.w


def tail_piece(
    level: int, a: float, scale: float, t_max: float = T_MAX
) -> tuple[np.ndarray, np.ndarray]:
    """exp-sinh nodes and weights on [a, ∞), centred on the length scale ``scale``."""
    rule = quadrature.exp_sinh(level, t_min=T_MIN, t_max=t_max)
    return a + scale * rule.x, scale * rule.w


def pieces(level: int, breaks: list[float], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Composite rule over consecutive break points (the last may be inf)."""
    xs, ws = [], []
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        x, w = finite_piece(level, a, b) if math.isfinite(b) else tail_piece(level, a, scale)
        xs.append(x)
        ws.append(w)
    return np.concatenate(xs), np.concatenate(ws)


def finish(
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
