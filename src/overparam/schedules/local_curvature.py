"""Eq 19's rule on a general model: η_t = min((1+η0^d)^{t/2} η0, 1/κ_t), with κ_t the
curvature along the gradient ⟨g, ∇²L g⟩/‖g‖² in place of paper A's closed-form K_t.

For a quadratic, 1/κ_t is the exact line minimizer along −g (the Cauchy step); where
κ_t ≤ 0 (a direction of negative curvature) only the growth cap bounds the step.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import ONE_EVAL, Schedule, growth_cap


def local_curvature(spec) -> Schedule:
    """The schedule of a ``local_pl`` spec on a model that reports ``curvature``."""
    def init(consts):
        return np.float64(spec.eta0)

    def step(eta0, ctx):
        kappa = ctx.consts["curvature"]
        cap = growth_cap(ctx.t, eta0, spec.d)
        local = jnp.where(kappa > 0, 1.0 / jnp.where(kappa > 0, kappa, 1.0), jnp.inf)
        return jnp.minimum(cap, local), ONE_EVAL, eta0

    return Schedule(init=init, step=step)
