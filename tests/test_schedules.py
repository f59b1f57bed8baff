"""Step-size schedules against direct computations."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from overparam import schedules
from overparam.schedules.base import StepContext, growth_cap
from overparam.spec import BacktrackingSchedule, PLSchedule, XuSchedule
from overparam.theory import local_pl as th


def _ctx(loss_after=None, t=3.0, L=0.7, **consts):
    c = {
        "K": 1.3,
        "mu": 0.4,
        "alpha1": 2.0,
        "alpha2": 9.0,
        "eta0": 0.01,
        "d": 1.01,
        "c": 0.5,
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


def test_local_pl_is_min_of_growth_and_root():
    for eta0 in (1e-4, 1.0):
        ctx = _ctx(eta0=eta0)
        eta, evals, _ = schedules.build(PLSchedule(kind="local_pl")).step((), ctx)
        root = th.local_step(1.3, 11.0, 2.2, 0.7)
        growth = eta0 * (1 + eta0**1.01) ** 1.5
        assert float(eta) == pytest.approx(min(growth, float(root)), rel=1e-14)
        assert int(evals) == 1
    # the root solves η K_t(η) = 1
    assert float(root * th.K_t(root, 1.3, 11.0, 2.2, 0.7)) == pytest.approx(1.0, rel=1e-12)


def test_global_pl_uses_k_bar():
    ctx = _ctx(eta0=1.0)
    eta, _, _ = schedules.build(PLSchedule(kind="global_pl")).step((), ctx)
    kbar = th.K_bar(3.0, 1.0, 1.3, 1.0, 9.0, 3.0, 0.9, 0.95, 0.5)
    assert float(eta) == pytest.approx(1.0 / float(kbar), rel=1e-14)


def test_growth_cap_formula():
    assert float(growth_cap(jnp.asarray(4.0), jnp.asarray(0.1), jnp.asarray(2.0))) == pytest.approx(
        0.1 * 1.01**2, rel=1e-14
    )


def test_xu_step_is_root_of_the_cubic():
    eta, _, _ = schedules.build(XuSchedule(kind="xu2023")).step((), _ctx())
    a = 0.8 * 2.5
    g = 0.5 * 2.0 - eta * a - 1.3 * eta / 2 * (1.5 * 9.0 + eta * a) ** 2
    assert abs(float(g)) < 1e-12 and float(eta) > 0


@pytest.mark.parametrize("variant", ["armijo", "printed"])
def test_backtracking_matches_a_python_loop(variant):
    def f(eta):  # a loss along the ray with a minimum at 0.3
        return 0.7 - 2.0 * eta + 2.0 / 0.6 * eta**2

    sched = schedules.build(
        BacktrackingSchedule(kind="backtracking", variant=variant, max_evals=40)
    )
    eta, evals, _ = sched.step((), _ctx(loss_after=f))
    ref, n = 1.0, 1
    while not f(ref) <= 0.7 - 0.9 * 2.0 * (ref if variant == "armijo" else 1.0) and n < 40:
        ref, n = ref * 0.1, n + 1
    assert float(eta) == pytest.approx(ref, rel=1e-14) and int(evals) == n
    if variant == "armijo":
        assert f(float(eta)) <= 0.7 - 0.9 * float(eta) * 2.0


def test_backtracking_gives_up_after_max_evals():
    sched = schedules.build(BacktrackingSchedule(kind="backtracking", max_evals=5))
    eta, evals, _ = sched.step((), _ctx(loss_after=lambda e: jnp.asarray(np.inf)))
    assert int(evals) == 5 and float(eta) == pytest.approx(1e-4)
