"""Paper B's scaling and near-isometry claims on hand-built tables: where they must hold,
where they must fail, and where the interval cannot decide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from overparam.experiments import scaling_claims as sc
from overparam.experiments.claims import Frames


def _frames(runs: pd.DataFrame) -> Frames:
    return Frames(runs, pd.DataFrame(), pd.DataFrame(), False)


def test_an_exponent_decides_only_when_its_interval_does():
    assert sc._interval_verdict("x", 1.2, 1.0, 1.4, 1.5, 4).verdict == "holds"
    assert sc._interval_verdict("x", 2.4, 2.1, 2.7, 1.5, 4).verdict == "fails"
    out = sc._interval_verdict("x", 1.4, -1.0, 3.0, 1.5, 3)
    assert out.verdict == "cannot" and "contains 1.5" in out.reason and "[-1.00, 3.00]" in out.measured
    assert sc._interval_verdict("x", 1.0, np.nan, np.nan, 1.5, 2).verdict == "cannot"


def _bisection_runs(power: float, d0: int = 8) -> pd.DataFrame:
    """Runs of a width search with d0 fixed whose least trainable d1 is n^power / d0."""
    rows = []
    for n in (16, 32, 64, 128):
        need = n**power / d0
        for d1 in 2 ** np.arange(0, 22):
            rows.append({"status": "ok", "final_loss": 0.0 if d1 >= need else 1.0,
                         "problem.target_loss": 1e-2, "problem.data.d0": d0, "n": n, "d0": d0,
                         "d1": int(d1), "steps": 100})
    return pd.DataFrame(rows)


def test_three_halves_holds_for_a_linear_count_and_fails_for_a_cubic_one():
    good = sc.three_halves(_frames(_bisection_runs(1.0)))
    assert good.verdict == "holds" and abs(good.value - 1.0) < 1e-9
    bad = sc.three_halves(_frames(_bisection_runs(3.0)))
    assert bad.verdict == "fails" and abs(bad.value - 3.0) < 1e-9
    # no √n regime in these runs: the combined subquadratic claim cannot decide it
    assert sc.subquadratic(_frames(_bisection_runs(1.0))).verdict == "cannot"


def test_kernel_rate_follows_the_fitted_slope():
    d1 = np.array([50, 200, 800] * 2)
    runs = pd.DataFrame({"status": "ok", "d1": d1, "activation_name": ["gelu"] * 3 + ["tanh"] * 3})
    assert sc.kernel_rate(_frames(runs.assign(kernel_rel_error=d1 ** -0.5))).verdict == "holds"
    slow = sc.kernel_rate(_frames(runs.assign(kernel_rel_error=d1 ** -0.1)))
    assert slow.verdict == "fails" and "-0.10" in slow.measured
    assert sc.kernel_rate(_frames(runs.assign(kernel_rel_error=np.nan))).verdict == "cannot"
