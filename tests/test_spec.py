"""Spec validation, overrides and sweeps."""

from __future__ import annotations

import pytest

from overparam.errors import SpecError
from overparam.spec import apply_overrides, expand, parse_set, validate_spec


def test_valid_spec_defaults(tiny):
    spec = validate_spec(tiny)
    assert spec.problem.width == 12
    assert spec.schedule.kind == "local_pl" and spec.schedule.c == 0.5 and spec.schedule.d == 1.01
    assert len(expand(spec)) == 1


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("problem", "width"), -5, "problem.width"),
        (("problem", "kind"), "three_layer", "problem"),
        (("problem", "colour"), "red", "problem.colour"),
        (("schedule", "kind"), "adam", "schedule"),
        (("schedule", "c"), 1.5, "schedule.c"),
        (("init", "std"), -1.0, "init.std"),
        (("seeds",), 0, "seeds"),
    ],
)
def test_bad_fields_are_named(tiny, path, value, field):
    cur = tiny
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    with pytest.raises(SpecError) as info:
        validate_spec(tiny)
    assert info.value.field == field, str(info.value)


def test_unknown_top_level_key(tiny):
    tiny["stepz"] = 3
    with pytest.raises(SpecError, match="stepz: unknown key"):
        validate_spec(tiny)


def test_list_override_on_scalar_becomes_sweep(tiny):
    raw = apply_overrides(tiny, [parse_set("problem.width=[10, 20, 30]"), parse_set("steps=7")])
    spec = validate_spec(raw)
    settings = expand(spec)
    assert [s.problem.width for s in settings] == [10, 20, 30]
    assert all(s.steps == 7 for s in settings)


def test_cartesian_product_order(tiny):
    tiny["sweep"] = {"problem.width": [10, 20], "schedule.kind": ["local_pl", "constant", "xu2023"]}
    settings = expand(validate_spec(tiny))
    assert len(settings) == 6
    assert [(s.problem.width, s.schedule.kind) for s in settings][:3] == [
        (10, "local_pl"),
        (10, "constant"),
        (10, "xu2023"),
    ]
    # changing a union's kind drops the old kind's keys instead of failing on them
    assert settings[2].schedule.c1 == 0.5


def test_list_on_list_field_is_set_not_swept(tiny):
    tiny["problem"]["data"] = {"kind": "inline", "X": [[1.0, 0.0], [0.0, 1.0]], "Y": [[1.0], [2.0]]}
    raw = apply_overrides(tiny, [("problem.data.Y", [[3.0], [4.0]])])
    settings = expand(validate_spec(raw))
    assert len(settings) == 1 and settings[0].problem.data.Y == [[3.0], [4.0]]


def test_bad_sweep_point_names_field(tiny):
    tiny["sweep"] = {"problem.width": [10, -1]}
    with pytest.raises(SpecError) as info:
        expand(validate_spec(tiny))
    assert info.value.field == "problem.width" and "sweep point" in str(info.value)


def test_parse_set_rejects_missing_equals():
    with pytest.raises(SpecError, match="--set"):
        parse_set("steps")


def test_constant_accepts_eta0_spelling(tiny):
    tiny["schedule"] = {"kind": "constant", "eta0": 0.002}
    assert expand(validate_spec(tiny))[0].schedule.eta == 0.002
