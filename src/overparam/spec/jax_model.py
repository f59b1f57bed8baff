"""The ``problem:`` model of the generic probe: any pure JAX model ``f(params, x)``.

A model is named by ``"package.module:attribute"``. Importing it runs its code, so a spec that
names a module outside overparam is refused unless imports were allowed (``--allow-import``
on the command line, ``allow_import=True`` in Python); ``overparam.probe`` names the
functions it was handed as ``"python:<name>"`` (registered in the running process).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from overparam.errors import SpecError
from overparam.spec.base import FieldError, ProblemSpec, Strict, only
from overparam.spec.data import Data
from overparam.spec.imports import imports_allowed
from overparam.spec.inits import GaussianInit

#: Every measurement the probe offers (docs/probe.md states each one's cost).
MEASURES = ("curvature", "pl_ratio", "sharpness", "trace", "slq", "ntk", "dist_init",
            "lazy_gap")
#: Measurements that may run every k-th step only (the others are cheap: every step).
CADENCED = ("sharpness", "trace", "slq", "ntk")
REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

class DigitsData(Strict):
    """scikit-learn's bundled 8×8 digits (no download): the first ``samples`` images of the
    chosen ``classes`` in a fixed shuffle, pixels/16 centred, targets one-hot (±1 for
    two classes with ``targets: sign``)."""

    kind: Literal["digits"]
    samples: PositiveInt = Field(500, le=1797)
    classes: list[Annotated[int, Field(ge=0, le=9)]] = Field(
        default_factory=lambda: list(range(10)), min_length=2, max_length=10)
    targets: Literal["one_hot", "sign"] = "one_hot"
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> DigitsData:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be distinct")
        if self.targets == "sign" and len(self.classes) != 2:
            raise ValueError("targets: sign needs exactly two classes")
        return self


ModelData = Annotated[Data | DigitsData, Field(discriminator="kind")]


class ProbeLoss(Strict):
    """The training loss: squared ½‖f − y‖² summed (``sum``) or averaged over samples
    (``mean``); softmax cross-entropy (targets one-hot or probabilities); logistic
    log(1 + e^{−y f}) (targets ±1); plus ridge/2·‖w‖². ``l_star`` is L* of the PL ratio."""

    kind: Literal["squared", "cross_entropy", "logistic"] = "squared"
    reduction: Literal["sum", "mean"] = "mean"
    ridge: NonNegativeFloat = 0.0
    l_star: float = 0.0


class Lanczos(Strict):
    """Iterations of the Lanczos runs (sharpness, NTK extremes, SLQ) and probe vectors
    (Hutchinson trace, SLQ)."""

    iters: PositiveInt = Field(20, le=500)
    probes: PositiveInt = Field(10, le=1000)
    slq_probes: PositiveInt = Field(4, le=100)


class JaxModelProblem(Strict):
    """Any pure JAX function ``f(params, X) -> outputs`` (pytree params), trained by full-batch
    GD on ``data`` with the chosen loss, measured at every iterate."""

    kind: Literal["jax_model"]
    model: str = Field(description="'module:function' f(params, x), or with init unset a "
                       "factory 'module:make' returning (f, init) from model_args")
    init: str | None = Field(None, description="'module:function' init(key) -> params")
    model_args: dict[str, Any] = Field(default_factory=dict)
    data: ModelData
    loss: ProbeLoss = ProbeLoss()
    measure: list[Literal[MEASURES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["curvature", "pl_ratio"])
    every: dict[Literal[CADENCED], PositiveInt] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="run a costly measurement every k-th step only")
    lanczos: Lanczos = Lanczos()

    @model_validator(mode="after")
    def _check(self) -> JaxModelProblem:
        for name in ("model", "init"):
            ref = getattr(self, name)
            if ref is not None and not (REFERENCE.match(ref) or ref.startswith("python:")):
                raise FieldError(name, f"{ref!r} is not 'module:attribute'")
        if len(set(self.measure)) != len(self.measure):
            raise FieldError("measure", "names a measurement twice")
        for key in self.every:
            if key not in self.measure:
                raise FieldError(f"every.{key}", f"{key} is not in measure")
        return self


def needs_import(ref: str | None) -> bool:
    """Whether resolving ``ref`` imports code from outside overparam."""
    return ref is not None and not ref.startswith(("python:", "overparam."))


SCHEDULES = ("constant", "local_pl", "backtracking", "power")


def fit(problem: JaxModelProblem, init: Any, schedule: Any) -> None:
    """The probe's rules: a numeric step (no model has a closed-form η_max), imports only when
    allowed, no shared init (the model's own init function draws the weights)."""
    for name in ("model", "init"):
        ref = getattr(problem, name)
        if needs_import(ref) and not imports_allowed():
            raise SpecError(f"problem.{name}", f"importing {ref!r} runs its code: pass "
                            "--allow-import (allow_import=True in Python) to allow it")
    only("schedule.kind", schedule.kind, SCHEDULES, "jax_model")
    for key in ("eta", "eta0"):
        value = getattr(schedule, key, 0.0)
        if isinstance(value, str):
            raise SpecError(f"schedule.{key}", f"jax_model needs a number (named steps such "
                            f"as {value} belong to the papers' families)")
    if init != GaussianInit(kind="gaussian", std=1.0):
        raise SpecError("init", "jax_model draws its weights with problem.init (the model's "
                        "own function of a PRNG key): leave init unset")


PROBLEM = ProblemSpec(JaxModelProblem, defaults={
    "schedule": {"kind": "constant", "eta": 0.01}}, fit=fit)
