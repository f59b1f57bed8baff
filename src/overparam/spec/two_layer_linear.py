"""The two-layer linear network's problem spec (paper A)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    NonNegativeFloat,
    PositiveInt,
    model_validator,
)

from overparam.errors import SpecError
from overparam.spec.base import ProblemSpec, Strict, only
from overparam.spec.data import Data


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


def fit(problem: TwoLayerLinear, init: Any, schedule: Any) -> None:
    """Paper A's inits and schedules; the named step size is eta_max."""
    only("init.kind", init.kind, ("gaussian", "xavier", "he", "lecun", "orthogonal", "npy"),
         "two_layer_linear")
    only("schedule.kind", schedule.kind, ("constant", "local_pl", "global_pl", "xu2023",
                                          "backtracking", "plain_inverse_k"), "two_layer_linear")
    if schedule.kind == "constant" and isinstance(schedule.eta, str) and schedule.eta != "eta_max":
        raise SpecError("schedule.eta", f"{schedule.eta} is not two_layer_linear's; "
                        "give a number or eta_max")
    if init.kind == "orthogonal" and init.peak is not None:
        raise SpecError("init.peak", "peak is for deep_linear's one-peak orthogonal init")
    if init.kind == "npy" and init.W1 is None:
        raise SpecError("init.W1", "two_layer_linear reads W1 and W2")


PROBLEM = ProblemSpec(TwoLayerLinear, fit=fit)
