"""Step-size schedules: one module each; ``build`` makes one from its validated spec.

Which family accepts which schedule is the family's rule (its ``spec.<kind>.fit``); every
family that steps with a schedule calls it through the same :class:`Schedule` interface.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from overparam.schedules.base import Schedule, StepContext, growth_cap

#: schedule kind -> (module, factory); the factory takes the validated schedule spec.
FACTORIES: dict[str, tuple[str, str]] = {
    "constant": ("constant", "constant"),
    "power": ("power", "power"),
    "local_pl": ("local_pl", "local_pl"),
    "global_pl": ("global_pl", "global_pl"),
    "xu2023": ("xu2023", "xu2023"),
    "backtracking": ("backtracking", "backtracking"),
    "plain_inverse_k": ("plain", "plain_inverse_k"),
}


def build(spec) -> Schedule:
    """The Schedule for a validated schedule spec."""
    try:
        module, name = FACTORIES[spec.kind]
    except KeyError:
        raise ValueError(f"unknown schedule kind {spec.kind}") from None
    factory: Callable = getattr(import_module(f"overparam.schedules.{module}"), name)
    return factory(spec)


__all__ = ["FACTORIES", "Schedule", "StepContext", "build", "growth_cap"]
