"""Plain GD on Problem 1 with η = 1/K (paper A eq 2 and App. G.2)."""

from __future__ import annotations

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import ONE_EVAL, Schedule


def plain_inverse_k(spec) -> Schedule:
    return Schedule(init=lambda consts: (),
                    step=lambda state, ctx: (1.0 / ctx.consts["K"], ONE_EVAL, state))
