"""Section (i) of the benchmark: the generic probe's sharpness measurement.

GD on the edge-of-stability network (a tanh MLP 64-32-32-10 on 500 digits, mean squared loss,
η = 0.2) for ``steps`` steps and ``seeds`` seeds, three ways:

- overparam, plain GD steps (``measure: []``): execution seconds of a warm run;
- overparam with the sharpness every 10 steps (Lanczos, 20 iterations, warm-started):
  its cost relative to plain GD is the first ratio;
- the reference a researcher writes today: per seed, a Python loop of jitted GD steps and,
  every 10 steps, ``scipy.sparse.linalg.eigsh(k=1, which="LA")`` on a ``LinearOperator`` of a
  jitted forward-over-reverse Hessian-vector product. Its time over overparam's is the
  second ratio; its λ_max must agree with overparam's sharpness column (``AGREEMENT_RTOL``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

EVERY, ITERS, ETA = 10, 20, 0.2
#: Lanczos with 20 warm-started iterations against eigsh converged to round-off.
AGREEMENT_RTOL = 1e-6


def _spec(measure: list[str], steps: int, seeds: int, tag: str) -> dict[str, Any]:
    from overparam.experiments.probe import PROBLEM

    return {"id": f"bench-probe-{tag}",
            "problem": {**PROBLEM, "measure": measure, "every": (
                {"sharpness": EVERY} if "sharpness" in measure else {}),
                "lanczos": {"iters": ITERS}},
            "schedule": {"kind": "constant", "eta": ETA}, "steps": steps, "seeds": seeds}


def _overparam(measure: list[str], steps: int, seeds: int, tmp: Path, tag: str):
    """Execution seconds of a warm run (a first run compiles) and its steps table."""
    import overparam as op

    op.run(_spec(measure, steps, seeds, tag), out=tmp / f"{tag}-warm")
    res = op.run(_spec(measure, steps, seeds, tag), out=tmp / f"{tag}-timed")
    return float(res.runs["run_s"].iloc[0]), res


def _reference(steps: int, seeds: int) -> tuple[float, dict[int, np.ndarray]]:
    """The Python loop with scipy's eigsh, per seed; seconds (compilation excluded: one warm
    call of each jitted function first) and λ_max per seed at steps 0, 10, ..."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
    from scipy.sparse.linalg import LinearOperator, eigsh

    from overparam.experiments.probe import PROBLEM
    from overparam.generic.data import digits
    from overparam.generic.models import mlp
    from overparam.spec.jax_model import DigitsData

    X, Y = digits(DigitsData(**PROBLEM["data"]))
    apply, init = mlp(**PROBLEM["model_args"])
    _, unravel = ravel_pytree(init(jax.random.PRNGKey(0)))

    def loss(w):
        return 0.5 * jnp.mean(jnp.sum((apply(unravel(w), X) - Y) ** 2, axis=1))

    step = jax.jit(lambda w: w - ETA * jax.grad(loss)(w))
    hvp = jax.jit(lambda w, v: jax.jvp(jax.grad(loss), (w,), (v,))[1])
    w = ravel_pytree(init(jax.random.PRNGKey(0)))[0]
    step(w).block_until_ready()
    hvp(w, w).block_until_ready()
    lams: dict[int, np.ndarray] = {}
    t0 = time.perf_counter()
    for seed in range(seeds):
        w = ravel_pytree(init(jax.random.PRNGKey(seed)))[0]
        out = []
        for k in range(steps + 1):
            if k % EVERY == 0:
                op_ = LinearOperator((w.size, w.size), dtype=np.float64,
                                     matvec=lambda v, w=w: np.asarray(hvp(w, jnp.asarray(v))))
                out.append(float(eigsh(op_, k=1, which="LA", return_eigenvectors=False)[0]))
            if k < steps:
                w = step(w)
        lams[seed] = np.array(out)
    return time.perf_counter() - t0, lams


def section_i(quick: bool, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Plain GD, GD with sharpness, and the eigsh reference; ratios in the same run."""
    steps, seeds = (100, 2) if quick else (1000, 4)
    tmp = Path(tempfile.mkdtemp(prefix="overparam-bench-probe-"))
    plain, sharp, ref, worst = [], [], [], 0.0
    for r in range(repeats):
        t, _ = _overparam([], steps, seeds, tmp, f"plain{r}")
        plain.append(t)
        t, res = _overparam(["sharpness"], steps, seeds, tmp, f"sharp{r}")
        sharp.append(t)
        t, lams = _reference(steps, seeds)
        ref.append(t)
        for seed, lam in lams.items():
            rid = res.runs.loc[res.runs["seed"] == seed, "run_id"].item()
            s = res.steps[res.steps["run_id"] == rid].dropna(subset=["sharpness"])
            worst = max(worst, float(np.max(np.abs(s["sharpness"].to_numpy() - lam) / lam)))
        log(f"(i) repeat {r}: plain {plain[-1]:.3g} s, sharpness {sharp[-1]:.3g} s, "
            f"eigsh reference {ref[-1]:.3g} s")
    return {"steps": steps, "seeds": seeds, "every": EVERY, "iters": ITERS,
            "plain_s": plain, "sharpness_s": sharp, "reference_s": ref,
            "agreement": {"max_rel_diff": worst, "rtol": AGREEMENT_RTOL,
                          "ok": worst <= AGREEMENT_RTOL}}


def rows_i(res: dict[str, Any], row: Callable, with_values: Callable,
           ratio_of: Callable) -> list[dict[str, Any]]:
    """The uniform table rows of section (i)."""
    plain, sharp = with_values(res["plain_s"]), with_values(res["sharpness_s"])
    ref = with_values(res["reference_s"])
    size = f"{res['seeds']} seeds × {res['steps']} steps, λ_max every {res['every']}"
    return [
        row("i", f"GD with sharpness vs plain GD ({size})", "s", overparam=sharp,
            reference=plain, reference_is="overparam plain GD (same run)",
            ratio=ratio_of(plain, sharp, paired=True),
            note="ratio < 1: the cost factor of the measurement is 1/ratio"),
        row("i", f"sharpness: scipy eigsh on jitted HVPs vs overparam ({size})", "s",
            overparam=sharp, reference=ref,
            reference_is="per-seed Python loop, eigsh(LinearOperator(jitted HVP))",
            ratio=ratio_of(ref, sharp, paired=True),
            note=f"max relative λ_max difference {res['agreement']['max_rel_diff']:.2g}"),
    ]
