"""Paper C's problem: GD (7) on a_N W_N ⋯ W_1 and its convex twin GD (2), in one loop.

Products run in the cheapest order for the shapes: with n_N ≤ n_0 every chain is built
from the output side (n_N rows), otherwise from the input side (n_0 columns), so a step
costs O(min(n_0, n_N)·Σ n_j n_{j−1}) and never multiplies two width×width matrices.
The one diagnostic that needs such products, σ_min(W_{N−1:2}), runs every
``sigma_min_inner_every`` steps.

The twin has its own divergence flag: when the network diverges, its rows go on as long as
the twin lives, with the network's columns NaN (``eta`` included: the rows where ``eta`` is
finite are the network's), so the twin is computed and drawn to its own end.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from overparam import (
    _jax,  # noqa: F401  (float64)
    schedules,
)
from overparam.checks.deep_linear import run_checks
from overparam.data.synthetic import load_data, make_synthetic
from overparam.errors import SpecError
from overparam.inits import deep_linear as deep_inits
from overparam.inits.common import check_finite
from overparam.losses import deep_linear as deep_losses
from overparam.memory import deep_linear as memory
from overparam.models.deep_linear import end_to_end, gradients, inner_sigma_min
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
from overparam.spec import InlineData, NpyData, Setting
from overparam.spec.deep_linear import PROBLEM
from overparam.theory import deep_linear as th

#: Columns the compiled step writes (besides step, t).
LOOP_COLUMNS = (
    "loss", "loss_gap", "loss_twin", "loss_gap_twin", "loss_diff", "deviation_X", "dist_X",
    "dist_twin_X", "tau_prev", "sigma_min_inner", "sigma_nN_inner", "sec45_rhs", "grad_norm_X", "eta",
    "move_max", "move_sum", "move_first", "move_last", "move_inner_max", "twin_alive",
)
#: The network's own columns (NaN on the rows after its last iterate, where only the twin goes on).
NET_COLUMNS = tuple(c for c in LOOP_COLUMNS if c not in ("loss_twin", "loss_gap_twin",
                                                         "dist_twin_X", "twin_alive"))
#: The twin's columns (NaN after the row where the twin's loss fails the divergence rule).
TWIN_COLUMNS = ("loss_twin", "loss_gap_twin", "dist_twin_X")
#: Columns derived after the run from the logged ones (τ, its running sup, bound curves).
DERIVED_COLUMNS = (
    "tau", "tau_sup", "bound_12a", "bound_12b", "bound_12c", "bound_lemma5", "bound_eq3",
    "bound_eq4", "bound_thm1", "rate_lemma5", "bound_12a_proof", "bound_12b_proof",
    "bound_12c_proof",
)
COLUMNS = tuple(c for c in LOOP_COLUMNS if c != "tau_prev") + DERIVED_COLUMNS


class Instance(NamedTuple):
    """One seed's problem in paper C's convention: X ∈ R^{n0×m}, Y ∈ R^{nN×m}, W_j ∈ R^{n_j×n_{j−1}}."""

    X: np.ndarray
    Y: np.ndarray
    Ws: list[np.ndarray]
    widths: list[int]
    lc: deep_losses.DeepLossConstants
    V0: np.ndarray  # a_N W_N(0) ⋯ W_1(0), the twin's start


def _data_loss_name(loss: str) -> str:
    """The label type the data generator and the .npy checks need for a paper C loss."""
    return "squared" if loss.startswith("squared") else loss


def _data(setting: Setting, rng: np.random.Generator, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) with samples as columns (the spec's data have samples as rows)."""
    prob = setting.problem
    data = prob.data
    kind = _data_loss_name(prob.loss)
    if isinstance(data, NpyData):
        X, Y = load_data(data, base_dir, kind)
    elif isinstance(data, InlineData):
        X, Y = np.array(data.X, dtype=np.float64), np.array(data.Y, dtype=np.float64)
    else:
        X, Y = make_synthetic(data, np.zeros((data.n, data.m)), rng, kind)
    return X.T.copy(), Y.T.copy()


def build_instance(setting: Setting, seed: int, base_dir: Path) -> Instance:
    """Draw the data ([seed, 2]) and the initial weights ([seed, 1]); the loss's constants."""
    prob = setting.problem
    X, Y = _data(setting, np.random.default_rng([seed, 2]), base_dir)
    widths = prob.layer_widths(X.shape[0], Y.shape[0])
    if widths[0] != X.shape[0] or widths[-1] != Y.shape[0]:
        raise SpecError("problem.widths", f"{widths} must start with the input dimension "
                        f"{X.shape[0]} and end with the output dimension {Y.shape[0]}")
    with np.errstate(all="ignore"):  # an overflowing init is checked (and named) below
        Ws = deep_inits.draw(setting.init, widths, np.random.default_rng([seed, 1]), base_dir)
        V0 = deep_inits.normalization(widths) * np.linalg.multi_dot(Ws[::-1])  # cheapest order
        check_finite(setting.init, *Ws, V0)
    lc = deep_losses.constants(prob.loss, prob.ridge, X, Y)
    return Instance(X, Y, Ws, widths, lc, V0)


# --------------------------------------------------------------- constants
def theory_constants(setting: Setting, inst: Instance) -> dict[str, float]:
    """Paper C's run constants: κ, q, η, η*, the region constants (14), E(0), ‖V(0) − W*‖²_X."""
    prob, sched, lc, widths = setting.problem, setting.schedule, inst.lc, inst.widths
    N = len(widths) - 1
    a = deep_inits.normalization(widths)
    V0 = inst.V0
    loss = deep_losses.make_loss(prob.loss, prob.ridge)
    L0 = float(loss(jnp.asarray(V0), jnp.asarray(inst.X), jnp.asarray(inst.Y), jnp.asarray(lc.U)))
    eta = sched.scale * th.eta_choice(sched.eta, widths, lc.beta, lc.lam_max, sched.c, sched.eps,
                                      lc.alpha)
    eta_star = N * eta / widths[-1]
    try:
        region = th.region_constants(inst.Ws, widths, lc.U)
    except ValueError:  # a partial product of W(0) is zero (log 0): no region (14) holds it
        region = {"c1": math.nan, "c2": math.inf, "M_region": math.nan}
    n_min = min(widths[1:-1])
    e0 = float(np.sum(((V0 - lc.W_star) @ lc.U) ** 2))
    out = {
        "N": N, "n0": widths[0], "nN": widths[-1], "n_min": n_min, "a_N": a,
        "width_condition": bool(n_min >= max(widths[0], widths[-1])),
        "alpha": lc.alpha, "beta": lc.beta, "kappa": lc.kappa, "rank_X": lc.rank,
        "lam_max": lc.lam_max, "lam_min_plus": lc.lam_min_plus, "L_star": lc.L_star,
        "eta": eta, "eta_star": eta_star, "eta1": th.eta1(widths, lc.beta),
        "eta0_thm4": th.eta0_thm4(widths, lc.beta, sched.c) if sched.eta == "thm4" else math.nan,
        "eta_cor3": th.eta_cor3(widths, lc.alpha, lc.beta),
        "q": float(th.q_rate(lc.alpha, lc.beta, eta_star)),
        "rate_eq3": th.rate_eq3(lc.alpha, lc.beta, eta_star), "rate_thm1": 1.0 - 1.0 / lc.kappa,
        "L0": L0, "E0": max(L0 - lc.L_star, 0.0), "e0": e0,
        "B0": max(L0 - lc.L_star, 0.0) / lc.beta, **region,
    }
    out["sigma_ref_inner"] = math.exp(0.5 * sum(math.log(n) for n in widths[2:-1])) if N > 2 \
        else math.nan
    out["resid_scale"] = float(np.linalg.norm(inst.Y) + np.linalg.norm(V0 @ inst.X))
    return out


LOOP_CONSTS = ("a_N", "eta_star", "L_star", "L0")


class Carry(NamedTuple):
    params: Any
    twin: jax.Array
    pred: jax.Array  # V(t−1) − η*∇L(V(t−1)): where the convex step would have put V(t)
    dist_prev: jax.Array  # ‖V(t−1) − W*‖_X
    t: jax.Array
    alive: jax.Array
    sched: Any  # the schedule's state
    twin_alive: jax.Array  # the twin has not diverged (the network may have)


def initial_carry(inst: Instance, schedule: Schedule, consts: dict[str, Any]) -> Carry:
    params = tuple(jnp.asarray(W) for W in inst.Ws)
    V0 = inst.V0
    nan = jnp.asarray(jnp.nan)
    return Carry(params=params, twin=jnp.asarray(V0),
                 pred=jnp.full(V0.shape, jnp.nan), dist_prev=nan, t=jnp.zeros(()),
                 alive=jnp.ones((), bool),
                 # the named step sizes (thm1, thm4, cor3, data_norm) are resolved into eta
                 sched=schedule.init({**consts, "eta0": consts["eta"]}),
                 twin_alive=jnp.ones((), bool))


def movement(params, params0) -> dict[str, jax.Array]:
    """‖W_i(t) − W_i(0)‖_F per layer, summarized with a fixed number of columns for any depth:
    the largest and the sum over layers, the first and last layer (their shapes differ from
    the hidden ones) and the largest hidden-to-hidden layer (NaN for N = 2)."""
    moves = jnp.stack([jnp.sqrt(jnp.sum((W - W0) ** 2))
                       for W, W0 in zip(params, params0, strict=True)])
    inner = jnp.max(moves[1:-1]) if moves.shape[0] > 2 else jnp.asarray(jnp.nan)
    return {"move_max": jnp.max(moves), "move_sum": jnp.sum(moves), "move_first": moves[0],
            "move_last": moves[-1], "move_inner_max": inner}


def make_step(setting: Setting, schedule: Schedule, widths: list[int]):
    """The per-seed step: observe V(t) and the twin W(t), update both; returns (carry, row)."""
    prob = setting.problem
    loss = deep_losses.make_loss(prob.loss, prob.ridge)
    from_output = widths[-1] <= widths[0]
    every = prob.sigma_min_inner_every

    def step(carry: Carry, data: dict[str, Any], k: jax.Array):
        X, Y, U, Ws_star, c = data["X"], data["Y"], data["U"], data["W_star"], data["consts"]
        a = c["a_N"]
        lefts, V = end_to_end(carry.params, a, from_output)
        lval, gV = jax.value_and_grad(loss)(V, X, Y, U)
        ltw, gtw = jax.value_and_grad(loss)(carry.twin, X, Y, U)
        grads = gradients(carry.params, gV, a, from_output, lefts)

        def x_norm2(A):
            return jnp.sum((A @ U) ** 2)

        dist = x_norm2(V - Ws_star)
        nan3 = (jnp.asarray(jnp.nan),) * 3
        if every:
            sig, sig_nN, sig_rhs = jax.lax.cond(k % every == 0, inner_sigma_min,
                                                lambda p: nan3, carry.params)
        else:
            sig, sig_nN, sig_rhs = nan3
        ok = alive_after(carry.alive, lval, c["diverge_at"])
        twin_ok = alive_after(carry.twin_alive, ltw, c["diverge_at"])
        eta, _, sched = schedule.step(carry.sched, StepContext(t=k))
        eta_s = c["eta_star"]
        new_params = tuple(jnp.where(ok, W - eta * G, W)
                           for W, G in zip(carry.params, grads, strict=True))
        E, Et = jnp.maximum(lval - c["L_star"], 0.0), jnp.maximum(ltw - c["L_star"], 0.0)
        row = {
            "loss": lval, "loss_gap": E, "loss_twin": ltw, "loss_gap_twin": Et,
            "loss_diff": jnp.abs(lval - ltw), "deviation_X": x_norm2(V - carry.twin),
            "dist_X": dist, "dist_twin_X": x_norm2(carry.twin - Ws_star),
            "tau_prev": jnp.sqrt(x_norm2(V - carry.pred)) / carry.dist_prev,
            "sigma_min_inner": sig, "sigma_nN_inner": sig_nN, "sec45_rhs": sig_rhs, "grad_norm_X": jnp.sqrt(x_norm2(gV)), "eta": eta,
            **movement(carry.params, data["W0"]), "twin_alive": twin_ok,
        }
        row = {key: jnp.asarray(v, jnp.float64) for key, v in row.items()}
        for key in NET_COLUMNS:  # past the network's last iterate only the twin is logged
            row[key] = jnp.where(carry.alive, row[key], jnp.nan)
        for key in TWIN_COLUMNS:
            row[key] = jnp.where(carry.twin_alive, row[key], jnp.nan)
        for key in ("loss_diff", "deviation_X"):
            row[key] = jnp.where(carry.twin_alive, row[key], jnp.nan)
        row["t"] = carry.t
        row["alive"] = carry.alive
        row["companion_alive"] = carry.twin_alive
        new = Carry(
            params=new_params, twin=jnp.where(twin_ok, carry.twin - eta_s * gtw, carry.twin),
            pred=V - eta_s * gV, dist_prev=jnp.sqrt(dist),
            t=carry.t + jnp.where(ok | twin_ok, eta, 0.0), alive=ok, sched=sched,
            twin_alive=twin_ok,
        )
        return new, row

    return step


# -------------------------------------------------------------- the runner's hooks
def prepare(setting: Setting, insts: list[Instance]) -> Prepared:
    """Constants, carries, data and step for a batch of seeds of one setting."""
    consts = [theory_constants(setting, inst) for inst in insts]
    schedule = schedules.build(setting.schedule)
    carries = [initial_carry(inst, schedule, c) for inst, c in zip(insts, consts, strict=True)]
    data = [{"X": i.X, "Y": i.Y, "U": i.lc.U, "W_star": i.lc.W_star, "W0": tuple(i.Ws),
             "consts": {**{k: np.float64(c[k]) for k in LOOP_CONSTS},
                        "diverge_at": np.float64(divergence_threshold(setting, c["L0"]))}}
            for i, c in zip(insts, consts, strict=True)]
    return Prepared(consts, carries, data, make_step(setting, schedule, insts[0].widths))


def derive(steps: Any, c: dict[str, Any]) -> None:
    """τ(t) of the transition t → t+1, its running sup before t, and the bound curves."""
    tau_prev = steps.pop("tau_prev").to_numpy()
    t = steps["step"].to_numpy(float)
    steps["tau"] = np.append(tau_prev[1:], np.nan)
    sup = np.fmax.accumulate(np.nan_to_num(tau_prev, nan=0.0))
    steps["tau_sup"] = sup
    q, e0, beta = c["q"], c["e0"], c["beta"]
    net = network_rows(steps)

    def on_net(values) -> np.ndarray:  # the network's bounds: NaN on the twin-only rows
        return np.where(net, np.asarray(values, float), np.nan)

    steps["tau_sup"] = on_net(sup)
    steps["bound_12a"] = on_net(th.bound_12a(sup, q, t, e0))
    steps["bound_12b"] = on_net(th.bound_12b(sup, q, t, e0, beta))
    steps["bound_12c"] = on_net(th.bound_12c(sup, q, t, e0, beta))
    steps["bound_lemma5"] = on_net(th.bound_lemma5(sup, q, t, e0))
    steps["bound_eq3"] = c["E0"] * c["rate_eq3"] ** t
    steps["bound_eq4"] = 0.5 * beta * q**t * e0
    steps["bound_thm1"] = on_net(c["E0"] * c["rate_thm1"] ** t)
    steps["rate_lemma5"] = on_net(q + 7.0 * sup)
    steps["bound_12a_proof"] = on_net(th.bound_12a_proof(sup, q, t, e0))
    steps["bound_12b_proof"] = on_net(th.bound_12b_proof(sup, q, t, e0, beta))
    steps["bound_12c_proof"] = on_net(th.bound_12c_proof(sup, q, t, e0, beta))


def network_rows(steps: Any) -> np.ndarray:
    """The rows that observe the network (its step size is logged there); the rows after a
    diverged network's last iterate carry only the twin."""
    return np.isfinite(steps["eta"].to_numpy(float))


def finalize(setting: Setting, inst: Instance, c: dict[str, Any], steps: Any,
             status: str) -> Finalized:
    """Derived columns, the run record's extra fields, and the verdict rows."""
    derive(steps, c)
    tau = steps["tau"].to_numpy()
    c = dict(c)
    c["tau_max"] = float(np.nanmax(tau)) if np.isfinite(tau).any() else math.nan
    net = steps[network_rows(steps)]
    c["thm1_eps"] = thm1_eps(net["loss_gap"].to_numpy(), c["kappa"])
    checks = [] if status == "failed" else run_checks(setting, steps, c)
    last = net.iloc[-1] if len(net) else steps.iloc[-1]
    extra = {"final_loss": float(last["loss"]), "final_loss_gap": float(last["loss_gap"]),
             **twin_record(steps)}
    return Finalized(c, extra, checks)


def twin_record(steps: Any) -> dict[str, Any]:
    """The twin's own outcome: ``twin_status`` ok or diverged (its loss failed the divergence
    rule at ``twin_steps_done``, the last row it was computed on), its final loss gap."""
    alive = steps["twin_alive"].to_numpy(float)
    rows = np.flatnonzero(np.isfinite(steps["loss_twin"].to_numpy(float)))
    dead = np.flatnonzero(alive == 0.0)
    last = int(dead[0]) if dead.size else (int(rows[-1]) if rows.size else 0)
    return {"twin_status": "diverged" if dead.size else "ok",
            "twin_steps_done": int(steps["step"].iloc[last]),
            "final_loss_gap_twin": float(steps["loss_gap_twin"].iloc[last])}


def thm1_eps(E: np.ndarray, kappa: float) -> float:
    """The smallest ε with E_DLN(t) ≤ (1 − (1−ε)/κ)^t E_DLN(0) along the run (Theorem 1)."""
    E = np.asarray(E, float)
    t = np.arange(E.size, dtype=float)
    ok = (t > 0) & (E > 0) & np.isfinite(E)
    if not ok.any() or not E[0] > 0:
        return math.nan
    per_step = (E[ok] / E[0]) ** (1.0 / t[ok])
    return float(np.max(1.0 - kappa * (1.0 - per_step)))


def failure(setting: Setting, c: dict[str, Any]) -> str:
    """Why the run cannot start ('' when it can)."""
    if not (np.isfinite(c["eta"]) and c["eta"] > 0):
        return f"step size eta = {c['eta']} is not a positive number"
    return ""


def stalled(setting: Setting, c: dict[str, Any], steps: Any) -> str:
    """A run whose excess loss barely moved while the twin's step η* = Nη/n_N stayed tiny
    against 1/β."""
    ratio = np.full(len(steps), c["eta_star"] * c["beta"])
    return stall_reason(steps["loss_gap"].to_numpy(), ratio, "eta_star*beta")


def memory_terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed, and the logged rows (the loop's columns, t, both alive flags)."""
    return memory.terms(setting, base_dir) + rows_terms(setting, len(LOOP_COLUMNS) + 3)


def figure(root: Path, runs: Any, steps: Any) -> list[str]:
    """A user spec's figure: log10 of E_DLN(t) per setting with the convex twin dashed."""
    from overparam.plots import curves_figure

    return curves_figure(root, runs, steps, ("loss_gap", "E_DLN(t)"),
                         lambda grp: ("loss_gap_twin", "convex twin E(t)"),
                         ylabel="log10 (loss − minimum)", title="loss and bound")


FAMILY = Family(
    spec=PROBLEM, columns=COLUMNS, build_instance=build_instance, prepare=prepare,
    finalize=finalize, failure=failure, stalled=stalled, memory=memory_terms, figure=figure,
    # η, a_N and the threshold reach the step as data; the widths only as shapes
    runtime_fields=("problem.data", "problem.widths", "problem.depth", "problem.hidden",
                    "init", "schedule", "diverge_factor"),
)
