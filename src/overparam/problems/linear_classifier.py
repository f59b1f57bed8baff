"""Paper D's problem: a (deep) linear classifier on spherically symmetric data, logistic loss.

One compiled step covers every dynamics: GD on the exact population loss or on a fixed
sample, SGD (fresh draws or minibatches of a sample), gradient flow on all layers and the
induced end-to-end flow (14), the flows solved by diffrax between saved times t_k = kη.
Whatever trains the net, each row measures the iterate against the population loss: the
angle to v, ‖w_e‖, L, the two parts of ∇L(w_e) of Lemma 2 and eq (7), and ‖∇L(w_e)‖
(Prop. 3).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from overparam import (
    _jax,  # noqa: F401  (float64)
    schedules,
)
from overparam.checks.directional import run_checks
from overparam.data import linear_classifier as spherical
from overparam.errors import SpecError
from overparam.inits.common import check_finite
from overparam.losses import linear_classifier as pop
from overparam.memory import linear_classifier as memory
from overparam.models import linear_classifier as model
from overparam.problems.protocol import (
    Family,
    Finalized,
    Prepared,
    alive_after,
    divergence_threshold,
    stall_reason,
)
from overparam.resources import Term, rows_terms
from overparam.schedules import StepContext
from overparam.spec import GaussianInit, Setting
from overparam.spec.linear_classifier import PROBLEM
from overparam.theory import directional_curves as curves

#: Columns the compiled step writes (besides step, t).
LOOP_COLUMNS = (
    "cos_theta", "theta", "weight_norm", "loss", "loss_sample", "grad_tangential", "grad_radial",
    "grad_norm", "balance_drift", "eta", "cond11_lhs", "eq10_residual",
)
#: Columns derived after the run: Lemma 2's right side, the phase, the bound curves.
DERIVED_COLUMNS = (
    "lemma2_rhs", "cond11_rhs", "phase", "bound_lower", "bound_upper", "norm_lower", "norm_upper",
    "bound_lower_restart", "bound_upper_restart",
)
COLUMNS = LOOP_COLUMNS + DERIVED_COLUMNS

#: The paper's w(0) = (0.6, −0.8) with v = (0, 1): cos θ0 = −0.8, norm 1.
DEFAULT_THETA0 = math.acos(-0.8)

SOLVERS = {"tsit5": diffrax.Tsit5, "dopri8": diffrax.Dopri8, "kvaerno5": diffrax.Kvaerno5}


class Instance(NamedTuple):
    """One seed's problem: distribution, quadrature, v, layers and (if any) a fixed sample."""

    dist: spherical.Spherical
    rule: pop.PlaneRule
    v: np.ndarray
    Ws: list[np.ndarray]
    we0: np.ndarray  # w_e(0) = (W_N(0) ⋯ W_1(0))ᵀ
    widths: list[int]
    X: np.ndarray  # (samples, d); a single zero row when the run uses no fixed sample
    y: np.ndarray
    key: np.ndarray  # PRNG key data for SGD's draws


def make_distribution(setting: Setting) -> spherical.Spherical:
    """The spec's distribution; a bad law or parameter is a field-named error."""
    prob = setting.problem
    d = prob.distribution
    try:
        return spherical.make_distribution(d.kind, prob.dim, df=d.df, law=d.law,
                                           args=tuple(d.args), scale=d.scale)
    except ValueError as exc:
        raise SpecError("problem.distribution", str(exc)) from None


def initial_vector(setting: Setting, v: np.ndarray) -> np.ndarray:
    """w_e(0): the init's w0, or norm0·(cos θ0 v + sin θ0 e) with e the first basis vector
    made orthogonal to v (for d = 2, v = e_2 this is the paper's (0.6, −0.8))."""
    init = setting.init
    if getattr(init, "w0", None) is not None:
        return np.asarray(init.w0, dtype=float)
    theta0 = init.theta0 if getattr(init, "theta0", None) is not None else DEFAULT_THETA0
    norm0 = getattr(init, "norm0", 1.0)
    basis = np.eye(v.size)
    e = basis[0] - v[0] * v
    if np.linalg.norm(e) < 1e-8:
        e = basis[1] - v[1] * v
    e /= np.linalg.norm(e)
    return norm0 * (math.cos(theta0) * v + math.sin(theta0) * e)


def initial_layers(setting: Setting, widths: list[int], v: np.ndarray,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """The layers: rank-one (balanced, §5's literal one, or rescaled) or i.i.d. Gaussian."""
    init, N = setting.init, len(widths) - 1
    if isinstance(init, GaussianInit):
        std = init.std if init.std is not None else 1.0
        return [std * rng.standard_normal((widths[j + 1], widths[j])) for j in range(N)]
    w0 = initial_vector(setting, v)
    norm = float(np.linalg.norm(w0))
    if init.layers == "paper":
        scales = [norm] + [1.0] * (N - 1)
    else:
        scales = [norm ** (1.0 / N)] * N
        if init.layers == "scaled":
            scales = [s * c for s, c in zip(scales, init.layer_scales, strict=True)]
    return model.rank_one_layers(w0, widths, rng, scales)


def build_instance(setting: Setting, seed: int, base_dir: Path) -> Instance:
    """Layers from [seed, 1], the fixed sample from [seed, 2], SGD's key from [seed, 3]."""
    prob = setting.problem
    dist = make_distribution(setting)
    rule = pop.plane_rule(*dist.radius_rule(prob.radius_level), level=prob.quadrature_level)
    v = np.asarray(prob.unit_v())
    widths = prob.layer_widths()
    with np.errstate(all="ignore"):  # an overflowing init is checked (and named) below
        Ws = initial_layers(setting, widths, v, np.random.default_rng([seed, 1]))
        check_finite(setting.init, *Ws, np.linalg.multi_dot([np.eye(1), *Ws[::-1]]))
    n = getattr(prob.dynamics, "samples", None)
    if n:
        X = dist.sample(np.random.default_rng([seed, 2]), n)
        y = np.where(X @ v >= 0, 1.0, -1.0)
    else:
        X, y = np.zeros((1, prob.dim)), np.ones(1)
    key = np.asarray(jax.random.key_data(jax.random.PRNGKey(np.random.default_rng([seed, 3])
                                                            .integers(2**31))))
    we0 = np.asarray(model.end_to_end([jnp.asarray(W) for W in Ws]))
    return Instance(dist, rule, v, Ws, we0, widths, X, y, key)


# ------------------------------------------------------------------ the step
class Carry(NamedTuple):
    params: tuple  # the layers, or (w_e,) for the induced flow
    key: jax.Array
    t: jax.Array
    alive: jax.Array
    sched: Any  # the schedule's state


def _rule(data: dict) -> pop.PlaneRule:
    return pop.PlaneRule(data["r"], data["r_w"], data["x"], data["x_w"])


def make_step(setting: Setting, dist: spherical.Spherical, N: int):
    """The per-seed step: measure the iterate, then move it by the setting's dynamics."""
    prob = setting.problem
    dyn = prob.dynamics
    schedule = schedules.build(setting.schedule)
    induced = dyn.kind == "induced_flow"
    flow = dyn.kind in ("flow", "induced_flow")
    sample_grad = getattr(dyn, "gradient", "population") == "sample"
    exact_gd = dyn.kind == "gd" and not sample_grad

    def w_of(params):
        return params[0] if induced else model.end_to_end(params)

    def train_grad(w, data, key, g_pop=None):
        """That objective's value (NaN for the population) and its gradient at w_e; the
        population gradient ``g_pop`` is reused when the caller has it."""
        if dyn.kind == "sgd":
            if dyn.samples is None:
                Xb = dist.jax_sample(key, dyn.batch)
                yb = pop.labels(Xb, data["v"])
            else:
                idx = jax.random.randint(key, (dyn.batch,), 0, data["X"].shape[0])
                Xb, yb = data["X"][idx], data["y"][idx]
            return pop.sample_loss_and_grad(w, Xb, yb)
        if sample_grad:
            return pop.sample_loss_and_grad(w, data["X"], data["y"])
        if g_pop is None:
            g_pop = pop.loss_and_grad(w, data["v"], _rule(data))[1]
        return jnp.asarray(jnp.nan), g_pop

    def velocity(params, data):
        w = w_of(params)
        _, g = train_grad(w, data, None)
        if induced:
            return (model.induced_velocity(w, g, N),)
        return tuple(-G for G in model.layer_grads(params, g))

    def solve(params, t0, eta, data):
        term = diffrax.ODETerm(lambda t, y, args: velocity(y, args))
        sol = diffrax.diffeqsolve(
            term, SOLVERS[dyn.solver](), t0, t0 + eta, None, params, args=data,
            stepsize_controller=diffrax.PIDController(rtol=dyn.rtol, atol=dyn.atol),
            saveat=diffrax.SaveAt(t1=True), max_steps=dyn.max_steps, throw=False)
        new = jax.tree_util.tree_map(lambda a: a[0], sol.ys)
        return new, sol.result == diffrax.RESULTS.successful

    def step(carry: Carry, data: dict, k: jax.Array):
        params = carry.params
        w = w_of(params)
        loss, g = pop.loss_and_grad(w, data["v"], _rule(data))
        nw, wbar, _, theta = pop.frame(w, data["v"])
        eta, _, sched = schedule.step(carry.sched, StepContext(t=k))
        key, sub = jax.random.split(carry.key)
        if flow:
            new, solved = solve(params, carry.t, eta, data)
            loss_s = jnp.asarray(jnp.nan)
        else:
            loss_s, g_train = train_grad(w, data, sub, g)
            grads = model.layer_grads(params, g_train)
            new = tuple(W - eta * G for W, G in zip(params, grads, strict=True))
            solved = jnp.asarray(True)
        w_next = w_of(new)
        ok = alive_after(carry.alive & solved, loss, data["diverge_at"], w_next)
        nan = jnp.asarray(jnp.nan)
        along = wbar @ w_next
        c0 = data["c0"]
        eq10 = (along**2 + (c0 * eta / jnp.pi) ** 2 * jnp.sin(theta) ** 2) / (w_next @ w_next) - 1.0
        row = {
            "cos_theta": wbar @ data["v"], "theta": theta, "weight_norm": nw, "loss": loss,
            "loss_sample": loss_s,
            "grad_tangential": -(data["v"] @ g - (data["v"] @ wbar) * (wbar @ g)),
            "grad_radial": -(w @ g),
            "grad_norm": jnp.linalg.norm(g),
            "balance_drift": nan if induced else model.balance_drift(params),
            "eta": eta,
            "cond11_lhs": nan if flow else jnp.linalg.norm(w_next) + along,
            "eq10_residual": eq10 if (exact_gd and N == 1) else nan,
        }
        row = {name: jnp.asarray(val, jnp.float64) for name, val in row.items()}
        row["t"], row["alive"] = carry.t, carry.alive
        kept = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, params)
        # t moves on even when the step fails: the row that records the failure has its own
        # time t_k = t_{k-1} + η_{k-1} (figures index the rows by t)
        return Carry(kept, key, carry.t + eta, ok, sched), row

    return step


def theory_constants(setting: Setting, inst: Instance) -> dict[str, Any]:
    """c0, θ(0), ‖w_e(0)‖, N and whether the init is balanced."""
    w0 = inst.we0
    norm0 = float(np.linalg.norm(w0))
    cos0 = float(np.clip(w0 @ inst.v / norm0, -1.0, 1.0)) if norm0 > 0 else math.nan
    drift0 = float(model.balance_drift([jnp.asarray(W) for W in inst.Ws]))
    scale = max(float(np.linalg.norm(W)) ** 2 for W in inst.Ws)
    N = len(inst.widths) - 1
    return {
        "N": N, "d": inst.v.size, "c0": float(inst.dist.c0()), "norm0": norm0,
        "theta0": float(math.atan2(np.linalg.norm(w0 - (w0 @ inst.v) * inst.v), w0 @ inst.v)),
        "cos_theta0": cos0, "balance_drift0": drift0,
        "balanced": bool(N == 1 or setting.problem.dynamics.kind == "induced_flow"
                         or drift0 <= 1e-12 * max(scale, 1.0)),
    }


def prepare(setting: Setting, insts: list[Instance]) -> Prepared:
    """Constants, carries, data and step for a batch of seeds of one setting."""
    consts = [theory_constants(setting, inst) for inst in insts]
    induced = setting.problem.dynamics.kind == "induced_flow"
    schedule = schedules.build(setting.schedule)
    carries = []
    for inst, c in zip(insts, consts, strict=True):
        params = (inst.we0,) if induced else tuple(inst.Ws)
        carries.append(Carry(params, inst.key, np.float64(0.0), np.bool_(True),
                             schedule.init(c)))
    data = [{"v": i.v, "r": i.rule.r, "r_w": i.rule.r_w, "x": i.rule.x, "x_w": i.rule.x_w,
             "X": i.X, "y": i.y, "c0": np.float64(c["c0"]),
             "diverge_at": np.float64(divergence_threshold(setting, _initial_loss(i)))}
            for i, c in zip(insts, consts, strict=True)]
    step = make_step(setting, insts[0].dist, len(insts[0].widths) - 1)
    return Prepared(consts, carries, data, step)


def _initial_loss(inst: Instance) -> float:
    """The population loss at w_e(0): the reference of the divergence threshold."""
    return float(pop.loss_and_grad(jnp.asarray(inst.we0), jnp.asarray(inst.v), inst.rule)[0])


def failure(setting: Setting, c: dict[str, Any]) -> str:
    """Why the run cannot start ('' when it can)."""
    if not c["norm0"] > 0:
        return "w_e(0) = 0: the angle to v is undefined (and 0 is a saddle for N >= 2)"
    return ""


# -------------------------------------------------------------- after the run
def finalize(setting: Setting, inst: Instance, c: dict[str, Any], steps: Any,
             status: str) -> Finalized:
    """Derived columns, the run record's extra fields, and the verdict rows."""
    c = dict(c)
    c.update(curves.derive(setting, c, steps))
    last = steps.iloc[-1]
    c.update(final_cos_theta=float(last["cos_theta"]), final_theta=float(last["theta"]),
             final_norm=float(last["weight_norm"]))
    checks = [] if status == "failed" else run_checks(setting, steps, c)
    extra = {"final_loss": float(last["loss"]), "final_loss_gap": float(last["loss"])}
    return Finalized(c, extra, checks)


def stalled(setting: Setting, c: dict[str, Any], steps: Any) -> str:
    """A GD or SGD run whose loss (infimum 0 on separable data) barely moved while η·K_t
    stayed tiny, with K_t = N‖w‖^{2−2/N}·λ_max(E xxᵀ)/4: the logistic ℓ'' ≤ 1/4 times the
    Gauss–Newton factor of N balanced layers. Flows have no step size to be too small."""
    if setting.problem.dynamics.kind not in ("gd", "sgd"):
        return ""
    N = c["N"]
    lam = make_distribution(setting).second_moment() / 2.0  # E xxᵀ = (E‖P₂x‖²/2)·I
    K = N * steps["weight_norm"].to_numpy(float) ** (2.0 - 2.0 / N) * lam / 4.0
    return stall_reason(steps["loss"].to_numpy(float), steps["eta"].to_numpy(float) * K,
                        "eta*K_t")


def memory_terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed, and the logged rows (the loop's columns, t, alive)."""
    return memory.terms(setting, base_dir) + rows_terms(setting, len(LOOP_COLUMNS) + 2)


def figure(root: Path, runs: Any, steps: Any) -> list[str]:
    """A user spec's figure: 1 − cos θ against flow time, with the theorem's lower bound."""
    from overparam.plots import curves_figure

    gap = steps.assign(gap=2 * np.sin(steps["theta"] / 2) ** 2, bound=1 - steps["bound_lower"])
    return curves_figure(root, runs, gap, ("gap", "1 − cos θ"), lambda grp: ("bound", "bound"),
                         ylabel="log10 (1 − cos θ(t))", title="angle to v and the bound",
                         name="angle", x="t", xlabel="flow time t (= Σ η)")


FAMILY = Family(
    spec=PROBLEM, columns=COLUMNS, build_instance=build_instance, prepare=prepare,
    finalize=finalize, failure=failure, stalled=stalled, memory=memory_terms, figure=figure,
    runtime_fields=("init", "diverge_factor"),
)
