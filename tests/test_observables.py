"""The per-step columns of steps.parquet against direct, independent computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overparam as op
from overparam.problems.two_layer_linear import build_instance
from overparam.runner import plan


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    spec = {"problem": {"kind": "two_layer_linear", "width": 12,
                        "data": {"kind": "synthetic", "n": 3, "m": 2, "target": "init", "noise": 0.3}},
            "schedule": {"kind": "constant", "eta": 0.02}, "steps": 4, "seeds": 1}
    res = op.run(spec, out=tmp_path_factory.mktemp("obs"))
    p = plan(spec)
    return res.steps, res.runs.iloc[0], build_instance(p.settings[0], 0, p.base_dir)


def _gd(inst, eta, k):
    W1, W2 = inst.W1.copy(), inst.W2.copy()
    for _ in range(k):
        G = inst.X.T @ (inst.X @ W1 @ W2.T - inst.Y)
        W1, W2 = W1 - eta * G @ W2, W2 - eta * G.T @ W1
    return W1, W2


def _L(X, Y):
    return lambda p: 0.5 * jnp.sum((Y - X @ p[0] @ p[1].T) ** 2)


def test_loss_gradient_and_curvature_at_every_step(traced):
    steps, run, inst = traced
    L = _L(jnp.asarray(inst.X), jnp.asarray(inst.Y))
    for k in range(4):
        W1, W2 = _gd(inst, 0.02, k)
        p = (jnp.asarray(W1), jnp.asarray(W2))
        row = steps.iloc[k]
        assert row["loss"] == pytest.approx(float(L(p)), rel=1e-12)
        g = jax.grad(L)(p)
        gn = float(jnp.sqrt(sum(jnp.sum(x * x) for x in g)))
        assert row["grad_norm"] == pytest.approx(gn, rel=1e-12)
        assert row["pl_ratio"] == pytest.approx(gn**2 / (2 * row["loss_gap"]), rel=1e-10)
        # curvature: central finite difference of the gradient along g
        eps = 1e-5
        gp = jax.grad(L)(tuple(a + eps * b for a, b in zip(p, g, strict=True)))
        gm = jax.grad(L)(tuple(a - eps * b for a, b in zip(p, g, strict=True)))
        hg = sum(jnp.vdot(b, (x - y) / (2 * eps)) for b, x, y in zip(g, gp, gm, strict=True))
        assert row["curvature"] == pytest.approx(float(hg) / gn**2, rel=1e-6)


def test_spectra_and_imbalance_against_dense_matrices(traced):
    steps, run, inst = traced
    D0 = inst.W1.T @ inst.W1 - inst.W2.T @ inst.W2  # 12×12, fine at this size
    for k in range(1, 4):
        W1, W2 = _gd(inst, 0.02, k)
        row = steps.iloc[k]
        s1, s2 = np.linalg.svd(W1, compute_uv=False), np.linalg.svd(W2, compute_uv=False)
        assert row["sigma_min_T2"] == pytest.approx(s1[-1] ** 2 + s2[-1] ** 2, rel=1e-10)
        assert row["sigma_max_T2"] == pytest.approx(s1[0] ** 2 + s2[0] ** 2, rel=1e-10)
        sw = np.linalg.svd(W1 @ W2.T, compute_uv=False)
        assert (row["sigma_min_W"], row["sigma_max_W"]) == pytest.approx((sw[-1], sw[0]), rel=1e-10)
        D = W1.T @ W1 - W2.T @ W2
        assert row["imbalance_drift"] == pytest.approx(np.linalg.norm(D - D0), rel=1e-8)
        N1, N2 = _gd(inst, 0.02, k + 1)
        Dn = N1.T @ N1 - N2.T @ N2
        assert row["imbalance_step"] == pytest.approx(np.linalg.norm(Dn - D), rel=1e-8)


def test_local_constants_and_bound_products(traced):
    steps, run, inst = traced
    K, mu = run["K"], run["mu"]
    for k in range(4):
        row = steps.iloc[k]
        L, eta = row["loss_gap"], row["eta"]
        s2max, smaxw = row["sigma_max_T2"], row["sigma_max_W"]
        K_t = (K * s2max + np.sqrt(2 * K * L) + 6 * K**2 * smaxw * L * eta**2
               + 3 * K * s2max * np.sqrt(2 * K * L) * eta)  # eq 12
        assert row["K_t"] == pytest.approx(K_t, rel=1e-12)
        assert row["mu_t"] == pytest.approx(mu * row["sigma_min_T2"], rel=1e-12)
        assert row["rho"] == pytest.approx(1 - 2 * row["mu_t"] * eta + row["mu_t"] * K_t * eta**2,
                                           rel=1e-12)
    rho = steps["rho"].to_numpy()
    np.testing.assert_allclose(steps["bound_local"], run["L0"] * np.concatenate([[1], np.cumprod(rho[:-1])]),
                               rtol=1e-12)
    np.testing.assert_allclose(steps["bound_const"], run["L0"] * run["rho_bar0"] ** np.arange(5),
                               rtol=1e-12)
    np.testing.assert_allclose(steps["t"], 0.02 * np.arange(5), rtol=1e-14)
