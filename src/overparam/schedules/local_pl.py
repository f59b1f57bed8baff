"""Eq 19 with h = ρ: η_t = min((1+η0^d)^{t/2} η0, 1/K_t), where 1/K_t solves η·K_t(η) = 1."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import ONE_EVAL, Schedule, growth_cap, initial_eta
from overparam.theory import local_pl as th


def local_pl(spec) -> Schedule:
    def init(consts):
        return np.float64(initial_eta(spec.eta0, consts))  # host state: the engine stacks seeds

    def step(eta0, ctx):
        inv_k = th.local_step(ctx.consts["K"], ctx.s2max_T, ctx.smax_W, ctx.L)
        return jnp.minimum(growth_cap(ctx.t, eta0, spec.d), inv_k), ONE_EVAL, eta0

    return Schedule(init=init, step=step)
