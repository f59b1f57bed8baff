"""Problem families as declared plug-ins (see overparam.problems.protocol for the protocol and
overparam.problems.registry for the one kind → code map); one module per family."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from overparam.problems.protocol import Family
    from overparam.spec.setting import Setting


def family(setting: Setting) -> Family:
    """The family that runs this setting's problem kind."""
    from overparam.problems import registry

    return registry.get(setting.problem.kind)


def check_memory(settings: Sequence[Setting], seeds: int, base_dir: Path) -> None:
    """Refuse settings whose arrays need more memory than there is (see overparam.resources)."""
    from overparam.resources import check_memory as check

    check(settings, seeds, base_dir)
