"""Section (f) of the benchmark: one GD step of paper B's shallow network V·φ(WX).

Problem kind ``shallow`` on sphere data (n samples on S^{d0−1}, d2 = 1 output), GELU,
loss ‖Z − Y‖²_F, the step size ``ntk`` (1/(β_f λ_max) of the NTK at init), no NTK during the
run (``ntk_every: 0``). At each hidden width d1 it measures

- overparam's compiled step for all seeds of the batch (execution only: runs.parquet
  ``run_s / (steps + 1)`` of a warm run, the per-row observables included);
- a plain NumPy loop over the seeds doing the same GD step: forward pass, loss, the
  hand-written gradient (2 R φᵀ, 2 (φ'(WX) ⊙ VᵀR) Xᵀ) and the same cheap observables
  (gradient norm, distance to init, path length, σ_max(V), relative movements);
- the achieved GFLOP/s (the counted flops of the forward and backward products,
  2·rows·inner·cols each, per step over all seeds, divided by the step time) against the
  machine's matmul throughput on exactly those products (NumPy/BLAS, each product alone);
- the NumPy loop's agreement with overparam's loss curve (same data and init: the instance
  is built through overparam's problem family), which must hold to ``AGREEMENT_RTOL``.

Each repeat runs overparam and then the NumPy loop on the same seeds, so the repeats are
paired.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from deep_linear_bench import flops, matmul_seconds_best
from scipy.special import ndtr

N_SAMPLES, D0, D2 = 256, 64, 1
ACTIVATION = "gelu"
AGREEMENT_RTOL = 1e-9
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _spec(d1: int, steps: int, seeds: int, n: int, d0: int) -> dict[str, Any]:
    return {"id": f"bench-shallow-{d1}",
            "problem": {"kind": "shallow", "width": d1, "activation": ACTIVATION,
                        "loss": "sum", "ntk_every": 0,
                        "data": {"kind": "sphere", "n": n, "d0": d0, "d2": D2}},
            "init": {"kind": "omega", "omega1": 1.0, "product": "lecun"},
            "schedule": {"kind": "constant", "eta": "ntk"},
            "steps": steps, "seeds": seeds}


def step_products(d0: int, d1: int, d2: int, n: int) -> list[tuple[int, int, int]]:
    """(rows, inner, cols) of the products of one seed's step: forward W X and V φ, backward
    R φᵀ (∇V), Vᵀ R and (φ' ⊙ VᵀR) Xᵀ (∇W)."""
    return [(d1, d0, n), (d2, d1, n), (d2, n, d1), (d1, d2, n), (d1, n, d0)]


def initial_loss(W: np.ndarray, V: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
    """h(Θ) = ‖V φ(WX) − Y‖²_F with φ = GELU."""
    pre = W @ X
    return float(np.sum((V @ (pre * ndtr(pre)) - Y) ** 2))


def numpy_run(W0: np.ndarray, V0: np.ndarray, X: np.ndarray, Y: np.ndarray, eta: float,
              steps: int, diverge_at: float) -> dict[str, np.ndarray]:
    """GD on h = ‖V φ(WX) − Y‖²_F for one seed, observing each iterate before it moves
    (steps + 1 rows, as overparam's runs)."""
    W, V = W0.copy(), V0.copy()
    nW0, nV0 = float(np.linalg.norm(W0)), float(np.linalg.norm(V0))
    rows = steps + 1
    out = {k: np.full(rows, np.nan) for k in ("loss", "grad_norm", "dist_init", "path_length",
                                              "sigma_max_V", "rel_movement", "rel_movement_V")}
    path, alive = 0.0, True
    for k in range(rows):
        pre = W @ X
        cdf = ndtr(pre)
        phi = pre * cdf
        R = V @ phi - Y
        loss = float(np.sum(R * R))
        gV = 2.0 * (R @ phi.T)
        dphi = cdf + pre * (_INV_SQRT_2PI * np.exp(-0.5 * pre * pre))
        gW = 2.0 * ((dphi * (V.T @ R)) @ X.T)
        gn = math.sqrt(float(np.sum(gW * gW) + np.sum(gV * gV)))
        dW, dV = W - W0, V - V0
        mW, mV = float(np.sum(dW * dW)), float(np.sum(dV * dV))
        out["loss"][k], out["grad_norm"][k], out["path_length"][k] = loss, gn, path
        out["dist_init"][k] = math.sqrt(mW + mV)
        out["sigma_max_V"][k] = math.sqrt(float(np.linalg.eigvalsh(V @ V.T)[-1]))
        out["rel_movement"][k], out["rel_movement_V"][k] = math.sqrt(mW) / nW0, math.sqrt(mV) / nV0
        alive = alive and math.isfinite(loss) and loss <= diverge_at
        if not alive:
            break
        W = W - eta * gW
        V = V - eta * gV
        path += eta * gn
    return out


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def section_f(widths: list[int], steps: int, seeds: int, repeats: int, n: int = N_SAMPLES,
              d0: int = D0, blas_threads: Callable[[int | None], int | None] | None = None,
              threads: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Per-step time of overparam and of the NumPy loop (paired repeats), GFLOP/s against the
    matmul throughput on the same products, and the loss-curve agreement, per width d1."""
    import overparam as op
    from overparam import problems
    from overparam.runner import plan

    out: dict[str, Any] = {"n": n, "d0": d0, "d2": D2, "activation": ACTIVATION,
                           "seeds": seeds, "steps": steps, "repeats": repeats,
                           "agreement_rtol": AGREEMENT_RTOL, "widths": {}}
    with tempfile.TemporaryDirectory(prefix="overparam-bench-f-") as tmp:
        for d1 in widths:
            log(f"(f) shallow step, width d1 = {d1}: warm-up run (compiles)")
            spec = _spec(d1, steps, seeds, n, d0)
            op.run(spec, out=Path(tmp) / f"warm-{d1}", progress=False)
            p = plan(spec)
            setting = p.settings[0]
            fam = problems.family(setting)
            insts = {s: fam.build_instance(setting, s, p.base_dir) for s in p.seeds()}
            diverge_at = {s: setting.diverge_factor * max(initial_loss(i.W0, i.V0, i.data.X,
                                                                       i.data.Y), 1.0)
                          for s, i in insts.items()}
            op_step, np_step, batch_sizes = [], [], []
            curves: dict[int, dict[str, np.ndarray]] = {}
            res = None
            for r in range(repeats):
                log(f"(f) width {d1}: repeat {r + 1}/{repeats} (overparam, then the NumPy loop)")
                res = op.run(spec, out=Path(tmp) / f"{d1}-r{r}", progress=False)
                runs = res.runs.sort_values("seed")
                # the seeds of one batch share its run_s: sum over batches (one, normally)
                batches = runs.drop_duplicates(["run_s", "compile_s", "batch_size"])
                batch_sizes.append([int(b) for b in batches["batch_size"]])
                op_step.append(float(batches["run_s"].sum()) / (steps + 1))
                etas = dict(zip(runs["seed"].astype(int), runs["eta"].astype(float),
                                strict=True))
                old = blas_threads(threads) if blas_threads else None
                try:
                    t0 = time.perf_counter()
                    for s, inst in insts.items():
                        curves[s] = numpy_run(inst.W0, inst.V0, inst.data.X, inst.data.Y,
                                              etas[s], steps, diverge_at[s])
                    np_step.append((time.perf_counter() - t0) / (steps + 1))
                finally:
                    if blas_threads:
                        blas_threads(old)
            assert res is not None
            runs = res.runs.set_index("run_id")
            st = res.steps
            loss_final, loss_curve, path_curve = [], [], []
            for rid, g in st.groupby("run_id"):
                s = int(runs.loc[rid, "seed"])
                g = g.sort_values("step")
                c = curves[s]
                m = min(len(g), int(np.sum(np.isfinite(c["loss"]))))
                loss_final.append(_rel_diff(c["loss"][m - 1:m], g["loss"].to_numpy()[m - 1:m]))
                loss_curve.append(_rel_diff(c["loss"][:m], g["loss"].to_numpy()[:m]))
                path_curve.append(_rel_diff(c["path_length"][1:m],
                                            g["path_length"].to_numpy()[1:m]) if m > 1 else 0.0)
            prods = step_products(d0, d1, D2, n) * seeds
            f = flops(prods)
            log(f"(f) width {d1}: matmul throughput on the same products")
            mm_best = matmul_seconds_best(prods, repeats, blas_threads)
            mm = mm_best["seconds"]
            out["widths"][str(d1)] = {
                "overparam_step_s": _stats(op_step), "numpy_loop_step_s": _stats(np_step),
                "batch_size": batch_sizes, "flops_per_step": f,
                "flops_per_step_per_seed": f / seeds,
                "matmul_same_products_s": _stats(mm),
                "matmul_blas_threads": mm_best["blas_threads"],
                "matmul_by_blas_threads": mm_best["by_threads"],
                "steps_done": [int(x) for x in res.runs.sort_values("seed")["steps_done"]],
                "eta": [float(x) for x in res.runs.sort_values("seed")["eta"]],
                "agreement": {
                    "final_loss_max_rel_diff": max(loss_final),
                    "loss_curve_max_rel_diff": max(loss_curve),
                    "path_length_max_rel_diff": max(path_curve),
                    "ok": max(loss_final) <= AGREEMENT_RTOL,
                },
            }
    return out


def _stats(xs: list[float]) -> dict[str, Any]:
    v = [float(x) for x in xs]
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v),
            "values": v}
