"""Backtracking line search (paper A Algorithm 1), counting loss evaluations.

The printed test L(W − η∇L) ≤ L − γ‖∇L‖² lacks η (docs/errata.md A3); the default is
Armijo's L(W − η∇L) ≤ L − γη‖∇L‖², the printed one is ``variant="printed"``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)
from overparam.schedules.base import Schedule


def backtracking(spec) -> Schedule:
    eta_bt, tau, gamma, variant, max_evals = (spec.eta_bt, spec.tau, spec.gamma, spec.variant,
                                              spec.max_evals)

    def step(state, ctx):
        def slope(eta):
            return gamma * ctx.grad_norm2 * (eta if variant == "armijo" else 1.0)

        def rejected(carry):
            eta, evals = carry
            new = ctx.loss_after(eta)
            bad = ~(new <= ctx.L - slope(eta))
            return bad & (evals < max_evals)

        def shrink(carry):
            eta, evals = carry
            return eta * tau, evals + 1

        eta, evals = jax.lax.while_loop(
            rejected, shrink, (jnp.asarray(eta_bt, jnp.float64), jnp.ones((), jnp.int32))
        )
        # evals counts trial points; the loop's last test evaluated the accepted one too.
        return eta, evals, state

    return Schedule(init=lambda consts: (), step=step)
