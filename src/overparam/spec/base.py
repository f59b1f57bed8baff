"""The base of every spec model: strict pydantic models (unknown keys, booleans for numbers,
NaN and over-long paths are errors) and the errors they raise."""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ConfigDict, model_validator

from overparam.errors import SpecError

MAX_SEEDS = 10_000
MAX_STEPS = 10_000_000


def _misplaced_bool(value: Any, tp: Any) -> bool:
    """Whether ``value`` holds a boolean where the annotation ``tp`` wants a number (pydantic
    would read ``true`` as 1)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _misplaced_bool(value, args[0])
    if origin in (Union, types.UnionType):
        if isinstance(value, bool) and bool in args:
            return False
        return any(_misplaced_bool(value, a) for a in args)
    if isinstance(value, bool):
        return tp in (int, float)
    if isinstance(value, list | tuple) and origin in (list, tuple):
        items = [a for a in args if a is not Ellipsis]
        if origin is tuple and len(items) == len(value):
            return any(_misplaced_bool(v, a) for v, a in zip(value, items, strict=True))
        return bool(items) and any(_misplaced_bool(v, items[0]) for v in value)
    return False


def _huge_int(value: Any) -> int | None:
    """An integer in ``value`` (or its lists) beyond 64 bits, if any."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return value
    if isinstance(value, list | tuple):
        return next((v for v in map(_huge_int, value) if v is not None), None)
    return None


class FieldError(SpecError):
    """A SpecError whose field is relative to the model that raised it (the error's location
    in the spec is put in front of it)."""


class Strict(BaseModel):
    """Base model: unknown keys are errors, values are never coerced silently: a boolean is
    not a number, and numbers are finite (no NaN or infinity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            keys = alias.choices if isinstance(alias, AliasChoices) else [name]
            for key in keys:
                if not isinstance(key, str) or key not in raw:
                    continue
                if _misplaced_bool(raw[key], field.annotation):
                    raise FieldError(key, f"expected a number, got a boolean ({raw[key]!r})")
                if _huge_int(raw[key]):
                    raise FieldError(key, f"{_huge_int(raw[key])} is too large (at most "
                                     "2^63 - 1, what 64-bit arrays hold)")
        return raw

    @model_validator(mode="after")
    def _check_paths(self) -> Any:
        for name in type(self).model_fields:
            value = getattr(self, name)
            for i, path in enumerate(value if isinstance(value, list) else [value]):
                why = _bad_path(path) if isinstance(path, Path) else ""
                if why:
                    raise FieldError(f"{name}[{i}]" if isinstance(value, list) else name, why)
        return self


def _bad_path(path: Path) -> str:
    """Why ``path`` cannot name a file on any system ('' when it can)."""
    text = str(path)
    if not text.isprintable():
        return f"{text!r} contains a control character"
    if len(os.fsencode(text)) > 4096 or any(len(os.fsencode(p)) > 255 for p in path.parts):
        return f"{text[:40]!r}... is too long for a file name"
    return ""


def kind_tags() -> set[str]:
    """Every ``kind`` a spec model declares (pydantic puts a union's tag in an error's
    location; messages drop it). Read from the models, so a registered family's count too."""
    tags: set[str] = set()
    todo = list(Strict.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        field_ = cls.model_fields.get("kind")
        if field_ is not None:
            tags.update(a for a in get_args(field_.annotation) if isinstance(a, str))
    return tags


@dataclass(frozen=True)
class ProblemSpec:
    """What the spec layer needs of a problem family: the model of ``problem:`` (its ``kind``
    is a Literal), the init/schedule a setting gets when it names none, and the family's
    compatibility rules ``fit(problem, init, schedule)`` (raise SpecError naming the field)."""

    model: type[Strict]
    defaults: dict[str, Any] = dataclass_field(default_factory=dict)
    fit: Callable[[Any, Any, Any], None] = lambda problem, init, schedule: None

    @property
    def kind(self) -> str:
        return get_args(self.model.model_fields["kind"].annotation)[0]


def only(field_: str, value: Any, allowed: tuple[str, ...], who: str) -> None:
    """SpecError unless ``value`` is one of ``allowed`` (what the family ``who`` supports)."""
    if value not in allowed:
        raise SpecError(field_, f"{who} supports {', '.join(allowed)} (got {value})")
