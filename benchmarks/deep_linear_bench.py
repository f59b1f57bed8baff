"""Section (e) of the benchmark: one GD step of paper C's deep linear network.

For N = 3 layers on App. G's data (X ∈ R^{128×1000}, 10 outputs) at hidden widths 2000
and 5000 it measures
- overparam's compiled step (execution only, from runs.parquet ``run_s``, the observables
  and the convex twin included, the O(width³) σ_min diagnostic off);
- the achieved GFLOP/s: counted flops of the products that step performs / its time;
- the machine's own float64 matmul throughput on exactly those product shapes (NumPy/BLAS,
  each product timed alone, with one BLAS thread and with the default count: the faster),
  and the ratio of the two (target ≥ 50% at width ≥ 2000);
- a plain NumPy loop of the same step written the textbook way (products of the layer
  chains as they appear in (7)), and overparam's speed-up over it (the loop runs with the
  reference's BLAS thread count).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

NX, NY, M, DEPTH = 128, 10, 1000, 3
TARGET_MATMUL_SHARE = 0.5


def step_products(widths: list[int], nx: int, ny: int, m: int) -> list[tuple[int, int, int]]:
    """(rows, inner, cols) of every matrix product in one overparam step (output side first).

    Left chain W_{N:j}; the loss and its gradient at V and at the twin (with the X-semi-norm
    ridge and norm products ignored: they are O(ny·nx·rank)); M_{j+1} = M_j W_jᵀ; the
    rank-ny outer products a P_jᵀ M_j."""
    N = len(widths) - 1
    prods = []
    for j in range(N - 1, 0, -1):  # lefts[j-1] = lefts[j] (ny × n_j) @ W_j (n_j × n_{j-1})
        prods.append((ny, widths[j], widths[j - 1]))
    prods += [(ny, nx, m), (ny, m, nx)] * 2  # VX and (residual)Xᵀ, for V and for the twin
    for j in range(1, N):
        prods.append((ny, widths[j - 1], widths[j]))  # M_{j+1} = M_j W_jᵀ
        prods.append((widths[j], ny, widths[j - 1]))  # G_j = P_jᵀ M_j
    return prods


def flops(prods: list[tuple[int, int, int]]) -> float:
    return float(sum(2 * r * k * c for r, k, c in prods))


def matmul_seconds(prods: list[tuple[int, int, int]], repeats: int) -> list[float]:
    """Time of performing exactly these products with NumPy (each alone, operands resident)."""
    rng = np.random.default_rng(0)
    ops = [(rng.standard_normal((r, k)), rng.standard_normal((k, c))) for r, k, c in prods]
    for A, B in ops:  # warm the BLAS
        A @ B
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for A, B in ops:
            A @ B
        out.append(time.perf_counter() - t0)
    return out


def matmul_seconds_best(prods: list[tuple[int, int, int]], repeats: int,
                        set_threads: Callable[[int | None], int | None] | None = None
                        ) -> dict[str, Any]:
    """``matmul_seconds`` with one BLAS thread and with the default count; the faster setting
    (smaller median) is the machine's throughput (multi-threaded BLAS on thin products or a
    loaded machine can be many times slower). Without ``set_threads``: the default only."""
    runs: dict[str, list[float]] = {"default": matmul_seconds(prods, repeats)}
    if set_threads is not None:
        old = set_threads(1)
        try:
            runs["1"] = matmul_seconds(prods, repeats)
        finally:
            set_threads(old)
    picked = min(runs, key=lambda k: statistics.median(runs[k]))
    return {"seconds": runs[picked], "blas_threads": picked,
            "by_threads": {k: _stats(v) for k, v in runs.items()}}


class Counter:
    """Matrix products with their flops counted (2·rows·inner·cols each)."""

    def __init__(self) -> None:
        self.flops = 0.0

    def mm(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        self.flops += 2.0 * A.shape[0] * A.shape[1] * B.shape[1]
        return A @ B


def numpy_step(Ws: list[np.ndarray], twin: np.ndarray, X: np.ndarray, Y: np.ndarray, a: float,
               eta: float, eta_s: float, cnt: Counter | None = None
               ) -> tuple[list[np.ndarray], np.ndarray, float, float]:
    """GD (7) and the twin's GD (2) on ½‖WX − Y‖², written as the formulas read: the chains
    W_{N:j+1} and W_{j−1:1} multiplied out right to left, then W_{N:j+1}ᵀ ∇L W_{j−1:1}ᵀ."""
    cnt = cnt or Counter()
    N = len(Ws)

    def chain(mats: list[np.ndarray], size: int) -> np.ndarray:
        if not mats:
            return np.eye(size)
        P = mats[0]
        for W in mats[1:]:
            P = cnt.mm(W, P)
        return P

    V = a * chain(Ws, X.shape[0])
    R = cnt.mm(V, X) - Y
    gV = cnt.mm(R, X.T)
    grads = []
    for j in range(1, N + 1):
        left = chain(Ws[j:], Ws[j - 1].shape[0])
        right = chain(Ws[: j - 1], X.shape[0])
        grads.append(a * cnt.mm(cnt.mm(left.T, gV), right.T))
    new = [W - eta * G for W, G in zip(Ws, grads, strict=True)]
    Rt = cnt.mm(twin, X) - Y
    twin = twin - eta_s * cnt.mm(Rt, X.T)
    return new, twin, 0.5 * float(np.sum(R * R)), float(np.sum((V - twin) ** 2))


def _spec(h: int, steps: int) -> dict[str, Any]:
    return {"id": f"bench-deep-{h}",
            "problem": {"kind": "deep_linear", "depth": DEPTH, "hidden": h,
                        "loss": "squared_half", "sigma_min_inner_every": 0,
                        "data": {"kind": "synthetic", "n": NX, "m": NY, "samples": M,
                                 "x": "gaussian", "target": "gaussian", "target_std": 1.0,
                                 "noise": 1.0}},
            "schedule": {"kind": "constant", "eta": "data_norm"},
            "steps": steps, "seeds": 1}


def section_e(widths: list[int], steps: int, numpy_steps: int, repeats: int,
              log=print, set_threads: Callable[[int | None], int | None] | None = None,
              numpy_threads: int | None = None) -> dict[str, Any]:
    """Per-step time, GFLOP/s vs the matmul throughput, and the NumPy-loop ratio per width."""
    import overparam as op
    from overparam.inits.deep_linear import normalization

    out: dict[str, Any] = {"depth": DEPTH, "nx": NX, "ny": NY, "m": M, "steps": steps,
                           "widths": {}}
    with tempfile.TemporaryDirectory(prefix="overparam-bench-e-") as tmp:
        for h in widths:
            log(f"(e) deep linear step, hidden width {h}")
            spec = _spec(h, steps)
            op.run(spec, out=Path(tmp) / "warm", progress=False)  # compiles
            per_step = []
            for r in range(repeats):
                res = op.run({**spec, "seed": 100 + r}, out=Path(tmp) / f"r{r}", progress=False)
                per_step.append(float(res.runs["run_s"].iloc[0]) / (steps + 1))
            widths_full = [NX] + [h] * (DEPTH - 1) + [NY]
            prods = step_products(widths_full, NX, NY, M)
            f = flops(prods)
            mm_best = matmul_seconds_best(prods, repeats, set_threads)
            mm = mm_best["seconds"]
            rng = np.random.default_rng(0)
            Ws = [rng.standard_normal((widths_full[j + 1], widths_full[j]))
                  for j in range(DEPTH)]
            X, Y = rng.standard_normal((NX, M)), rng.standard_normal((NY, M))
            a = normalization(widths_full)
            lam = float(np.linalg.norm(X, 2) ** 2)
            eta = NY / (DEPTH * lam)
            twin = a * np.linalg.multi_dot(Ws[::-1])
            cnt = Counter()
            old = set_threads(numpy_threads) if set_threads else None
            try:
                numpy_step(Ws, twin, X, Y, a, eta, 1 / lam, cnt)  # warm, and count its flops
                t_np = []
                for _ in range(numpy_steps):
                    t0 = time.perf_counter()
                    Ws, twin, _, _ = numpy_step(Ws, twin, X, Y, a, eta, 1 / lam)
                    t_np.append(time.perf_counter() - t0)
            finally:
                if set_threads:
                    set_threads(old)
            step_med, mm_med = statistics.median(per_step), statistics.median(mm)
            out["widths"][str(h)] = {
                "overparam_step_s": _stats(per_step), "flops_per_step": f,
                "achieved_gflops": f / step_med / 1e9,
                "matmul_same_products_s": _stats(mm), "matmul_gflops": f / mm_med / 1e9,
                "matmul_blas_threads": mm_best["blas_threads"],
                "matmul_by_blas_threads": mm_best["by_threads"],
                "share_of_matmul": mm_med / step_med,
                "numpy_loop_step_s": _stats(t_np),
                "speedup_vs_numpy_loop": statistics.median(t_np) / step_med,
                "numpy_loop_flops_per_step": cnt.flops,
            }
    return out


def _stats(xs: list[float]) -> dict[str, Any]:
    v = [float(x) for x in xs]
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v),
            "values": v}
