"""Experiment specs: pydantic models, YAML loading, dotted overrides and sweeps.

A spec is validated once here; everything downstream works on validated objects.
A sweep (``sweep: {dotted.path: [v1, v2]}``) expands into the Cartesian product
of settings; ``--set KEY=[a,b]`` on a field that does not take a list adds a sweep.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from overparam.errors import SpecError

MAX_SEEDS = 10_000
MAX_STEPS = 10_000_000


class Strict(BaseModel):
    """Base model: unknown keys are errors, values are never coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------- data
class NpyData(Strict):
    """User data: X (samples × n) and Y (samples × m) from .npy files."""

    kind: Literal["npy"]
    X: Path
    Y: Path


class SyntheticData(Strict):
    """Paper A's generators: X orthogonal / Gaussian / given spectrum; Y from the init or a teacher."""

    kind: Literal["synthetic"]
    n: PositiveInt = 10
    m: PositiveInt = 10
    samples: PositiveInt | None = Field(None, description="rows of X; default n (square X)")
    x: Literal["orthogonal", "gaussian", "spectrum"] = "orthogonal"
    x_singular_range: tuple[PositiveFloat, PositiveFloat] = (1.8, 2.3)
    target: Literal["init", "gaussian", "teacher_labels"] = "init"
    target_std: NonNegativeFloat = 0.1
    noise: NonNegativeFloat = 0.1

    @model_validator(mode="after")
    def _check(self) -> SyntheticData:
        lo, hi = self.x_singular_range
        if lo > hi:
            raise ValueError("x_singular_range must be (low, high) with low <= high")
        if self.x == "orthogonal" and self.samples not in (None, self.n):
            raise ValueError("x: orthogonal needs samples == n")
        return self


class InlineData(Strict):
    """Small data written in the spec itself (e.g. the scalar toy of paper A, App. B)."""

    kind: Literal["inline"]
    X: list[list[float]]
    Y: list[list[float]]

    @model_validator(mode="after")
    def _check(self) -> InlineData:
        for name in ("X", "Y"):
            rows = getattr(self, name)
            if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
                raise ValueError(f"{name} must be a non-empty rectangular list of rows")
        if len(self.X) != len(self.Y):
            raise ValueError("X and Y need the same number of rows")
        return self


Data = Annotated[NpyData | SyntheticData | InlineData, Field(discriminator="kind")]


# ------------------------------------------------------------------ problems
class TwoLayerLinear(Strict):
    """Paper A's Problem 2: L(W1, W2) = ℓ(W1 W2ᵀ), W1 ∈ R^{n×h}, W2 ∈ R^{m×h}."""

    kind: Literal["two_layer_linear"]
    loss: Literal["squared", "logistic", "softmax"] = "squared"
    ridge: NonNegativeFloat = 0.0
    width: PositiveInt
    data: Data

    @model_validator(mode="after")
    def _check(self) -> TwoLayerLinear:
        if self.loss != "squared" and self.ridge <= 0:
            raise ValueError(f"loss {self.loss} needs ridge > 0 (strong convexity)")
        return self


Problem = Annotated[TwoLayerLinear, Field(discriminator="kind")]


# --------------------------------------------------------------------- inits
class GaussianInit(Strict):
    """i.i.d. N(0, std²) entries; or std = width^(−p) (paper A Thm 3.3, App. G.1)."""

    kind: Literal["gaussian"]
    std: PositiveFloat | None = None
    p: float | None = None

    @model_validator(mode="after")
    def _check(self) -> GaussianInit:
        if self.std is not None and self.p is not None:
            raise ValueError("give either std or p, not both")
        return self


class ScaledInit(Strict):
    """Fan-based Gaussian inits (xavier, he, lecun) and orthogonal rows, times gain."""

    kind: Literal["xavier", "he", "lecun", "orthogonal"]
    gain: PositiveFloat = 1.0


class NpyInit(Strict):
    """User weights W1 (n × width), W2 (m × width) from .npy files."""

    kind: Literal["npy"]
    W1: Path
    W2: Path


Init = Annotated[GaussianInit | ScaledInit | NpyInit, Field(discriminator="kind")]

# ----------------------------------------------------------------- schedules
EtaChoice = PositiveFloat | Literal["eta_max"]


class ConstantSchedule(Strict):
    """η_t = eta (a number or the Thm 3.2 η_max); bound curve eq 17."""

    kind: Literal["constant"]
    eta: EtaChoice = Field("eta_max", validation_alias=AliasChoices("eta", "eta0"))
    c: float = Field(0.5, gt=0, lt=1)
    d: float = Field(1.01, gt=1)


class PLSchedule(Strict):
    """Eq 19: η_t = min((1+η0^d)^{t/2} η0, 1/K_t) (local_pl) or 1/K̄_t (global_pl)."""

    kind: Literal["local_pl", "global_pl"]
    eta0: EtaChoice = "eta_max"
    c: float = Field(0.5, gt=0, lt=1)
    d: float = Field(1.01, gt=1)


class XuSchedule(Strict):
    """Xu et al. (2023): largest η satisfying Lemma C.1's cubic with c1 α1, c2 α2."""

    kind: Literal["xu2023"]
    c1: float = Field(0.5, gt=0, lt=1)
    c2: float = Field(1.5, gt=1)
    measured: bool = False


class BacktrackingSchedule(Strict):
    """Algorithm 1 (App. G.2.1): start at eta_bt, shrink by tau until sufficient decrease."""

    kind: Literal["backtracking"]
    eta_bt: PositiveFloat = 1.0
    tau: float = Field(0.1, gt=0, lt=1)
    gamma: float = Field(0.9, gt=0, lt=1)
    variant: Literal["armijo", "printed"] = "armijo"
    max_evals: PositiveInt = 60


class PlainSchedule(Strict):
    """Problem 1: plain GD on W = W1(0)W2(0)ᵀ with η = 1/K (App. G.2)."""

    kind: Literal["plain_inverse_k"]


Schedule = Annotated[
    ConstantSchedule | PLSchedule | XuSchedule | BacktrackingSchedule | PlainSchedule,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- experiment
class Setting(Strict):
    """One point of an experiment grid: everything a run needs except the seed."""

    problem: Problem
    init: Init = GaussianInit(kind="gaussian", std=1.0)
    schedule: Schedule = PLSchedule(kind="local_pl")
    steps: PositiveInt = Field(200, le=MAX_STEPS)
    chunk: PositiveInt = Field(1000, description="steps per compiled chunk streamed to disk")
    diverge_factor: PositiveFloat = Field(1e10, description="loss > factor·L(0) marks divergence")


class Spec(Strict):
    """A whole experiment: a base setting, seeds, and the sweep grid."""

    id: str | None = None
    title: str | None = None
    paper: str | None = None
    problem: Problem
    init: Init = GaussianInit(kind="gaussian", std=1.0)
    schedule: Schedule = PLSchedule(kind="local_pl")
    steps: PositiveInt = Field(200, le=MAX_STEPS)
    chunk: PositiveInt = 1000
    diverge_factor: PositiveFloat = 1e10
    seeds: PositiveInt = Field(1, le=MAX_SEEDS)
    seed: NonNegativeInt = 0
    sweep: dict[str, list[Any]] = Field(default_factory=dict)


SETTING_KEYS = tuple(Setting.model_fields)


# ------------------------------------------------------------------- helpers
def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not str(p).startswith(("function-", "tagged-union"))]
    # Pydantic puts the union tag (e.g. 'npy') in the location; drop it for the user.
    clean: list[str] = []
    for p in parts:
        if clean and p in {"npy", "synthetic", "inline", "gaussian", "xavier", "he", "lecun", "orthogonal",
                           "constant", "local_pl", "global_pl", "xu2023", "backtracking",
                           "plain_inverse_k", "two_layer_linear"}:
            continue
        clean.append(p)
    return ".".join(clean)


def spec_error_from(exc: ValidationError, prefix: str = "") -> SpecError:
    """Turn pydantic's first error into one line that names the field and the bad value."""
    err = exc.errors()[0]
    field = _format_loc(err["loc"])
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in err and err["type"] not in ("missing",):
        shown = repr(err["input"])
        if len(shown) > 80:
            shown = shown[:77] + "..."
        msg = f"{msg} (got {shown})"
    return SpecError(field or "spec", msg)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a spec file (safe_load only); errors name the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError(str(path), f"cannot read spec file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(str(path), f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(str(path), "a spec file must be a YAML mapping")
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
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        raise SpecError(key, f"value {value!r} is not valid YAML") from None


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
            raise SpecError(dotted, f"{part} is not a mapping")
        cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value
    return out


def apply_overrides(raw: dict[str, Any], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply ``--set`` overrides; a list on a field that does not take a list becomes a sweep."""
    out = copy.deepcopy(raw)
    for key, value in pairs:
        if key.startswith("sweep."):
            out.setdefault("sweep", {})[key.removeprefix("sweep.")] = value
            continue
        if isinstance(value, list) and not isinstance(get_path(out, key), list):
            out.setdefault("sweep", {})[key] = value
            continue
        out = set_path(out, key, value)
        out.get("sweep", {}).pop(key, None)
    return out


def validate_spec(raw: dict[str, Any]) -> Spec:
    """Validate a raw spec and every setting of its sweep grid."""
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise spec_error_from(exc) from None
    for key, values in spec.sweep.items():
        if not values:
            raise SpecError(f"sweep.{key}", "a sweep needs at least one value")
        if key.split(".")[0] not in SETTING_KEYS:
            raise SpecError(f"sweep.{key}", f"unknown key; sweepable roots: {', '.join(SETTING_KEYS)}")
    return spec


def expand(spec: Spec) -> list[Setting]:
    """The Cartesian product of the sweep, as validated settings in a stable order."""
    base = spec.model_dump(mode="json", include=set(SETTING_KEYS))
    keys = list(spec.sweep)
    settings: list[Setting] = []
    for combo in itertools.product(*(spec.sweep[k] for k in keys)):
        raw = base
        for key, value in zip(keys, combo, strict=True):
            if key.split(".")[0] == "problem" or key.split(".")[0] in ("init", "schedule"):
                # Changing a union's kind must not keep keys of the old kind.
                parent = key.rsplit(".", 1)[0] if "." in key else None
                if key.endswith(".kind") and parent:
                    raw = set_path(raw, parent, {"kind": value})
                    continue
            raw = set_path(raw, key, value)
        try:
            settings.append(Setting.model_validate(raw))
        except ValidationError as exc:
            err = spec_error_from(exc)
            where = ", ".join(f"{k}={json.dumps(v)}" for k, v in zip(keys, combo, strict=True))
            raise SpecError(err.field, f"{err.message} [in sweep point {where}]") from None
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
