"""Problem families: each module builds instances, compiles a step, derives and checks.

A family module provides COLUMNS, build_instance(setting, seed, base_dir),
prepare(setting, instances) → (constants, carries, data, step, step_key),
failure(setting, constants) → reason or '', and
finalize(setting, instance, constants, steps, status) → (constants, extra record, checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from overparam.spec import Setting


def family(setting: Setting) -> ModuleType:
    """The module that runs this setting's problem kind."""
    kind = setting.problem.kind
    if kind == "two_layer_linear":
        from overparam.problems import two_layer_linear

        return two_layer_linear
    if kind == "deep_linear":
        from overparam.problems import deep_linear

        return deep_linear
    if kind == "linear_classifier":
        from overparam.problems import linear_classifier

        return linear_classifier
    if kind == "shallow":
        from overparam.problems import shallow

        return shallow
    raise ValueError(f"unknown problem kind {kind}")


def check_memory(settings: Sequence[Setting], seeds: int, base_dir: Path) -> None:
    """Refuse settings whose arrays need more memory than there is (see overparam.resources)."""
    from overparam.resources import check_memory as check

    check(settings, seeds, base_dir)
