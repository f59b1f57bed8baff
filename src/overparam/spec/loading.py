"""Reading specs: strict YAML, ``--set`` overrides and dotted paths."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from overparam.errors import SpecError
from overparam.spec.messages import show_field


class _StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (YAML would keep the
    last one and drop the first without a word)."""


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base' may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: the constructor reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def safe_load(text: str) -> Any:
    """Parse YAML safely, refusing duplicate keys."""
    return yaml.load(text, Loader=_StrictLoader)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


#: The largest spec file read (a spec is settings, not data).
MAX_SPEC_BYTES = 5_000_000


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a spec file (safe_load only, no duplicate keys); errors name the file."""
    p = Path(path)
    if p.exists() and not p.is_file():
        raise SpecError(str(path), "a spec must be a regular file")
    if p.is_file() and p.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(str(path), f"{p.stat().st_size} bytes: a spec file holds at most "
                        f"{MAX_SPEC_BYTES} (large data belongs in .npy files it names)")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), f"cannot read spec file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(str(path), f"not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise SpecError(str(path), "nested more levels deep than a spec can be") from None
    if not isinstance(raw, dict):
        raise SpecError(str(path), "a spec file must be a YAML mapping")
    from overparam.spec.setting import Spec

    quick = raw.get("quick")
    if quick is not None:
        if not isinstance(quick, dict):
            raise SpecError("quick", f"must be a mapping of dotted keys to values (got {quick!r})")
        for key in quick:
            if not isinstance(key, str) or key.split(".")[0] not in Spec.model_fields:
                raise SpecError(f"quick.{show_field(key)}", "unknown key; roots: "
                                + ", ".join(k for k in Spec.model_fields))
    return raw


def parse_set(pair: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` with VALUE as YAML."""
    if "=" not in pair:
        raise SpecError("--set", f"expected KEY=VALUE, got {pair!r}")
    key, _, value = pair.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise SpecError("--set", f"bad key {key!r}")
    try:
        return key, safe_load(value)
    except RecursionError:
        raise SpecError(show_field(key), "the value is nested more levels deep than a spec "
                        "can be") from None
    except yaml.YAMLError as exc:
        raise SpecError(show_field(key), f"value {value!r} is not valid YAML: "
                         f"{_yaml_problem(exc)}") from None


def get_path(d: dict[str, Any], dotted: str) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def set_path(d: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``d`` with ``dotted`` set to ``value`` (intermediate dicts created)."""
    out = copy.deepcopy(d)
    cur = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        nxt = cur.get(part)
        if nxt is None:
            nxt = {}
        elif not isinstance(nxt, dict):
            raise SpecError(show_field(dotted), f"{part!r} is not a mapping")
        cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value
    return out


def apply_overrides(raw: dict[str, Any], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply ``--set`` overrides; a list on a field that does not take a list becomes a sweep.
    ``data.KEY`` is short for ``problem.data.KEY``."""
    out = copy.deepcopy(raw)

    def sweep() -> dict[str, Any]:
        grid = out.setdefault("sweep", {})
        if not isinstance(grid, dict):
            raise SpecError("sweep", f"must be a mapping of dotted keys to lists (got {grid!r})")
        return grid

    for key, value in pairs:
        if key.startswith("data.") and "data" not in out:  # short for problem.data.
            key = "problem." + key
        if key.startswith("sweep."):
            sweep()[key.removeprefix("sweep.")] = value
            continue
        if isinstance(value, list) and not isinstance(get_path(out, key), list):
            sweep()[key] = value
            continue
        out = set_path(out, key, value)
        if isinstance(out.get("sweep"), dict):
            out["sweep"].pop(key, None)
    return out
