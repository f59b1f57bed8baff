"""Eq 19 with h = ρ: η_t = min((1+η0^d)^{t/2} η0, 1/K_t), where 1/K_t solves η·K_t(η) = 1."""

from __future__ import annotations

import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import Schedule, growth_cap
from overparam.theory import local_pl as th


def local_pl() -> Schedule:
    def step(state, ctx):
        c = ctx.consts
        inv_k = th.local_step(c["K"], ctx.s2max_T, ctx.smax_W, ctx.L)
        eta = jnp.minimum(growth_cap(ctx.t, c["eta0"], c["d"]), inv_k)
        return eta, jnp.ones((), jnp.int32), state

    return Schedule(init=lambda consts: (), step=step)
