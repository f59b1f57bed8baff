"""Paper B's shallow network: NTK and Khatri–Rao algebra, Lemma 3 and β_Φ on dense Jacobians,
GD/SGD/lazy runs against plain NumPy loops, the checks, and bad specs."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from overparam import runner
from overparam.cli import app
from overparam.data.datasets import write_idx
from overparam.inits import shallow as shallow_init
from overparam.models import activations
from overparam.models import shallow as sh
from overparam.problems import shallow as problem
from overparam.spec import expand, validate_spec
from overparam.theory import near_isometry as th
from test_shallow_order import khatri_rao_power

SMOOTH = ("gelu", "softplus", "sigmoid", "tanh", "elu")


def _unit_columns(rng, d0, n):
    X = rng.standard_normal((d0, n))
    return X / np.linalg.norm(X, axis=0)


def _spec(steps=10, width=30, n=12, d0=4, **problem_over):
    prob = {"kind": "shallow", "width": width, "data": {"kind": "sphere", "n": n, "d0": d0},
            **problem_over}
    return {"problem": prob, "init": {"kind": "omega", "omega1": 1.0, "product": "lecun"},
            "schedule": {"kind": "constant", "eta": "ntk"}, "steps": steps, "seeds": 2}


def _run(spec, tmp_path, name="out"):
    return runner.execute(runner.plan(spec), tmp_path / name, progress=False)


def _setting(spec):
    return expand(validate_spec(spec))[0]


# ------------------------------------------------------------------ algebra
@pytest.mark.parametrize("name", activations.ACTIVATIONS)
def test_ntk_gram_is_the_dense_jacobian_gram(name):
    act = activations.get(name)
    rng = np.random.default_rng(1)
    X = _unit_columns(rng, 3, 5)
    W, V = rng.standard_normal((7, 3)), rng.standard_normal((2, 7))
    J = sh.dense_jacobian(W, V, X, act.fn)
    K = np.asarray(sh.ntk_gram(jnp.asarray(W), jnp.asarray(V), jnp.asarray(X), act.fn, act.d1))
    np.testing.assert_allclose(K, J @ J.T, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("t", [1, 2, 3])
def test_khatri_rao_gram_is_the_hadamard_power(t):
    rng = np.random.default_rng(t)
    X = _unit_columns(rng, 3, 6)
    KR = khatri_rao_power(X, t)  # the explicit X^{*t}, d0^t × n
    np.testing.assert_allclose(sh.khatri_rao_gram(X, t), KR.T @ KR, atol=1e-13)
    sv = np.linalg.svd(KR, compute_uv=False)
    nth = sv[X.shape[1] - 1] if sv.size >= X.shape[1] else 0.0  # the n-th singular value
    assert sh.sigma_min_khatri_rao(X, t) == pytest.approx(nth, abs=1e-7)


def test_default_t_is_the_least_symmetric_power_that_holds_n_columns():
    assert sh.default_t(20, 20) == 1
    assert sh.default_t(20, 100) == 2  # C(21, 2) = 210
    assert sh.default_t(4, 16) == 3  # C(5, 2) = 10 < 16 <= C(6, 3) = 20


@pytest.mark.parametrize("name", SMOOTH)
def test_lemma3_bounds_the_dense_jacobian_and_beta_bounds_its_variation(name):
    """µ_Φ ≤ σ_min(J(w0)), σ_max(J(w0)) ≤ ν_Φ, and ‖J(u) − J(w0)‖ ≤ β_Φ‖u − w0‖ for u in the
    ball (σ_max(V) ≤ χ_max there), over random instances."""
    act = activations.get(name)
    dphi, ddphi = activations.dphi_max(act), activations.ddphi_max(act)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        d0, n, d1, d2 = 3, 5, 12, 2
        X = _unit_columns(rng, d0, n)
        W0 = rng.standard_normal((d1, d0))
        V0 = rng.standard_normal((d2, d1)) / np.sqrt(d1)
        phi0 = np.asarray(act.fn(jnp.asarray(W0 @ X)))
        c = th.lemma3(phi0, X, V0, dphi, ddphi, None)
        sv = np.linalg.svd(sh.dense_jacobian(W0, V0, X, act.fn), compute_uv=False)
        assert c["mu_phi"] <= sv[d2 * n - 1] * (1 + 1e-12)
        assert sv[0] <= c["nu_phi"] * (1 + 1e-12)
        J0 = sh.dense_jacobian(W0, V0, X, act.fn)
        for _ in range(5):
            dW, dV = rng.standard_normal(W0.shape), rng.standard_normal(V0.shape)
            r = c["rho_phi"] * rng.uniform(0.1, 1.0) / np.sqrt(np.sum(dW**2) + np.sum(dV**2))
            W, V = W0 + r * dW, V0 + r * dV
            assert np.linalg.svd(V, compute_uv=False)[0] <= c["chi_max"] * (1 + 1e-12)
            gap = np.linalg.svd(sh.dense_jacobian(W, V, X, act.fn) - J0, compute_uv=False)[0]
            dist = r * np.sqrt(np.sum(dW**2) + np.sum(dV**2))
            assert gap <= c["beta_phi"] * dist * (1 + 1e-12)


def test_chi_in_ball_is_the_fixed_point_of_the_ball_radius():
    s, mu, sx, a, b = 0.7, 0.3, 1.9, 1.13, 0.8
    chi = th.chi_in_ball(s, mu, sx, a, b)
    beta = np.sqrt(2) * sx * (a + b * chi)
    assert chi == pytest.approx(s + mu / (2 * beta), rel=1e-13)


def test_constants_of_9_13_14_and_33_follow_their_formulas():
    assert th.cond9_rhs(2.0, 0.5, 3.0, 4.0, c=2.0) == pytest.approx(2 * 2 * 0.5**6 / (9 * 16))
    assert th.eta_thm2(3.0, 1.5, 2.0, 0.5, 4.0) == pytest.approx(1 / (4.5 + 0.5 + 32))
    assert th.rate14(0.01, 2.0, 0.5, c=0.5) == pytest.approx(1 - 0.5 * 0.01 * 2 * 0.25)
    assert th.path_bound(4.0, 0.25, 2.0, 0.5) == pytest.approx(4 * 0.5 / (np.sqrt(2) * 0.25))
    assert th.loss_constants("mean", 10, 3) == (pytest.approx(2 / 30), pytest.approx(2 / 30))
    assert th.eta_thm2(np.inf, 1.0, 2.0, 1.0, 1.0) == 0.0


# ------------------------------------------------------------------ runs
def _numpy_grad(W, V, X, Y, name):
    """∇h of h = ‖Vφ(WX) − Y‖²_F by hand: (2 (φ'(WX) ⊙ VᵀR) Xᵀ, 2 R φᵀ)."""
    act = activations.get(name)
    pre = W @ X
    phi, dphi = np.asarray(act.fn(jnp.asarray(pre))), np.asarray(act.d1(jnp.asarray(pre)))
    R = V @ phi - Y
    return np.sum(R**2), 2 * (dphi * (V.T @ R)) @ X.T, 2 * R @ phi.T


def test_gd_run_matches_a_numpy_loop(tmp_path):
    spec = _spec(steps=25, activation="tanh", ntk_every=5)
    res = _run(spec, tmp_path)
    setting = _setting(spec)
    inst = problem.build_instance(setting, 0, Path.cwd())
    W, V = inst.W0.copy(), inst.V0.copy()
    X, Y = inst.data.X, inst.data.Y
    steps = res.steps[res.steps["run_id"] == res.runs["run_id"][0]]
    eta = res.runs["eta"][0]
    path = 0.0
    for k in range(26):
        loss, gW, gV = _numpy_grad(W, V, X, Y, "tanh")
        row = steps.iloc[k]
        assert row["loss"] == pytest.approx(loss, rel=1e-12)
        assert row["path_length"] == pytest.approx(path, rel=1e-12, abs=1e-15)
        dist = np.sqrt(np.sum((W - inst.W0) ** 2) + np.sum((V - inst.V0) ** 2))
        assert row["dist_init"] == pytest.approx(dist, rel=1e-11, abs=1e-15)
        if k % 5 == 0:
            ev = np.linalg.eigvalsh(sh.dense_jacobian(W, V, X, activations.get("tanh").fn)
                                    @ sh.dense_jacobian(W, V, X,
                                                        activations.get("tanh").fn).T)
            assert row["ntk_lambda_min"] == pytest.approx(ev[0], rel=1e-9)
            assert row["ntk_lambda_max"] == pytest.approx(ev[-1], rel=1e-11)
        else:
            assert np.isnan(row["ntk_lambda_min"])
        path += eta * np.sqrt(np.sum(gW**2) + np.sum(gV**2))
        W, V = W - eta * gW, V - eta * gV
    assert set(res.checks["status"]) <= {"holds", "not_applicable"}


def test_sgd_epochs_and_the_linearized_twin_match_numpy(tmp_path):
    """One row per epoch; batches of a fresh permutation (last one partial); the twin trained
    on Z0 + J0(θ − θ0) with the same batches; mean loss over the batch's entries."""
    spec = _spec(steps=3, width=9, n=11, d0=3, activation="gelu", loss="mean",
                 dynamics={"kind": "sgd", "batch": 4}, lazy=True, ntk_every=0)
    spec["seeds"], spec["schedule"]["eta"] = 1, 0.05
    res = _run(spec, tmp_path)
    setting = _setting(spec)
    inst = problem.build_instance(setting, 0, Path.cwd())
    act = activations.get("gelu")
    X, Y = inst.data.X, inst.data.Y
    n, d2 = X.shape[1], Y.shape[0]
    J0 = sh.dense_jacobian(inst.W0, inst.V0, X, act.fn)  # rows (p, a) row-major
    theta0 = np.concatenate([inst.W0.ravel(), inst.V0.ravel()])
    Z0 = (inst.V0 @ np.asarray(act.fn(jnp.asarray(inst.W0 @ X)))).ravel()
    W, V, lin = inst.W0.copy(), inst.V0.copy(), theta0.copy()
    key = jax.random.PRNGKey(0)
    steps = res.steps
    eta = 0.05
    for epoch in range(4):
        row = steps.iloc[epoch]
        loss, _, _ = _numpy_grad(W, V, X, Y, "gelu")
        assert row["loss"] == pytest.approx(loss / (n * d2), rel=1e-12)
        Zl = Z0 + J0 @ (lin - theta0)
        Z = (V @ np.asarray(act.fn(jnp.asarray(W @ X)))).ravel()
        assert row["lazy_gap"] == pytest.approx(np.linalg.norm(Z - Zl), rel=1e-9, abs=1e-13)
        assert row["lin_loss"] == pytest.approx(np.sum((Zl - Y.ravel()) ** 2) / (n * d2),
                                                rel=1e-10)
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
        for b in range(0, n, 4):
            idx = perm[b:b + 4]
            _, gW, gV = _numpy_grad(W, V, X[:, idx], Y[:, idx], "gelu")
            scale = 1.0 / (idx.size * d2)
            W, V = W - eta * scale * gW, V - eta * scale * gV
            rows = np.concatenate([p * n + idx for p in range(d2)])
            r = (Z0 + J0 @ (lin - theta0))[rows] - Y.ravel()[rows]
            lin = lin - eta * scale * 2 * J0[rows].T @ r
    assert res.runs["steps_done"][0] == 3
    assert res.runs["final_rel_movement"][0] == pytest.approx(
        steps.iloc[-1]["rel_movement"])


def test_a_target_loss_stops_the_run_at_the_first_row_below_it(tmp_path):
    free = _run(_spec(steps=100, activation="tanh", ntk_every=0), tmp_path, "free")
    target = float(free.steps.groupby("run_id")["loss"].nth(40).max())
    spec = _spec(steps=400, activation="tanh", ntk_every=0, target_loss=target)
    spec["chunk"] = 16
    res = _run(spec, tmp_path)
    for rid, grp in res.steps.groupby("run_id"):
        loss = grp["loss"].to_numpy()
        assert loss[-1] <= target and (loss[:-1] > target).all()
        np.testing.assert_array_equal(loss, free.steps.loc[free.steps["run_id"].isin(
            free.runs["run_id"][free.runs["seed"] == res.runs.set_index("run_id")
                                .loc[rid, "seed"]]), "loss"].to_numpy()[:len(loss)])
        run = res.runs.set_index("run_id").loc[rid]
        assert run["status"] == "ok" and "reached the target" in run["note"]
        assert run["steps_done"] == len(loss) - 1


def test_condition_9_can_hold_and_then_the_rate_14_is_checked(tmp_path):
    spec = _spec(steps=40, width=400, n=10, d0=5, activation="gelu", ntk_every=10)
    spec["problem"]["data"].update(target="init", y_norm=1e-4)
    spec["schedule"]["eta"] = "thm2"
    res = _run(spec, tmp_path)
    assert res.runs["cond9_holds"].all() and res.runs["eta13_holds"].all()
    assert np.allclose(res.runs["h0"], 1e-8)
    rate = res.checks[res.checks["check"] == "B.thm2.rate"]
    assert (rate["status"] == "holds").all()
    steps = res.steps.copy()
    steps.loc[steps["step"] == 20, "loss"] = 10.0  # a corrupted row must be caught
    setting = _setting(spec)
    from overparam.checks.near_isometry import run_checks

    rid = res.runs["run_id"][0]
    c = res.runs.set_index("run_id").loc[rid].to_dict()
    bad = run_checks(setting, steps[steps["run_id"] == rid].reset_index(drop=True), c)
    assert {r["check"]: r["status"] for r in bad}["B.thm2.rate"] == "violated"


def test_a_corrupted_ntk_column_violates_lemma3(tmp_path):
    res = _run(_spec(steps=5, activation="tanh", ntk_every=1), tmp_path)
    from overparam.checks.near_isometry import run_checks

    rid = res.runs["run_id"][0]
    steps = res.steps[res.steps["run_id"] == rid].reset_index(drop=True)
    steps.loc[0, "ntk_lambda_max"] *= 1e4
    c = res.runs.set_index("run_id").loc[rid].to_dict()
    out = {r["check"]: r["status"] for r in run_checks(_setting(_spec()), steps, c)}
    assert out["B.lemma3.nu"] == "violated"


def test_kernel_56_error_shrinks_like_inverse_root_width():
    """Monte Carlo: the mean relative error of φᵀφ/d1 against (56) at widths 4^k falls with
    slope −1/2 in log–log (±0.15 over 6 seeds)."""
    act = activations.get("gelu")
    rng = np.random.default_rng(5)
    X = _unit_columns(rng, 6, 15)
    widths = [64, 256, 1024, 4096]
    errs = []
    for d1 in widths:
        e = []
        for seed in range(6):
            W0 = np.random.default_rng(seed).standard_normal((d1, 6))
            phi0 = np.asarray(act.fn(jnp.asarray(W0 @ X)))
            e.append(th.kernel_error(act, phi0, X, 1.0)["kernel_rel_error"])
        errs.append(np.mean(e))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert -0.65 < slope < -0.35


def test_relu_runs_are_flagged_outside_the_theorem(tmp_path):
    spec = _spec(steps=5, activation="relu", ntk_every=1)
    res = _run(spec, tmp_path)
    assert not res.runs["in_assumptions"].any()
    assert np.isinf(res.runs["beta_phi"]).all()
    c = res.checks.set_index("check")
    assert (c.loc["B.lemma1.lower", "status"] == "not_applicable").all()
    assert c.loc["B.lemma1.lower", "note"].str.contains("outside Assumption 2").all()
    spec["schedule"]["eta"] = "thm2"
    res = _run(spec, tmp_path, "thm2")
    assert (res.runs["status"] == "failed").all()
    assert res.runs["note"].str.contains("relu").all()


def test_init_scales_follow_the_spec():
    base = _spec(width=50, d0=8)
    cases = {
        ("omega", 0.3, None, None, 0.7): (0.3, 0.7),
        ("omega", None, 0.02, None, 0.5): (0.04, 0.5),
        ("omega", None, "he", 2.0, None): (np.sqrt(2 / np.sqrt(400) / 2),
                                           np.sqrt(2 / np.sqrt(400) * 2)),
    }
    for (kind, w1, prod, ratio, w2), expected in cases.items():
        init = {"kind": kind, **{k: v for k, v in (("omega1", w1), ("product", prod),
                                                    ("ratio", ratio), ("omega2", w2))
                                 if v is not None}}
        setting = _setting({**base, "init": init})
        assert shallow_init.omegas(setting, 8, 1) == pytest.approx(expected)
    he = _setting({**base, "init": {"kind": "he"}})
    assert shallow_init.omegas(he, 8, 1) == pytest.approx((np.sqrt(2 / 8), np.sqrt(2 / 50)))


# ------------------------------------------------------------------ images and teacher
def _fake_mnist(folder: Path, n_train=120, n_test=40):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, y in enumerate(labels):  # a class-dependent stripe plus noise: learnable
            images[i, 2 * y:2 * y + 3, :] = 200
            images[i] += rng.integers(0, 40, (28, 28)).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)


def test_lazy_run_on_mnist_idx_files_uses_the_trained_teacher(tmp_path):
    _fake_mnist(tmp_path / "mnist")
    spec = {"problem": {"kind": "shallow", "width": 40, "loss": "mean", "lazy": True,
                        "ntk_every": 0, "dynamics": {"kind": "sgd", "batch": 32},
                        "data": {"kind": "dataset", "teacher": {"width": 64}}},
            "init": {"kind": "omega", "product": "he", "ratio": 1.0},
            "schedule": {"kind": "constant", "eta": 0.01}, "steps": 4, "seeds": 2}
    p = runner.plan(spec, sets=[f"data.path={tmp_path / 'mnist'}"])
    res = runner.execute(p, tmp_path / "out", progress=False)
    runs = res.runs
    assert (runs["dataset"] == "mnist").all() and runs["d0"].eq(784).all()
    assert (runs["steps_done"] == 4).all() and (runs["status"] == "ok").all()
    assert runs["teacher_fingerprint"].nunique() == 1
    assert (runs["teacher_train_error"] == 0).all()
    from overparam.data import datasets
    from overparam.data import shallow as shallow_data
    from overparam.data.teacher import train_teacher

    Xtr, ytr, _, _ = datasets.load_mnist(tmp_path / "mnist")
    t = _setting_teacher = p.settings[0].problem.data.teacher
    teacher = train_teacher(datasets.unit_rows(Xtr), ytr, width=t.width,
                            activation=t.activation, lr=t.lr, batch=t.batch,
                            max_epochs=t.max_epochs, seed=t.seed)
    assert teacher.fingerprint == runs["teacher_fingerprint"][0]
    data = shallow_data.images(p.settings[0].problem.data, Path.cwd())
    labels = np.argmax(data.Y, axis=0)
    np.testing.assert_array_equal(labels, teacher.predict(datasets.unit_rows(Xtr)))
    assert _setting_teacher.width == 64


# ------------------------------------------------------------------ bad input
BAD = [
    ({"problem.activation": "swish"}, "problem.activation"),
    ({"problem.width": 0}, "problem.width"),
    ({"init": {"kind": "omega", "omega1": 1.0}}, "init.omega1"),
    ({"init": {"kind": "omega", "product": "he", "omega1": 1.0, "ratio": 2.0}}, "init.product"),
    ({"init": {"kind": "orthogonal"}}, "init.kind"),
    ({"schedule": {"kind": "local_pl"}}, "schedule.kind"),
    ({"schedule": {"kind": "constant", "eta": "thm1"}}, "schedule.eta"),
    ({"problem.data": {"kind": "sphere", "n": 10}}, "problem.data.d0"),
    ({"problem.data": {"kind": "sphere", "n": 4001, "d0": 5}}, "problem.ntk_every"),
    ({"problem.data": {"kind": "dataset", "name": "mnist"}}, "problem.data.path"),
    ({"problem.data": {"kind": "dataset", "name": "digits", "path": "x"}}, "problem.data.path"),
    ({"problem.dynamics": {"kind": "sgd", "batch": 0}}, "problem.dynamics.batch"),
    ({"problem.data": {"kind": "dataset", "path": "no/such/folder"}}, "problem.data.path"),
]


@pytest.mark.parametrize("override,field", BAD)
def test_bad_shallow_specs_exit_2_naming_the_field(tmp_path, override, field):
    spec = _spec()
    for key, value in override.items():
        if key.startswith("problem."):
            spec["problem"][key.removeprefix("problem.")] = value
        else:
            spec[key] = value
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run-spec", str(path), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert field in res.output
    assert not out.exists()


def test_thm2_and_omega_are_refused_on_other_problems(tiny):
    from overparam.errors import SpecError

    with pytest.raises(SpecError, match="schedule.eta"):
        expand(validate_spec({**tiny, "schedule": {"kind": "constant", "eta": "thm2"}}))
    with pytest.raises(SpecError, match="init.kind"):
        expand(validate_spec({**tiny, "init": {"kind": "omega", "omega1": 1, "omega2": 1}}))
