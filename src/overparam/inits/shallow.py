"""Initial weights of the shallow network V φ(W X + b1 1ᵀ) + b2 1ᵀ (paper B), one draw per
seed: W0 ~ N(0, ω1²), V0 ~ N(0, ω2²) from the init scheme (or the user's .npy files), and the
optional biases, PyTorch's default U(±1/√fan_in) (not scaled by ω), zeros, or files.

The weights and the biases draw from separate streams of the seed, so turning biases on
leaves W0 and V0 as they were.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from overparam.data.synthetic import load_npy, resolve
from overparam.errors import SpecError
from overparam.inits.common import check_finite, layer_std
from overparam.spec import NpyInit, OmegaInit, Setting


class Weights(NamedTuple):
    """W0 (d1 × d0), V0 (d2 × d1), b1 (d1) and b2 (d2) or None, and the init scales."""

    W0: np.ndarray
    V0: np.ndarray
    b1: np.ndarray | None
    b2: np.ndarray | None
    omega1: float
    omega2: float


def omegas(setting: Setting, d0: int, d2: int) -> tuple[float, float]:
    """(ω1, ω2) of a Gaussian init: std of W0 and of V0 (npy: NaN, see ``draw``)."""
    init, d1 = setting.init, setting.problem.width
    if isinstance(init, NpyInit):
        return np.nan, np.nan
    if init.kind == "gaussian":
        std = 1.0 if init.std is None else init.std
        return std, std
    if not isinstance(init, OmegaInit):
        return (init.gain * layer_std(init.kind, d0, d1), init.gain * layer_std(init.kind, d1, d2))
    if init.product is None:
        return init.omega1, init.omega2
    prod = init.product
    if isinstance(prod, str):
        prod = layer_std(prod, d0, d1) * layer_std(prod, d1, d2)
    if init.omega1 is not None:
        return init.omega1, prod / init.omega1
    if init.omega2 is not None:
        return prod / init.omega2, init.omega2
    return float(np.sqrt(prod / init.ratio)), float(np.sqrt(prod * init.ratio))


def pytorch_bias(rng: np.random.Generator, fan_in: int, size: int) -> np.ndarray:
    """PyTorch's default bias of ``nn.Linear(fan_in, size)``: U(−1/√fan_in, 1/√fan_in)."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size)


def _npy_weights(spec: NpyInit, shapes: tuple[tuple[int, int], ...], base_dir: Path
                 ) -> list[np.ndarray]:
    out = []
    for k, (path, shape, name) in enumerate(zip(spec.weights, shapes, ("W", "V"), strict=True)):
        field = f"init.weights[{k}]"
        A = load_npy(resolve(path, base_dir), field)
        if A.shape != shape:
            raise SpecError(field, f"has shape {A.shape}, expected {shape} for {name}")
        out.append(A)
    return out


def _biases(setting: Setting, d0: int, d2: int, seed: int, base_dir: Path):
    prob = setting.problem
    scheme, d1 = prob.bias_scheme(), prob.width
    if scheme == "none":
        return None, None
    if scheme == "zeros":
        return np.zeros(d1), np.zeros(d2)
    if scheme == "npy":
        out = []
        for k, (path, size) in enumerate(zip(prob.bias_files, (d1, d2), strict=True)):
            field = f"problem.bias_files[{k}]"
            b = load_npy(resolve(path, base_dir), field)  # a vector reads as one column
            if b.shape != (size, 1):
                raise SpecError(field, f"has shape {b.shape}, expected ({size},) for "
                                f"b{k + 1}")
            out.append(b[:, 0].copy())
        return out[0], out[1]
    rng = np.random.default_rng([seed, 3])
    return pytorch_bias(rng, d0, d1), pytorch_bias(rng, d1, d2)


def draw(setting: Setting, d0: int, d2: int, seed: int, base_dir: Path) -> Weights:
    """One seed's initial weights and biases. For an npy init ω1, ω2 are the root mean
    squares of the given W0, V0 (what a Gaussian init with those scales would have)."""
    d1 = setting.problem.width
    init = setting.init
    if isinstance(init, NpyInit):
        W0, V0 = _npy_weights(init, ((d1, d0), (d2, d1)), base_dir)
        w1, w2 = float(np.sqrt(np.mean(W0**2))), float(np.sqrt(np.mean(V0**2)))
    else:
        w1, w2 = omegas(setting, d0, d2)
        rng = np.random.default_rng([seed, 1])
        with np.errstate(all="ignore"):  # an overflowing init is checked (and named) below
            W0 = w1 * rng.standard_normal((d1, d0))
            V0 = w2 * rng.standard_normal((d2, d1))
    b1, b2 = _biases(setting, d0, d2, seed, base_dir)
    return Weights(np.asarray(W0), np.asarray(V0), b1, b2, float(w1), float(w2))


def check(setting: Setting, weights: Weights, X: np.ndarray) -> None:
    """The weights, their norms and V0 W0 X are finite (SpecError naming the scale)."""
    with np.errstate(all="ignore"):
        check_finite(setting.init, weights.W0, weights.V0, weights.V0 @ (weights.W0 @ X))
