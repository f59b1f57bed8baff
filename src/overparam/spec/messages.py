"""Validation errors as one line naming the field and the bad value."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from overparam.errors import SpecError
from overparam.spec.base import FieldError, kind_tags

_SCHEMA_PARTS = ("function-", "tagged-union", "constrained-", "literal[", "list[", "tuple[",
                 "dict[", "is-instance[", "lax-or-strict", "json-or-python")


_PLAIN_KEY = re.compile(r"[\w\-\[\]]+")


def _show_key(part: Any) -> str:
    """A key as it appears in an error's field: quoted when it is not a plain word (a space,
    a newline or a colon would make the one-line message ambiguous)."""
    text = str(part)
    return text if _PLAIN_KEY.fullmatch(text) else repr(text)


def show_field(dotted: str) -> str:
    """A user's dotted key (from --set, a sweep or a case) made safe for a one-line error."""
    return ".".join(_show_key(p) for p in str(dotted).split("."))


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = [_show_key(p) for p in loc if not str(p).startswith(_SCHEMA_PARTS)
             and str(p) not in ("int", "float", "str", "bool", "none", "nullable")]
    # Pydantic puts the union tag (e.g. 'npy') in the location; drop it for the user.
    tags = kind_tags()
    clean: list[str] = []
    for p in parts:
        if clean and p in tags:
            continue
        clean.append(p)
    return ".".join(clean)


def spec_error_from(exc: ValidationError, prefix: str = "") -> SpecError:
    """Turn pydantic's first error into one line that names the field and the bad value."""
    err = exc.errors()[0]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, SpecError):  # raised by a cross-field check that knows the field
        field = inner.field
        if isinstance(inner, FieldError):  # relative to where the error was raised
            where = _format_loc(err["loc"])
            field = f"{where}.{field}" if where else field
        return SpecError(f"{prefix}.{field}" if prefix else field, _one_line(inner.message))
    field = _format_loc(err["loc"])
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    msg = err["msg"].removeprefix("Value error, ")
    # a union (a number or a name) fails in each arm at the same field: say every way out
    arms = [e["msg"] for e in exc.errors()[1:] if _format_loc(e["loc"]) == _format_loc(err["loc"])
            and e["type"] != err["type"]]
    if arms:
        msg = "; or ".join([msg, *dict.fromkeys(arms)])
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in err and err["type"] not in ("missing",):
        shown = repr(err["input"])
        if len(shown) > 80:
            shown = shown[:77] + "..."
        msg = f"{msg} (got {shown})"
    return SpecError(field or "spec", _one_line(msg))


def _one_line(text: str) -> str:
    """Escape what would break a one-line message (pydantic quotes some inputs raw)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
