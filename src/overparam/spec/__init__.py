"""Experiment specs: pydantic models, YAML loading, dotted overrides and sweeps.

A spec is validated once here; everything downstream works on validated objects. A sweep
(``sweep: {dotted.path: [v1, v2]}``) expands into the Cartesian product of settings;
``--set KEY=[a,b]`` on a field that does not take a list adds a sweep.

The package's modules: ``base`` (the strict model base), ``data``, ``inits``, ``schedules``
(shared models), one file per problem family (its ``problem:`` model, defaults and
compatibility rules), ``setting`` (a setting, a spec, sweeps), ``messages`` (errors as one
line) and ``loading`` (YAML and ``--set``). The names below are the package's surface.
"""

from __future__ import annotations

from overparam.spec.base import MAX_SEEDS, MAX_STEPS, FieldError, ProblemSpec, Strict
from overparam.spec.data import Data, InlineData, NpyData, SyntheticData
from overparam.spec.deep_linear import DEEP_LOSSES, DeepLinear
from overparam.spec.inits import (
    BalancedInit,
    GaussianInit,
    Init,
    NpyInit,
    OmegaInit,
    OrthogonalInit,
    RankOneInit,
    ScaledInit,
)
from overparam.spec.linear_classifier import Distribution, LinearClassifier
from overparam.spec.loading import (
    apply_overrides,
    get_path,
    load_yaml,
    parse_set,
    safe_load,
    set_path,
)
from overparam.spec.messages import show_field, spec_error_from
from overparam.spec.schedules import (
    DEEP_ETAS,
    BacktrackingSchedule,
    ConstantSchedule,
    PlainSchedule,
    PLSchedule,
    PowerSchedule,
    Schedule,
    XuSchedule,
)
from overparam.spec.setting import (
    SETTING_KEYS,
    Setting,
    Spec,
    expand,
    flatten,
    setting_dict,
    validate_spec,
)
from overparam.spec.shallow import ACTIVATION_NAMES, DatasetData, Shallow, SphereData, TeacherSpec
from overparam.spec.two_layer_linear import TwoLayerLinear

__all__ = [
    "ACTIVATION_NAMES",
    "BacktrackingSchedule",
    "BalancedInit",
    "ConstantSchedule",
    "DEEP_ETAS",
    "DEEP_LOSSES",
    "Data",
    "DatasetData",
    "DeepLinear",
    "Distribution",
    "FieldError",
    "GaussianInit",
    "Init",
    "InlineData",
    "LinearClassifier",
    "MAX_SEEDS",
    "MAX_STEPS",
    "NpyData",
    "NpyInit",
    "OmegaInit",
    "OrthogonalInit",
    "PLSchedule",
    "PlainSchedule",
    "PowerSchedule",
    "ProblemSpec",
    "RankOneInit",
    "SETTING_KEYS",
    "ScaledInit",
    "Schedule",
    "Setting",
    "Shallow",
    "Spec",
    "SphereData",
    "Strict",
    "SyntheticData",
    "TeacherSpec",
    "TwoLayerLinear",
    "XuSchedule",
    "apply_overrides",
    "expand",
    "flatten",
    "get_path",
    "load_yaml",
    "parse_set",
    "safe_load",
    "set_path",
    "setting_dict",
    "show_field",
    "spec_error_from",
    "validate_spec",
]


def _install() -> None:
    from overparam.problems import registry

    registry.install()


_install()
