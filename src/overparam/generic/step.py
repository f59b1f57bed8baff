"""The probe's per-seed step: one GD iterate of any model, with its measurements.

Every measurement is computed on iterate t before the update, from Hessian-vector products
(forward over reverse) and Jacobian-vector products, never a dense Hessian or Jacobian. The
costly ones (sharpness, trace, SLQ, NTK) run every k-th step (``every``); the step index is
not batched, so ``lax.cond`` skips them on the other steps and their columns are NaN there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from overparam import _jax  # noqa: F401  (float64)
from overparam.generic import operators as ops
from overparam.numerics import lanczos as lz
from overparam.problems.protocol import alive_after
from overparam.schedules.base import StepContext

#: Logged columns (NaN where a measurement is off or not due at that step).
COLUMNS = (
    "loss", "loss_gap", "eta", "two_over_eta", "grad_norm", "pl_ratio", "curvature",
    "sharpness", "lambda_min", "sharpness_residual", "eta_sharpness", "hessian_trace",
    "hessian_trace_se", "ntk_lambda_min", "ntk_lambda_max", "dist_init", "lazy_gap",
    "lin_loss", "n_evals",
)


class Carry(NamedTuple):
    w: jax.Array  # the flat parameters
    sched: Any
    t: jax.Array
    step: jax.Array
    alive: jax.Array
    v_top: jax.Array  # the last top Hessian Ritz vector (warm start)
    v_ntk: jax.Array  # the last top NTK Ritz vector
    lin_w: jax.Array  # the linearized model's parameters (trained by the same steps)
    lin_alive: jax.Array


def slq_columns(problem: Any) -> tuple[str, ...]:
    """The SLQ node/weight columns of a setting: probe-major, ``slq_node_{probe}_{j}``."""
    if "slq" not in problem.measure:
        return ()
    p, k = problem.lanczos.slq_probes, problem.lanczos.iters
    names = [f"slq_{what}_{i}_{j}" for what in ("node", "weight")
             for i in range(p) for j in range(k)]
    return tuple(names)


def _due(k: jax.Array, every: int) -> jax.Array:
    return (k % every) == 0


def make_step(problem: Any, apply_flat: Callable, loss_fn: Callable, schedule: Any,
              local_curvature: bool) -> Callable:
    """The per-seed step ``step(carry, data, k)`` of a validated jax_model problem.

    ``apply_flat(w, X)`` is the model on flat parameters, ``loss_fn(F, Y)`` the loss without
    ridge; ``local_curvature``: the schedule reads the curvature along the gradient."""
    measure = set(problem.measure)
    every = {name: problem.every.get(name, 1) for name in ("sharpness", "trace", "slq", "ntk")}
    iters, probes, slq_probes = (problem.lanczos.iters, problem.lanczos.probes,
                                 problem.lanczos.slq_probes)
    ridge = problem.loss.ridge
    nan = jnp.asarray(jnp.nan)
    want_curv = "curvature" in measure or local_curvature

    def step(carry: Carry, d: dict[str, Any], k: jax.Array):
        X, Y, w = d["X"], d["Y"], carry.w

        def with_outputs(v):
            F = apply_flat(v, X)
            return loss_fn(F, Y) + 0.5 * ridge * jnp.vdot(v, v), F

        def total(v):
            return with_outputs(v)[0]

        (loss, F), g = jax.value_and_grad(with_outputs, has_aux=True)(w)
        gap = loss - d["l_star"]
        gn2 = jnp.vdot(g, g)
        hess = ops.hvp(total, w)
        curv = ops.curvature_along(total, w, g) if want_curv else nan
        ctx = StepContext(t=carry.step.astype(jnp.float64), L=jnp.maximum(gap, 0.0),
                          grad_norm2=gn2, consts={"curvature": curv},
                          loss_after=lambda eta: jnp.maximum(total(w - eta * g) - d["l_star"],
                                                             0.0))
        eta, n_evals, sched = schedule.step(carry.sched, ctx)
        row = {"loss": loss, "loss_gap": gap, "eta": eta, "two_over_eta": 2.0 / eta,
               "grad_norm": jnp.sqrt(gn2), "curvature": curv, "n_evals": n_evals,
               "pl_ratio": gn2 / (2.0 * gap) if "pl_ratio" in measure else nan}
        v_top, v_ntk = carry.v_top, carry.v_ntk
        if "sharpness" in measure:
            def sharp(v0):
                ex = lz.extreme_eigs(hess, v0, iters, d["v_fallback"])
                return (ex.lam_max, ex.lam_min, ex.residual), ex.v_top

            (lmax, lmin, res), v_top = jax.lax.cond(
                _due(k, every["sharpness"]), sharp, lambda v0: ((nan, nan, nan), v0), v_top)
            row.update(sharpness=lmax, lambda_min=lmin, sharpness_residual=res,
                       eta_sharpness=eta * lmax)
        key = jax.random.fold_in(d["key"], k)
        if "trace" in measure:
            tr, se = jax.lax.cond(
                _due(k, every["trace"]),
                lambda: lz.hutchinson(hess, lz.rademacher(jax.random.fold_in(key, 1),
                                                          probes, w.size)),
                lambda: (nan, nan))
            row.update(hessian_trace=tr, hessian_trace_se=se)
        if "slq" in measure:
            def quadrature():
                nodes, weights = lz.slq(hess, lz.rademacher(jax.random.fold_in(key, 2),
                                                            slq_probes, w.size), iters)
                pad = ((0, 0), (0, iters - nodes.shape[1]))  # k = min(iters, parameters)
                return (jnp.pad(nodes, pad, constant_values=jnp.nan),
                        jnp.pad(weights, pad, constant_values=0.0))

            nodes, weights = jax.lax.cond(
                _due(k, every["slq"]), quadrature,
                lambda: (jnp.full((slq_probes, iters), jnp.nan),) * 2)
            for i in range(slq_probes):
                for j in range(iters):
                    row[f"slq_node_{i}_{j}"] = nodes[i, j]
                    row[f"slq_weight_{i}_{j}"] = weights[i, j]
        if "ntk" in measure:
            def ntk(v0):
                ex = lz.extreme_eigs(ops.ntk_matvec(lambda v: apply_flat(v, X), w), v0, iters,
                                     d["u_fallback"])
                return (ex.lam_min, ex.lam_max), ex.v_top

            (nmin, nmax), v_ntk = jax.lax.cond(
                _due(k, every["ntk"]), ntk, lambda v0: ((nan, nan), v0), v_ntk)
            row.update(ntk_lambda_min=nmin, ntk_lambda_max=nmax)
        if "dist_init" in measure:
            row["dist_init"] = jnp.linalg.norm(w - d["w0"])
        lin_w, lin_alive = carry.lin_w, carry.lin_alive
        if "lazy_gap" in measure:
            def lin_total(v):
                F = d["F0"] + jax.jvp(lambda u: apply_flat(u, X), (d["w0"],), (v - d["w0"],))[1]
                return loss_fn(F, Y) + 0.5 * ridge * jnp.vdot(v, v), F

            (lin_loss, F_lin), lin_g = jax.value_and_grad(lin_total, has_aux=True)(lin_w)
            row.update(lin_loss=lin_loss,
                       lazy_gap=jnp.linalg.norm(F - F_lin))
            lin_ok = alive_after(lin_alive, lin_loss, d["diverge_at"])
            lin_w = jnp.where(lin_ok, lin_w - eta * lin_g, lin_w)
            lin_alive = lin_ok
        ok = alive_after(carry.alive, loss, d["diverge_at"], eta, g)
        row = {name: jnp.asarray(row.get(name, nan), jnp.float64) for name in row} | {
            name: nan for name in COLUMNS if name not in row}
        row["t"], row["alive"] = carry.t, carry.alive
        new = Carry(w=jnp.where(ok, w - eta * g, w), sched=sched,
                    t=carry.t + jnp.where(ok, eta, 0.0), step=carry.step + 1, alive=ok,
                    v_top=v_top, v_ntk=v_ntk, lin_w=lin_w, lin_alive=lin_alive)
        return new, row

    return step
