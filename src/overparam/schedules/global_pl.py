"""Eq 19 with h = ρ̄: η_t = min((1+η0^d)^{t/2} η0, 1/K̄_t), K̄_t of Theorem 3.2."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import ONE_EVAL, Schedule, growth_cap, initial_eta
from overparam.theory import local_pl as th


def global_pl(spec) -> Schedule:
    def init(consts):
        return np.float64(initial_eta(spec.eta0, consts))  # host state: the engine stacks seeds

    def step(eta0, ctx):
        c = ctx.consts
        kbar = th.K_bar(ctx.t, eta0, c["K"], c["L0"], c["alpha2"], c["beta2"], c["rho_bar0"],
                        c["Delta_tilde"], spec.c)
        return jnp.minimum(growth_cap(ctx.t, eta0, spec.d), 1.0 / kbar), ONE_EVAL, eta0

    return Schedule(init=init, step=step)
