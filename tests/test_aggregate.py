"""Statistics over seeds (overparam.aggregate): the band is drawn only where every seed is
present, a seed that stops or reaches an exact 0 on a log curve is counted and shown, never
averaged as −inf nor dropped silently, and tables over runs keep only the statuses asked for
and say how many went in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overparam.aggregate import Curves, final_rows, left_out_text, over_runs, seed_curves
from overparam.plots import band, log10_curves, mean_curve, pyplot

IDS = ["r0", "r1", "r2", "r3"]
DIES, ZERO, LAST = 10, 15, 20  # r0 has no row from step 10 on; r1 is exactly 0 from step 15


def _steps() -> pd.DataFrame:
    """4 seeds of a decreasing loss: r0 stops after step 9 (diverged), r1 (the lowest) hits
    exactly 0 at step 15, r2 and r3 run to step 20."""
    rng = np.random.default_rng(0)
    rows = []
    for i, run in enumerate(IDS):
        offset, rate = rng.normal(0, 0.3), 1.0 + 0.1 * i
        for t in range(DIES if run == "r0" else LAST + 1):
            value = 10.0 ** (offset - rate * t - (10.0 if run == "r1" else 0.0))
            rows.append({"run_id": run, "step": t, "t": 0.5 * t,
                         "loss": 0.0 if run == "r1" and t >= ZERO else value})
    return pd.DataFrame(rows)


@pytest.fixture
def curves() -> Curves:
    return seed_curves(_steps(), IDS, "loss", log=True)


def test_band_matches_numpy_where_every_seed_is_present(curves):
    steps = _steps()
    early = curves.index < DIES
    expect = np.log10(steps[steps["step"] < DIES].pivot(index="step", columns="run_id",
                                                        values="loss")[IDS].to_numpy())
    assert np.allclose(curves.mean[early], expect.mean(axis=1))
    assert np.allclose(curves.std[early], expect.std(axis=1, ddof=1))
    assert np.allclose(curves.lo[early], expect.mean(axis=1) - expect.std(axis=1, ddof=1))
    assert np.allclose(curves.hi[early], expect.mean(axis=1) + expect.std(axis=1, ddof=1))
    assert curves.full[early].all()


def test_no_band_once_a_seed_is_missing(curves):
    late = curves.index >= DIES
    assert not curves.full[late].any()
    assert curves.lo[late].isna().all() and curves.hi[late].isna().all()
    assert curves.complete_mean()[late].isna().all()
    assert curves.complete_until() == DIES - 1
    # The survivors' statistic there is explicitly over 3 (then 2) seeds.
    seg = curves.segments()
    assert [(s.full, s.members) for s in seg] == [
        (True, tuple(IDS)), (False, ("r1", "r2", "r3")), (False, ("r2", "r3"))]
    assert seg[0].x[-1] == DIES - 1


def test_counts_at_every_step(curves):
    x = curves.index.to_numpy()
    assert x.tolist() == list(range(LAST + 1))
    assert curves.n_total == 4
    assert curves.n.tolist() == [4 if t < DIES else 3 if t < ZERO else 2 for t in x]
    assert curves.n_zero.tolist() == [1 if t >= ZERO else 0 for t in x]
    assert curves.n_rows.tolist() == [4 if t < DIES else 3 for t in x]
    assert [(note.x, note.text) for note in curves.notes()] == [
        (DIES, "n=3/4"), (ZERO, "n=2/4, 1 at 0")]
    assert curves.zero_onsets().tolist() == [ZERO]
    assert curves.end_onsets().tolist() == [DIES]


def test_no_minus_inf_and_no_jump_from_averaging(curves):
    for frame in (curves.values, curves.mean, curves.std, curves.lo, curves.hi):
        assert not np.isinf(frame.to_numpy(float)).any()
    assert curves.values.loc[ZERO:, "r1"].isna().all()  # at 0: counted, not -inf
    # Every seed decreases at every step, so does every piece of the mean; the mean over
    # "whoever is left" would jump up where the lowest seed (r1) leaves at step 15.
    for seg in curves.segments():
        assert (np.diff(seg.mean) < 0).all(), seg
    survivors = curves.mean
    assert survivors[ZERO] > survivors[ZERO - 1]  # the defect the pieces avoid
    # A piece after a drop starts one step early, at the mean of its own seeds there.
    third = curves.segments()[2]
    assert third.x[0] == ZERO - 1
    assert third.mean[0] == pytest.approx(curves.values.loc[ZERO - 1, ["r2", "r3"]].mean())


def test_linear_curves_keep_zeros_as_values():
    steps = _steps()
    lin = seed_curves(steps, IDS, "loss")
    assert not lin.log and lin.n_zero.eq(0).all()
    assert lin.n[ZERO] == 3  # r1's zeros are values on a linear axis
    assert lin.with_x(lin.index * 0.5).index[-1] == LAST * 0.5


def test_a_run_without_rows_counts_and_empty_tables_work():
    steps = _steps()
    c = seed_curves(steps, [*IDS, "never"], "loss", log=True)
    assert c.n_total == 5 and not c.full.any()
    empty = seed_curves(steps.iloc[:0], ["a"], "loss", log=True)
    assert empty.n_total == 1 and empty.segments() == [] and empty.notes() == []


def test_from_wide_reads_minus_inf_as_zero():
    wide = pd.DataFrame({"a": [0.0, -1.0, -np.inf], "b": [0.5, -0.5, np.nan]},
                        index=[0, 1, 2])
    c = Curves.from_wide(wide)
    assert c.n.tolist() == [2, 2, 0] and c.n_zero.tolist() == [0, 0, 1]
    assert c.notes()[0].text == "n=0/2, 1 at 0"


def test_log10_curves_counts_zeros():
    c = log10_curves(_steps(), IDS, "loss")
    assert isinstance(c, Curves) and c.log and c.n_zero[LAST] == 1


def test_over_runs_leaves_out_diverged_runs_and_counts():
    runs = pd.DataFrame({"run_id": IDS, "width": [10, 10, 20, 20],
                         "status": ["diverged", "ok", "ok", "ok"]})
    final = final_rows(_steps(), IDS, ["loss", "t"])
    assert final.set_index("run_id").loc["r0", "t"] == 0.5 * (DIES - 1)  # last row
    table = over_runs(final, "width", ["t"], runs=runs, stats=("mean", "median", "ci"))
    assert table["width"].tolist() == [10, 20]
    assert table["n_in"].tolist() == [1, 2]
    assert table["n_diverged"].tolist() == [1, 0]
    assert table["n_failed"].tolist() == [0, 0] and table["n_stalled"].tolist() == [0, 0]
    assert table["t"].tolist() == [0.5 * LAST, 0.5 * LAST]  # r0's t = 4.5 left out
    assert {"t_median", "t_ci"} <= set(table.columns)
    assert left_out_text(table.iloc[0]) == ", 1 diverged left out"
    assert left_out_text(table.iloc[1]) == ""
    every = over_runs(final, "width", ["t"], runs=runs, statuses=None)
    assert every["n_in"].tolist() == [2, 2] and "n_diverged" not in every
    assert every["t"].iloc[0] == pytest.approx((0.5 * (DIES - 1) + 0.5 * LAST) / 2)
    none = over_runs(final[final["run_id"] == "r0"], "width", ["t"], runs=runs)
    assert none["n_in"].tolist() == [0] and np.isnan(none["t"].iloc[0])


def _xs(artist) -> np.ndarray:
    return np.concatenate([p.vertices[:, 0] for p in artist.get_paths()])


def test_band_figure_stops_the_fill_where_the_first_seed_dies():
    plt = pyplot()
    fig, ax = plt.subplots()
    steps = _steps()
    band(ax, log10_curves(steps, IDS, "loss"), "loss", "C0")
    mean_curve(ax, log10_curves(steps, IDS, "loss"), "twin", "C1", ls="--")
    fills = list(ax.collections)
    assert len(fills) == 1
    xs = _xs(fills[0])
    assert xs.min() == 0 and xs.max() == DIES - 1
    solid = [line for line in ax.get_lines() if line.get_label() == "loss"]
    assert len(solid) == 1 and solid[0].get_xdata()[-1] == DIES - 1
    dashed = [line for line in ax.get_lines() if line.get_color() == "C0"
              and line.get_linestyle() == "--"]
    assert [line.get_xdata()[0] for line in dashed] == [DIES - 1, ZERO - 1]
    texts = [t.get_text() for t in ax.texts]
    assert "n=3/4" in texts and "n=2/4, 1 at 0" in texts
    markers = {line.get_marker(): line.get_xdata().tolist() for line in ax.get_lines()
               if line.get_color() == "C0" and line.get_marker() in ("v", "x")}
    assert markers == {"v": [ZERO], "x": [DIES]}
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count("loss") == 1 and labels.count("twin") == 1
    fig.canvas.draw()
    plt.close(fig)


def test_band_still_takes_a_wide_table():
    plt = pyplot()
    fig, ax = plt.subplots()
    wide = pd.DataFrame({"a": [1.0, 0.5, 0.2], "b": [1.2, 0.4, np.nan]}, index=[0, 1, 2])
    c = band(ax, wide, "w", "C2")
    assert c.complete_until() == 1 and _xs(ax.collections[0]).max() == 1
    assert "n=1/2" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_segments_band_equals_the_curves_band(curves):
    full = curves.segments()[0]
    assert np.allclose(full.mean - full.std, curves.lo.iloc[:DIES])
    assert np.allclose(full.mean + full.std, curves.hi.iloc[:DIES])
