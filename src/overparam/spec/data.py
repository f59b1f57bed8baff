"""Data given as matrices X (samples × n), Y (samples × m): files, paper A's generators, or
inline rows. Shared by the linear families."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from overparam.spec.base import Strict


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
