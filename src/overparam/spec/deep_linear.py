"""The deep linear network's problem spec (paper C)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from overparam.errors import SpecError
from overparam.spec.base import ProblemSpec, Strict, only
from overparam.spec.data import Data, SyntheticData
from overparam.spec.schedules import DEEP_ETAS

DEEP_LOSSES = ("squared_half", "squared_mean", "logistic", "softmax")


def _paper_c_data() -> SyntheticData:
    """Paper C, App. G: X ∈ R^{128×1000}, W* ∈ R^{10×128}, ε all N(0, 1)."""
    return SyntheticData(kind="synthetic", n=128, m=10, samples=1000, x="gaussian",
                         target="gaussian", target_std=1.0, noise=1.0)


class DeepLinear(Strict):
    """Paper C's network a_N W_N ⋯ W_1 on the convex loss L(W) = (1/m) Σ l(W x_i, y_i).

    Give either ``widths`` [n0, n1, …, nN] (N ≥ 2 weight matrices) or ``depth`` N with
    equal ``hidden`` widths (n0, nN then come from the data).
    """

    kind: Literal["deep_linear"]
    widths: list[PositiveInt] | None = None
    depth: int | None = Field(None, ge=2, le=64)
    hidden: PositiveInt | None = None
    loss: Literal["squared_half", "squared_mean", "logistic", "softmax"] = "squared_half"
    ridge: NonNegativeFloat = Field(0.0, description="λ of the ridge term λ‖W‖²_X")
    data: Data = Field(default_factory=_paper_c_data)
    sigma_min_inner_every: NonNegativeInt = Field(
        1, description="log σ_min(W_{N−1:2}) every k steps (0: never); it costs O(width³)")

    @model_validator(mode="before")
    @classmethod
    def _data_defaults(cls, raw: Any) -> Any:
        """Synthetic data for a deep network: Gaussian X, Gaussian teacher (or its labels for
        cross-entropy), and n, m from ``widths`` unless given."""
        if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
            return raw
        data = dict(raw["data"])
        if data.get("kind") == "synthetic":
            ce = raw.get("loss") in ("logistic", "softmax")
            data.setdefault("target", "teacher_labels" if ce else "gaussian")
            data.setdefault("x", "gaussian")
            widths = raw.get("widths")
            if isinstance(widths, list) and len(widths) >= 2:
                data.setdefault("n", widths[0])
                data.setdefault("m", widths[-1])
        return {**raw, "data": data}

    @model_validator(mode="after")
    def _check(self) -> DeepLinear:
        data = self.data
        if isinstance(data, SyntheticData):
            if data.target == "init":
                raise SpecError("problem.data.target", "deep_linear needs gaussian or teacher_labels")
            for key, size, end in (("n", data.n, 0), ("m", data.m, -1)):
                if self.widths and size != self.widths[end]:
                    raise SpecError(f"problem.data.{key}", f"is {size} but widths "
                                    f"{'starts' if end == 0 else 'ends'} with {self.widths[end]}")
        if self.widths is not None:
            if self.depth is not None or self.hidden is not None:
                raise SpecError("problem.widths", "give either widths or depth + hidden, not both")
            if len(self.widths) < 3:
                raise SpecError("problem.widths",
                                "needs n0, at least one hidden width, and nN (N >= 2)")
        elif self.depth is None or self.hidden is None:
            raise SpecError("problem.widths", "give widths [n0, n1, ..., nN] or both depth and "
                            "hidden")
        if self.loss in ("logistic", "softmax") and self.ridge <= 0:
            raise ValueError(f"loss {self.loss} needs ridge > 0 (strong convexity)")
        return self

    def layer_widths(self, nx: int, ny: int) -> list[int]:
        """[n0, …, nN] given the data's input and output dimensions."""
        if self.widths is not None:
            return list(self.widths)
        return [nx] + [self.hidden] * (self.depth - 1) + [ny]


def fit(problem: DeepLinear, init: Any, schedule: Any) -> None:
    """The constant schedule (a number or one of paper C's named step sizes) and paper C's
    inits."""
    only("schedule.kind", schedule.kind, ("constant",), "deep_linear")
    if isinstance(schedule.eta, str) and schedule.eta not in DEEP_ETAS:
        raise SpecError("schedule.eta", f"{schedule.eta} is not deep_linear's; give a number, "
                        "thm1, thm4, data_norm or cor3")
    only("init.kind", init.kind, ("gaussian", "orthogonal", "balanced", "npy"), "deep_linear")
    if init.kind == "gaussian" and init.p is not None:
        raise SpecError("init.p", "deep_linear's gaussian init takes std (default 1)")
    if init.kind == "npy" and init.weights is None:
        raise SpecError("init.weights", "deep_linear reads weights: [W_1.npy, ..., W_N.npy]")


#: The deep network steps with η = n_N/(βN) (Thm 1) unless told otherwise.
PROBLEM = ProblemSpec(DeepLinear, defaults={"schedule": {"kind": "constant", "eta": "thm1"}},
                      fit=fit)
