"""Initial weights [W_1, …, W_N] of paper C's deep linear network, one draw per seed.

W_j ∈ R^{n_j×n_{j−1}} for widths [n0, n1, …, nN]. The network is a_N W_N ⋯ W_1 with
a_N = 1/√(n1⋯nN), so that E‖a_N W_{N:1}(0)x‖² = ‖x‖² (paper C eq 8) for every scheme below
(gaussian with std 1, orthogonal with gain 1):

    gaussian     i.i.d. N(0, std²) entries.
    orthogonal   Def. 1, one-peak random orthogonal projections and embeddings, times gain:
                 W_i = √n_i Q_i with Q_iᵀQ_i = I for i ≤ p (embeddings) and W_j = √n_{j−1} Q_j
                 with Q_jQ_jᵀ = I for j > p (projections), Q Haar; needs
                 n0 ≤ n1 ≤ … ≤ n_p ≥ … ≥ nN with 1 ≤ p < N.
    balanced     special balanced init, equal hidden widths n ≥ max(n0, nN):
                 W_1 = √n U_1[I; 0]V_1ᵀ, W_i = √n U_i U_{i−1}ᵀ (1 < i < N), W_N = √n U_N[I, 0]V_Nᵀ,
                 all U, V Haar, so a_N W_{N:1} = √(n/nN) U_N [V_NᵀU_{N−1}]_{nN×n0} V_1ᵀ.
    npy          user weights, one .npy file per layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from overparam.data.synthetic import load_npy, resolve
from overparam.errors import SpecError
from overparam.numerics.haar import haar
from overparam.spec import BalancedInit, GaussianInit, Init, NpyInit, OrthogonalInit


def normalization(widths: Sequence[int]) -> float:
    """a_N = 1/√(n1 n2 ⋯ nN) (n0 excluded), summed in log space so deep or wide nets do not
    overflow the product."""
    return math.exp(-0.5 * math.fsum(math.log(n) for n in widths[1:]))


def _one_peak(widths: Sequence[int], p: int) -> bool:
    """n0 ≤ n1 ≤ … ≤ n_p ≥ n_{p+1} ≥ … ≥ nN."""
    up = all(widths[i - 1] <= widths[i] for i in range(1, p + 1))
    down = all(widths[j - 1] >= widths[j] for j in range(p + 1, len(widths)))
    return up and down


def orthogonal_peak(widths: Sequence[int], peak: int | None = None) -> int:
    """The peak layer p of the one-peak orthogonal init: ``peak`` if the widths allow it, else
    (peak None) the first layer 1 ≤ p < N of maximal width. Raises SpecError otherwise."""
    widths = list(widths)
    N = len(widths) - 1
    valid = [p for p in range(1, N) if _one_peak(widths, p)]
    if peak is not None and not 1 <= peak < N:
        raise SpecError("init.peak", f"is {peak}, expected 1 <= peak <= N - 1 = {N - 1} "
                        f"(widths {widths})")
    if not valid:
        raise SpecError("problem.widths", f"{widths} are not one-peak (n0 <= ... <= n_p >= ... "
                        ">= nN for some 1 <= p < N), which the orthogonal init needs")
    if peak is None:
        hidden = widths[1:N]
        return 1 + hidden.index(max(hidden))
    if peak not in valid:
        raise SpecError("init.peak", f"widths {widths} do not rise up to n_{peak} and fall after "
                        f"it; peaks that work: {valid}")
    return peak


def _orthogonal(spec: OrthogonalInit, widths: list[int], rng: np.random.Generator
                ) -> list[np.ndarray]:
    p = orthogonal_peak(widths, spec.peak)
    out = []
    for j in range(1, len(widths)):
        rows, cols = widths[j], widths[j - 1]
        scale = math.sqrt(rows if j <= p else cols)
        out.append(spec.gain * scale * haar(rng, rows, cols))
    return out


def _balanced(widths: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    N, n0, nN, hidden = len(widths) - 1, widths[0], widths[-1], widths[1:-1]
    if len(set(hidden)) != 1:
        raise SpecError("init.kind", f"balanced needs equal hidden widths, got {hidden}")
    n = hidden[0]
    if n < max(n0, nN):
        raise SpecError("init.kind", f"balanced needs hidden width n >= max(n0, nN) = "
                        f"{max(n0, nN)}, got n = {n}")
    s = math.sqrt(n)
    # U_1 [I; 0] only needs U_1's first n0 columns, unless U_1 = V_2 feeds layer 2.
    U_prev = haar(rng, n, n if N > 2 else n0)
    out = [s * U_prev[:, :n0] @ haar(rng, n0, n0).T]
    for _ in range(2, N):
        U = haar(rng, n, n)
        out.append(s * U @ U_prev.T)
        U_prev = U
    # [I, 0] V_Nᵀ = (first nN columns of V_N)ᵀ, themselves Haar with orthonormal columns.
    V_N = haar(rng, n, nN)
    out.append(s * haar(rng, nN, nN) @ V_N.T)
    return out


def _npy(spec: NpyInit, widths: list[int], base_dir: Path) -> list[np.ndarray]:
    paths = spec.weights or []
    N = len(widths) - 1
    if len(paths) != N:
        raise SpecError("init.weights", f"lists {len(paths)} files, expected one per layer "
                        f"W_1 … W_N (N = {N}, widths {widths})")
    out = []
    for k, path in enumerate(paths):
        field = f"init.weights[{k}]"
        W = load_npy(resolve(path, base_dir), field)
        expected = (widths[k + 1], widths[k])
        if W.shape != expected:
            raise SpecError(field, f"has shape {W.shape}, expected {expected} "
                            f"(n_{k + 1}, n_{k}) for W_{k + 1}")
        out.append(W)
    return out


def draw(spec: Init, widths: Sequence[int], rng: np.random.Generator, base_dir: Path
         ) -> list[np.ndarray]:
    """[W_1, …, W_N] with W_j of shape (n_j, n_{j−1}) for widths [n0, …, nN]."""
    widths = [int(n) for n in widths]
    if isinstance(spec, NpyInit):
        return _npy(spec, widths, base_dir)
    if isinstance(spec, GaussianInit):
        std = spec.std if spec.std is not None else 1.0
        return [std * rng.standard_normal((widths[j], widths[j - 1]))
                for j in range(1, len(widths))]
    if isinstance(spec, OrthogonalInit):
        return _orthogonal(spec, widths, rng)
    if isinstance(spec, BalancedInit):
        return _balanced(widths, rng)
    raise SpecError("init.kind", f"{spec.kind} is not a deep_linear init; "
                    "use gaussian, orthogonal, balanced or npy")
