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

    assert local_pl._schedule_label("local_pl") == r"eq 19, $h = \rho$ (local)"
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


# ====================================================================== figure layout rules
# Every rule below is checked twice: on a small figure built to break it (the check must catch
# the defect, then the helper of ``overparam.plot_layout`` must remove it), and on every figure
# the registered experiments draw from a quick reproduction.
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from overparam import plot_layout, plots  # noqa: E402


def _renderer(fig):
    """Draw the figure (again: ``plots.save`` closed it, which detaches its canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _runs(points):
    """The finite stretches of an (n, 2) array of display points."""
    ok = np.isfinite(points).all(axis=1)
    out, start = [], None
    for i, good in enumerate([*ok, False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            out.append(points[start:i])
            start = None
    return out


def _hits(ax, region: Bbox) -> list[str]:
    """The data artists of ``ax`` (lines, markers, bands, error bars) that reach ``region``
    (display coordinates)."""
    found = []
    for line in ax.get_lines():
        if not line.get_visible() or len(line.get_xdata()) == 0:
            continue
        pts = line.get_transform().transform(np.column_stack(
            [np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)]))
        markers_only = line.get_linestyle() in ("None", "", " ", "none")
        for run in _runs(pts):
            if markers_only or len(run) == 1:
                hit = any(region.contains(*p) for p in run)
            else:
                hit = MplPath(run).intersects_bbox(region, filled=False)
            if hit:
                found.append(f"line {line.get_label()!r}")
                break
    for coll in ax.collections:
        if not coll.get_visible() or type(coll).__name__ == "QuadMesh":
            continue
        transform = coll.get_transform()
        for path in coll.get_paths():
            pts = transform.transform(path.vertices)
            if any(MplPath(run).intersects_bbox(region, filled=len(run) > 2
                                                and type(coll).__name__ != "LineCollection")
                   for run in _runs(pts) if len(run) > 1):
                found.append(f"{type(coll).__name__} {coll.get_label()!r}")
                break
    return found


def legend_overlaps(fig) -> list[str]:
    """Legends that cover data: an axes legend over its own axes' curves, bands or bars; a
    figure legend over any axes that holds data."""
    renderer = _renderer(fig)
    bad = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None and leg.get_visible():
            region = Bbox.intersection(leg.get_window_extent(renderer), ax.bbox)
            if region is not None and region.width > 0 and region.height > 0:
                bad += [f"{ax.get_title()!r}: {h}" for h in _hits(ax, region)]
    for leg in fig.legends:
        box = leg.get_window_extent(renderer)
        bad += [f"figure legend over {ax.get_title()!r}" for ax in fig.axes
                if ax.has_data() and box.overlaps(ax.bbox)]
    return bad


def _visible_ticklabels(axis):
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
        label = tick.label1
        loc = tick.get_loc()
        if loc is None or not (lo - 1e-9 * abs(hi - lo) <= loc <= hi + 1e-9 * abs(hi - lo)):
            continue
        if label.get_visible() and label.get_text():
            out.append(label)
    return out


def tick_collisions(fig) -> list[str]:
    """Pairs of visible tick labels of one axis whose boxes overlap."""
    renderer = _renderer(fig)
    bad = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = _visible_ticklabels(axis)
            boxes = [lab.get_window_extent(renderer) for lab in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i].overlaps(boxes[j]) and labels[i].get_position() != \
                            labels[j].get_position():
                        bad.append(f"{labels[i].get_text()!r} / {labels[j].get_text()!r}")
    return bad


def nonpositive_on_log(fig) -> list[str]:
    """Data drawn at y ≤ 0 (or x ≤ 0) on a log axis: matplotlib clips it to the axis edge, a
    line to −∞ (e.g. log 0 at t = 0). Markers placed in axes coordinates are not data."""
    bad = []
    for ax in fig.axes:
        for dim, scale in ((1, ax.get_yscale()), (0, ax.get_xscale())):
            if scale != "log":
                continue
            for line in ax.get_lines():
                if line.get_transform() is not ax.transData:
                    continue
                v = np.asarray(line.get_ydata() if dim else line.get_xdata(), float)
                if (v[np.isfinite(v)] <= 0).any():
                    bad.append(f"{ax.get_title()!r}: line {line.get_label()!r}")
            for coll in ax.collections:
                if coll.get_transform() is not ax.transData:
                    continue
                for path in coll.get_paths():
                    v = path.vertices[:, dim]
                    if (v[np.isfinite(v)] <= 0).any():
                        bad.append(f"{ax.get_title()!r}: {type(coll).__name__}")
                        break
    return bad


RAW_MARKUP = re.compile(r"[_^{}\\]|\b(eta|lambda|sigma|alpha|beta|mu|nu|rho|tau|kappa|theta|"
                        r"omega|sqrt|log10)\b")


def raw_math(fig) -> list[str]:
    """Texts showing TeX-like markup (W_{N:1}, ‖·‖²_X, eta, log10) outside $…$."""
    from matplotlib.text import Text

    bad = []
    for text in fig.findobj(Text):
        s = text.get_text()
        if text.get_visible() and s and RAW_MARKUP.search(re.sub(r"\$[^$]*\$", "", s)):
            bad.append(s)
    return bad


def style_key(handle) -> tuple:
    """What tells a legend entry's curve apart: colour, dash pattern, marker, width."""
    from matplotlib.colors import to_hex
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if isinstance(handle, Line2D):
        ls = handle.get_linestyle()
        dash = "none" if ls in ("None", "", " ", "none") else \
            tuple(np.round(np.asarray(handle._unscaled_dash_pattern[1] or (), float), 1))
        return ("line", to_hex(handle.get_color()), dash, str(handle.get_marker()),
                round(2 * handle.get_linewidth()) / 2, round(handle.get_alpha() or 1.0, 1))
    if isinstance(handle, Patch):
        return ("patch", to_hex(handle.get_facecolor()))
    colors = getattr(handle, "get_edgecolor", lambda: [])()
    return (type(handle).__name__, tuple(to_hex(c) for c in colors[:1]))


def same_styles(fig) -> list[str]:
    """Entries of one legend drawn alike (two curves the reader cannot tell apart)."""
    bad = []
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for leg in [*legends, *fig.legends]:
        seen: dict[tuple, str] = {}
        for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=True):
            key = style_key(handle)
            if key in seen:
                bad.append(f"{seen[key]!r} and {text.get_text()!r}")
            seen[key] = text.get_text()
    return bad


def _filled_axes(fig, n: int = 200):
    """A figure whose curves fill the whole axes (as the near-isometry and fig1b ones)."""
    fig_, ax = plots.pyplot().subplots(figsize=(4, 3))
    t = np.linspace(0, 1, n)
    for k in range(6):
        ax.plot(t, np.sin(6 * t + k) + 0.3 * k, label=f"curve {k}")
    return fig_, ax


def test_a_legend_inside_filled_axes_is_caught_and_legend_below_clears_it(tmp_path):
    fig, ax = _filled_axes(None)
    ax.legend(loc="best")
    assert legend_overlaps(fig), "the check must see a legend on the curves"
    plot_layout.legend_below(fig, ncol=3)
    assert ax.get_legend() is None and len(fig.legends) == 1
    plots.save(fig, tmp_path, "below")
    assert legend_overlaps(fig) == []
    # The legend is below the axes, the axes' x label above the legend.
    renderer = _renderer(fig)
    assert fig.legends[0].get_window_extent(renderer).y1 <= ax.xaxis.get_tightbbox(renderer).y0


def test_legend_under_sits_below_its_axes_label(tmp_path):
    fig, axes = plots.pyplot().subplots(1, 2, figsize=(7, 3))
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a")
        ax.plot([0, 1], [1, 0], label="b")
        ax.set_xlabel("iteration t")
        plot_layout.legend_under(ax, ncol=2)
    plots.save(fig, tmp_path, "under")
    renderer = _renderer(fig)
    assert legend_overlaps(fig) == []
    for ax in axes:
        box = ax.get_legend().get_window_extent(renderer)
        assert box.y1 <= ax.xaxis.get_tightbbox(renderer).y0 + 0.5
        assert box.y0 >= 0  # inside the figure


def test_wide_figure_legend_is_narrowed_to_the_figure(tmp_path):
    fig, ax = plots.pyplot().subplots(figsize=(3, 2.5))
    for k in range(8):
        ax.plot([0, 1], [k, k + 1], label=f"a rather long legend entry number {k}")
    plot_layout.legend_below(fig, ncol=8)
    plots.save(fig, tmp_path, "narrow")
    box = fig.legends[0].get_window_extent(_renderer(fig))
    assert box.x0 >= -1 and box.x1 <= fig.bbox.width + 1


def test_colliding_tick_labels_are_caught_and_thinned(tmp_path):
    fig, ax = plots.pyplot().subplots(figsize=(2.6, 2.2))
    ax.loglog([50, 800], [1, 10])  # minor labels 2×10² … 6×10² crowd (the near-isometry axes)
    ax.tick_params(labelsize=9)
    assert tick_collisions(fig), "the check must see crowded labels"
    hidden = plot_layout.thin_tick_labels(fig)
    assert hidden > 0 and tick_collisions(fig) == []
    fig2, ax2 = plots.pyplot().subplots(figsize=(2.6, 2.2))
    ax2.loglog([50, 800], [1, 10])
    ax2.tick_params(labelsize=9)
    plots.save(fig2, tmp_path, "ticks")  # save applies it to every figure
    assert tick_collisions(fig2) == []


def test_sweep_ticks_label_exactly_the_swept_values():
    fig, ax = plots.pyplot().subplots()
    ax.loglog([50, 3200], [1, 2])
    plot_layout.sweep_ticks(ax, [50, 100, 200, 400, 800, 1600, 3200, np.nan])
    _renderer(fig)
    assert [t.get_text() for t in _visible_ticklabels(ax.xaxis)] == \
        ["50", "100", "200", "400", "800", "1600", "3200"]


def _curve_with_zeros():
    """Two seeds of a quantity that is exactly 0 at t = 0 (a distance between two runs that
    start together) and, for one seed, again at t = 3."""
    from overparam.aggregate import seed_curves

    steps = pd.DataFrame([{"run_id": r, "step": t, "d": 0.0 if t == 0 or (r == "b" and t == 3)
                           else 10.0 ** (-t) * (1 + i)}
                          for i, r in enumerate("ab") for t in range(6)])
    return seed_curves(steps, ["a", "b"], "d")


def test_zeros_on_a_log_axis_are_caught_and_marked_not_drawn(tmp_path):
    fig, ax = plots.pyplot().subplots()
    plots.mean_curve(ax, _curve_with_zeros(), "d", "C0")
    ax.set_yscale("log")
    assert nonpositive_on_log(fig), "the check must see the line to −∞ at t = 0"
    fig, ax = plots.pyplot().subplots()
    curves = plot_layout.on_log_axis(_curve_with_zeros())
    assert curves.n_zero.tolist() == [2, 0, 0, 1, 0, 0]  # counted, as a log10 curve's
    plots.mean_curve(ax, curves, "d", "C0")
    ax.set_yscale("log")
    assert nonpositive_on_log(fig) == []
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == plot_layout.ZERO_MARKER]
    assert marks and sorted(np.concatenate([m.get_xdata() for m in marks]).tolist()) == [0, 3]


def test_log_line_breaks_at_zeros_and_marks_where_they_start():
    fig, ax = plots.pyplot().subplots()
    ax.set_yscale("log")
    y = np.array([0.0, 1e-3, 1e-4, 0.0, 0.0, 1e-5, -1e-20, np.nan])
    assert plot_layout.log_line(ax, np.arange(8), y, "C1") == 4
    assert nonpositive_on_log(fig) == []
    drawn = ax.get_lines()[0].get_ydata()
    assert np.isnan(drawn[[0, 3, 4, 6, 7]]).all() and np.allclose(drawn[[1, 2, 5]], y[[1, 2, 5]])
    starts = ax.get_lines()[1]
    assert starts.get_xdata().tolist() == [0, 3, 6]
    assert starts.get_transform() is not ax.transData  # at the axis bottom, not at y = 0


def test_error_bars_on_a_log_axis_stop_at_the_point_where_they_would_cross_zero():
    fig, ax = plots.pyplot().subplots()
    ax.set_yscale("log")
    ax.errorbar([1, 2], [1.0, 2.0], yerr=[1.5, 0.5])
    assert nonpositive_on_log(fig), "the check must see the bar below 0"
    fig, ax = plots.pyplot().subplots()
    ax.set_yscale("log")
    assert plot_layout.errorbar_log(ax, [1, 2], [1.0, 2.0], [1.5, 0.5], "C0") == 1
    assert nonpositive_on_log(fig) == []
    bars = [c for c in ax.collections if type(c).__name__ == "LineCollection"][0]
    lows = sorted(seg[:, 1].min() for seg in bars.get_segments())
    assert np.allclose(lows, [1.0, 1.5])  # the cut bar stops at its point, the other at y − e


def test_markup_outside_math_is_caught():
    fig, ax = plots.pyplot().subplots()
    ax.set_ylabel("‖V − W‖²_X")
    ax.set_title("eta = 0.1")
    ax.set_xlabel(r"$W_{N:1}$ and $\|\cdot\|_X^2$")
    assert sorted(raw_math(fig)) == ["eta = 0.1", "‖V − W‖²_X"]


def test_alike_legend_entries_are_caught():
    fig, ax = plots.pyplot().subplots()
    ax.plot([0, 1], [0, 1], color="0.55", ls=":", label="lower, restarted")
    ax.plot([0, 1], [1, 0], color="0.55", ls=":", label="upper, restarted")
    ax.plot([0, 1], [1, 1], color="0.55", ls="-.", label="upper, other style")
    ax.legend()
    assert same_styles(fig) == ["'lower, restarted' and 'upper, restarted'"]


def test_quick_mark_keeps_clear_of_the_axis_labels(tmp_path):
    fig, ax = plots.pyplot().subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("a long x label that reaches the right edge of the axes, ok")
    with plots.quick_figures(True):
        plots.save(fig, tmp_path, "mark")
    renderer = _renderer(fig)
    mark = [t for t in fig.texts if t.get_text() == plots.QUICK_TEXT][0]
    assert not mark.get_window_extent(renderer).overlaps(
        ax.xaxis.label.get_window_extent(renderer))


def test_toy_loss_before_overparametrization():
    """ℓ(x) = ½(x − 1)² (eq 57): L(x1, x2) = ℓ(x1x2), and ℓ has µ = K = 1 (PL ratio and
    second derivative by finite differences)."""
    from overparam.theory import toy_landscape as toy

    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=50), rng.normal(size=50)
    assert np.allclose(toy.toy_loss(x1, x2), toy.toy_ell(x1 * x2), rtol=0, atol=1e-15)
    x, h = np.linspace(-2, 3, 11), 1e-4
    d1 = (toy.toy_ell(x + h) - toy.toy_ell(x - h)) / (2 * h)
    d2 = (toy.toy_ell(x + h) - 2 * toy.toy_ell(x) + toy.toy_ell(x - h)) / h**2
    away = np.abs(x - 1) > 0.1
    assert np.allclose(d1[away] ** 2 / (2 * toy.toy_ell(x[away])), 1.0, atol=1e-6)
    assert np.allclose(d2, 1.0, atol=1e-5)
    assert toy.toy_ell(1.0) == 0.0


# ------------------------------------------------ the registered experiments' figures
#: The papers whose figures these rules hold for (their reproductions).
PAPERS = ("A", "B", "C", "D")


@pytest.fixture(scope="module")
def drawn(request, tmp_path_factory) -> dict[str, list]:
    """Each registered reproduction's figures (papers A–D), drawn again by its finisher
    (quick mode) from the tables of the session's quick reproduction: experiment id →
    [(figure name, Figure)].
    ``OVERPARAM_QUICK_RESULTS`` may name the folder of an earlier ``overparam reproduce
    --quick`` to draw from instead."""
    import os
    import sys

    from overparam.experiments import all_experiments

    env = os.environ.get("OVERPARAM_QUICK_RESULTS")
    root = Path(env) if env else request.getfixturevalue("reproduced")
    out = tmp_path_factory.mktemp("redrawn")
    seen: list = []
    real = plots.save

    def spy(fig, where, name):
        # laid out and drawn as save() does, without writing the files (the session's
        # reproduction has written them): the checks read the drawn artists
        plots.finish_figure(fig)
        fig.canvas.draw()
        plots.pyplot().close(fig)  # as save() does; the Figure stays readable
        seen.append((name, fig))
        return f"figures/{name}.png"

    figures: dict[str, list] = {}
    with pytest.MonkeyPatch.context() as mp:
        for exp in (e for e in all_experiments() if e.paper in PAPERS):
            for mod in [m for n, m in list(sys.modules.items()) if n.startswith("overparam.")]:
                if getattr(mod, "save", None) is real:
                    mp.setattr(mod, "save", spy)
            folder = root / exp.id.replace("/", "__")
            tables = [pd.read_parquet(folder / f"{t}.parquet") for t in ("runs", "steps", "checks")]
            seen.clear()
            with plots.quick_figures(True):
                exp.finish(out / folder.name, *tables, True)
            figures[exp.id] = list(seen)
    return figures


def _each(drawn, check) -> dict[str, list[str]]:
    found = {f"{eid}/{name}": check(fig) for eid, figs in drawn.items() for name, fig in figs}
    return {k: v for k, v in found.items() if v}


figures_group = pytest.mark.xdist_group("reproduce")  # they read the quick reproduction


@figures_group
def test_every_experiment_draws_figures(drawn):
    assert all(drawn.values()), [k for k, v in drawn.items() if not v]


@figures_group
def test_figures_keep_legends_off_the_data(drawn):
    assert _each(drawn, legend_overlaps) == {}


@figures_group
def test_figures_have_no_colliding_tick_labels(drawn):
    assert _each(drawn, tick_collisions) == {}


@figures_group
def test_figures_write_math_as_math(drawn):
    assert _each(drawn, raw_math) == {}


@figures_group
def test_figures_draw_nothing_at_or_below_zero_on_log_axes(drawn):
    assert _each(drawn, nonpositive_on_log) == {}


@figures_group
def test_figures_tell_every_legend_entry_apart(drawn):
    assert _each(drawn, same_styles) == {}


def _title(fig) -> str:
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return sup or " ".join(ax.get_title() for ax in fig.axes)


def _labels_missing(fig) -> list[str]:
    """Axes with data but no x or y label in their row/column, and log axes whose label does
    not say so."""
    bad = []
    axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None and ax.has_data()
            and ax.get_label() != "<colorbar>"]
    for ax in axes:
        spec = ax.get_subplotspec()
        row = [a for a in axes if a.get_subplotspec().rowspan == spec.rowspan]
        col = [a for a in axes if a.get_subplotspec().colspan == spec.colspan]
        if not any(a.get_ylabel() for a in row):
            bad.append(f"{ax.get_title()!r}: no y label")
        if not any(a.get_xlabel() for a in col):
            bad.append(f"{ax.get_title()!r}: no x label")
        for scale, label in ((ax.get_xscale(), ax.get_xlabel()), (ax.get_yscale(), ax.get_ylabel())):
            if scale == "log" and label and "log" not in label.lower():
                bad.append(f"{label!r}: a log axis that does not say so")
    return bad


@figures_group
def test_figures_state_labels_the_papers_figure_and_the_quick_mark(drawn):
    from overparam.experiments import get_experiment

    assert _each(drawn, _labels_missing) == {}
    for eid, figs in drawn.items():
        exp = get_experiment(eid)
        ref = re.split(r",| \(", exp.figure)[0].replace(".", "")
        for name, fig in figs:
            title = _title(fig).replace(".", "")
            assert f"Paper {exp.paper}" in title and ref in title, (eid, name, title)
            renderer = _renderer(fig)
            mark = [t for t in fig.texts if t.get_text() == plots.QUICK_TEXT]
            assert len(mark) == 1, (eid, name)
            box = mark[0].get_window_extent(renderer)
            from matplotlib.text import Text

            others = [t for t in fig.findobj(Text) if t is not mark[0] and t.get_visible()
                      and t.get_text() and t.get_window_extent(renderer).overlaps(box)]
            assert others == [], (eid, name, [t.get_text() for t in others])


def _legend_handles(fig) -> dict[str, object]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return {t.get_text(): h for leg in legends
            for h, t in zip(leg.legend_handles, leg.get_texts(), strict=True)}


@figures_group
def test_fig1b_restarted_bounds_are_drawn_differently(drawn):
    (name, fig), = drawn["directional/deep"]
    handles = _legend_handles(fig)
    lower = [h for t, h in handles.items() if t.startswith("lower bound, restarted")]
    upper = [h for t, h in handles.items() if t.startswith("upper bound, restarted")]
    assert len(lower) == 1 and len(upper) == 1, list(handles)
    assert lower[0].get_linestyle() != upper[0].get_linestyle()
    assert style_key(lower[0]) != style_key(upper[0])
    # and apart from the bounds from t = 0 of the same side
    first = [h for t, h in handles.items() if t.startswith("lower bound from t = 0")]
    assert first and style_key(first[0]) != style_key(lower[0])


@figures_group
def test_fig1a_title_says_what_its_lines_are(drawn):
    """Fig 1a (the linear predictor) draws Theorem 1's lower bounds only, and the norm of w
    (there is no end-to-end product): the title says so, its legend agrees."""
    (name, fig), = drawn["directional/logistic"]
    title = _title(fig)
    labels = list(_legend_handles(fig))
    assert "Fig 1a" in title and "Theorem 1" in title and "lower" in title
    assert ("upper" in title) == any("upper" in t for t in labels)
    assert any("lower bound from t = 0" in t for t in labels)
    runs = [t for t in labels if "bound" not in t and "exactly 0" not in t]
    assert any("SGD" in t for t in runs) and any("gradient flow" in t for t in runs)
    texts = [ax.get_ylabel() for ax in fig.axes] + [title]
    assert not any("w_e" in t for t in texts), texts


@figures_group
def test_fig3_has_the_papers_panels(drawn):
    """Fig 3 of paper A shows ℓ(x) and L(x1, x2) beside µ_over and K_over: the panels are
    there and hold ½(x − 1)² and ½(x1x2 − 1)², computed here independently."""
    (name, fig), = drawn["local-pl/toy-landscape"]
    titles = [ax.get_title() for ax in fig.axes]
    ell = [ax for ax in fig.axes if ax.get_title().startswith(r"$\ell(x)")]
    land = [ax for ax in fig.axes if "$L(x_1, x_2)" in ax.get_title()]
    assert len(ell) == 1 and len(land) == 1, titles
    assert any(r"\mu_{\rm over}" in t for t in titles)
    assert sum(r"K_{\rm over}" in t for t in titles) >= 2
    line = ell[0].get_lines()[0]
    x = np.asarray(line.get_xdata(), float)
    assert x.min() <= -1.5 and x.max() >= 1.5
    assert np.allclose(line.get_ydata(), [(v - 1.0) ** 2 / 2 for v in x], rtol=1e-12)
    mesh = [c for c in land[0].collections if type(c).__name__ == "QuadMesh"][0]
    coords = mesh.get_coordinates()  # cell corners; the values sit at the grid's points
    values = np.asarray(mesh.get_array()).reshape(coords.shape[0] - 1, coords.shape[1] - 1)
    centers = (coords[:-1, :-1] + coords[1:, 1:]) / 2
    assert np.allclose(values, (centers[..., 0] * centers[..., 1] - 1.0) ** 2 / 2, atol=1e-12)


def test_the_layout_module_names_no_problem_kind():
    """``plot_layout`` is shared by every figure, like ``plots``: it knows no family."""
    from overparam.problems import registry
    from test_architecture import SRC, kinds_named

    assert kinds_named(SRC / "plot_layout.py", registry.kinds()) == []
