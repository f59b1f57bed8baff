"""The generic probe as a family: full-batch GD on any pure JAX model ``f(params, X)``, with
the theory's measurements at every iterate (docs/probe.md).

Seeds draw their weights with the model's own ``init(key)`` from ``PRNGKey(seed)``; the data
is the same for every seed. The parameters are flattened once (``ravel_pytree``) so that every
measurement works on one vector; the step itself is in :mod:`overparam.generic.step`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from overparam import (
    _jax,  # noqa: F401  (float64)
    schedules,
)
from overparam.errors import SpecError
from overparam.generic import data as probe_data
from overparam.generic import models
from overparam.generic.losses import make_loss
from overparam.generic.step import COLUMNS, Carry, make_step, slq_columns
from overparam.problems.protocol import (
    Family,
    Finalized,
    Prepared,
    divergence_threshold,
    stall_reason,
)
from overparam.resources import Term, rows_terms
from overparam.schedules.local_curvature import local_curvature
from overparam.spec.jax_model import PROBLEM


class Instance(NamedTuple):
    X: np.ndarray
    Y: np.ndarray
    w0: np.ndarray  # flat initial parameters
    key: np.ndarray  # the seed's PRNG key (raw uint32) for the probe vectors


def _flat_model(problem: Any, like: Any = None):
    """(apply_flat(w, X), init, unravel): the model on one flat parameter vector."""
    from jax.flatten_util import ravel_pytree

    apply, init = models.resolve(problem)
    params = init(jax.random.PRNGKey(0)) if like is None else like
    _, unravel = ravel_pytree(params)
    return (lambda w, X: apply(unravel(w), X)), init, unravel


def build_instance(setting: Any, seed: int, base_dir: Path) -> Instance:
    """The data, and the seed's weights from the model's init."""
    from jax.flatten_util import ravel_pytree

    p = setting.problem
    X, Y = probe_data.load(p, base_dir, seed)
    _, init = models.resolve(p)
    key = jax.random.PRNGKey(seed)
    try:
        w0, _ = ravel_pytree(init(key))
        out = jax.eval_shape(models.resolve(p)[0], init(key), X)
    except Exception as exc:  # the user's code: say where it failed, in one line
        raise SpecError("problem.model", f"calling the model failed: {type(exc).__name__}: "
                        f"{str(exc)[:300]}") from None
    if tuple(out.shape) != Y.shape:
        raise SpecError("problem.data", f"the model's output has shape {tuple(out.shape)} "
                        f"but the targets Y have {Y.shape}")
    return Instance(X, Y, np.asarray(w0, np.float64),
                    np.asarray(jax.random.fold_in(key, 7), np.uint32))


def _schedule(setting: Any):
    """The step rule: eq 19's ``local_pl`` reads the curvature along the gradient here (there
    is no closed-form K_t for a general model); the other kinds as everywhere."""
    if setting.schedule.kind == "local_pl":
        return local_curvature(setting.schedule), True
    return schedules.build(setting.schedule), False


def prepare(setting: Any, insts: list[Instance]) -> Prepared:
    """Constants, carries, data and the step of a batch of seeds."""
    p = setting.problem
    apply_flat, init, _ = _flat_model(p)
    loss_fn = make_loss(p.loss)
    schedule, local = _schedule(setting)
    consts, carries, data = [], [], []
    for inst in insts:
        F0 = np.asarray(apply_flat(jnp.asarray(inst.w0), inst.X), np.float64)
        w0 = jnp.asarray(inst.w0)
        L0 = float(loss_fn(F0, inst.Y) + 0.5 * p.loss.ridge * jnp.vdot(w0, w0))
        c = {"L0": L0, "params": int(inst.w0.size), "outputs": int(inst.Y.size),
             "samples": int(inst.X.shape[0])}
        consts.append(c)
        rng = np.random.default_rng([int(inst.key[0]), int(inst.key[1])])
        v = rng.standard_normal(inst.w0.size)
        u = rng.standard_normal(inst.Y.size)
        carries.append(Carry(
            w=inst.w0, sched=schedule.init({"eta0": np.float64(np.nan)}), t=np.zeros(()),
            step=np.zeros((), np.int32), alive=np.ones((), bool), v_top=v / np.linalg.norm(v),
            v_ntk=u / np.linalg.norm(u), lin_w=inst.w0, lin_alive=np.ones((), bool)))
        data.append({"X": inst.X, "Y": inst.Y, "w0": inst.w0, "F0": F0, "key": inst.key,
                     "l_star": np.float64(p.loss.l_star),
                     "diverge_at": np.float64(divergence_threshold(setting, L0)),
                     "v_fallback": v / np.linalg.norm(v), "u_fallback": u / np.linalg.norm(u)})
    return Prepared(consts, carries, data, make_step(p, apply_flat, loss_fn, schedule, local))


#: The column that says whether a measurement came out finite on a step where it was due.
MEASURED_COLUMN = {"curvature": "curvature", "pl_ratio": "pl_ratio", "sharpness": "sharpness",
                   "trace": "hessian_trace", "ntk": "ntk_lambda_max", "lazy_gap": "lazy_gap",
                   "dist_init": "dist_init"}


def nonfinite_measurements(problem: Any, steps: Any) -> int:
    """Steps where a requested measurement was due but came out NaN or infinite (a Hessian
    with NaNs, say): reported, never a crash, and the run's status stays its loss's."""
    count = 0
    for name in problem.measure:
        column = MEASURED_COLUMN.get(name)
        if column is None:
            continue
        due = steps["step"].to_numpy() % problem.every.get(name, 1) == 0
        count += int(np.sum(due & ~np.isfinite(steps[column].to_numpy())))
    return count


def finalize(setting: Any, inst: Instance, c: dict[str, Any], steps: Any,
             status: str) -> Finalized:
    """The run's summary columns (no paper's theorem applies to a general model: its
    verdicts are the experiment's claims)."""
    last = steps.iloc[-1]
    extra = {"final_loss": float(last["loss"]), "final_loss_gap": float(last["loss_gap"]),
             "max_eta_sharpness": float(np.nanmax(steps["eta_sharpness"].to_numpy()))
             if steps["eta_sharpness"].notna().any() else float("nan"),
             "nonfinite_measurements": nonfinite_measurements(setting.problem, steps)}
    return Finalized(c, extra, [])


def stalled(setting: Any, c: dict[str, Any], steps: Any) -> str:
    """A run whose loss gap barely moved while η·curvature stayed tiny (needs curvature)."""
    ratio = (steps["eta"] * steps["curvature"]).to_numpy()
    return stall_reason(steps["loss_gap"].to_numpy(), ratio, "eta*curvature")


#: Copies of the flat parameters alive in a step (w, w0, gradient, linearized model, HVP
#: work) and of the Lanczos basis.
PARAM_COPIES = 12


def memory(setting: Any, base_dir: Path) -> list[Term]:
    """The arrays of one seed: parameters, Lanczos bases (k × P, k × outputs), probe
    vectors, data, and the logged rows."""
    p = setting.problem
    apply, init = models.resolve(p)
    try:
        shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
    except Exception as exc:
        raise SpecError("problem.init", f"calling init failed: {type(exc).__name__}: "
                        f"{str(exc)[:300]}") from None
    P = float(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes)))
    k = p.lanczos.iters
    X, Y = probe_data.load(p, base_dir, 0)
    terms = [Term("parameters", "problem.model", P, PARAM_COPIES),
             Term("the data", "problem.data", float(X.size + 3 * Y.size))]
    if {"sharpness", "slq", "trace"} & set(p.measure):
        terms.append(Term("Hessian Lanczos basis and probes", "problem.lanczos.iters",
                          P * (k + p.lanczos.probes + p.lanczos.slq_probes * k), 1.5,
                          hint="lower problem.lanczos.iters or probes"))
    if "ntk" in p.measure:
        terms.append(Term("NTK Lanczos basis", "problem.lanczos.iters", float(Y.size) * k, 2))
    columns = len(COLUMNS) + len(slq_columns(p)) + 2
    return terms + rows_terms(setting, columns)


def figure(root: Path, runs: Any, steps: Any) -> list[str]:
    """A user spec's figures: the loss (and the linearized model's), the sharpness against
    2/η and the SLQ spectral density, where measured."""
    from overparam.generic.figures import default_figures

    return default_figures(root, runs, steps)


def extra_columns(setting: Any) -> tuple[str, ...]:
    return slq_columns(setting.problem)


FAMILY = Family(
    spec=PROBLEM, columns=COLUMNS, build_instance=build_instance, prepare=prepare,
    finalize=finalize, stalled=stalled, memory=memory, figure=figure,
    # η lives in the schedule state: a sweep over it shares one executable
    runtime_fields=("problem.data", "init", "diverge_factor", "problem.loss.l_star",
                    "schedule.eta", "schedule.eta0"),
    extra_columns=extra_columns,
)
