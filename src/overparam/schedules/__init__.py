"""Step-size schedules: one module each, built from a validated schedule spec."""

from __future__ import annotations

from overparam.schedules.backtracking import backtracking
from overparam.schedules.base import Schedule, StepContext
from overparam.schedules.constant import constant
from overparam.schedules.global_pl import global_pl
from overparam.schedules.local_pl import local_pl
from overparam.schedules.plain import plain_inverse_k


def build(spec) -> Schedule:
    """The Schedule for a validated schedule spec."""
    kind = spec.kind
    if kind == "constant":
        return constant()
    if kind == "local_pl":
        return local_pl()
    if kind == "global_pl":
        return global_pl()
    if kind == "xu2023":
        from overparam.schedules.xu2023 import xu2023

        return xu2023(spec.c1, spec.c2, spec.measured)
    if kind == "backtracking":
        return backtracking(spec.eta_bt, spec.tau, spec.gamma, spec.variant, spec.max_evals)
    if kind == "plain_inverse_k":
        return plain_inverse_k()
    raise ValueError(f"unknown schedule kind {kind}")


__all__ = ["Schedule", "StepContext", "build"]
