"""Initial weights of the two-layer linear network, one draw per seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from overparam.data.synthetic import load_npy, resolve
from overparam.errors import SpecError
from overparam.inits.common import check_finite, layer_std, orthogonal_rows  # noqa: F401
from overparam.spec import GaussianInit, Init, NpyInit


def draw_init(
    spec: Init, n: int, m: int, h: int, rng: np.random.Generator, base_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(W1 ∈ R^{n×h}, W2 ∈ R^{m×h}). Layer 1 maps R^n → R^h, layer 2 maps R^h → R^m.
    Weights whose products overflow float64 are a SpecError naming the init's scale."""
    with np.errstate(all="ignore"):
        W1, W2 = _draw(spec, n, m, h, rng, base_dir)
        check_finite(spec, W1, W2, W1 @ W2.T)
    return W1, W2


def _draw(
    spec: Init, n: int, m: int, h: int, rng: np.random.Generator, base_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(spec, NpyInit):
        W1 = load_npy(resolve(spec.W1, base_dir), "init.W1")
        W2 = load_npy(resolve(spec.W2, base_dir), "init.W2")
        if W1.shape != (n, h):
            raise SpecError("init.W1", f"has shape {W1.shape}, expected {(n, h)} (n × width)")
        if W2.shape != (m, h):
            raise SpecError("init.W2", f"has shape {W2.shape}, expected {(m, h)} (m × width)")
        return W1, W2
    if isinstance(spec, GaussianInit):
        # h^(−p) may overflow to inf: check_finite then names init.p
        std = spec.std if spec.std is not None else (
            float(np.float64(h) ** -spec.p) if spec.p is not None else 1.0)
        return std * rng.standard_normal((n, h)), std * rng.standard_normal((m, h))
    if spec.kind == "orthogonal":
        return spec.gain * orthogonal_rows(rng, n, h), spec.gain * orthogonal_rows(rng, m, h)
    s1 = spec.gain * layer_std(spec.kind, n, h)
    s2 = spec.gain * layer_std(spec.kind, h, m)
    return s1 * rng.standard_normal((n, h)), s2 * rng.standard_normal((m, h))
