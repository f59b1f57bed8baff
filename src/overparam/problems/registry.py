"""The one map from a problem kind to its code.

Built-in families are named here and imported on first use: the spec layer asks only for their
problem models (``overparam.spec.<kind>.PROBLEM``, light), a run for the whole family
(``overparam.problems.<kind>.FAMILY``, which imports JAX). ``register`` adds a family at run
time (a plug-in, or a test's own family) and makes its ``problem:`` valid in every spec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from overparam.problems.protocol import Family
    from overparam.spec.base import ProblemSpec

#: Built-in kinds; each has overparam.spec.<kind> and overparam.problems.<kind>.
BUILTIN = ("two_layer_linear", "deep_linear", "linear_classifier", "shallow", "jax_model")

_families: dict[str, Family] = {}
_specs: dict[str, ProblemSpec] = {}


def problem_specs() -> dict[str, ProblemSpec]:
    """Kind → ProblemSpec of every known family (built-in first, in a stable order)."""
    if not _specs:
        for kind in BUILTIN:
            _specs[kind] = importlib.import_module(f"overparam.spec.{kind}").PROBLEM
    return _specs


def kinds() -> list[str]:
    """Every registered problem kind."""
    return list(problem_specs())


def get(kind: str) -> Family:
    """The family that runs ``kind`` (imported on first use)."""
    if kind not in _families:
        if kind not in BUILTIN:
            raise ValueError(f"unknown problem kind {kind!r}; known: {', '.join(kinds())}")
        _families[kind] = importlib.import_module(f"overparam.problems.{kind}").FAMILY
    return _families[kind]


def install() -> None:
    """Make the spec models accept exactly the registered problems."""
    from overparam.spec.setting import install_problems

    install_problems([s.model for s in problem_specs().values()])


def register(family: Family) -> Family:
    """Add a family (its kind must be new) and accept its problem in specs."""
    specs = problem_specs()
    if family.kind in specs:
        raise ValueError(f"problem kind {family.kind!r} is registered already")
    specs[family.kind] = family.spec
    _families[family.kind] = family
    install()
    return family


def unregister(kind: str) -> None:
    """Remove a family added by ``register`` (built-in families stay)."""
    if kind in BUILTIN:
        raise ValueError(f"{kind} is built in")
    problem_specs().pop(kind, None)
    _families.pop(kind, None)
    install()
