"""Every family that takes steps says when a run stalled: its loss barely moved while the step
size sat far below the local 1/K. The scales K are checked against independent Hessians."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overparam import runner
from overparam.losses import linear_classifier as pop
from overparam.models import activations
from overparam.models import shallow as sh
from overparam.problems import linear_classifier as lc
from overparam.problems import shallow
from overparam.problems.shallow_constants import theory_constants
from overparam.spec import expand, validate_spec


def _run(spec: dict, tmp_path: Path, name: str):
    return runner.execute(runner.plan(spec), tmp_path / name, progress=False)


def _shallow(eta: float) -> dict:
    return {"problem": {"kind": "shallow", "width": 6, "loss": "mean", "ntk_every": 1,
                        "data": {"kind": "sphere", "n": 5, "d0": 3}},
            "init": {"kind": "omega", "omega1": 1.0, "product": "lecun"},
            "schedule": {"kind": "constant", "eta": eta}, "steps": 6, "seeds": 1}


def _classifier(eta: float, dynamics: str = "gd") -> dict:
    return {"problem": {"kind": "linear_classifier", "dim": 2, "depth": 2,
                        "dynamics": {"kind": dynamics}},
            "init": {"kind": "rank_one", "w0": [0.6, -0.8]},
            "schedule": {"kind": "constant", "eta": eta}, "steps": 6}


@pytest.mark.parametrize("make,scale", [(_shallow, "Gauss-Newton"), (_classifier, "eta\\*K_t")])
def test_a_tiny_step_stalls_and_a_real_one_does_not(tmp_path, make, scale):
    tiny = _run(make(1e-9), tmp_path, "tiny")
    assert set(tiny.runs["status"]) == {"stalled"}
    assert tiny.runs["note"].str.contains(scale).all()
    real = _run(make(0.5), tmp_path, "real")
    assert set(real.runs["status"]) == {"ok"}, real.runs["note"].tolist()


def test_a_flow_has_no_step_size_to_stall_on(tmp_path):
    res = _run(_classifier(1e-9, "flow"), tmp_path, "flow")
    assert set(res.runs["status"]) == {"ok"}


def test_shallow_scale_is_the_top_eigenvalue_of_the_loss_hessian_at_interpolation(tmp_path):
    """With targets equal to the network's outputs the Hessian of scale·‖Φ − Y‖² is the
    Gauss–Newton matrix 2·scale·JᵀJ: its top eigenvalue (autodiff, dense) is the rule's."""
    spec = _shallow(0.1)
    spec["problem"]["activation"] = "tanh"  # smooth: the Hessian exists everywhere
    setting = expand(validate_spec(spec))[0]
    inst = shallow.build_instance(setting, 0, tmp_path)
    c = theory_constants(setting, inst)
    X = jnp.asarray(inst.data.X)
    act = activations.from_spec(setting.problem.activation)
    W0, V0 = jnp.asarray(inst.W0), jnp.asarray(inst.V0)
    shapes = (W0.shape, V0.shape)

    def net(flat):
        W = flat[:W0.size].reshape(shapes[0])
        return flat[W0.size:].reshape(shapes[1]) @ act.fn(W @ X)

    flat0 = jnp.concatenate([W0.ravel(), V0.ravel()])
    Y = net(flat0)
    hess = jax.hessian(lambda p: c["loss_scale"] * jnp.sum((net(p) - Y) ** 2))(flat0)
    top = float(np.linalg.eigvalsh(np.asarray(hess))[-1])
    lam = float(sh.ntk_extremes(W0, V0, X, act.fn, act.d1)[1])
    assert 2.0 * c["loss_scale"] * lam == pytest.approx(top, rel=1e-10)


def test_classifier_scale_is_the_population_hessian_at_zero(tmp_path):
    """At w = 0, σ'(0) = 1/4 makes the population Hessian E[ℓ''(0) xxᵀ] = E[xxᵀ]/4 exactly:
    the rule's K (depth 1) equals it, by finite differences of the loss's own gradient."""
    spec = _classifier(0.1)
    spec["problem"]["depth"] = 1
    setting = expand(validate_spec(spec))[0]
    inst = lc.build_instance(setting, 0, tmp_path)
    v = jnp.asarray(inst.v)
    h = 1e-5
    H = np.stack([(np.asarray(pop.loss_and_grad(h * e, v, inst.rule)[1])
                   - np.asarray(pop.loss_and_grad(-h * e, v, inst.rule)[1])) / (2 * h)
                  for e in np.eye(2)])
    K = lc.make_distribution(setting).second_moment() / 2.0 / 4.0
    np.testing.assert_allclose(H, K * np.eye(2), atol=1e-9)
