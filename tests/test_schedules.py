"""Step-size schedules against direct computations."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from overparam import schedules
from overparam.schedules.base import StepContext, growth_cap
from overparam.spec import (
    BacktrackingSchedule,
    ConstantSchedule,
    PLSchedule,
    PowerSchedule,
    XuSchedule,
)
from overparam.theory import local_pl as th


def _ctx(loss_after=None, t=3.0, L=0.7, **consts):
    c = {
        "K": 1.3,
        "mu": 0.4,
        "alpha1": 2.0,
        "alpha2": 9.0,
        "eta0": 0.01,
        "L0": 1.0,
        "beta2": 3.0,
        "rho_bar0": 0.9,
        "Delta_tilde": 0.95,
    }
    c.update(consts)
    return StepContext(
        t=jnp.asarray(t),
        L=jnp.asarray(L),
        grad_norm2=jnp.asarray(2.0),
        gradl_norm=jnp.asarray(0.8),
        W_fro=jnp.asarray(2.5),
        s2min_T=jnp.asarray(3.0),
        s2max_T=jnp.asarray(11.0),
        smax_W=jnp.asarray(2.2),
        consts={k: jnp.asarray(v) for k, v in c.items()},
        loss_after=loss_after or (lambda eta: jnp.asarray(0.0)),
    )


def _step(spec, ctx):
    """One step of the schedule built from ``spec``, its state initialised from ctx.consts."""
    sched = schedules.build(spec)
    return sched.step(sched.init(ctx.consts), ctx)


def test_local_pl_is_min_of_growth_and_root():
    for eta0 in (1e-4, 1.0):
        ctx = _ctx(eta0=eta0)
        eta, evals, _ = _step(PLSchedule(kind="local_pl"), ctx)
        root = th.local_step(1.3, 11.0, 2.2, 0.7)
        growth = eta0 * (1 + eta0**1.01) ** 1.5
        assert float(eta) == pytest.approx(min(growth, float(root)), rel=1e-14)
        assert int(evals) == 1
    # the root solves η K_t(η) = 1
    assert float(root * th.K_t(root, 1.3, 11.0, 2.2, 0.7)) == pytest.approx(1.0, rel=1e-12)


def test_global_pl_uses_k_bar():
    ctx = _ctx(eta0=1.0)
    eta, _, _ = _step(PLSchedule(kind="global_pl"), ctx)
    kbar = th.K_bar(3.0, 1.0, 1.3, 1.0, 9.0, 3.0, 0.9, 0.95, 0.5)
    assert float(eta) == pytest.approx(1.0 / float(kbar), rel=1e-14)


def test_growth_cap_formula():
    assert float(growth_cap(jnp.asarray(4.0), jnp.asarray(0.1), jnp.asarray(2.0))) == pytest.approx(
        0.1 * 1.01**2, rel=1e-14
    )


def test_xu_step_is_root_of_the_cubic():
    eta, _, _ = _step(XuSchedule(kind="xu2023"), _ctx())
    a = 0.8 * 2.5
    g = 0.5 * 2.0 - eta * a - 1.3 * eta / 2 * (1.5 * 9.0 + eta * a) ** 2
    assert abs(float(g)) < 1e-12 and float(eta) > 0


@pytest.mark.parametrize("variant", ["armijo", "printed"])
def test_backtracking_matches_a_python_loop(variant):
    def f(eta):  # a loss along the ray with a minimum at 0.3
        return 0.7 - 2.0 * eta + 2.0 / 0.6 * eta**2

    eta, evals, _ = _step(BacktrackingSchedule(kind="backtracking", variant=variant,
                                               max_evals=40), _ctx(loss_after=f))
    ref, n = 1.0, 1
    while not f(ref) <= 0.7 - 0.9 * 2.0 * (ref if variant == "armijo" else 1.0) and n < 40:
        ref, n = ref * 0.1, n + 1
    assert float(eta) == pytest.approx(ref, rel=1e-14) and int(evals) == n
    if variant == "armijo":
        assert f(float(eta)) <= 0.7 - 0.9 * float(eta) * 2.0


def test_backtracking_gives_up_after_max_evals():
    eta, evals, _ = _step(BacktrackingSchedule(kind="backtracking", max_evals=5),
                          _ctx(loss_after=lambda e: jnp.asarray(np.inf)))
    assert int(evals) == 5 and float(eta) == pytest.approx(1e-4)


def test_spec_parameters_reach_the_schedule():
    """c, d, eta0 come from the schedule's own spec, not from the run's theory constants."""
    ctx = _ctx(eta0=0.5, K=1e-9)  # 1/K_t huge: the growth cap binds
    eta, _, _ = _step(PLSchedule(kind="local_pl", d=2.0), ctx)
    assert float(eta) == pytest.approx(0.5 * (1 + 0.5**2) ** 1.5, rel=1e-14)
    eta, _, _ = _step(PLSchedule(kind="local_pl", eta0=0.25, d=2.0), ctx)  # a number wins
    assert float(eta) == pytest.approx(0.25 * (1 + 0.25**2) ** 1.5, rel=1e-14)
    kbar = th.K_bar(3.0, 0.5, 1e-9, 1.0, 9.0, 3.0, 0.9, 0.95, 0.3)
    eta, _, _ = _step(PLSchedule(kind="global_pl", c=0.3, d=2.0), ctx)
    assert float(eta) == pytest.approx(min(0.5 * 1.25**1.5, 1 / float(kbar)), rel=1e-14)


def test_constant_takes_a_number_or_the_familys_named_step():
    ctx = _ctx(eta0=0.125)
    assert float(_step(ConstantSchedule(kind="constant", eta=0.3), ctx)[0]) == 0.3
    assert float(_step(ConstantSchedule(kind="constant", eta="thm1"), ctx)[0]) == 0.125


@pytest.mark.parametrize("k", [0, 3, 10_000])
def test_power_schedule_is_bounded_below(k):
    spec = PowerSchedule(kind="power", eta0=0.2, power=0.5, eta_min=1e-3)
    eta, _, _ = _step(spec, StepContext(t=jnp.asarray(k)))
    assert float(eta) == pytest.approx(max(0.2 * (k + 1) ** -0.5, 1e-3), rel=1e-14)


def test_growth_cap_takes_numpy_arrays():
    t = np.arange(4.0)
    np.testing.assert_allclose(np.asarray(growth_cap(t, 0.1, 2.0)), 0.1 * 1.01 ** (t / 2),
                               rtol=1e-14)


@pytest.mark.parametrize("problem, eta", [
    ({"kind": "deep_linear", "widths": [4, 9, 9, 3], "loss": "squared_half",
      "data": {"kind": "synthetic", "samples": 12}}, "data_norm"),
    ({"kind": "deep_linear", "widths": [4, 9, 9, 3], "loss": "squared_half",
      "data": {"kind": "synthetic", "samples": 12}}, 0.004),
    ({"kind": "two_layer_linear", "width": 12, "loss": "squared",
      "data": {"kind": "synthetic", "n": 3, "m": 2, "x": "orthogonal", "target": "init",
               "noise": 0.05}}, "eta_max"),
])
def test_a_constant_steps_scale_multiplies_the_step_the_loop_and_the_theory_use(
        problem, eta, tmp_path):
    import overparam as op

    def run(scale):
        spec = {"problem": problem, "schedule": {"kind": "constant", "eta": eta,
                                                 "scale": scale}, "steps": 3, "seeds": 1}
        return op.run(spec, out=tmp_path / str(scale), progress=False)

    full, half = run(1.0), run(0.5)
    np.testing.assert_allclose(half.steps["eta"], 0.5 * full.steps["eta"], rtol=1e-15)
    theory = "eta" if "eta" in full.runs else "eta0"
    np.testing.assert_allclose(half.runs[theory], 0.5 * full.runs[theory], rtol=1e-15)
    assert float(half.steps["eta"].iloc[0]) == pytest.approx(float(half.runs[theory].iloc[0]),
                                                             rel=1e-15)
