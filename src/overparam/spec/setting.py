"""A setting (one grid point) and a spec (a grid of them): validation, sweeps, cases."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, Union

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from overparam.errors import SpecError
from overparam.spec.base import MAX_SEEDS, MAX_STEPS, Strict
from overparam.spec.inits import GaussianInit, Init
from overparam.spec.loading import set_path
from overparam.spec.messages import show_field, spec_error_from
from overparam.spec.schedules import PLSchedule, Schedule


# ---------------------------------------------------------------- experiment
def _problem_spec(raw: Any) -> Any:
    """The registered ProblemSpec of a raw setting's ``problem.kind`` (None if it names none:
    the union's own error then lists the known kinds)."""
    from overparam.problems import registry

    prob = raw.get("problem") if isinstance(raw, dict) else None
    kind = prob.get("kind") if isinstance(prob, dict) else getattr(prob, "kind", None)
    return registry.problem_specs().get(kind) if isinstance(kind, str) else None


def _problem_defaults(raw: Any) -> Any:
    """The init and schedule a problem family uses when the spec names none."""
    spec = _problem_spec(raw)
    return {**spec.defaults, **raw} if spec is not None else raw


def _check_problem_fit(problem: Any, init: Any, schedule: Any) -> None:
    """Inits and schedules that a problem does not support are errors, not silent no-ops:
    each family's own rules decide."""
    from overparam.problems import registry

    registry.problem_specs()[problem.kind].fit(problem, init, schedule)


class Setting(Strict):
    """One point of an experiment grid: everything a run needs except the seed."""

    problem: Any  # the registered families' problem models (see install_problems)
    init: Init = GaussianInit(kind="gaussian", std=1.0)
    schedule: Schedule = PLSchedule(kind="local_pl")
    steps: PositiveInt = Field(200, le=MAX_STEPS)
    chunk: PositiveInt = Field(1000, description="steps per compiled chunk streamed to disk")
    diverge_factor: PositiveFloat = Field(1e10, description="loss > factor·L(0) marks divergence")

    _defaults = model_validator(mode="before")(_problem_defaults)

    @model_validator(mode="after")
    def _fit(self) -> Setting:
        _check_problem_fit(self.problem, self.init, self.schedule)
        return self


class Spec(Strict):
    """A whole experiment: a base setting, seeds, and the sweep grid."""

    id: str | None = None
    title: str | None = None
    paper: str | None = None
    problem: Any
    init: Init = GaussianInit(kind="gaussian", std=1.0)
    schedule: Schedule = PLSchedule(kind="local_pl")
    steps: PositiveInt = Field(200, le=MAX_STEPS)
    chunk: PositiveInt = 1000
    diverge_factor: PositiveFloat = 1e10
    seeds: PositiveInt = Field(1, le=MAX_SEEDS)
    seed: NonNegativeInt = 0
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    cases: list[dict[str, Any]] = Field(
        default_factory=list, description="distinct configurations ({dotted.key: value} each); "
        "the sweep's product is taken within every case")

    _defaults = model_validator(mode="before")(_problem_defaults)

    @model_validator(mode="after")
    def _check_id(self) -> Spec:
        """The id names the results folder (``/`` becomes ``__``): it must stay one folder
        inside --out."""
        if self.id is None or self.id == "":
            return self
        if self.id.strip(".") == "" or len(self.id.replace("/", "__")) > 200 or "\\" in self.id \
                or any(ord(ch) < 32 or ord(ch) == 127 for ch in self.id) \
                or self.id.startswith(".") or self.id.replace("/", "__") in RESERVED_FOLDERS:
            raise SpecError("id", f"{self.id[:60]!r} cannot name a results folder: give at most "
                            "200 printable characters, no leading dot (hidden folders are not "
                            "reported), no backslash, and not index.html")
        return self


SETTING_KEYS = tuple(Setting.model_fields)
#: Names under --out that an experiment's folder must not take.
RESERVED_FOLDERS = ("index.html",)
#: Bounds on a spec: nodes (counting every use of a YAML alias), nesting depth, the length of
#: one string, and the number of settings its sweep and cases expand to.
MAX_NODES, MAX_DEPTH, MAX_TEXT, MAX_SETTINGS = 200_000, 40, 10_000, 100_000


def check_size(raw: Any) -> None:
    """Refuse a spec too large to be one on purpose (an alias bomb, a runaway nesting, a
    megabyte title) before anything walks it again."""
    count = 0
    stack: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise SpecError(where or "spec", f"the spec has more than {MAX_NODES} values "
                            "(YAML aliases count each time they are used)")
        if depth > MAX_DEPTH:
            raise SpecError(where or "spec", f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, str) and len(node) > MAX_TEXT:
            raise SpecError(where or "spec", f"a text of {len(node)} characters (at most "
                            f"{MAX_TEXT})")
        if isinstance(node, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k), depth + 1)
                         for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node))


def install_problems(models: list[type[Strict]]) -> None:
    """Make ``problem:`` of a setting and a spec the tagged union of these models (the
    registry calls it when the set of families changes)."""
    union = models[0] if len(models) == 1 else Union[tuple(models)]  # noqa: UP007
    for cls in (Setting, Spec):
        info = cls.model_fields["problem"]
        info.annotation, info.discriminator = union, "kind" if len(models) > 1 else None
        cls.model_rebuild(force=True)


def validate_spec(raw: dict[str, Any]) -> Spec:
    """Validate a raw spec and every setting of its sweep grid."""
    check_size(raw)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise spec_error_from(exc) from None
    for key, values in spec.sweep.items():
        if not values:
            raise SpecError(f"sweep.{show_field(key)}", "a sweep needs at least one value")
        if key.split(".")[0] not in SETTING_KEYS:
            raise SpecError(f"sweep.{show_field(key)}",
                            f"unknown key; sweepable roots: {', '.join(SETTING_KEYS)}")
        seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
        if len(set(seen)) < len(seen):
            dup = next(v for v in seen if seen.count(v) > 1)
            raise SpecError(f"sweep.{show_field(key)}", f"lists {dup} twice: each value once")
    for i, case in enumerate(spec.cases):
        for key in case:
            if key.split(".")[0] not in SETTING_KEYS:
                raise SpecError(f"cases[{i}].{show_field(key)}",
                                f"unknown key; roots: {', '.join(SETTING_KEYS)}")
    cases = [json.dumps(c, sort_keys=True, default=str) for c in spec.cases]
    if len(set(cases)) < len(cases):
        i = next(j for j, c in enumerate(cases) if cases.index(c) != j)
        raise SpecError(f"cases[{i}]", f"repeats cases[{cases.index(cases[i])}]: each case once")
    n = max(len(spec.cases), 1) * math.prod(len(v) for v in spec.sweep.values())
    if n > MAX_SETTINGS:
        raise SpecError("sweep", f"expands to {n} settings (at most {MAX_SETTINGS})")
    if spec.title is not None and len(spec.title) > 500:
        raise SpecError("title", f"{len(spec.title)} characters: at most 500")
    return spec


def _override(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set one dotted key of a setting; changing a union's kind drops the old kind's keys."""
    if key.endswith(".kind") and key.split(".")[0] in ("problem", "init", "schedule"):
        return set_path(raw, key.rsplit(".", 1)[0], {"kind": value})
    return set_path(raw, key, value)


def expand(spec: Spec) -> list[Setting]:
    """The Cartesian product of the sweep, as validated settings in a stable order."""
    # exclude_unset keeps "was this given?" (e.g. synthetic n defaults to widths[0]).
    base = spec.model_dump(mode="json", include=set(SETTING_KEYS), exclude_unset=True)
    keys = list(spec.sweep)
    settings: list[Setting] = []
    for i, case in enumerate(spec.cases or [{}]):
        case_raw = base
        for key, value in case.items():
            case_raw = _override(case_raw, key, value)
        for combo in itertools.product(*(spec.sweep[k] for k in keys)):
            raw = case_raw
            for key, value in zip(keys, combo, strict=True):
                raw = _override(raw, key, value)
            try:
                settings.append(Setting.model_validate(raw))
            except ValidationError as exc:
                err = spec_error_from(exc)
                where = [f"case {i}"] if spec.cases else []
                point = ", ".join(f"{k}={json.dumps(v)}" for k, v in zip(keys, combo, strict=True))
                if point:
                    where.append(f"sweep point {point}")
                if not where:
                    raise err from None
                raise SpecError(err.field, f"{err.message} [in {', '.join(where)}]") from None
    return settings


def setting_dict(setting: Setting) -> dict[str, Any]:
    """JSON-ready resolved setting (paths as strings)."""
    return setting.model_dump(mode="json")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys (used for the setting columns of runs.parquet)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list | tuple):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out
