"""Constant step η_t = η0 (paper A Thm 3.2 with η_t = η0, bound eq 17; papers B, C, D)."""

from __future__ import annotations

import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import ONE_EVAL, Schedule, initial_eta


def constant(spec) -> Schedule:
    def init(consts):
        # a named step is the family's resolved value, scale included; a number is scaled here
        eta = initial_eta(spec.eta, consts)
        return np.float64(eta if isinstance(spec.eta, str) else spec.scale * eta)  # host state

    return Schedule(init=init, step=lambda eta, ctx: (eta, ONE_EVAL, eta))
