"""Eq 19 with h = ρ̄: η_t = min((1+η0^d)^{t/2} η0, 1/K̄_t), K̄_t of Theorem 3.2."""

from __future__ import annotations

import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import Schedule, growth_cap
from overparam.theory import local_pl as th


def global_pl() -> Schedule:
    def step(state, ctx):
        c = ctx.consts
        kbar = th.K_bar(ctx.t, c["eta0"], c["K"], c["L0"], c["alpha2"], c["beta2"],
                        c["rho_bar0"], c["Delta_tilde"], c["c"])
        eta = jnp.minimum(growth_cap(ctx.t, c["eta0"], c["d"]), 1.0 / kbar)
        return eta, jnp.ones((), jnp.int32), state

    return Schedule(init=lambda consts: (), step=step)
