"""Labels of settings survive missing cells (NaN, None, pd.NA) and lists, whatever pandas does
with `astype(str)`; a spec whose cases leave a column empty for some runs draws its figure."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from overparam.cli import app
from overparam.plots import (
    MISSING,
    distinct,
    is_missing,
    rows_with,
    setting_groups,
    setting_label,
    setting_text,
    swept_columns,
)


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, np.float64("nan"), pd.NA, pd.NaT])
def test_missing_values_read_as_a_dash(value):
    assert is_missing(value)
    assert setting_text(value) == MISSING
    assert setting_text(value, ".2f") == MISSING


@pytest.mark.parametrize(("value", "text"), [
    (500, "500"), (np.int64(500), "500"), (0.1, "0.1"), (np.float64(1e-3), "0.001"),
    (60.0, "60.0"), ("local_pl", "local_pl"), (True, "True"), (np.bool_(False), "False"),
    ([128, 2000, 10], "[128, 2000, 10]"), ((1.8, 2.3), "[1.8, 2.3]"),
    (np.array([128, 2000, 10]), "[128, 2000, 10]"), ([1.0, None], f"[1.0, {MISSING}]"),
    ({"kind": "gd", "batch": 8}, "{kind: gd, batch: 8}"), ([], "[]"),
])
def test_values_read_as_short_text(value, text):
    assert not is_missing(value)
    assert setting_text(value) == text


def test_number_format_applies_to_numbers_only():
    assert setting_text(0.123456, ".2f") == "0.12"
    assert setting_text(np.float64(3.0), "g") == "3"
    assert setting_text("eta_max", "g") == "eta_max"
    assert setting_text([0.5, 0.25], ".1f") == "[0.5, 0.2]"


def _mixed_runs() -> pd.DataFrame:
    """Settings as the runs table holds them: object columns mixing words, numbers, lists
    and the three kinds of missing value."""
    return pd.DataFrame({
        "run_id": ["a", "b", "c", "d"],
        "seed": [0, 0, 0, 0],
        "schedule.kind": ["backtracking", "backtracking", "local_pl", "local_pl"],
        "schedule.max_evals": [60.0, 8.0, np.nan, np.nan],
        "schedule.tau": pd.Series([0.1, 0.1, None, pd.NA], dtype=object),
        "schedule.eta0": pd.Series([None, pd.NA, "eta_max", 0.5], dtype=object),
        "problem.widths": pd.Series([[128, 2000, 10], [128, 2000, 10], [128, 500, 10],
                                     np.array([128, 500, 10])], dtype=object),
        "problem.kind": ["deep_linear"] * 4,
    })


def test_setting_label_handles_missing_and_lists():
    runs = _mixed_runs()
    keys = ["schedule.kind", "schedule.max_evals", "schedule.tau", "schedule.eta0",
            "problem.widths"]
    labels = setting_label(runs, keys)
    assert labels.index.equals(runs.index)
    assert all(isinstance(v, str) for v in labels)
    assert labels.tolist() == [
        f"backtracking, 60.0, 0.1, {MISSING}, [128, 2000, 10]",
        f"backtracking, 8.0, 0.1, {MISSING}, [128, 2000, 10]",
        f"local_pl, {MISSING}, {MISSING}, eta_max, [128, 500, 10]",
        f"local_pl, {MISSING}, {MISSING}, 0.5, [128, 500, 10]",
    ]
    assert setting_label(runs, []).tolist() == ["all"] * 4


def test_setting_label_on_pandas_extension_dtypes():
    runs = pd.DataFrame({"a.x": pd.array([1, None, 3], dtype="Int64"),
                         "a.y": pd.array(["u", None, "w"], dtype="string"),
                         "a.z": pd.array([1.5, None, np.nan], dtype="Float64")})
    assert setting_label(runs, ["a.x", "a.y", "a.z"]).tolist() == [
        "1, u, 1.5", f"{MISSING}, {MISSING}, {MISSING}", f"3, w, {MISSING}"]


def test_swept_columns_keep_what_tells_runs_apart():
    runs = _mixed_runs()
    # tau (0.1 where backtracking, empty elsewhere) is implied by schedule.kind; the widths
    # are implied by eta0 within this table, and the constant problem.kind is no sweep.
    assert swept_columns(runs) == ["schedule.kind", "schedule.max_evals", "schedule.eta0"]
    # A setting given for some runs only, all else equal, still tells them apart.
    p = pd.DataFrame({"run_id": ["a", "b"], "init.p": pd.Series([None, 0.375], dtype=object),
                      "init.kind": ["gaussian", "gaussian"]})
    assert swept_columns(p) == ["init.p"]
    assert setting_label(p, swept_columns(p)).tolist() == [MISSING, "0.375"]


def test_groups_keep_missing_values_and_lists():
    runs = _mixed_runs()
    groups = setting_groups(runs, "schedule.eta0")
    assert [setting_text(v) for v, _ in groups] == [MISSING, "eta_max", "0.5"]
    assert [g["run_id"].tolist() for _, g in groups] == [["a", "b"], ["c"], ["d"]]
    widths = setting_groups(runs, "problem.widths", sort=True)
    assert [setting_text(v) for v, _ in widths] == ["[128, 2000, 10]", "[128, 500, 10]"]
    assert rows_with(runs, "schedule.tau", np.nan).tolist() == [False, False, True, True]
    assert rows_with(runs, "problem.widths", [128, 500, 10]).tolist() == [False, False, True, True]


def test_distinct_sorts_mixed_types():
    values = pd.Series([3.0, "eta_max", None, 1, np.nan, [1, 2], "data_norm", 1.0], dtype=object)
    assert [setting_text(v) for v in distinct(values)] == \
        ["1", "1.0", "3.0", "data_norm", "eta_max", "[1, 2]", MISSING]
    assert distinct(pd.Series([500, 100, 500])) == [100, 500]
    assert [setting_text(v) for v in distinct(values, sort=False)][:3] == ["3.0", "eta_max", MISSING]


def test_default_figure_with_missing_and_list_settings(tmp_path):
    runs = _mixed_runs()
    steps = pd.DataFrame([
        {"run_id": r, "step": t, "loss_gap": 10.0 ** (-t - i), "bound_const": 10.0 ** (-t / 2),
         "bound_local": 10.0 ** (-t / 3), "loss": 1.0}
        for i, r in enumerate(runs["run_id"]) for t in range(4)])
    from overparam.problems import registry

    figures = registry.get("two_layer_linear").figure(tmp_path, runs, steps)
    assert figures == ["figures/loss.png"]
    assert (tmp_path / "figures" / "loss.png").stat().st_size > 1000
    assert (tmp_path / "figures" / "loss.pdf").exists()


def test_finisher_label_helpers_survive_missing():
    from overparam.experiments import directional, local_pl

    assert local_pl._schedule_label("local_pl") == "eq 19, h = ρ (local)"
    assert local_pl._schedule_label("newton") == "newton"
    assert local_pl._schedule_label(math.nan) == MISSING
    run = pd.Series({"problem.dynamics.kind": "flow", "balanced": pd.NA}, dtype=object)
    assert directional._label(run) == "gradient flow (all layers)"
    run = pd.Series({"problem.dynamics.kind": "flow", "balanced": False}, dtype=object)
    assert directional._label(run) == "gradient flow (all layers), unbalanced init"


def test_run_spec_with_cases_leaving_columns_empty(tmp_path):
    """Backtracking's fields are empty for the local_pl case and max_evals is given for one
    case only: the runs table then has NaN and None cells in swept columns."""
    spec = {
        "id": "label-cases",
        "problem": {"kind": "two_layer_linear", "loss": "squared", "width": 20,
                    "data": {"kind": "synthetic", "n": 4, "m": 3, "x": "orthogonal",
                             "target": "init", "noise": 0.05}},
        "init": {"kind": "gaussian", "std": 1.0},
        "schedule": {"kind": "local_pl"},
        "steps": 4,
        "seeds": 1,
        "cases": [{"schedule.kind": "backtracking"},
                  {"schedule.kind": "backtracking", "schedule.max_evals": 8},
                  {"schedule.kind": "local_pl"}],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run-spec", str(path), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    root = out / "label-cases"
    manifest = json.loads((root / "manifest.json").read_text())
    assert len(manifest["runs"]) == 3
    assert manifest["figures"] == ["figures/loss.png"]
    assert (root / "figures" / "loss.png").stat().st_size > 10_000
    assert (root / "figures" / "loss.pdf").exists()


def test_quick_runs_mark_their_figures_and_full_runs_do_not(tmp_path, tiny, monkeypatch):
    import overparam as op
    from overparam import plots

    seen: list[str] = []
    real = plots.save

    def spy(fig, root, name):
        out = real(fig, root, name)
        seen.append(" ".join(t.get_text() for t in fig.texts))
        return out

    monkeypatch.setattr(plots, "save", spy)
    fig = plots.pyplot().figure()
    with plots.quick_figures(True):
        plots.save(fig, tmp_path, "q")
    plots.save(plots.pyplot().figure(), tmp_path, "f")
    assert plots.QUICK_TEXT in seen[0] and plots.QUICK_TEXT not in seen[1]
    # through the runner: a quick user spec's default figure carries the mark
    seen.clear()
    tiny["quick"] = {"steps": 5}
    op.run(tiny, out=tmp_path / "o", quick=True, progress=False)
    assert seen and all(plots.QUICK_TEXT in s for s in seen), seen
