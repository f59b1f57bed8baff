"""The generic probe on the four papers' models: the same run, measured by the family's own
step and by ``overparam.probe`` on the model written as a plain JAX function.

Each test runs a tiny setting of a family through ``overparam.run``, rebuilds that run's data
and initial weights with the family's ``build_instance``, writes the same model as
``apply(params, X)`` with an ``init`` that returns exactly those weights, probes it with the
same full-batch GD step and compares the columns row by row. Where the two define a column
differently (a loss without the ½ of the probe's squared loss, samples as columns, an
end-to-end matrix instead of the layers) the conversion is stated where it is tested.
The one Lanczos measurement compared (paper B's NTK extremes) runs with as many iterations
as the kernel has rows, so it is exact to round-off.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import overparam as op
from overparam import plots, problems, runner

#: Relative agreement asked of every compared column, row by row (measured: below 1e-12).
REL = 1e-10


@contextmanager
def _no_figures():
    """The runs' default figures are not under test here: drawing them would take most of
    the time."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "curves_figure", lambda *args, **kwargs: [])
        yield


def _family_run(spec: dict, out: Path):
    """(steps of seed 0, the instance of seed 0) of a family's run of ``spec``."""
    with _no_figures():
        res = op.run(spec, out=out)
    assert set(res.runs["status"]) == {"ok"}, res.runs["status"]
    p = runner.plan(spec)
    setting = p.settings[0]
    inst = problems.family(setting).build_instance(setting, p.spec.seed, p.base_dir)
    return res.steps.reset_index(drop=True), inst


def _probe(apply, params: dict, X: np.ndarray, Y: np.ndarray, out: Path, *, steps: int,
           eta: float, loss: dict, measure: list[str], iters: int = 1) -> pd.DataFrame:
    """The probe's steps on ``apply`` started from ``params`` (the key is ignored)."""
    start = {k: jnp.asarray(v) for k, v in params.items()}

    def init(key):
        return start

    with _no_figures():
        res = op.probe(apply, init, (X, Y), loss=loss, schedule={"kind": "constant",
                                                                  "eta": eta},
                       steps=steps, seeds=1, measure=measure, lanczos={"iters": iters},
                       out=out)
    assert set(res.runs["status"]) == {"ok"}, res.runs["status"]
    return res.steps.reset_index(drop=True)


def _rel(a, b) -> float:
    """max_k |a_k − b_k| / |a_k| over the rows."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape and np.isfinite(a).all() and np.isfinite(b).all()
    return float(np.max(np.abs(a - b) / np.abs(a)))


def _agree(family: pd.DataFrame, probe: pd.DataFrame, pairs: dict[str, tuple[str, float]],
           rel: float = REL) -> dict[str, float]:
    """Each family column against ``factor`` × the probe's column, row by row."""
    assert len(family) == len(probe)
    worst = {}
    for fam_col, (probe_col, factor) in pairs.items():
        worst[fam_col] = _rel(family[fam_col], factor * probe[probe_col])
        assert worst[fam_col] <= rel, (fam_col, worst[fam_col])
    return worst


# --------------------------------------------------------------- paper A: W1 W2ᵀ
@pytest.mark.parametrize("ridge", [0.0, 0.5])
def test_two_layer_linear_curvature_and_pl_ratio(tmp_path, ridge):
    """L(W1, W2) = ½‖Y − X W1 W2ᵀ‖²_F + (λ/2)‖W1 W2ᵀ‖²_F, both layers trained, samples as
    rows: the probe's squared loss with ``sum`` on the model X ↦ X W1 W2ᵀ. The ridge acts on
    the product, not on the parameters (the probe's own ridge): it is the squared loss on the
    data augmented with √λ I (rows) and zero targets, ½‖√λ I W − 0‖² = (λ/2)‖W‖².

    The family steps in the coordinates of the weights' row space (W_i = B_i Qᵀ); GD never
    leaves it and every column is invariant under it, so the probe runs on W1, W2 themselves.
    ``curvature`` is ⟨g, ∇²L g⟩/‖g‖² at the iterate in both (the family's τ = 0 of the
    segment), ``pl_ratio`` is ‖∇L‖²/(2(L − ℓ*)) with ℓ* the family's minimum."""
    eta, steps = 0.05, 4
    spec = {"id": "a", "problem": {"kind": "two_layer_linear", "width": 4, "ridge": ridge,
                                   "data": {"kind": "synthetic", "n": 3, "m": 2, "samples": 6,
                                            "x": "gaussian", "target": "init", "noise": 0.3}},
            "init": {"kind": "gaussian", "std": 0.7},
            "schedule": {"kind": "constant", "eta": eta}, "steps": steps, "seeds": 1}
    fam, inst = _family_run(spec, tmp_path / "family")
    n = inst.X.shape[1]
    X = np.vstack([inst.X, math.sqrt(ridge) * np.eye(n)]) if ridge else inst.X
    Y = np.vstack([inst.Y, np.zeros((n, inst.Y.shape[1]))]) if ridge else inst.Y

    def apply(p, x):
        return x @ p["W1"] @ p["W2"].T

    got = _probe(apply, {"W1": inst.W1, "W2": inst.W2}, X, Y, tmp_path / "probe",
                 steps=steps, eta=eta,
                 loss={"kind": "squared", "reduction": "sum", "l_star": inst.l_star},
                 measure=["curvature", "pl_ratio"])
    assert inst.l_star > 0 and (fam["loss_gap"] > 1e-3).all()  # the ratio is not 0/0
    _agree(fam, got, {c: (c, 1.0) for c in ("loss", "loss_gap", "grad_norm", "pl_ratio",
                                            "curvature")})


# ------------------------------------------------------ paper C: a_N W_N ⋯ W_1
def test_deep_linear_loss_and_movement(tmp_path):
    """V = a_N W_3 W_2 W_1 with a_N = 1/√(n1 n2 n3) on L(V) = ½‖V X − Y‖²_F (``squared_half``),
    samples as columns: the probe gets Xᵀ, Yᵀ and the model Xᵀ ↦ a_N Xᵀ W_1ᵀ W_2ᵀ W_3ᵀ = (V X)ᵀ,
    the squared loss with ``sum``. The family logs no curvature, PL ratio or gradient norm
    of the layers (its ``grad_norm_X`` is ‖∇L(V) P_X‖_F, the gradient at the end-to-end
    matrix): what it shares with the probe is the loss, the excess loss over L* and the
    distance from init, dist_init² = move_first² + move_inner_max² + move_last² for three
    layers (the per-layer ‖W_i(t) − W_i(0)‖_F).

    Its convex twin, GD (2) on V itself with η* = Nη/n_N, is the probe on the linear model
    Xᵀ ↦ Xᵀ Vᵀ from V(0): loss_twin is its loss, and at t = 0 (V(0) is the twin's start)
    grad_norm_X is its gradient norm (∇L(V) = (V X − Y)Xᵀ lies in range(X) row-wise, so
    ‖∇L P_X‖_F = ‖∇L‖_F)."""
    eta, steps, widths = 0.2, 4, [3, 4, 5, 2]
    spec = {"id": "c", "problem": {"kind": "deep_linear", "widths": widths,
                                   "loss": "squared_half", "sigma_min_inner_every": 0,
                                   "data": {"kind": "synthetic", "samples": 6, "noise": 0.5}},
            "init": {"kind": "gaussian", "std": 1.0},
            "schedule": {"kind": "constant", "eta": eta}, "steps": steps, "seeds": 1}
    fam, inst = _family_run(spec, tmp_path / "family")
    a = 1.0 / math.sqrt(np.prod(widths[1:]))
    Xr, Yr = inst.X.T, inst.Y.T

    def network(p, x):
        return a * x @ p["W1"].T @ p["W2"].T @ p["W3"].T

    loss = {"kind": "squared", "reduction": "sum", "l_star": inst.lc.L_star}
    got = _probe(network, {f"W{i + 1}": W for i, W in enumerate(inst.Ws)}, Xr, Yr,
                 tmp_path / "probe", steps=steps, eta=eta, loss=loss,
                 measure=["dist_init"])
    assert inst.lc.L_star > 0 and (fam["loss_gap"] > 1e-3).all()
    fam["dist_init"] = np.sqrt(fam["move_first"] ** 2 + fam["move_inner_max"] ** 2
                               + fam["move_last"] ** 2)
    _agree(fam, got, {"loss": ("loss", 1.0), "loss_gap": ("loss_gap", 1.0)})
    # the distance is 0 at init: compare from the first step on
    _agree(fam.iloc[1:], got.iloc[1:], {"dist_init": ("dist_init", 1.0)})
    assert got["dist_init"].iloc[0] == 0.0

    def twin(p, x):
        return x @ p["V"].T

    eta_star = (len(widths) - 1) * eta / widths[-1]
    got_twin = _probe(twin, {"V": inst.V0}, Xr, Yr, tmp_path / "twin", steps=steps,
                      eta=eta_star, loss=loss, measure=[])
    _agree(fam, got_twin, {"loss_twin": ("loss", 1.0), "loss_gap_twin": ("loss_gap", 1.0)})
    _agree(fam.iloc[:1], got_twin.iloc[:1], {"grad_norm_X": ("grad_norm", 1.0)})


# ------------------------------------------------------------ paper B: V φ(W X)
def test_shallow_ntk_and_lazy_gap(tmp_path):
    """Φ(W, V) = V tanh(W X), both layers trained, no biases, on h = ‖Φ − Y‖²_F (``loss:
    sum``), full-batch GD, samples as columns. The probe's model is Xᵀ ↦ Φᵀ (its outputs are
    Φ's entries in another order, which leaves the NTK's spectrum unchanged) on the squared
    loss with ``sum``, ½‖Φ − Y‖²_F = h/2: with step 2η it takes the family's steps exactly.
    So dist_init, the NTK extremes (J Jᵀ of the same map, J = ∂vec Φ/∂(W, V)) and lazy_gap
    (‖Φ(w_t) − Φ_lin(w̃_t)‖_F, the linearization at init trained by the same steps) are the
    same numbers, while loss, grad_norm and lin_loss are the family's halves."""
    eta, steps = 0.05, 4
    spec = {"id": "b", "problem": {"kind": "shallow", "width": 6, "activation": "tanh",
                                   "loss": "sum", "lazy": True, "dynamics": {"kind": "gd"},
                                   "data": {"kind": "sphere", "n": 4, "d0": 3, "d2": 2}},
            "init": {"kind": "omega", "omega1": 1.0, "omega2": 0.5},
            "schedule": {"kind": "constant", "eta": eta}, "steps": steps, "seeds": 1}
    fam, inst = _family_run(spec, tmp_path / "family")
    X, Y = inst.data.X, inst.data.Y
    outputs = Y.size
    assert inst.b1 is None and inst.W0.size + inst.V0.size >= outputs  # λ_min > 0

    def network(p, x):
        return jnp.tanh(x @ p["W"].T) @ p["V"].T

    got = _probe(network, {"W": inst.W0, "V": inst.V0}, X.T, Y.T, tmp_path / "probe",
                 steps=steps, eta=2 * eta, loss={"kind": "squared", "reduction": "sum"},
                 measure=["ntk", "dist_init", "lazy_gap"], iters=outputs)
    _agree(fam, got, {"loss": ("loss", 2.0), "grad_norm": ("grad_norm", 2.0),
                      "lin_loss": ("lin_loss", 2.0), "ntk_lambda_max": ("ntk_lambda_max", 1.0),
                      "ntk_lambda_min": ("ntk_lambda_min", 1.0)})
    # the distances are 0 at init: compare from the first step on
    _agree(fam.iloc[1:], got.iloc[1:], {"dist_init": ("dist_init", 1.0),
                                        "lazy_gap": ("lazy_gap", 1.0)})
    assert (got[["dist_init", "lazy_gap"]].iloc[0] == 0.0).all()


# ------------------------------------------------- paper D: logistic regression
def test_linear_classifier_sample_loss_and_iterates(tmp_path):
    """N = 1 (logistic regression, w = W_1ᵀ ∈ R²) trained by GD on a fixed sample,
    ``loss_sample`` = (1/n) Σ log(1 + e^{−y_i ⟨w, x_i⟩}) with y_i = ±1: the probe's logistic
    loss with ``mean`` on the model x ↦ ⟨w, x⟩. The family's other columns measure the
    iterate against the population loss (an integral over the law of x, which no finite
    data set of the probe's expresses): its ``loss`` and ``grad_norm`` are the population's,
    not the sample's, and have no counterpart in the probe; it logs no curvature. Its
    ``weight_norm`` and ``theta`` (the angle to v = e_2) give the iterate itself,
    w_t = ‖w_t‖ (sin θ_t, cos θ_t), as long as its first coordinate stays positive: it starts
    at 0.6 and moves by at most η‖∇‖ ≤ η max‖x_i‖ = η per step (unit-sphere samples), so
    4 steps of η = 0.1 keep it so. Then dist_init = ‖w_t − w_0‖ is the probe's."""
    eta, steps = 0.1, 4
    spec = {"id": "d", "problem": {"kind": "linear_classifier", "dim": 2, "depth": 1,
                                   "dynamics": {"kind": "gd", "gradient": "sample",
                                                "samples": 8}},
            "init": {"kind": "rank_one", "w0": [0.6, -0.8]},
            "schedule": {"kind": "constant", "eta": eta}, "steps": steps, "seeds": 1}
    fam, inst = _family_run(spec, tmp_path / "family")
    np.testing.assert_array_equal(inst.v, [0.0, 1.0])
    np.testing.assert_allclose(np.linalg.norm(inst.X, axis=1), 1.0, rtol=1e-14)

    def classifier(p, x):
        return x @ p["W"].T

    got = _probe(classifier, {"W": inst.Ws[0]}, inst.X, inst.y[:, None], tmp_path / "probe",
                 steps=steps, eta=eta, loss={"kind": "logistic", "reduction": "mean"},
                 measure=["dist_init"])
    _agree(fam, got, {"loss_sample": ("loss", 1.0)})
    w = fam["weight_norm"].to_numpy()[:, None] * np.stack(
        [np.sin(fam["theta"]), np.cos(fam["theta"])], axis=1)
    np.testing.assert_allclose(w[0], [0.6, -0.8], rtol=1e-14)
    fam["dist_init"] = np.linalg.norm(w - w[0], axis=1)
    _agree(fam.iloc[1:], got.iloc[1:], {"dist_init": ("dist_init", 1.0)})
