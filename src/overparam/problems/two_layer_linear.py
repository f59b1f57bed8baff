"""Paper A's problem: instances (data, init, theory constants) and the per-step trace.

Every observable is computed inside the compiled step from n×n, m×m or (n+m)-sized
Gram matrices; nothing width×width is formed. The loop runs on the weights' coordinates in
an orthonormal basis of their row space ((n+m) columns instead of h, see
``tl.row_space_coordinates``), so a step costs the same at every width.
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
from overparam.checks.local_pl import run_checks
from overparam.data.synthetic import load_data, make_synthetic
from overparam.inits.two_layer_linear import draw_init
from overparam.losses import two_layer_linear as losses
from overparam.memory import two_layer_linear as memory
from overparam.models import two_layer_linear as tl
from overparam.numerics import curvature
from overparam.problems.protocol import (
    Family,
    Finalized,
    Prepared,
    alive_after,
    divergence_threshold,
    stall_reason,
)
from overparam.resources import Term, rows_terms
from overparam.schedules import Schedule, StepContext
from overparam.spec import InlineData, NpyData, PLSchedule, Setting, XuSchedule
from overparam.spec.two_layer_linear import PROBLEM
from overparam.theory import local_pl as th

#: Per-step columns of steps.parquet for this problem (besides step, t).
COLUMNS = (
    "loss", "loss_gap", "eta", "grad_norm", "pl_ratio", "mu_t", "K_t", "rho", "K_bar", "rho_bar",
    "sigma_min_T2", "sigma_max_T2", "sigma_min_W", "sigma_max_W", "imbalance_drift",
    "imbalance_step", "lemma_e2_rhs", "curvature", "curvature_seg_max", "curvature_seg_min",
    "bound_local", "bound_global", "bound_const",
    "rate_this_local", "rate_prior_local", "rho_xu", "xu_a", "n_evals",
)

TABLE2_KEYS = ("lambda_plus", "lambda_minus", "Delta", "Delta_plus", "Delta_minus", "beta1",
               "beta2", "alpha1", "alpha2")



class Instance(NamedTuple):
    """One seed's problem: data, initial weights, loss constants."""

    X: np.ndarray
    Y: np.ndarray
    W1: np.ndarray
    W2: np.ndarray
    K: float
    mu: float
    W_star: np.ndarray
    l_star: float


def _given_data(setting: Setting, base_dir: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """User data (npy or inline), read once; None for synthetic data drawn per seed."""
    data = setting.problem.data
    if isinstance(data, NpyData):
        return load_data(data, base_dir, setting.problem.loss)
    if isinstance(data, InlineData):
        return np.array(data.X, dtype=np.float64), np.array(data.Y, dtype=np.float64)
    return None


def build_instance(setting: Setting, seed: int, base_dir: Path) -> Instance:
    """Draw the init, then the data (Y may depend on W(0), paper A §4), then ℓ's constants."""
    prob = setting.problem
    rng_init = np.random.default_rng([seed, 1])
    rng_data = np.random.default_rng([seed, 2])
    given = _given_data(setting, base_dir)
    n, m = (given[0].shape[1], given[1].shape[1]) if given else (prob.data.n, prob.data.m)
    W1, W2 = draw_init(setting.init, n, m, prob.width, rng_init, base_dir)
    X, Y = given if given else make_synthetic(prob.data, W1 @ W2.T, rng_data, prob.loss)
    lc = losses.constants(prob.loss, prob.ridge, X, Y)
    # numpy scalars: the theory's powers of K overflow to inf (a huge ridge) instead of
    # raising OverflowError as Python floats do
    return Instance(X, Y, W1, W2, np.float64(lc.K), np.float64(lc.mu), lc.W_star, lc.l_star)


def _default(model: type, name: str) -> float:
    return model.model_fields[name].default


def schedule_cd(setting: Setting) -> tuple[float, float]:
    """Theorem 3.2's c, d: the schedule's, else eq 19's defaults (the paper's experiments)."""
    s = setting.schedule
    return (getattr(s, "c", _default(PLSchedule, "c")), getattr(s, "d", _default(PLSchedule, "d")))


def theory_constants(setting: Setting, inst: Instance) -> dict[str, float]:
    """Table 2, Theorem 3.2 and eq 66–68 constants of one run (linear in the width)."""
    loss_fn = losses.make_loss(setting.problem.loss, setting.problem.ridge)
    L0 = float(loss_fn(jnp.asarray(inst.W1 @ inst.W2.T), jnp.asarray(inst.X), jnp.asarray(inst.Y)))
    L0 = max(L0 - inst.l_star, 0.0)
    c, d = schedule_cd(setting)
    if inst.W1.shape[1] >= max(inst.W1.shape[0], inst.W2.shape[0]):
        t2 = th.table2_constants(inst.W1, inst.W2, inst.W_star, inst.K, inst.mu)
    else:  # λ_n(D(0)), λ_m(−D(0)) do not exist: Table 2 and Theorem 3.2 say nothing
        t2 = dict.fromkeys(TABLE2_KEYS, float("nan"))
    em = th.eta_max(inst.K, inst.mu, L0, t2["alpha1"], t2["alpha2"], t2["beta2"], c, d)
    sched = setting.schedule
    choice = getattr(sched, "eta", getattr(sched, "eta0", "eta_max"))
    # numpy's float64: a huge step size overflows to inf (the run then diverges) where a Python
    # float would raise OverflowError inside the theory's powers
    eta0 = np.float64(getattr(sched, "scale", 1.0)) * np.float64(
        em["eta_max"] if choice == "eta_max" else float(choice))
    eta0_ok = bool(np.isfinite(eta0) and eta0 > 0)
    t32 = th.theorem32_constants(
        inst.K, inst.mu, L0, t2["alpha1"], t2["alpha2"], t2["beta2"],
        eta0 if eta0_ok else 0.0, c, d,
    )
    s2min, s2max = (float(v) for v in tl.sigma2_T(jnp.asarray(inst.W1), jnp.asarray(inst.W2)))
    a_lo, a_hi = th.a_bounds(t2["alpha1"], t2["alpha2"], eta0, c)
    out: dict[str, float] = {
        "K": inst.K, "mu": inst.mu, "l_star": inst.l_star, "L0": L0, "c": c, "d": d,
        **{k: float(v) for k, v in t2.items()},
        **{k: float(v) for k, v in em.items()},
        "eta0": float(eta0) if eta0_ok else float("nan"),
        "mu_bar": float(t32["mu_bar"]), "K_bar0": float(t32["K_bar0"]),
        "rho_bar0": float(t32["rho_bar0"]), "Delta_tilde": float(t32["Delta_tilde"]),
        "a4_lower": float(a_lo), "a4_upper": float(a_hi),
        "drift_bound": float(th.drift_bound(inst.K, eta0, t2["alpha2"], L0, c, t32["Delta_tilde"])),
        "sigma_min_T2_0": s2min, "sigma_max_T2_0": s2max,
        "rate_this_global": float(th.rate_this_global(inst.mu, inst.K, t2["alpha1"], t2["alpha2"])),
        "rate_xu_global": float(
            th.rate_xu_global(inst.mu, inst.K, t2["alpha1"], t2["alpha2"],
                              _default(XuSchedule, "c1"), _default(XuSchedule, "c2"))
        ),
        "rate_this_local0": float(th.rate_this_local(inst.mu, inst.K, s2min, s2max)),
        "rate_prior_local0": float(th.rate_prior_local(inst.mu, inst.K, s2min, s2max)),
        "rate_plain": 1.0 - inst.mu / inst.K,
        "resid_scale": float(np.linalg.norm(inst.Y) + np.linalg.norm(inst.X @ inst.W1 @ inst.W2.T)),
    }
    out["rho_bar0"] = out["rho_bar0"] if eta0_ok else float("nan")
    return out


#: The subset of theory constants carried into the compiled loop.
LOOP_CONSTS = ("K", "mu", "l_star", "L0", "c", "alpha1", "alpha2", "beta2", "eta0",
               "mu_bar", "rho_bar0", "Delta_tilde")


class Carry(NamedTuple):
    params: tuple[Any, ...]  # (B1, B2), see initial_params; (W,) for plain GD
    params0: Any  # the initial coordinates, for ‖D(t) − D(0)‖_F
    sched: Any
    t: jax.Array  # flow time Σ η
    step: jax.Array
    alive: jax.Array
    prod_local: jax.Array
    prod_global: jax.Array


def initial_params(inst: Instance, plain: bool) -> tuple[np.ndarray, ...]:
    """(W1(0)W2(0)ᵀ,) for plain GD, else (B1, B2): the coordinates of (W1(0), W2(0)) in an
    orthonormal basis Q of their row space (W_i = B_i Qᵀ, ``tl.row_space_coordinates``).

    GD never leaves that row space and every observable of the trace is invariant under
    W_i ↦ W_i Q, so the loop runs on (B1, B2) and Q itself is never needed.
    """
    if plain:
        return (inst.W1 @ inst.W2.T,)
    B1, B2, _ = tl.row_space_coordinates(inst.W1, inst.W2, with_basis=False)
    return (B1, B2)


def initial_carry(inst: Instance, schedule: Schedule, consts: dict[str, Any], plain: bool) -> Carry:
    """The loop's state at t = 0 (numpy arrays: the engine stacks the seeds on the host)."""
    params = initial_params(inst, plain)
    L0 = np.float64(consts["L0"])
    return Carry(
        params=params, params0=params, sched=schedule.init(consts), t=np.zeros(()),
        step=np.zeros((), np.int32), alive=np.ones((), bool), prod_local=L0, prod_global=L0,
    )


def make_step(setting: Setting, schedule: Schedule, plain: bool):
    """The per-seed step: observe iterate t, choose η_t, update; returns (carry, row)."""
    loss_fn = losses.make_loss(setting.problem.loss, setting.problem.ridge)
    nan = jnp.asarray(jnp.nan)
    quartic = setting.problem.loss == "squared"  # curvature along the step: exact quadratic

    def step(carry: Carry, data: dict[str, Any], k: jax.Array):
        X, Y, c = data["X"], data["Y"], data["consts"]

        def total(params):
            W = params[0] if plain else params[0] @ params[1].T
            return loss_fn(W, X, Y)

        params = carry.params
        W = params[0] if plain else params[0] @ params[1].T
        lval, gradl = jax.value_and_grad(loss_fn)(W, X, Y)
        # ℓ* is known to round-off only; the theory's L(t) − ℓ* is clamped at 0.
        gap = jnp.maximum(lval - c["l_star"], 0.0)
        grads = (gradl,) if plain else (gradl @ params[1], gradl.T @ params[0])
        gn2 = sum(jnp.sum(g * g) for g in grads)
        gradl_norm = jnp.linalg.norm(gradl)
        sv_W = jnp.linalg.svd(W, compute_uv=False)
        smax_W, smin_W = sv_W[0], sv_W[-1]
        if plain:
            s2min_T = s2max_T = nan
        else:
            s2min_T, s2max_T = tl.sigma2_T(params[0], params[1])

        def loss_after(eta):
            new = total(tuple(p - eta * g for p, g in zip(params, grads, strict=True)))
            return jnp.maximum(new - c["l_star"], 0.0)

        ctx = StepContext(
            t=carry.step.astype(jnp.float64), L=gap, grad_norm2=gn2, loss_after=loss_after,
            consts=c, gradl_norm=gradl_norm, W_fro=jnp.linalg.norm(W), s2min_T=s2min_T,
            s2max_T=s2max_T, smax_W=smax_W,
        )
        eta, n_evals, sched = schedule.step(carry.sched, ctx)
        ok = alive_after(carry.alive, lval, c["diverge_at"], eta)
        new_params = tuple(
            jnp.where(ok, p - eta * g, p) for p, g in zip(params, grads, strict=True)
        )
        tf = carry.step.astype(jnp.float64)
        curv0, curv_hi, curv_lo = curvature.segment_extremes(total, params, grads, eta, quartic)
        row = {"loss": lval, "loss_gap": gap, "eta": eta, "grad_norm": jnp.sqrt(gn2),
               "pl_ratio": gn2 / (2.0 * gap), "sigma_min_W": smin_W, "sigma_max_W": smax_W,
               "curvature": curv0, "curvature_seg_max": curv_hi, "curvature_seg_min": curv_lo,
               "n_evals": n_evals,
               "bound_const": c["L0"] * c["rho_bar0"] ** tf}
        if plain:
            rho = 1.0 - 2.0 * c["mu"] * eta + c["mu"] * c["K"] * eta**2  # eq 5
            row.update({"rho": rho})
            prod_local, prod_global = carry.prod_local * rho, carry.prod_global
        else:
            W1, W2 = params
            mu_t = c["mu"] * s2min_T
            K_t = th.K_t(eta, c["K"], s2max_T, smax_W, gap)
            rho = th.rho(eta, mu_t, K_t)
            K_bar = th.K_bar(tf, c["eta0"], c["K"], c["L0"], c["alpha2"], c["beta2"],
                             c["rho_bar0"], c["Delta_tilde"], c["c"])
            rho_bar = th.rho_bar(eta, c["mu_bar"], K_bar)
            row.update({
                "mu_t": mu_t, "K_t": K_t, "rho": rho, "K_bar": K_bar, "rho_bar": rho_bar,
                "sigma_min_T2": s2min_T, "sigma_max_T2": s2max_T,
                "imbalance_drift": tl.imbalance_drift_fro(W1, W2, carry.params0[0], carry.params0[1]),
                "imbalance_step": tl.imbalance_step_fro(W1, W2, gradl, eta),
                "lemma_e2_rhs": th.lemma_e2_bound(c["K"], eta, s2max_T, gap),
                "rate_this_local": th.rate_this_local(c["mu"], c["K"], s2min_T, s2max_T),
                "rate_prior_local": th.rate_prior_local(c["mu"], c["K"], s2min_T, s2max_T),
                "rho_xu": th.rho_xu(eta, c["mu"], c["K"], s2min_T, s2max_T, smax_W, gradl_norm),
                "xu_a": gradl_norm * ctx.W_fro,
            })
            prod_local, prod_global = carry.prod_local * rho, carry.prod_global * rho_bar
        row["bound_local"] = carry.prod_local
        row["bound_global"] = nan if plain else carry.prod_global
        row = {k: jnp.asarray(row.get(k, nan), jnp.float64) for k in COLUMNS}
        row["t"] = carry.t
        row["alive"] = carry.alive
        # The row of the step where the run fails keeps its (non-finite or huge) loss.
        new = Carry(
            params=new_params, params0=carry.params0, sched=sched,
            t=carry.t + jnp.where(ok, eta, 0.0), step=carry.step + 1, alive=ok,
            prod_local=prod_local, prod_global=prod_global,
        )
        return new, row

    return step


def dense_lemma_a2(
    W1: np.ndarray, W2: np.ndarray, gram: tuple[float, float] | None = None
) -> tuple[float, float, float, float]:
    """(σ²min, σ²max) of T from the explicit Jacobian, and from Lemma A.2's Gram formula.

    σ(T) is invariant under W_i ↦ W_i Q (Q orthonormal), so the Jacobian is built for the
    row-space coordinates of (W1, W2): (n+m)²·nm entries instead of (n+m)h·nm. ``gram``: the
    formula's values when already known (the run's sigma_min_T2_0, sigma_max_T2_0).
    """
    B1, B2, _ = tl.row_space_coordinates(W1, W2, with_basis=False)
    sv = tl.dense_T_singular_values(B1, B2)
    if gram is None:
        gram = tuple(float(v) for v in tl.sigma2_T(jnp.asarray(W1), jnp.asarray(W2)))
    return float(sv.min() ** 2), float(sv.max() ** 2), float(gram[0]), float(gram[1])


#: Lemma A.2's dense check runs when the explicit Jacobian has at most this many entries.
DENSE_JACOBIAN_MAX = 4_000_000
ETA0_SCHEDULES = {"constant", "local_pl", "global_pl"}


# -------------------------------------------------------------- the runner's hooks
def prepare(setting: Setting, insts: list[Instance]) -> Prepared:
    """Constants, carries, data and step for a batch of seeds of one setting."""
    plain = setting.schedule.kind == "plain_inverse_k"
    schedule = schedules.build(setting.schedule)
    consts = [theory_constants(setting, inst) for inst in insts]
    loop_consts = [{k: np.float64(c[k]) for k in LOOP_CONSTS} for c in consts]
    for lc in loop_consts:
        if not np.isfinite(lc["eta0"]):
            lc["eta0"] = np.float64(np.nan)
        # the raw loss is compared: ℓ(0) = L0 + ℓ*
        lc["diverge_at"] = np.float64(divergence_threshold(setting, lc["L0"] + lc["l_star"]))
    carries = [initial_carry(i, schedule, lc, plain)
               for i, lc in zip(insts, loop_consts, strict=True)]
    data = [{"X": i.X, "Y": i.Y, "consts": lc} for i, lc in zip(insts, loop_consts, strict=True)]
    return Prepared(consts, carries, data, make_step(setting, schedule, plain))


def finalize(setting: Setting, inst: Instance, c: dict[str, Any], steps: Any,
             status: str) -> Finalized:
    """The run record's extra fields and the verdict rows."""
    plain = setting.schedule.kind == "plain_inverse_k"
    c = dict(c)
    n, m = inst.X.shape[1], inst.Y.shape[1]
    c.update(width=setting.problem.width, n=n, m=m)
    if not plain and n * m * (n + m) * setting.problem.width <= DENSE_JACOBIAN_MAX:
        c["lemmaA2"] = dense_lemma_a2(inst.W1, inst.W2,
                                      (c["sigma_min_T2_0"], c["sigma_max_T2_0"]))
    checks = [] if status == "failed" else run_checks(setting, steps, c)
    c.pop("lemmaA2", None)
    c.pop("width")
    extra = {"final_loss": float(steps["loss"].iloc[-1]),
             "final_loss_gap": float(steps["loss_gap"].iloc[-1])}
    steps["n_evals"] = steps["n_evals"].astype("int64")  # backtracking's evaluation count
    return Finalized(c, extra, checks)


def failure(setting: Setting, c: dict[str, Any]) -> str:
    """Why the run cannot start ('' when it can): a step size that does not exist."""
    if setting.schedule.kind in ETA0_SCHEDULES and not np.isfinite(c["eta0"]):
        return "eta0 = eta_max is undefined (alpha1 <= 0 or no root)"
    return ""


def stalled(setting: Setting, c: dict[str, Any], steps: Any) -> str:
    """A run whose loss gap barely moved while η_t·K_t stayed tiny (η_max far below 1/K_t,
    docs/errata.md A10)."""
    ratio = steps["eta"].to_numpy() * steps["K_t"].to_numpy()
    return stall_reason(steps["loss_gap"].to_numpy(), ratio, "eta*K_t")


def memory_terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed, and the logged rows (COLUMNS, t, alive)."""
    return memory.terms(setting, base_dir) + rows_terms(setting, len(COLUMNS) + 2)


def figure(root: Path, runs: Any, steps: Any) -> list[str]:
    """A user spec's figure: log10 of L(t) − ℓ* per setting with the schedule's bound."""
    from overparam.plots import curves_figure

    def bound(grp: Any) -> tuple[str, str]:
        kind = grp["schedule.kind"].iloc[0] if "schedule.kind" in grp else ""
        name = {"local_pl": "bound_local", "global_pl": "bound_global"}.get(
            kind if isinstance(kind, str) else "", "bound_const")
        return name, f"bound ({name})"

    return curves_figure(root, runs, steps, ("loss_gap", "L(t) − ℓ*"), bound,
                         ylabel="log10 (loss − minimum)", title="loss and bound")


FAMILY = Family(
    spec=PROBLEM, columns=COLUMNS, build_instance=build_instance, prepare=prepare,
    finalize=finalize, failure=failure, stalled=stalled, memory=memory_terms, figure=figure,
    # the loop runs on (n+m)-column coordinates: every width shares one executable
    runtime_fields=("problem.data", "problem.width", "init", "diverge_factor"),
)
