"""Paper A's loop runs on row-space coordinates: the same trace as GD on the full-width weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overparam.models import two_layer_linear as tl
from overparam.problems.two_layer_linear import build_instance, prepare
from overparam.runner import plan


@pytest.mark.parametrize(("n", "m", "h"), [(3, 2, 40), (4, 4, 9), (3, 2, 5), (2, 3, 4)])
def test_coordinates_reproduce_the_weights(n: int, m: int, h: int) -> None:
    rng = np.random.default_rng(h)
    W1, W2 = rng.standard_normal((n, h)), rng.standard_normal((m, h))
    B1, B2, Q = tl.row_space_coordinates(W1, W2)
    k = min(h, n + m)
    assert B1.shape == (n, k) and B2.shape == (m, k) and Q.shape == (h, k)
    np.testing.assert_allclose(Q.T @ Q, np.eye(k), atol=1e-14)
    np.testing.assert_allclose(B1 @ Q.T, W1, atol=1e-13)
    np.testing.assert_allclose(B2 @ Q.T, W2, atol=1e-13)
    R1, R2, none = tl.row_space_coordinates(W1, W2, with_basis=False)
    assert none is None
    np.testing.assert_array_equal(np.abs(R1), np.abs(B1))  # same R, up to the QR's signs
    np.testing.assert_array_equal(np.abs(R2), np.abs(B2))


def _trace(step, carry, data, steps):
    rows = []
    run = jax.jit(step)
    for k in range(steps):
        carry, row = run(carry, data, jnp.asarray(k))
        rows.append({c: float(v) for c, v in row.items()})
    return rows


@pytest.mark.parametrize("schedule", [{"kind": "local_pl"}, {"kind": "backtracking"},
                                      {"kind": "constant", "eta": 0.01}])
def test_trace_equals_full_width_gd(tmp_path, schedule) -> None:
    """Every column of 8 steps from (B1, B2) equals the same compiled step run on (W1, W2)."""
    spec = {"problem": {"kind": "two_layer_linear", "width": 60,
                        "data": {"kind": "synthetic", "n": 3, "m": 2, "target": "init",
                                 "noise": 0.3}},
            "schedule": schedule, "steps": 12, "seeds": 1}
    p = plan(spec)
    setting = p.settings[0]
    inst = build_instance(setting, 0, p.base_dir)
    _, carries, data, step = prepare(setting, [inst])
    coords = carries[0]
    assert coords.params[0].shape == (3, 5)
    full = coords._replace(params=(inst.W1, inst.W2), params0=(inst.W1, inst.W2))
    a, b = _trace(step, coords, data[0], 8), _trace(step, full, data[0], 8)
    gap0 = a[0]["loss_gap"]
    # ‖D(t) − D(0)‖_F is tiny (O(η²)) and moves by ~eps·‖W‖_F² under a round-off change of
    # the weights, which the two trajectories have after the first step: allow that much.
    drift_tol = 1e3 * np.finfo(float).eps * float(np.sum(inst.W1**2) + np.sum(inst.W2**2))
    for ra, rb in zip(a, b, strict=True):
        assert ra["loss_gap"] > 1e-8 * gap0  # far from round-off: every column is meaningful
        for col, va in ra.items():
            tol = drift_tol if col == "imbalance_drift" else 1e-13
            assert va == pytest.approx(rb[col], rel=1e-10, abs=tol), col
