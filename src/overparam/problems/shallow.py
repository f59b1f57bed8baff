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
from overparam.numerics import hermite
from overparam.problems.protocol import (
    Family,
    Finalized,
    Prepared,
    alive_after,
    divergence_threshold,
)
from overparam.resources import Term, rows_terms
from overparam.schedules import StepContext
from overparam.spec import Setting
from overparam.spec.shallow import PROBLEM
from overparam.theory import near_isometry as th

COLUMNS = (
    "loss", "eta", "grad_norm", "dist_init", "path_length", "ntk_lambda_min", "ntk_lambda_max",
    "sigma_max_V", "rel_movement", "rel_movement_V", "train_error", "test_error", "test_loss",
    "lazy_gap",
    "lin_loss", "lin_test_error", "bound_rate",
)

#: The NTK is (d2·n)²: refuse it beyond this many rows (use ntk_every: 0).
NTK_MAX = 4000
#: Gram-based constants (σ_min(X^{*t}), the kernel check) need n×n matrices up to this n.
GRAM_MAX = 4000
HERMITE_ORDER = 4
#: The expected kernel (eq 56) integrates φ(ω1 g) on panels of width 1/ω1: beyond this ω1
#: the rule would need billions of nodes, and the kernel check is left out (NaN).
KERNEL_OMEGA_MAX = 1e3


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


def _scale(setting: Setting, n: int, d2: int) -> float:
    """f = scale·‖Z − Y‖²_F."""
    return 1.0 if setting.problem.loss == "sum" else 1.0 / (n * d2)


def theory_constants(setting: Setting, inst: Instance) -> dict[str, Any]:
    """Everything paper B says about this run at init. Its analysis is of the bias-free
    V φ(W X): with biases the constants are those of that network at the run's W0, V0
    (``theory_bias_free`` False says so), while h0 and the NTK step are the run's own."""
    prob = setting.problem
    act = activations.from_spec(prob.activation)
    X, Y = inst.data.X, inst.data.Y
    (d0, n), d2, d1 = X.shape, Y.shape[0], prob.width
    dphi, ddphi = activations.dphi_max(act), activations.ddphi_max(act)
    phi0 = np.asarray(act.fn(jnp.asarray(inst.W0 @ X)))
    l3 = th.lemma3(phi0, X, inst.V0, dphi, ddphi, prob.chi_max)
    scale = _scale(setting, n, d2)
    alpha_f, beta_f = th.loss_constants(prob.loss, n, d2)
    if inst.b1 is None:
        resid = inst.V0 @ phi0 - Y
    else:
        biased = np.asarray(act.fn(jnp.asarray(inst.W0 @ X + inst.b1[:, None])))
        resid = inst.V0 @ biased + inst.b2[:, None] - Y
    h0 = scale * float(np.sum(resid**2))
    grad_f0 = 2.0 * scale * float(np.linalg.norm(resid))
    mu, nu, beta = l3["mu_phi"], l3["nu_phi"], l3["beta_phi"]
    c9 = th.cond9_rhs(alpha_f, mu, beta, nu, prob.c_cond9)
    e13 = th.eta_thm2(beta, grad_f0, beta_f, mu, nu, prob.c_eta)
    out: dict[str, Any] = {
        **l3, "h0": h0, "grad_f0": grad_f0, "alpha_f": alpha_f, "beta_f": beta_f,
        "cond9_rhs": c9, "cond9_holds": bool(h0 <= c9), "eta_thm2": e13,
        "c_cond9": prob.c_cond9, "c_eta": prob.c_eta, "c_rate": prob.c_rate,
        "c_path": prob.c_path, "dphi_max": dphi, "ddphi_max": ddphi,
        "in_assumptions": act.in_assumptions, "phi_at_0": float(act.fn(jnp.zeros(()))),
        "omega1": inst.omega1, "omega2": inst.omega2, "omega_ratio": inst.omega2 / inst.omega1,
        "omega_product": inst.omega1 * inst.omega2, "n": n, "d0": d0, "d1": d1, "d2": d2,
        "params": d0 * d1 + d1 * d2, "lazy_ratio": th.lazy_ratio(beta, nu),
        "path_bound": th.path_bound(nu, h0, alpha_f, mu, prob.c_path),
        "loss_scale": scale, "activation_name": act.name,
        "theory_bias_free": inst.b1 is None, "bias_scheme": prob.bias_scheme(),
        "gaussian_init": setting.init.kind != "npy",
    }
    coef = hermite.coefficients(act, HERMITE_ORDER)
    out.update({f"hermite_c{i}": float(c) for i, c in enumerate(coef)})
    out["hermite_norm"] = float(np.sqrt(hermite.second_moment(act)))
    out["c_inf"] = float(hermite.c_inf(act))
    t = prob.khatri_rao_t or sh.default_t(d0, n)
    out["khatri_rao_t"] = t
    small = n <= GRAM_MAX
    unit = bool(np.allclose(np.linalg.norm(X, axis=0), 1.0, rtol=0, atol=1e-9))
    out["unit_norm_inputs"] = unit
    out["sigma_min_khatri_rao"] = sh.sigma_min_khatri_rao(X, t) if small else np.nan
    kernel = (small and unit and inst.omega1 <= KERNEL_OMEGA_MAX and inst.b1 is None
              and out["gaussian_init"])
    out.update(th.kernel_error(act, phi0, X, inst.omega1) if kernel else
               {"kernel_rel_error": np.nan, "kernel_rel_se": np.nan})
    sched = setting.schedule
    if sched.eta == "thm2":
        eta = e13
    elif sched.eta == "ntk":
        lam = sh.ntk_extremes(jnp.asarray(inst.W0), jnp.asarray(inst.V0), jnp.asarray(X),
                              act.fn, act.d1, inst.b1)[1]
        eta = 1.0 / (beta_f * float(lam))
    else:
        eta = float(sched.eta)
    eta *= getattr(sched, "scale", 1.0)  # the constant step's factor, named or a number
    out["eta"] = eta
    out["eta13_holds"] = bool(eta <= e13)
    out["rate14"] = th.rate14(eta, alpha_f, mu, prob.c_rate)
    out.update(inst.data.info)
    return out


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

        out = {name: jnp.asarray(row.get(name, nan), jnp.float64) for name in COLUMNS}
        out["t"], out["alive"] = carry.t, carry.alive
        out["stop"] = L <= c["target"]
        lin_ok = lin_ok & ok  # a twin diverged (lin_loss NaN from then on) stays where it was
        new = Carry(keep(new_params, params), keep(new_lin, carry.lin, lin_ok),
                    carry.t + jnp.where(ok, dt, 0.0), ok, carry.path + jnp.where(ok, moved, 0.0),
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
    checks = [] if status == "failed" else run_checks(setting, steps, c)
    last = steps.iloc[-1]
    inside = steps["dist_init"].to_numpy() <= c["rho_phi"]
    left = np.flatnonzero(~inside)
    extra = {"final_loss": float(last["loss"]), "final_loss_gap": float(last["loss"]),
             "final_train_error": float(last["train_error"]),
             "final_test_error": float(last["test_error"]),
             "final_test_loss": float(last["test_loss"]),
             "final_lazy_gap": float(last["lazy_gap"]),
             "lin_diverged_step": _first_nan(steps, "lin_loss") if setting.problem.lazy
             else np.nan,
             "final_rel_movement": float(last["rel_movement"]),
             "chi_path": float(steps["sigma_max_V"].max()),
             "left_ball_step": float(left[0]) if left.size else np.nan}
    return Finalized(c, extra, checks)


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


def memory_terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed, and the logged rows (COLUMNS, t, alive, stop)."""
    return memory.terms(setting, base_dir) + rows_terms(setting, len(COLUMNS) + 3)


def figure(root: Path, runs: Any, steps: Any) -> list[str]:
    """A user spec's figure: log10 of h(w_t) per setting with the rate (14) dashed."""
    from overparam.plots import curves_figure

    return curves_figure(root, runs, steps, ("loss", "h(w_t)"),
                         lambda grp: ("bound_rate", "rate (14)"),
                         ylabel="log10 (loss − minimum)", title="loss and bound")


FAMILY = Family(
    spec=PROBLEM, columns=COLUMNS, build_instance=build_instance, prepare=prepare,
    finalize=finalize, failure=failure, memory=memory_terms, figure=figure,
    # the data's kind stays in the key (it decides whether errors are logged)
    runtime_fields=("problem.data", "problem.width", "problem.loss", "problem.target_loss",
                    "problem.khatri_rao_t", "problem.chi_max", "problem.c_cond9",
                    "problem.c_eta", "problem.c_rate", "problem.c_path", "init", "schedule",
                    "diverge_factor"),
)
