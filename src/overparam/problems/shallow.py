"""Paper B's problem: the shallow network V φ(W X) trained by GD or SGD, its theory constants at
init (Lemma 3, (9), (13), (14), eq 33, eq 56) and the per-row trace, with the linearized twin
of lazy training alongside when asked.

Rows observe the iterate before it moves: row k is Θ_k (after k steps, or k epochs of SGD).
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
from overparam.checks.near_isometry import run_checks
from overparam.data import shallow as shallow_data
from overparam.errors import SpecError
from overparam.inits import shallow as shallow_init
from overparam.memory import shallow as memory
from overparam.models import activations
from overparam.models import shallow as sh
from overparam.problems.protocol import (
    COMPANION,
    Family,
    Finalized,
    Prepared,
    alive_after,
    divergence_threshold,
    stall_reason,
)
from overparam.problems.shallow_constants import theory_constants
from overparam.resources import Term, rows_terms
from overparam.schedules import StepContext
from overparam.spec import Setting
from overparam.spec.shallow import PROBLEM

COLUMNS = (
    "loss", "eta", "grad_norm", "dist_init", "path_length", "ntk_lambda_min", "ntk_lambda_max",
    "sigma_max_V", "rel_movement", "rel_movement_V", "train_error", "test_error", "test_loss",
    "lazy_gap",
    "lin_loss", "lin_test_error", "bound_rate",
)
#: The linearized twin's own columns: on the rows after a diverged network's last iterate
#: they go on (every other column is NaN there, ``eta`` included).
LIN_COLUMNS = ("lin_loss", "lin_test_error")

#: The NTK is (d2·n)²: refuse it beyond this many rows (use ntk_every: 0).
NTK_MAX = 4000
class Instance(NamedTuple):
    """One seed's problem: data, initial weights (and biases, or None) and the init scales."""

    data: shallow_data.ShallowData
    W0: np.ndarray
    V0: np.ndarray
    omega1: float
    omega2: float
    seed: int
    b1: np.ndarray | None = None
    b2: np.ndarray | None = None

    def params(self) -> tuple[np.ndarray, ...]:
        """(W0, V0) or (W0, V0, b1, b2): the trained parameters at init."""
        return (self.W0, self.V0) if self.b1 is None else (self.W0, self.V0, self.b1, self.b2)


def _data(setting: Setting, seed: int, base_dir: Path) -> shallow_data.ShallowData:
    spec = setting.problem.data
    if spec.kind == "sphere":
        return shallow_data.sphere(spec, np.random.default_rng([seed, 2]))
    if spec.kind == "npy":
        return shallow_data.npy(spec, base_dir)
    return shallow_data.images(spec, base_dir)


def build_instance(setting: Setting, seed: int, base_dir: Path) -> Instance:
    """Data (per seed on the sphere, shared for images and files), then W0 ~ N(0, ω1²),
    V0 ~ N(0, ω2²) (or the given arrays) and the biases."""
    prob = setting.problem
    data = _data(setting, seed, base_dir)
    d0, n = data.X.shape
    d2 = data.Y.shape[0]
    if prob.ntk_every and d2 * n > NTK_MAX:
        raise SpecError("problem.ntk_every", f"the NTK would be {d2 * n}×{d2 * n} (d2·n > "
                        f"{NTK_MAX}); set ntk_every: 0 or use fewer samples")
    sched = setting.schedule
    if sched.eta == "ntk" and d2 * n > NTK_MAX:
        raise SpecError("schedule.eta", f"ntk needs the {d2 * n}×{d2 * n} NTK (d2·n > {NTK_MAX}); "
                        "give a number")
    w = shallow_init.draw(setting, d0, d2, seed, base_dir)
    shallow_init.check(setting, w, data.X)
    inst = Instance(data, w.W0, w.V0, w.omega1, w.omega2, seed, w.b1, w.b2)
    if getattr(prob.data, "target", "") == "init":  # Y = Φ(w0) + the drawn noise
        act = activations.from_spec(prob.activation)
        pre = w.W0 @ data.X if w.b1 is None else w.W0 @ data.X + w.b1[:, None]
        Z0 = w.V0 @ np.asarray(act.fn(jnp.asarray(pre)))
        inst = inst._replace(data=data._replace(Y=data.Y + (Z0 if w.b2 is None
                                                            else Z0 + w.b2[:, None])))
    return inst


class Carry(NamedTuple):
    params: tuple
    lin: tuple
    t: jax.Array
    alive: jax.Array
    path: jax.Array
    sched: Any  # the schedule's state
    lin_alive: jax.Array  # the linearized twin has not diverged


def _tree_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def _sub(a, b):
    return jax.tree_util.tree_map(lambda x, y: x - y, a, b)


def make_step(setting: Setting, classify: bool, has_test: bool = False):
    """The per-seed step: observe Θ_k (and its linearized twin), then one GD step or one epoch.
    ``classify``: targets are one-hot (errors logged); ``has_test``: a held-out set exists."""
    prob = setting.problem
    act = activations.from_spec(prob.activation)
    sgd = prob.dynamics.kind == "sgd"
    batch = prob.dynamics.batch if sgd else 0
    every, lazy = prob.ntk_every, prob.lazy
    nan = jnp.asarray(jnp.nan)
    schedule = schedules.build(setting.schedule)

    def net(p, X):  # p = (W, V) or (W, V, b1, b2)
        return sh.forward(p[0], p[1], X, act.fn, *p[2:])

    def lin_net(pl, p0, X):
        out, tangent = jax.jvp(lambda q: net(q, X), (p0,), (_sub(pl, p0),))
        return out + tangent

    def sq(Z, Y, w=None):
        r = (Z - Y) ** 2
        return jnp.sum(r if w is None else r * w)

    def error(Z, Y):
        # float64 before the mean: 45/55 is 0.8181818181818182, not float32's 0.81818181276
        return jnp.mean((jnp.argmax(Z, axis=0) != jnp.argmax(Y, axis=0)).astype(jnp.float64))

    def step(carry: Carry, data: dict[str, Any], k: jax.Array):
        X, Y, c = data["X"], data["Y"], data["consts"]
        p0 = data["p0"]
        scale = c["scale"]
        eta, _, sched = schedule.step(carry.sched, StepContext(t=k))

        def loss(p):
            Zp = net(p, X)
            return scale * sq(Zp, Y), Zp

        def lin_loss(pl):
            return scale * sq(lin_net(pl, p0, X), Y)

        params = carry.params
        (L, Z), g = jax.value_and_grad(loss, has_aux=True)(params)  # one forward for both
        W, V = params[:2]
        row = {"loss": L, "eta": eta, "grad_norm": _tree_norm(g),
               "dist_init": _tree_norm(_sub(params, p0)), "path_length": carry.path,
               "sigma_max_V": jnp.sqrt(jnp.linalg.eigvalsh(V @ V.T)[-1]),
               "rel_movement": jnp.linalg.norm(W - p0[0]) / jnp.linalg.norm(p0[0]),
               "rel_movement_V": jnp.linalg.norm(V - p0[1]) / jnp.linalg.norm(p0[1]),
               "bound_rate": c["h0"] * c["rate14"] ** k.astype(jnp.float64)}
        if every:
            row["ntk_lambda_min"], row["ntk_lambda_max"] = jax.lax.cond(
                k % every == 0, lambda: sh.ntk_extremes(W, V, X, act.fn, act.d1, *params[2:3]),
                lambda: (nan, nan))
        Zt = net(params, data["X_test"])
        if has_test:  # f on the held-out set, normalized as the training loss is
            row["test_loss"] = jnp.where(c["mean"], 1.0 / Zt.size, 1.0) * sq(Zt, data["Y_test"])
        if classify:
            row["train_error"] = error(Z, Y)
            if has_test:
                row["test_error"] = error(Zt, data["Y_test"])
        lin_ok = carry.lin_alive
        if lazy:
            Zl = lin_net(carry.lin, p0, X)
            lin_L = scale * sq(Zl, Y)
            lin_ok = alive_after(carry.lin_alive, lin_L, c["diverge_at"])
            row["lazy_gap"] = jnp.where(lin_ok, jnp.linalg.norm(Z - Zl), nan)
            row["lin_loss"] = jnp.where(lin_ok, lin_L, nan)
            if classify and has_test:
                row["lin_test_error"] = jnp.where(lin_ok, error(
                    lin_net(carry.lin, p0, data["X_test"]), data["Y_test"]), nan)
        ok = alive_after(carry.alive, L, c["diverge_at"])
        if sgd:
            new_params, new_lin, moved, dt = _epoch(carry, data, k, p0, eta)
        else:
            new_params = jax.tree_util.tree_map(lambda x, d: x - eta * d, params, g)
            if lazy:
                gl = jax.grad(lin_loss)(carry.lin)
                new_lin = jax.tree_util.tree_map(lambda x, d: x - eta * d, carry.lin, gl)
            else:
                new_lin = carry.lin
            moved, dt = eta * row["grad_norm"], eta

        def keep(new, old, alive=ok):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(alive, a, b), new, old)

        # past the network's last iterate only the linearized twin is logged
        out = {name: jnp.where(carry.alive | (name in LIN_COLUMNS),
                               jnp.asarray(row.get(name, nan), jnp.float64), nan)
               for name in COLUMNS}
        out["t"], out["alive"] = carry.t, carry.alive
        out["stop"] = carry.alive & (L <= c["target"])
        if lazy:  # the twin goes on after the network dies; a diverged twin stays where it was
            out[COMPANION] = carry.lin_alive
        on = ok | lin_ok if lazy else ok
        new = Carry(keep(new_params, params), keep(new_lin, carry.lin, lin_ok),
                    carry.t + jnp.where(on, dt, 0.0), ok, carry.path + jnp.where(ok, moved, 0.0),
                    sched, lin_ok)
        return new, out

    def _epoch(carry: Carry, data, k, p0, eta):
        """One pass over a fresh permutation in minibatches (the last one partial)."""
        X, Y, c = data["X"], data["Y"], data["consts"]
        n = X.shape[1]
        b = min(batch, n)  # a batch beyond n is the full pass: no padding to allocate
        nb = -(-n // b)
        perm = jax.random.permutation(jax.random.fold_in(data["key"], k), n)
        idx = jnp.concatenate([perm, jnp.zeros(nb * b - n, perm.dtype)]).reshape(nb, b)
        mask = (jnp.arange(nb * b) < n).reshape(nb, b).astype(jnp.float64)

        def batch_loss(model, p, Xb, Yb, m):
            count = jnp.sum(m)
            # sum: the batch estimate (n/|b|)·Σ_b of h; mean: the mean over the batch's entries
            norm = jnp.where(c["mean"], 1.0 / (count * Y.shape[0]), n / count)
            return norm * sq(model(p, Xb), Yb, m[None, :])

        def one(state, xs):
            p, pl, path = state
            ib, m = xs
            Xb, Yb = X[:, ib], Y[:, ib]
            g = jax.grad(lambda q: batch_loss(net, q, Xb, Yb, m))(p)
            p_new = jax.tree_util.tree_map(lambda x, d: x - eta * d, p, g)
            if lazy:
                gl = jax.grad(lambda q: batch_loss(lambda r, Xc: lin_net(r, p0, Xc),
                                                   q, Xb, Yb, m))(pl)
                pl = jax.tree_util.tree_map(lambda x, d: x - eta * d, pl, gl)
            return (p_new, pl, path + eta * _tree_norm(g)), None

        (p, pl, moved), _ = jax.lax.scan(one, (carry.params, carry.lin, jnp.zeros(())),
                                         (idx, mask))
        return p, pl, moved, eta * nb

    return step


# -------------------------------------------------------------- the runner's hooks
def prepare(setting: Setting, insts: list[Instance]) -> Prepared:
    """Constants, carries, data and step for a batch of seeds of one setting."""
    consts = [theory_constants(setting, inst) for inst in insts]
    carries, data = [], []
    prob = setting.problem
    schedule = schedules.build(setting.schedule)
    for inst, c in zip(insts, consts, strict=True):
        p0 = tuple(jnp.asarray(a) for a in inst.params())
        # the named step sizes (thm2, ntk) are resolved into the theory constant eta
        carries.append(Carry(p0, p0, jnp.zeros(()), jnp.ones((), bool), jnp.zeros(()),
                             schedule.init({**c, "eta0": c["eta"]}), jnp.ones((), bool)))
        d = inst.data
        # no held-out set: a placeholder column keeps the shapes non-empty (nothing is logged)
        has_test = d.X_test.shape[1] > 0
        X_test, Y_test = (d.X_test, d.Y_test) if has_test else (d.X[:, :1], d.Y[:, :1])
        target = -np.inf if prob.target_loss is None else prob.target_loss
        loop = {"scale": c["loss_scale"], "h0": c["h0"],
                "rate14": c["rate14"], "target": target, "mean": prob.loss == "mean",
                "diverge_at": divergence_threshold(setting, c["h0"])}
        data.append({
            "X": d.X, "Y": d.Y, "X_test": X_test, "Y_test": Y_test, "p0": inst.params(),
            "key": np.asarray(jax.random.PRNGKey(inst.seed)),
            "consts": {k: np.asarray(v, np.float64 if k != "mean" else bool)
                       for k, v in loop.items()},
        })
    has = insts[0].data.X_test.shape[1] > 0
    return Prepared(consts, carries, data, make_step(setting, insts[0].data.classify, has))


def finalize(setting: Setting, inst: Instance, c: dict[str, Any], steps: Any,
             status: str) -> Finalized:
    """The run record's extra fields and the verdict rows."""
    net = steps[np.isfinite(steps["eta"].to_numpy(float))]  # the rows of the network
    checks = [] if status == "failed" else run_checks(setting, net, c)
    last = net.iloc[-1] if len(net) else steps.iloc[-1]
    inside = net["dist_init"].to_numpy() <= c["rho_phi"]
    left = np.flatnonzero(~inside)
    extra = {"final_loss": float(last["loss"]), "final_loss_gap": float(last["loss"]),
             "final_train_error": float(last["train_error"]),
             "final_test_error": float(last["test_error"]),
             "final_test_loss": float(last["test_loss"]),
             "final_lazy_gap": float(last["lazy_gap"]),
             "lin_diverged_step": _first_nan(steps, "lin_loss") if setting.problem.lazy
             else np.nan,
             **_lin_record(setting, steps),
             "final_rel_movement": float(last["rel_movement"]),
             "chi_path": float(net["sigma_max_V"].max()),
             "left_ball_step": float(left[0]) if left.size else np.nan}
    return Finalized(c, extra, checks)


def _lin_record(setting: Setting, steps: Any) -> dict[str, Any]:
    """The linearized twin's own outcome (lazy runs): ``lin_status`` ok or diverged (NaN
    from the row where its loss failed the divergence rule), ``lin_steps_done`` its last
    row with a value, and its final training loss."""
    if not setting.problem.lazy:
        return {"lin_status": "", "lin_steps_done": np.nan, "final_lin_loss": np.nan}
    lin = steps["lin_loss"].to_numpy(float)
    good = np.flatnonzero(np.isfinite(lin))
    return {"lin_status": "ok" if good.size == lin.size else "diverged",
            "lin_steps_done": float(steps["step"].iloc[good[-1]]) if good.size else np.nan,
            "final_lin_loss": float(lin[good[-1]]) if good.size else np.nan}


def _first_nan(steps: Any, column: str) -> float:
    """The first row where the twin's loss is NaN (it diverged), NaN when it never was."""
    bad = np.flatnonzero(~np.isfinite(steps[column].to_numpy()))
    return float(steps["step"].iloc[bad[0]]) if bad.size else np.nan


def failure(setting: Setting, c: dict[str, Any]) -> str:
    """Why the run cannot start ('' when it can)."""
    if not (np.isfinite(c["eta"]) and c["eta"] > 0):
        why = (f"{c['activation_name']} has no φ''max (outside Assumption 2)"
               if not c["in_assumptions"] else "")
        return f"the step size is {c['eta']:.3g}" + (f": {why}" if why else "")
    return ""


def stalled(setting: Setting, c: dict[str, Any], steps: Any) -> str:
    """A run whose training loss (its minimum is 0: the network interpolates) barely moved while
    η·λ_max of the Gauss–Newton matrix 2·scale·JᵀJ stayed tiny. The NTK rows (``ntk_every``)
    give λ_max(J Jᵀ); without them there is no stability scale and no stall verdict."""
    net = steps[np.isfinite(steps["eta"].to_numpy(float))]
    ratio = (net["eta"] * 2.0 * c["loss_scale"] * net["ntk_lambda_max"]).to_numpy(float)
    return stall_reason(net["loss"].to_numpy(float), ratio, "eta*lambda_max(Gauss-Newton)")


def memory_terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed, and the logged rows (COLUMNS, t, alive, stop, the twin's flag)."""
    return memory.terms(setting, base_dir) + rows_terms(setting, len(COLUMNS) + 4)


def figure(root: Path, runs: Any, steps: Any) -> list[str]:
    """A user spec's figure: log10 of h(w_t) per setting with the rate (14) dashed."""
    from overparam.plots import curves_figure

    return curves_figure(root, runs, steps, ("loss", "h(w_t)"),
                         lambda grp: ("bound_rate", "rate (14)"),
                         ylabel="log10 (loss − minimum)", title="loss and bound")


FAMILY = Family(
    spec=PROBLEM, columns=COLUMNS, build_instance=build_instance, prepare=prepare,
    finalize=finalize, failure=failure, stalled=stalled, memory=memory_terms,
    figure=figure,
    # the data's kind stays in the key (it decides whether errors are logged)
    runtime_fields=("problem.data", "problem.width", "problem.loss", "problem.target_loss",
                    "problem.khatri_rao_t", "problem.chi_max", "problem.c_cond9",
                    "problem.c_eta", "problem.c_rate", "problem.c_path", "init", "schedule",
                    "diverge_factor"),
)
