"""The generic probe against independent computations: a plain GD loop, the dense Hessian
(``jax.hessian`` + ``eigvalsh``), the explicit Jacobian, and an independent linearized model;
its spec rules (imports only when allowed) and its Python API."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from jax.flatten_util import ravel_pytree
from typer.testing import CliRunner

import overparam as op
from overparam.cli import app
from overparam.errors import SpecError
from overparam.generic.api import slq_table
from probe_models import apply, init

ETA, STEPS = 0.3, 6
ALL = ["curvature", "pl_ratio", "sharpness", "trace", "slq", "ntk", "dist_init", "lazy_gap"]


def _data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((12, 3))
    return X, np.stack([np.sin(X[:, 0]), np.cos(X[:, 1])], axis=1)


def _probe(tmp_path, **kw):
    X, Y = _data()
    opts = dict(schedule={"kind": "constant", "eta": ETA}, steps=STEPS, seeds=2, measure=ALL,
                every={"ntk": 2}, lanczos={"iters": 40, "probes": 200, "slq_probes": 2},
                out=tmp_path)
    return op.probe(apply, init, (X, Y), **{**opts, **kw})


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return _probe(tmp_path_factory.mktemp("probe"))


def _reference(seed: int):
    """Every column of the probe, recomputed by a plain loop with dense matrices."""
    X, Y = _data()
    w0, unravel = ravel_pytree(init(jax.random.PRNGKey(seed)))

    def F(w):
        return apply(unravel(w), X)

    def loss(w):
        return 0.5 * jnp.mean(jnp.sum((F(w) - Y) ** 2, axis=1))

    jac = jax.jit(jax.jacfwd(lambda w: F(w).ravel()))
    grad, hessian = jax.jit(jax.grad(loss)), jax.jit(jax.hessian(loss))
    J0 = jac(w0)
    rows, w, lin = [], w0, w0
    for _ in range(STEPS + 1):
        g = grad(w)
        H, J = np.asarray(hessian(w)), np.asarray(jac(w))
        F_lin = F(w0).ravel() + J0 @ (lin - w0)
        lin_loss = 0.5 * np.mean(np.sum((np.asarray(F_lin).reshape(Y.shape) - Y) ** 2, 1))
        eig, ntk = np.linalg.eigvalsh(H), np.linalg.eigvalsh(J @ J.T)
        gn = np.asarray(g)
        rows.append({"loss": float(loss(w)), "grad_norm": np.linalg.norm(gn),
                     "pl_ratio": gn @ gn / (2 * float(loss(w))),
                     "curvature": gn @ H @ gn / (gn @ gn), "sharpness": eig[-1],
                     "lambda_min": eig[0], "trace": np.trace(H), "ntk_min": ntk[0],
                     "ntk_max": ntk[-1], "dist_init": float(jnp.linalg.norm(w - w0)),
                     "lazy_gap": float(jnp.linalg.norm(F(w).ravel() - F_lin)),
                     "lin_loss": lin_loss})
        g_lin = J0.T @ (F_lin - Y.ravel()) / X.shape[0]
        w, lin = w - ETA * g, lin - ETA * g_lin
    return rows


def test_columns_match_a_dense_recomputation(result):
    assert set(result.runs["status"]) == {"ok"}
    for seed in (0, 1):
        rid = result.runs.loc[result.runs["seed"] == seed, "run_id"].item()
        s = result.steps[result.steps["run_id"] == rid].reset_index(drop=True)
        assert len(s) == STEPS + 1
        for k, ref in enumerate(_reference(seed)):
            row = s.iloc[k]
            for col, key in (("loss", "loss"), ("grad_norm", "grad_norm"),
                             ("pl_ratio", "pl_ratio"), ("curvature", "curvature"),
                             ("sharpness", "sharpness"), ("lambda_min", "lambda_min"),
                             ("dist_init", "dist_init"), ("lazy_gap", "lazy_gap"),
                             ("lin_loss", "lin_loss")):
                assert row[col] == pytest.approx(ref[key], rel=1e-8, abs=1e-11), (col, k)
            if k % 2 == 0:  # the NTK every 2nd step, NaN between
                assert row["ntk_lambda_max"] == pytest.approx(ref["ntk_max"], rel=1e-8)
                assert row["ntk_lambda_min"] == pytest.approx(ref["ntk_min"], rel=1e-6,
                                                              abs=1e-9)
            else:
                assert np.isnan(row["ntk_lambda_max"])
            # Hutchinson with 200 probes: inside 5 standard errors of the dense trace
            assert abs(row["hessian_trace"] - ref["trace"]) < 5 * row["hessian_trace_se"]
            assert row["eta_sharpness"] == pytest.approx(ETA * ref["sharpness"], rel=1e-8)


def test_slq_columns_are_a_quadrature_of_the_hessian(result):
    s = result.steps
    nodes = s.filter(like="slq_node_").to_numpy()
    weights = s.filter(like="slq_weight_").to_numpy()
    assert nodes.shape[1] == weights.shape[1] == 2 * 40
    per_probe = weights.reshape(len(s), 2, 40).sum(axis=2)
    np.testing.assert_allclose(per_probe, 1.0, atol=1e-10)
    # k = min(40, 36 parameters): the last 4 nodes of each probe are padding
    assert np.isnan(nodes.reshape(len(s), 2, 40)[:, :, 36:]).all()
    assert (weights.reshape(len(s), 2, 40)[:, :, 36:] == 0).all()
    # with k = P the extreme nodes are the extreme eigenvalues
    np.testing.assert_allclose(np.nanmax(nodes, axis=1), s["sharpness"], rtol=1e-7)
    long = slq_table(s)  # the long form: padding dropped, one row per node
    assert len(long) == len(s) * 2 * 36 and long["weight"].between(0, 1).all()
    figures = {p.name for p in (result.path / "figures").glob("*.png")}
    assert {"probe_loss.png", "probe_sharpness.png", "probe_spectrum.png"} <= figures


def test_local_pl_step_is_eq19_with_the_curvature(tmp_path):
    res = _probe(tmp_path, schedule={"kind": "local_pl", "eta0": 1.0, "d": 1.5},
                 measure=["curvature"], every={}, seeds=1, steps=8)
    s = res.steps
    cap = 1.0 * (1 + 1.0**1.5) ** (s["step"] / 2)
    np.testing.assert_allclose(s["eta"], np.minimum(cap, 1 / s["curvature"]), rtol=1e-12)
    assert (s["eta"] < cap).any()  # 1/κ_t binds on some step


def test_an_equinox_module_runs_through_its_partition(tmp_path):
    eqx = pytest.importorskip("equinox")
    model = eqx.nn.MLP(3, 2, 5, 1, activation=jnp.tanh, key=jax.random.PRNGKey(0),
                       dtype=jnp.float64)
    params, static = eqx.partition(model, eqx.is_array)

    def f(p, x):
        return jax.vmap(eqx.combine(p, static))(x)

    X, Y = _data()
    res = op.probe(f, lambda key: params, (X, Y), steps=2, measure=["curvature", "pl_ratio"],
                   out=tmp_path)
    w, unravel = ravel_pytree(params)

    def loss(v):
        return 0.5 * jnp.mean(jnp.sum((f(unravel(v), X) - Y) ** 2, 1))

    g, H = jax.grad(loss)(w), jax.hessian(loss)(w)
    row = res.steps.iloc[0]
    assert row["loss"] == pytest.approx(float(loss(w)), rel=1e-12)
    assert row["curvature"] == pytest.approx(float(g @ H @ g / (g @ g)), rel=1e-10)


def _spec(tmp_path):
    X, Y = _data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    spec = {"id": "user-model", "problem": {
        "kind": "jax_model", "model": "probe_models:apply", "init": "probe_models:init",
        "data": {"kind": "npy", "X": "X.npy", "Y": "Y.npy"}, "measure": ["sharpness"]},
        "schedule": {"kind": "constant", "eta": 0.1}, "steps": 3}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_spec_imports_user_code_only_when_allowed(tmp_path):
    path, out = _spec(tmp_path), tmp_path / "out"
    res = CliRunner().invoke(app, ["run-spec", str(path), "--out", str(out), "--no-progress"])
    assert res.exit_code == 2 and "--allow-import" in res.output
    assert not out.exists()
    res = CliRunner().invoke(app, ["run-spec", str(path), "--out", str(out), "--no-progress",
                                   "--allow-import"])
    assert res.exit_code == 0, res.output
    assert (out / "user-model" / "steps.parquet").is_file()


def test_bad_probe_specs_name_their_field(tmp_path):
    base = {"problem": {"kind": "jax_model", "model": "overparam.generic.models:mlp",
                        "model_args": {"widths": [64, 4, 10]},
                        "data": {"kind": "digits", "samples": 20}}, "steps": 2}

    def field_of(**change):
        spec = {**base, "problem": {**base["problem"], **change.pop("problem", {})}, **change}
        with pytest.raises(SpecError) as err:
            op.run(spec, out=tmp_path)
        return err.value.field

    assert field_of(problem={"every": {"ntk": 3}}) == "problem.every.ntk"
    assert field_of(problem={"model": "python:nothing"}) == "problem.model"
    assert field_of(problem={"model": "no colon"}) == "problem.model"
    assert field_of(schedule={"kind": "constant", "eta": "eta_max"}) == "schedule.eta"
    assert field_of(problem={"model_args": {"widths": [64, 4, 3]}}) == "problem.data"
    assert field_of(init={"kind": "he"}) == "init"


@pytest.mark.parametrize("kind, reduction", [("cross_entropy", "mean"), ("logistic", "sum")])
def test_losses_with_ridge_match_a_hand_written_loop(tmp_path, kind, reduction):
    X, _ = _data()
    if kind == "cross_entropy":  # probabilities over 2 classes
        Y = np.stack([X[:, 0] > 0, X[:, 0] <= 0], axis=1).astype(float)
    else:  # ±1 targets, one per output
        Y = np.where(X[:, :2] > 0, 1.0, -1.0)
    ridge, eta = 0.3, 0.2
    res = op.probe(apply, init, (X, Y), loss={"kind": kind, "reduction": reduction,
                                              "ridge": ridge},
                   schedule={"kind": "constant", "eta": eta}, steps=3, measure=["pl_ratio"],
                   out=tmp_path)
    w, unravel = ravel_pytree(init(jax.random.PRNGKey(0)))

    def loss(v):
        F = apply(unravel(v), X)
        if kind == "cross_entropy":
            p = jnp.exp(F) / jnp.sum(jnp.exp(F), axis=1, keepdims=True)
            data = -jnp.mean(jnp.sum(Y * jnp.log(p), axis=1))
        else:
            data = jnp.sum(jnp.log(1.0 + jnp.exp(-Y * F)))
        return data + 0.5 * ridge * jnp.sum(v * v)

    for k in range(4):
        row = res.steps.iloc[k]
        g = jax.grad(loss)(w)
        assert row["loss"] == pytest.approx(float(loss(w)), rel=1e-12)
        assert row["grad_norm"] == pytest.approx(float(jnp.linalg.norm(g)), rel=1e-10)
        w = w - eta * g


def test_a_nan_measurement_is_reported_not_a_crash(tmp_path):
    """relu(z)^1.5 has a finite gradient but an infinite second derivative where z = 0: the
    sharpness is NaN there while the loss and the step stay finite."""
    X, Y = _data()
    X[:, 2] = 0.0  # the third input is 0: its weights see z = 0 in every sample

    def f(p, x):
        return jnp.maximum(x @ p["W"], 0.0) ** 1.5

    res = op.probe(f, lambda key: {"W": jnp.zeros((3, 2))}, (X, Y), steps=3,
                   measure=["sharpness"], out=tmp_path)
    run = res.runs.iloc[0]
    assert run["status"] == "ok" and np.isfinite(res.steps["loss"]).all()
    assert res.steps["sharpness"].isna().all() and run["nonfinite_measurements"] == 4
