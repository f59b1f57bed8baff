"""Verdict rows of inequalities."""

from __future__ import annotations

import numpy as np

from overparam.checks.core import inequality, not_applicable


def test_holds_with_tightness():
    row = inequality("x", "A", "eq", np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 6.0]))
    assert row["status"] == "holds" and row["holds"] and row["n_violations"] == 0
    assert row["max_ratio"] == 1.0 and row["median_ratio"] == 0.5


def test_violation_found_and_located():
    row = inequality(
        "x",
        "A",
        "eq",
        np.array([1.0, 2.5, 3.0]),
        np.array([2.0, 2.0, 6.0]),
        steps=np.array([10, 11, 12]),
    )
    assert row["status"] == "violated" and not row["holds"]
    assert row["n_violations"] == 1 and row["first_violation_step"] == 11


def test_round_off_is_not_a_violation_but_real_excess_is():
    assert inequality("x", "A", "eq", [1.0 + 1e-12], [1.0])["holds"]
    assert not inequality("x", "A", "eq", [1.0 + 1e-6], [1.0])["holds"]


def test_not_applicable_is_never_a_pass():
    row = not_applicable("x", "A", "eq", "alpha1 <= 0")
    assert row["status"] == "not_applicable" and not row["holds"]
    assert inequality("x", "A", "eq", [np.nan], [1.0])["status"] == "not_applicable"
