"""Xu et al. (2023) step: the largest η with Lemma C.1's cubic (eq 62) ≥ 0.

Uniform bounds c1·α1 ≤ σ²min(T_t), σ²max(T_t) ≤ c2·α2 stand in for the spectra (docs/errata.md
A7); ``measured=True`` uses the measured σ²(T_t) instead.
"""

from __future__ import annotations

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import ONE_EVAL, Schedule
from overparam.theory import local_pl as th


def xu2023(spec) -> Schedule:
    def step(state, ctx):
        c = ctx.consts
        a = ctx.gradl_norm * ctx.W_fro
        if spec.measured:
            eta = th.xu_step_measured(ctx.s2min_T, ctx.s2max_T, c["K"], a)
        else:
            eta = th.xu_step(spec.c1, spec.c2, c["alpha1"], c["alpha2"], c["K"], a)
        return eta, ONE_EVAL, state

    return Schedule(init=lambda consts: (), step=step)
