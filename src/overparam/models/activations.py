"""Activation functions for shallow networks Φ(W, V) = V φ(W X), with closed-form φ', φ''.

The smoothness constants of the shallow-network analysis use φ'_max = sup|φ'| (in ν_Φ and
β_Φ) and φ''_max = sup|φ''| (in β_Φ), and its Assumption 2 asks for φ twice differentiable
with both bounded. Each activation carries its first two derivatives in closed form (cheap
inside a compiled loop, no autodiff), the points where they jump, and a one-line note on
which part of the assumption it meets; the two sups are computed numerically and cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import nn
from jax.scipy.special import ndtr
from scipy import optimize

from overparam import _jax  # noqa: F401  (float64)

ACTIVATIONS = ("gelu", "softplus", "sigmoid", "tanh", "elu", "relu")

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation with its closed-form derivatives.

    ``fn``, ``d1`` = φ' and ``d2`` = φ'' act elementwise on float64 arrays (jit-safe); at a
    kink they return the right-hand value. ``kinks`` lists where φ' or φ'' jumps;
    ``in_assumptions`` is False when φ' is not Lipschitz (φ''_max infinite).
    """

    name: str
    fn: Callable
    d1: Callable
    d2: Callable
    kinks: tuple[float, ...]
    in_assumptions: bool
    note: str


def _pdf(x):
    return _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)


# gelu: φ = xΦ(x), φ' = Φ(x) + xϕ(x), φ'' = (2 − x²)ϕ(x).
def _gelu(x):
    return x * ndtr(x)


def _gelu_d1(x):
    return ndtr(x) + x * _pdf(x)


def _gelu_d2(x):
    return (2.0 - x * x) * _pdf(x)


# softplus: φ = log(1 + eˣ), φ' = σ(x), φ'' = σ(x)σ(−x) (no cancellation in the tails).
def _softplus_d2(x):
    return nn.sigmoid(x) * nn.sigmoid(-x)


# sigmoid: φ' = σ(x)σ(−x), φ'' = σ(x)σ(−x)(σ(−x) − σ(x)).
def _sigmoid_d1(x):
    return nn.sigmoid(x) * nn.sigmoid(-x)


def _sigmoid_d2(x):
    p, q = nn.sigmoid(x), nn.sigmoid(-x)
    return p * q * (q - p)


# tanh: φ' = sech²x, φ'' = −2 tanh(x) sech²x (cosh overflow gives 0, the right limit).
def _tanh_d1(x):
    return 1.0 / jnp.cosh(x) ** 2


def _tanh_d2(x):
    return -2.0 * jnp.tanh(x) / jnp.cosh(x) ** 2


# elu (α = 1): φ = x (x > 0), eˣ − 1 (x ≤ 0); φ' = 1 | eˣ, φ'' = 0 | eˣ (right-hand at 0).
def _elu(x):
    return jnp.where(x > 0, x, jnp.expm1(jnp.minimum(x, 0.0)))


def _elu_d1(x):
    return jnp.where(x >= 0, 1.0, jnp.exp(jnp.minimum(x, 0.0)))


def _elu_d2(x):
    return jnp.where(x >= 0, 0.0, jnp.exp(jnp.minimum(x, 0.0)))


def _relu(x):
    return jnp.maximum(x, 0.0)


def _relu_d1(x):
    return jnp.where(x >= 0, 1.0, 0.0)


def _relu_d2(x):
    return jnp.zeros_like(x)


_REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "gelu",
            _gelu,
            _gelu_d1,
            _gelu_d2,
            (),
            True,
            "smooth, φ' and φ'' bounded: meets Assumption 2",
        ),
        Activation(
            "softplus",
            nn.softplus,
            nn.sigmoid,
            _softplus_d2,
            (),
            True,
            "smooth, φ' and φ'' bounded; φ(0) = log 2 ≠ 0",
        ),
        Activation(
            "sigmoid",
            nn.sigmoid,
            _sigmoid_d1,
            _sigmoid_d2,
            (),
            True,
            "smooth, φ' and φ'' bounded; φ(0) = 1/2 ≠ 0",
        ),
        Activation(
            "tanh",
            jnp.tanh,
            _tanh_d1,
            _tanh_d2,
            (),
            True,
            "smooth, odd, φ' and φ'' bounded: meets Assumption 2",
        ),
        Activation(
            "elu",
            _elu,
            _elu_d1,
            _elu_d2,
            (0.0,),
            True,
            "φ'' jumps at 0 (not twice differentiable) but φ' is 1-Lipschitz, "
            "which is all the β_Φ bound uses",
        ),
        Activation(
            "relu",
            _relu,
            _relu_d1,
            _relu_d2,
            (0.0,),
            False,
            "φ' jumps at 0, no bounded φ'': outside the theorem (experiments only)",
        ),
    )
}


def _elu_family(alpha: float) -> tuple[Callable, Callable, Callable]:
    """ELU with parameter α: φ = x | α(eˣ − 1), φ' = 1 | αeˣ, φ'' = 0 | αeˣ (x > 0 | x ≤ 0,
    right-hand values at 0)."""

    def fn(x):
        return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))

    def d1(x):
        return jnp.where(x >= 0, 1.0, alpha * jnp.exp(jnp.minimum(x, 0.0)))

    def d2(x):
        return jnp.where(x >= 0, 0.0, alpha * jnp.exp(jnp.minimum(x, 0.0)))

    return fn, d1, d2


@functools.lru_cache(maxsize=16)
def elu(alpha: float) -> Activation:
    """ELU with parameter α > 0 (α = 1 is the registered ``elu``). For α ≠ 1, φ' jumps at 0
    (from α to 1): φ''max is infinite and the activation is outside Assumption 2. One object
    per α, so its compiled functions and sups are cached."""
    alpha = float(alpha)
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"elu needs alpha > 0, got {alpha}")
    if alpha == 1.0:
        return _REGISTRY["elu"]
    fn, d1, d2 = _elu_family(alpha)
    return Activation(f"elu(alpha={alpha:g})", fn, d1, d2, (0.0,), False,
                      f"φ' jumps at 0 (from α = {alpha:g} to 1): no bounded φ'', outside "
                      "Assumption 2 (experiments only)")


def from_spec(spec) -> Activation:
    """The activation of a spec's ``activation``: a name, or an object with ``kind`` and
    ``alpha`` (elu with α)."""
    if isinstance(spec, str):
        return get(spec)
    if spec.kind == "elu" and spec.alpha is not None:
        return elu(spec.alpha)
    return get(spec.kind)


def get(name: str) -> Activation:
    """The activation called ``name``; ValueError naming the allowed ones otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}"
        ) from None


def resolve(act: Activation | str) -> Activation:
    """An Activation from itself or its name."""
    return act if isinstance(act, Activation) else get(act)


@functools.lru_cache(maxsize=64)
def _compiled(f: Callable) -> Callable:
    return jax.jit(f)


def _np(f: Callable, x) -> np.ndarray:
    return np.asarray(_compiled(f)(jnp.asarray(x, dtype=jnp.float64)), dtype=np.float64)


# One-sided offset at a kink: tiny but not subnormal (XLA on CPU flushes subnormals to zero).
_SIDE = 1e-15


def _left(k: float) -> float:
    return k - _SIDE * max(1.0, abs(k))


def _sup_abs(f: Callable, kinks: tuple[float, ...], lim: float = 40.0) -> float:
    """sup over R of |f|: dense grid on [−lim, lim] (where every sup of these activations is
    attained or approached to within float64 rounding), one-sided values at the kinks, then a
    bounded Brent refinement around the best grid point."""
    grid = np.linspace(-lim, lim, 160_001)
    side = [_left(k) for k in kinks] + [k + _SIDE * max(1.0, abs(k)) for k in kinks]
    x = np.concatenate([grid, np.asarray(kinks, float), np.asarray(side, float)])
    v = np.abs(_np(f, x))
    best = float(np.max(v))
    i = int(np.argmax(v[: grid.size]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(
        lambda t: -abs(float(_np(f, t))),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return max(best, -float(res.fun))


def _jumps(f: Callable, kinks: tuple[float, ...], tol: float = 1e-12) -> bool:
    """Whether f has a jump at one of the kinks (right-hand vs left-hand value)."""
    for k in kinks:
        right, left = _np(f, [k, _left(k)])
        if abs(right - left) > tol:
            return True
    return False


@functools.lru_cache(maxsize=64)
def _cached(name: str, which: str) -> float:
    return _compute(_REGISTRY[name], which)


def _compute(act: Activation, which: str) -> float:
    if which == "d1":
        return _sup_abs(act.d1, act.kinks)
    if _jumps(act.d1, act.kinks):  # φ' jumps: φ'' contains a Dirac mass
        return math.inf
    return _sup_abs(act.d2, act.kinks)


@functools.lru_cache(maxsize=64)
def _cached_object(act: Activation, which: str) -> float:
    return _compute(act, which)


def _sup(act: Activation | str, which: str) -> float:
    a = resolve(act)
    if _REGISTRY.get(a.name) is a:
        return _cached(a.name, which)
    return _cached_object(a, which)


def dphi_max(act: Activation | str) -> float:
    """φ'_max = sup over R of |φ'|, computed numerically (cached per activation)."""
    return _sup(act, "d1")


def ddphi_max(act: Activation | str) -> float:
    """φ''_max = sup over R of |φ''| (one-sided at kinks), computed numerically and cached;
    inf when φ' jumps (relu)."""
    return _sup(act, "d2")
