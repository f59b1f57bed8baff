"""Initializations: one model per kind; which family accepts which is the family's rule."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from overparam.errors import SpecError
from overparam.spec.base import Strict


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
    """Fan-based Gaussian inits (xavier, he, lecun), times gain."""

    kind: Literal["xavier", "he", "lecun"]
    gain: PositiveFloat = 1.0


class OrthogonalInit(Strict):
    """Two-layer: gain × orthonormal rows. Deep linear: paper C's one-peak random orthogonal
    projections and embeddings (Def. 1) peaking at layer ``peak`` (default: the widest)."""

    kind: Literal["orthogonal"]
    gain: PositiveFloat = 1.0
    peak: PositiveInt | None = None


class BalancedInit(Strict):
    """Paper C's special balanced initialization (equal hidden widths)."""

    kind: Literal["balanced"]


class NpyInit(Strict):
    """User weights from .npy files: W1 (n × width), W2 (m × width) for the two-layer
    network; ``weights`` [W_1, …, W_N] (W_j is n_j × n_{j−1}) for the deep linear one."""

    kind: Literal["npy"]
    W1: Path | None = None
    W2: Path | None = None
    weights: list[Path] | None = None

    @model_validator(mode="after")
    def _check(self) -> NpyInit:
        pair = self.W1 is not None and self.W2 is not None
        if self.weights is None and not pair:
            raise ValueError("give W1 and W2 (two-layer) or weights: [W_1, ..., W_N] (deep linear)")
        if self.weights is not None and (self.W1 is not None or self.W2 is not None):
            raise ValueError("give either W1/W2 or weights, not both")
        return self


class RankOneInit(Strict):
    """Paper D's initialization of a linear classifier with end-to-end vector w_e(0): either
    ``w0`` or the angle ``theta0`` (radians, to v) and ``norm0``; default the paper's
    w_e(0) = (0.6, −0.8) relation (cos θ0 = −0.8, norm 1). Deep nets get rank-one layers
    W_1 = s_1 u_2 w̄0ᵀ, W_j = s_j u_{j+1}u_jᵀ, W_N = s_N u_Nᵀ with random unit u_j:
    ``balanced`` puts s_j = ‖w0‖^{1/N} on every layer (balanced for any norm); ``paper`` is
    §5's literal construction (all of ‖w0‖ on W_1: balanced only when ‖w0‖ = 1); ``scaled``
    multiplies the balanced layers by ``layer_scales`` (product 1: same w_e(0), unbalanced)."""

    kind: Literal["rank_one"]
    w0: list[float] | None = None
    theta0: float | None = Field(None, ge=0.0, le=3.141592653589793)
    norm0: PositiveFloat = 1.0
    layers: Literal["balanced", "paper", "scaled"] = "balanced"
    layer_scales: list[PositiveFloat] | None = None

    @model_validator(mode="after")
    def _check(self) -> RankOneInit:
        if self.w0 is not None and (self.theta0 is not None or "norm0" in self.model_fields_set):
            raise SpecError("init.w0", "give either w0 or theta0 (+ norm0), not both")
        if self.w0 is not None and not any(self.w0):
            raise SpecError("init.w0", "must not be the zero vector")
        if (self.layers == "scaled") != (self.layer_scales is not None):
            raise SpecError("init.layer_scales", "give layer_scales exactly when layers is scaled")
        if self.layer_scales is not None:
            prod = math.prod(self.layer_scales)
            if abs(prod - 1.0) > 1e-9:
                raise SpecError("init.layer_scales", f"must multiply to 1 (keeps w_e(0)); "
                                f"the product is {prod:.6g}")
        return self


class OmegaInit(Strict):
    """Paper B's (17): W0 ~ N(0, ω1²), V0 ~ N(0, ω2²). Give omega1 and omega2, or the product
    ω1ω2 (a number, or he / lecun / xavier: the product those schemes give this network) with
    one of omega1, omega2 or ratio = ω2/ω1."""

    kind: Literal["omega"]
    omega1: PositiveFloat | None = None
    omega2: PositiveFloat | None = None
    product: PositiveFloat | Literal["he", "lecun", "xavier"] | None = None
    ratio: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check(self) -> OmegaInit:
        given = [k for k in ("omega1", "omega2", "ratio") if getattr(self, k) is not None]
        if self.product is None:
            if given != ["omega1", "omega2"]:
                raise SpecError("init.omega1", "give omega1 and omega2, or product with one of "
                                "omega1, omega2, ratio")
        elif len(given) != 1:
            raise SpecError("init.product", "with product give exactly one of omega1, omega2, "
                            f"ratio (got {', '.join(given) or 'none'})")
        return self


Init = Annotated[GaussianInit | ScaledInit | OrthogonalInit | BalancedInit | NpyInit | RankOneInit
             | OmegaInit,
                 Field(discriminator="kind")]
