"""Step-size schedules: one model per kind; which family accepts which is the family's rule."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
)

from overparam.spec.base import Strict

EtaChoice = PositiveFloat | Literal["eta_max"]
#: Named step sizes of the deep linear network (paper C): n_N/(βN) (Thm 1),
#: (1 − eps)·2n_N/(e^{2c}βN) (Thm 4–6), n_N/(N‖X‖²) (App. G), 2n_N/((α + β)N) (Cor. 3).
DEEP_ETAS = ("thm1", "thm4", "data_norm", "cor3")


class ConstantSchedule(Strict):
    """η_t = eta: a number, paper A's η_max (Thm 3.2; bound curve eq 17), for the deep
    linear network thm1, thm4 (with c and eps), data_norm or cor3, for the shallow network thm2
    (eq 13 with its constant) or ntk (1/(β_f λ_max) of the NTK at init)."""

    kind: Literal["constant"]
    eta: PositiveFloat | Literal["eta_max", "thm1", "thm4", "data_norm", "cor3", "thm2",
                                 "ntk"] = Field(
        "eta_max", validation_alias=AliasChoices("eta", "eta0"))
    c: float = Field(0.5, gt=0, lt=1)
    d: float = Field(1.01, gt=1)
    eps: float = Field(0.1, gt=0, lt=1, description="ε of η = (1 − ε)η0 (paper C, Thm 4–6)")
    scale: PositiveFloat = Field(1.0, description="a factor on eta, named or a number (e.g. "
                                 "data_norm with 0.5: the step paper C's own code ran)")


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


class PowerSchedule(Strict):
    """η_k = max(eta0·(k + 1)^−power, eta_min): a decaying step bounded below (paper D, Thm 2
    needs η₊ ≥ η_k ≥ η₋ > 0)."""

    kind: Literal["power"]
    eta0: PositiveFloat
    power: NonNegativeFloat = 0.5
    eta_min: PositiveFloat = 1e-6


class PlainSchedule(Strict):
    """Problem 1: plain GD on W = W1(0)W2(0)ᵀ with η = 1/K (App. G.2)."""

    kind: Literal["plain_inverse_k"]


Schedule = Annotated[
    ConstantSchedule | PLSchedule | XuSchedule | BacktrackingSchedule | PlainSchedule
    | PowerSchedule,
    Field(discriminator="kind"),
]
