"""η_k = max(eta0·(k + 1)^−power, eta_min): a decaying step bounded below (paper D, Thm 2)."""

from __future__ import annotations

import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import ONE_EVAL, Schedule


def power(spec) -> Schedule:
    def step(state, ctx):
        eta = jnp.maximum(spec.eta0 * (ctx.t + 1.0) ** (-spec.power), spec.eta_min)
        return eta, ONE_EVAL, state

    return Schedule(init=lambda consts: (), step=step)
