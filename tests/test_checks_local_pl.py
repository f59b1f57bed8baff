"""Paper A's checks on real runs: they hold where the theorems say, and they can fail."""

from __future__ import annotations

import overparam as op
from overparam.checks.local_pl import run_checks
from overparam.spec import expand, validate_spec


def _run(tmp_path, tiny, **schedule):
    tiny["schedule"] = {"kind": "constant", **schedule}
    tiny["seeds"] = 1
    res = op.run(tiny, out=tmp_path)
    const = res.runs.iloc[0].to_dict()
    const.update(width=tiny["problem"]["width"], n=3, m=2)
    return res, const


def _checks(steps, const, tiny):
    (setting,) = expand(validate_spec(tiny))
    return _by_check(run_checks(setting, steps, const))


def _by_check(rows):
    return {r["check"]: r for r in rows}


def test_theorem_32_holds_at_eta_max(tmp_path, tiny):
    res, const = _run(tmp_path, tiny)
    rows = _checks(res.steps, const, tiny)
    for key in ("A.thm3.1.descent", "A.thm3.1.pl", "A.thm3.2.eq17", "A.thm3.2.A2",
                "A.thm3.2.A3", "A.thm3.2.A4", "A.lemmaE2", "A.lemmaE3"):
        assert rows[key]["status"] == "holds", (key, rows[key])
    # the stored verdicts are the same rows
    stored = res.checks.set_index("check")["status"].to_dict()
    assert all(stored[k] == r["status"] for k, r in rows.items())


def test_a_loss_that_goes_up_is_caught(tmp_path, tiny):
    res, const = _run(tmp_path, tiny)
    steps = res.steps.copy()
    steps.loc[5, "loss_gap"] = steps.loc[4, "loss_gap"] * 1.01  # L(5) > L(4)
    rows = _checks(steps, const, tiny)
    assert rows["A.thm3.1.descent"]["status"] == "violated"
    assert rows["A.thm3.1.descent"]["first_violation_step"] == 4
    assert rows["A.thm3.2.rho_bar"]["status"] == "violated"


def test_step_above_eta_max_makes_theorem_32_not_applicable(tmp_path, tiny):
    res, const = _run(tmp_path, tiny, eta=1.0)
    rows = _checks(res.steps, const, tiny)
    assert rows["A.thm3.2.eq17"]["status"] == "not_applicable"
    assert "eta0" in rows["A.thm3.2.eq17"]["note"]
    assert rows["A.thm3.1.pl"]["status"] == "holds"
