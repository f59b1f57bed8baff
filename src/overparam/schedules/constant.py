"""Constant step η_t = η0 (Theorem 3.2 with η_t = η0; bound eq 17)."""

from __future__ import annotations

import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import Schedule


def constant() -> Schedule:
    return Schedule(
        init=lambda consts: (),
        step=lambda state, ctx: (ctx.consts["eta0"], jnp.ones((), jnp.int32), state),
    )
