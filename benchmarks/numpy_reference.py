"""Plain NumPy reference for paper A's Fig 1 experiment (``local-pl/bound-tightness``).

The direct way, as one would write it without overparam: Python loops over settings,
seeds and steps; the h×h imbalance D = W1ᵀW1 − W2ᵀW2 is formed explicitly (``eigvalsh`` of
D(0) for the Table 2 constants, ‖D(t) − D(0)‖_F and the exact increment of eq 131 per step);
σ(T) from SVDs of W1, W2; the curvature ⟨g, Hg⟩/‖g‖² from the explicit Hessian quadratic
form; the local step η·K_t(η) = 1 with ``numpy.roots``. Only the scalar root finders
``overparam.theory.local_pl.eta_max`` / ``theorem32_constants`` are borrowed.

Cost: O(h³) per run at set-up (eigvalsh of D(0)) and O(n·h²) per step (forming D(t)).

CLI (prints one JSON line with the measured seconds)::

    python benchmarks/numpy_reference.py --widths 500 1000 4000 --seeds 2 --steps 200
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from overparam.theory.local_pl import eta_max, theorem32_constants

#: Fig 1 grid (paper A §4).
WIDTHS = (500, 1000, 4000)
NOISES = (0.1, 1.0, 3.0)  # sigma^2 of local-pl/bound-tightness
SCHEDULES = ("local_pl", "global_pl", "constant")
N = M = 10
C, D = 0.5, 1.01
DIVERGE_FACTOR = 1e6


@dataclass
class RunResult:
    """One run's timings and final state (enough to sanity-check against overparam)."""

    width: int
    noise: float
    schedule: str
    seed: int
    setup_s: float
    steps_s: float
    final_loss: float
    eta0: float
    alpha1: float
    alpha2: float
    trace: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.setup_s + self.steps_s


def random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Haar orthogonal n×n (QR with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def make_instance(width: int, noise: float, seed: int) -> dict[str, np.ndarray]:
    """W1, W2 ~ N(0, 1); X orthogonal; Y = X W1(0)W2(0)ᵀ + noise·N(0, 1) (paper A Fig 1)."""
    rng = np.random.default_rng([seed, width])
    W1 = rng.standard_normal((N, width))
    W2 = rng.standard_normal((M, width))
    X = random_orthogonal(rng, N)
    Y = X @ (W1 @ W2.T) + noise * rng.standard_normal((N, M))
    return {"X": X, "Y": Y, "W1": W1, "W2": W2}


def signed_gram(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """The explicit h×h matrix PᵀP − QᵀQ, as one GEMM [P; −Q]ᵀ[P; Q].

    (One GEMM is ~8× faster in NumPy than ``P.T @ P - Q.T @ Q``, whose two SYRK results are
    symmetrized by a slow copy, so the reference is not handicapped by the naive spelling.)
    """
    return np.vstack([P, -Q]).T @ np.vstack([P, Q])


def imbalance(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """The explicit h×h imbalance D = W1ᵀW1 − W2ᵀW2."""
    return signed_gram(W1, W2)


def table2(D0: np.ndarray, W1: np.ndarray, W2: np.ndarray, W_star: np.ndarray,
           K: float, mu: float) -> dict[str, float]:
    """Table 2 constants from the full spectrum of the h×h D(0) (O(h³) eigvalsh)."""
    h = D0.shape[0]
    ev = np.linalg.eigvalsh(D0)[::-1]  # descending: ev[k-1] = λ_k(D)
    lam_plus = max(ev[0], 0.0)
    lam_minus = max(-ev[-1], 0.0)
    ln = max(ev[N - 1], 0.0)
    lm = max(-ev[h - M], 0.0)  # λ_m(−D) = −λ_{h−m+1}(D)
    Delta, Dp, Dm = ln + lm, lam_plus - ln, lam_minus - lm
    s_star = np.linalg.svd(W_star, compute_uv=False)
    dist = math.sqrt(K / mu) * np.linalg.norm(W1 @ W2.T - W_star)
    beta1 = max(0.0, s_star[-1] - dist)
    beta2 = s_star[0] + dist
    alpha1 = 0.5 * (-Dp - Dm + math.sqrt((Dp + Delta) ** 2 + 4 * beta1**2)
                    + math.sqrt((Dm + Delta) ** 2 + 4 * beta1**2))
    alpha2 = (0.5 * (lam_plus + math.sqrt(lam_plus**2 + 4 * beta2**2))
              + 0.5 * (lam_minus + math.sqrt(lam_minus**2 + 4 * beta2**2)))
    return {"alpha1": float(alpha1), "alpha2": float(alpha2), "beta1": float(beta1),
            "beta2": float(beta2)}


def sigma2_T(W1: np.ndarray, W2: np.ndarray) -> tuple[float, float]:
    """(σ²min(T), σ²max(T)) = sums of extreme squared singular values of W1, W2 (Lemma A.2)."""
    s1 = np.linalg.svd(W1, compute_uv=False) ** 2
    s2 = np.linalg.svd(W2, compute_uv=False) ** 2
    return float(s1[-1] + s2[-1]), float(s1[0] + s2[0])


def local_step(K: float, s2max_T: float, smax_W: float, L: float) -> float:
    """Positive real root of 6K²σmax(W)Lη³ + 3Kσ²max(T)√(2KL)η² + (Kσ²max(T) + √(2KL))η − 1."""
    r = math.sqrt(2 * K * L)
    roots = np.roots([6 * K**2 * smax_W * L, 3 * K * s2max_T * r, K * s2max_T + r, -1.0])
    real = roots[(np.abs(roots.imag) <= 1e-12 * np.abs(roots)) & (roots.real > 0)].real
    return float(real.min()) if real.size else math.inf


def K_bar(t: float, c: dict[str, float]) -> float:
    """Uniform smoothness K̄_t of Theorem 3.2 (roots cover ρ̄0^t and Δ̃^t)."""
    K, L0, e0, dt = c["K"], c["L0"], c["eta0"], c["Delta_tilde"] ** t
    return (math.sqrt(2 * K * L0 * c["rho_bar0"] ** t) + 6 * K**2 * c["beta2"] * L0 * e0**2 * dt
            + K * math.exp(e0**C) * c["alpha2"] * (1 + 3 * math.sqrt(2 * K * L0 * dt) * e0))


def curvature(X: np.ndarray, gradl: np.ndarray, W1: np.ndarray, W2: np.ndarray,
              V1: np.ndarray, V2: np.ndarray) -> float:
    """⟨v, Hv⟩/‖v‖² of L(W1, W2) = ½‖XW1W2ᵀ − Y‖² along v = (V1, V2), explicit formula."""
    dW = V1 @ W2.T + W1 @ V2.T
    quad = np.sum((X @ dW) ** 2) + 2.0 * np.sum(gradl * (V1 @ V2.T))
    return float(quad / (np.sum(V1 * V1) + np.sum(V2 * V2)))


def run_one(width: int, noise: float, schedule: str, seed: int, steps: int,
            keep_trace: bool = False) -> RunResult:
    """Set up and run one seed of one setting; every observable of the package per step."""
    t0 = time.perf_counter()
    inst = make_instance(width, noise, seed)
    X, Y, W1, W2 = inst["X"], inst["Y"], inst["W1"], inst["W2"]
    sx = np.linalg.svd(X, compute_uv=False)
    K, mu = float(sx[0] ** 2), float(sx[-1] ** 2)
    W_star = np.linalg.lstsq(X, Y, rcond=None)[0]
    l_star = 0.5 * float(np.sum((X @ W_star - Y) ** 2))
    L0 = max(0.5 * float(np.sum((X @ (W1 @ W2.T) - Y) ** 2)) - l_star, 0.0)
    D0 = imbalance(W1, W2)
    c: dict[str, float] = {"K": K, "mu": mu, "L0": L0, **table2(D0, W1, W2, W_star, K, mu)}
    em = eta_max(K, mu, L0, c["alpha1"], c["alpha2"], c["beta2"], C, D)
    eta0 = em["eta_max"]
    ok0 = math.isfinite(eta0) and eta0 > 0
    c["eta0"] = eta0 if ok0 else 0.0
    c.update(theorem32_constants(K, mu, L0, c["alpha1"], c["alpha2"], c["beta2"], c["eta0"], C, D))
    setup_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    trace: dict[str, list[float]] = {}
    prod_local = prod_global = L0
    threshold = DIVERGE_FACTOR * max(L0 + l_star, 1.0)
    alive = ok0
    loss = float("nan")
    for t in range(steps + 1 if ok0 else 0):
        W = W1 @ W2.T
        R = X @ W - Y
        loss = 0.5 * float(np.sum(R * R))
        gap = max(loss - l_star, 0.0)
        gradl = X.T @ R
        G1, G2 = gradl @ W2, gradl.T @ W1
        gn2 = float(np.sum(G1 * G1) + np.sum(G2 * G2))
        sW = np.linalg.svd(W, compute_uv=False)
        s2min_T, s2max_T = sigma2_T(W1, W2)
        Dt = imbalance(W1, W2)
        drift = float(np.linalg.norm(Dt - D0))
        if schedule == "local_pl":
            eta = min(eta0 * (1 + eta0**D) ** (t / 2), local_step(K, s2max_T, sW[0], gap))
        elif schedule == "global_pl":
            eta = min(eta0 * (1 + eta0**D) ** (t / 2), 1.0 / K_bar(t, c))
        else:
            eta = eta0
        inc = eta**2 * float(np.linalg.norm(signed_gram(G1, G2)))  # eq 131, explicit h×h
        mu_t = mu * s2min_T
        r = math.sqrt(2 * K * gap)
        K_t = K * s2max_T + r + 6 * K**2 * sW[0] * gap * eta**2 + 3 * K * s2max_T * r * eta
        rho = 1 - 2 * mu_t * eta + mu_t * K_t * eta**2
        kb = K_bar(t, c)
        mu_bar = c["mu_bar"]
        rho_bar = 1 - 2 * mu_bar * eta + mu_bar * kb * eta**2
        row = {
            "loss": loss, "loss_gap": gap, "eta": eta, "grad_norm": math.sqrt(gn2),
            "pl_ratio": gn2 / (2 * gap) if gap > 0 else math.inf, "mu_t": mu_t, "K_t": K_t,
            "rho": rho, "K_bar": kb, "rho_bar": rho_bar, "sigma_min_T2": s2min_T,
            "sigma_max_T2": s2max_T, "sigma_min_W": sW[-1], "sigma_max_W": sW[0],
            "imbalance_drift": drift, "imbalance_step": inc,
            "lemma_e2_rhs": 2 * K * eta**2 * s2max_T * gap,
            "curvature": curvature(X, gradl, W1, W2, G1, G2),
            "bound_local": prod_local, "bound_global": prod_global,
            "bound_const": L0 * c["rho_bar0"] ** t,
        }
        for k, v in row.items():
            trace.setdefault(k, []).append(float(v))
        alive = alive and math.isfinite(loss) and loss <= threshold and math.isfinite(eta)
        if not alive:
            break
        W1, W2 = W1 - eta * G1, W2 - eta * G2
        prod_local *= rho
        prod_global *= rho_bar
    steps_s = time.perf_counter() - t1
    return RunResult(width, noise, schedule, seed, setup_s, steps_s, loss, eta0,
                     c["alpha1"], c["alpha2"],
                     {k: np.asarray(v) for k, v in trace.items()} if keep_trace else {})


def run_grid(widths: list[int], seeds: int, steps: int, noises: tuple[float, ...] = NOISES,
             schedules: tuple[str, ...] = SCHEDULES, seed0: int = 0) -> dict[str, Any]:
    """Loop over widths × noises × schedules × seeds; per-width and per-run seconds."""
    per_width: dict[str, Any] = {}
    t_all = time.perf_counter()
    for h in widths:
        runs = [run_one(h, s2, sch, seed0 + k, steps)
                for s2 in noises for sch in schedules for k in range(seeds)]
        tot = [r.total_s for r in runs]
        per_width[str(h)] = {
            "runs": len(runs), "settings": len(noises) * len(schedules), "seeds": seeds,
            "seconds": float(sum(tot)),
            "setup_seconds": float(sum(r.setup_s for r in runs)),
            "step_seconds": float(sum(r.steps_s for r in runs)),
            "per_run_mean_s": float(np.mean(tot)), "per_run_min_s": float(np.min(tot)),
            "per_run_max_s": float(np.max(tot)),
            "per_run_setup_mean_s": float(np.mean([r.setup_s for r in runs])),
            "final_loss_median": float(np.median([r.final_loss for r in runs])),
            "alpha_ratio_mean": float(np.mean([r.alpha1 / r.alpha2 for r in runs])),
            "eta0_mean": float(np.mean([r.eta0 for r in runs])),
        }
    return {"widths": per_width, "seeds": seeds, "steps": steps,
            "runs_seconds": float(sum(w["seconds"] for w in per_width.values())),
            "loop_wall_s": time.perf_counter() - t_all}


def main(argv: list[str] | None = None) -> None:
    """CLI: run the grid and print one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS))
    p.add_argument("--seeds", type=int, default=2, help="seeds per setting (30 = the full experiment)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--noises", type=float, nargs="+", default=list(NOISES))
    p.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=SCHEDULES)
    a = p.parse_args(argv)
    out = run_grid(a.widths, a.seeds, a.steps, tuple(a.noises), tuple(a.schedules))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
