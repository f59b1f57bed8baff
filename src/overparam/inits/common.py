"""What every family's initialization shares: fan-based scales, orthonormal rows, the field
that names a scale, and the finiteness check of drawn weights."""

from __future__ import annotations

import numpy as np

from overparam.errors import SpecError
from overparam.numerics.haar import haar
from overparam.spec import Init


def orthogonal_rows(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """rows×cols with orthonormal rows (cols ≥ rows) or columns (cols < rows), Haar."""
    return haar(rng, cols, rows).T


def layer_std(kind: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the fan-based schemes (Glorot/Xavier, He, LeCun)."""
    if kind == "xavier":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    if kind == "he":
        return float(np.sqrt(2.0 / fan_in))
    return float(np.sqrt(1.0 / fan_in))


def scale_field(spec: Init) -> str:
    """The field that sets the scale of the initial weights (named when they overflow)."""
    kind = spec.kind
    if kind == "gaussian":
        return "init.p" if spec.p is not None else "init.std"
    if kind in ("xavier", "he", "lecun", "orthogonal"):
        return "init.gain"
    if kind == "npy":
        return "init.W1" if spec.W1 is not None else "init.weights"
    if kind == "rank_one":
        return "init.w0" if spec.w0 is not None else "init.norm0"
    if kind == "omega":
        return "init.product" if spec.product is not None else "init.omega1"
    return "init.kind"


def check_finite(spec: Init, *arrays: np.ndarray) -> None:
    """The initial weights, their squared norms and the given products must be finite
    float64 numbers; otherwise the init's scale is too large for the run (SpecError)."""
    with np.errstate(all="ignore"):
        ok = all(np.all(np.isfinite(a)) and np.isfinite(np.sum(np.square(a))) for a in arrays)
    if not ok:
        raise SpecError(scale_field(spec), "the initial weights (or their products) overflow "
                        "float64; lower the scale")
