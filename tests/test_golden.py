"""Refactors change nothing a user sees: every registered experiment plans the same run ids
and its quick reproduction writes the same columns (see tests/golden.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden import GOLDEN, planned_ids, table_columns

#: These tests read the one quick reproduction: under pytest-xdist they share a worker.
pytestmark = pytest.mark.xdist_group("reproduce")

RECORDED = json.loads(GOLDEN.read_text())


def test_every_experiment_plans_the_recorded_run_ids() -> None:
    now = planned_ids()
    assert sorted(now) == sorted(RECORDED["planned_run_ids"])
    for exp_id, modes in RECORDED["planned_run_ids"].items():
        for mode, ids in modes.items():
            assert now[exp_id][mode] == ids, f"{exp_id} ({mode}): planned run ids changed"


@pytest.mark.parametrize("table", ["runs", "steps", "checks"])
def test_quick_reproduction_writes_the_recorded_columns(reproduced: Path, table: str) -> None:
    now = table_columns(reproduced)
    assert sorted(now) == sorted(RECORDED["columns"])
    for exp_id, tables in RECORDED["columns"].items():
        assert now[exp_id][table] == tables[table], f"{exp_id}: {table} columns changed"
