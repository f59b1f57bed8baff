"""The shallow family's options for a faithful Fig 1 (paper B): biases, ELU(α), .npy data and
init, the test-set loss, and SGD's reshuffled minibatches, each against NumPy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overparam.errors import SpecError
from overparam.inits import shallow as shallow_init
from overparam.models import activations
from overparam.models import shallow as sh
from overparam.spec import validate_spec


def _np_elu(x, a):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


def test_elu_alpha_and_derivatives_match_numpy():
    act = activations.elu(0.1)
    x = np.linspace(-6, 6, 1201)
    np.testing.assert_allclose(np.asarray(act.fn(jnp.asarray(x))), _np_elu(x, 0.1), atol=1e-15)
    d1 = np.where(x >= 0, 1.0, 0.1 * np.exp(np.minimum(x, 0)))
    np.testing.assert_allclose(np.asarray(act.d1(jnp.asarray(x))), d1, atol=1e-15)
    off = x[np.abs(x) > 1e-3]
    fd = (_np_elu(off + 1e-6, 0.1) - _np_elu(off - 1e-6, 0.1)) / 2e-6
    np.testing.assert_allclose(np.asarray(act.d1(jnp.asarray(off))), fd, rtol=1e-7)
    fd2 = (np.asarray(act.d1(jnp.asarray(off + 1e-6))) - np.asarray(act.d1(jnp.asarray(off - 1e-6)))
           ) / 2e-6
    np.testing.assert_allclose(np.asarray(act.d2(jnp.asarray(off))), fd2, rtol=1e-6, atol=1e-9)
    # φ' jumps from α to 1 at 0: outside Assumption 2, φ''max infinite, φ'max = max(1, α)
    assert not act.in_assumptions and math.isinf(activations.ddphi_max(act))
    assert activations.dphi_max(act) == pytest.approx(1.0, abs=1e-12)
    assert activations.elu(1.0) is activations.get("elu")
    spec = type("S", (), {"kind": "elu", "alpha": 0.1})()
    assert activations.from_spec(spec) is act and activations.from_spec("tanh").name == "tanh"


def _np_mlp(W, V, b1, b2, X, phi, dphi, Y):
    """Forward and the gradient of ‖Z − Y‖²_F by hand (backpropagation in NumPy)."""
    pre = W @ X + b1[:, None]
    H = phi(pre)
    Z = V @ H + b2[:, None]
    R = 2 * (Z - Y)
    gV, gb2 = R @ H.T, R.sum(axis=1)
    D = (V.T @ R) * dphi(pre)
    return Z, (D @ X.T, gV, D.sum(axis=1), gb2)


def test_bias_forward_gradient_and_ntk_match_numpy():
    rng = np.random.default_rng(0)
    d0, d1, d2, n = 4, 7, 3, 5
    W, V = rng.standard_normal((d1, d0)), rng.standard_normal((d2, d1))
    b1, b2, X, Y = (rng.standard_normal(d1), rng.standard_normal(d2),
                    rng.standard_normal((d0, n)), rng.standard_normal((d2, n)))
    act = activations.get("tanh")
    Z_ref, g_ref = _np_mlp(W, V, b1, b2, X, np.tanh, lambda x: 1 / np.cosh(x) ** 2, Y)
    p = tuple(jnp.asarray(a) for a in (W, V, b1, b2))
    Z = sh.forward(*p[:2], jnp.asarray(X), act.fn, *p[2:])
    np.testing.assert_allclose(np.asarray(Z), Z_ref, rtol=1e-13)
    g = jax.grad(lambda q: jnp.sum((sh.forward(q[0], q[1], jnp.asarray(X), act.fn, *q[2:])
                                    - Y) ** 2))(p)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-13)
    J = sh.dense_jacobian(W, V, X, act.fn, b1, b2)
    K = np.asarray(sh.ntk_gram(*p[:2], jnp.asarray(X), act.fn, act.d1, p[2]))
    np.testing.assert_allclose(K, J @ J.T, rtol=1e-12, atol=1e-12)


def test_pytorch_bias_init_bounds_and_distribution():
    rng = np.random.default_rng(1)
    b = shallow_init.pytorch_bias(rng, 64, 200_000)
    bound = 1 / 8
    assert b.min() >= -bound and b.max() <= bound
    # U(−c, c): mean 0, variance c²/3, flat histogram (Kolmogorov–Smirnov)
    assert abs(b.mean()) < 4 * bound / math.sqrt(3 * b.size)
    assert b.var() == pytest.approx(bound**2 / 3, rel=0.01)
    from scipy import stats

    assert stats.kstest(b, "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3


def _spec(**problem):
    base = {"kind": "shallow", "width": 6, "data": {"kind": "sphere", "n": 9, "d0": 3, "d2": 2},
            "ntk_every": 0}
    return {"problem": {**base, **problem}, "schedule": {"kind": "constant", "eta": 0.01},
            "init": {"kind": "he"}, "steps": 4, "seeds": 1}


@pytest.mark.parametrize(("problem", "field"), [
    ({"bias_init": "zeros"}, "problem.bias_init"),
    ({"activation": {"kind": "elu", "alpha": 0.0}}, "problem.activation.alpha"),
    ({"activation": {"kind": "elu", "alpha": -1}}, "problem.activation.alpha"),
    ({"activation": {"kind": "tanh", "alpha": 0.5}}, "problem.activation.alpha"),
    ({"bias": True, "bias_files": ["a.npy"]}, "problem.bias_files"),
])
def test_bad_options_name_their_field(problem, field):
    with pytest.raises(SpecError) as err:
        validate_spec(_spec(**problem))
    assert err.value.field == field


def test_plain_and_dict_activations_validate():
    assert validate_spec(_spec(activation="relu")).problem.activation == "relu"
    act = validate_spec(_spec(activation={"kind": "elu", "alpha": 0.1})).problem.activation
    assert act.kind == "elu" and act.alpha == 0.1


def _run(spec, tmp_path):
    import overparam as op

    return op.run(spec, out=tmp_path / "out", replace=True)


def test_npy_data_and_init_reproduce_a_run_and_test_loss_is_numpy(tmp_path):
    """A drawn instance saved as .npy and run again gives the same trace; test_loss is
    the mean squared error on the held-out files."""
    import overparam as op
    from overparam.problems import shallow as problem
    from overparam.spec import expand

    base = _spec(bias=True, loss="mean", activation={"kind": "elu", "alpha": 0.1})
    setting = expand(validate_spec(base))[0]
    inst = problem.build_instance(setting, 0, tmp_path)
    rng = np.random.default_rng(5)
    Xt, Yt = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    files = {"X": inst.data.X.T, "Y": inst.data.Y.T, "Xt": Xt, "Yt": Yt, "W": inst.W0,
             "V": inst.V0, "b1": inst.b1, "b2": inst.b2}
    for name, arr in files.items():
        np.save(tmp_path / f"{name}.npy", arr)
    def f(name):
        return str(tmp_path / f"{name}.npy")

    given = {**base, "init": {"kind": "npy", "weights": [f("W"), f("V")]}}
    given["problem"] = {**base["problem"], "bias_files": [f("b1"), f("b2")],
                        "data": {"kind": "npy", "X": f("X"), "Y": f("Y"), "X_test": f("Xt"),
                                 "Y_test": f("Yt")}}
    a = _run(base, tmp_path / "a").steps
    b = op.run(given, out=tmp_path / "b").steps
    np.testing.assert_allclose(b["loss"].to_numpy(), a["loss"].to_numpy(), rtol=1e-12)
    # test loss at row 0 (the given init) by NumPy
    act = lambda x: _np_elu(x, 0.1)  # noqa: E731
    Z = inst.V0 @ act(inst.W0 @ Xt.T + inst.b1[:, None]) + inst.b2[:, None]
    assert b["test_loss"].iloc[0] == pytest.approx(np.mean((Z - Yt.T) ** 2), rel=1e-12)
    assert np.isnan(a["test_loss"]).all()  # the sphere has no held-out set


def test_bias_runs_say_the_theory_is_bias_free(tmp_path):
    res = _run(_spec(bias=True, bias_init="zeros"), tmp_path)
    assert not res.runs["theory_bias_free"].iloc[0]
    assert (res.checks["status"] == "not_applicable").all()
    assert res.checks["note"].str.contains("bias-free").all()
    plain = _run(_spec(), tmp_path / "plain")
    assert plain.runs["theory_bias_free"].iloc[0]


def test_sgd_epochs_match_a_numpy_loop(tmp_path):
    """Reshuffled minibatches of 4 over n = 9 (the last batch of 1 kept), PyTorch's mean MSE,
    biases on: the logged losses equal a NumPy loop over the same permutations."""
    from overparam.problems import shallow as problem
    from overparam.spec import expand

    spec = _spec(bias=True, loss="mean", dynamics={"kind": "sgd", "batch": 4})
    spec["schedule"]["eta"] = 0.3
    res = _run(spec, tmp_path)
    inst = problem.build_instance(expand(validate_spec(spec))[0], 0, tmp_path)
    X, Y = inst.data.X, inst.data.Y
    p = [a.copy() for a in inst.params()]
    act = activations.get("gelu")

    def phi(x):
        return np.asarray(act.fn(jnp.asarray(x)))

    def dphi(x):
        return np.asarray(act.d1(jnp.asarray(x)))

    key = jax.random.PRNGKey(0)
    losses = []
    for k in range(5):  # row k observes the weights after k epochs
        Z, _ = _np_mlp(*p, X, phi, dphi, Y)
        losses.append(np.mean((Z - Y) ** 2))
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, k), X.shape[1]))
        for start in range(0, 9, 4):
            idx = perm[start:start + 4]
            _, g = _np_mlp(*p, X[:, idx], phi, dphi, Y[:, idx])
            scale = 1.0 / (idx.size * Y.shape[0])  # ∇ of the batch mean = ∇(sum)/count
            p = [a - 0.3 * scale * d for a, d in zip(p, g, strict=True)]
    np.testing.assert_allclose(res.steps["loss"].to_numpy(), losses, rtol=1e-11)
