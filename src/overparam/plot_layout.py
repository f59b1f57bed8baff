"""Layout rules every saved figure follows (:func:`overparam.plots.save` applies them): legends
kept off the data, below the axes (:func:`legend_below`); tick labels that never collide
(:func:`thin_tick_labels`, :func:`sweep_ticks`); and values a log axis cannot show (exact
zeros, round-off below them) marked at the axis bottom instead of drawn as a line to −∞
(:func:`on_log_axis`, :func:`log_line`).

Light to import, like :mod:`overparam.plots`: matplotlib, numpy and pandas load on first use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import matplotlib.pyplot as plt
    from matplotlib.legend import Legend

    from overparam.aggregate import Curves

#: The marker of a value at exactly 0 on a log axis, drawn at the axis bottom.
ZERO_MARKER = "v"
#: What the marker says, beside it in a legend (:func:`zero_key`).
ZERO_NOTE = "exactly 0 here (marked at the axis bottom, not drawn on a log axis)"
#: Colour and style of the quick-run mark (bottom right).
MARK_STYLE = {"ha": "right", "va": "bottom", "fontsize": 7, "color": "#b35900", "style": "italic"}
#: Attribute of a figure legend made by :func:`legend_below`: its entries and options, so that
#: the layout can rebuild it with fewer columns when it is wider than the figure.
_BELOW = "_overparam_below"
#: Attribute of an axes legend made by :func:`legend_under`.
_UNDER = "_overparam_under"
#: Space (points) tick labels keep between them.
TICK_PAD = 1.5


# ------------------------------------------------------------------ legends
def legend_entries(axes: Iterable[plt.Axes]) -> tuple[list, list[str]]:
    """The legend entries of ``axes``, each label once (first handle wins), in order."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label and not label.startswith("_"):
                seen.setdefault(label, handle)
    return list(seen.values()), list(seen)


def legend_below(fig: plt.Figure, axes: Sequence[plt.Axes] | None = None, *,
                 handles: list | None = None, labels: list[str] | None = None,
                 ncol: int | None = None, **kwargs) -> Legend | None:
    """One legend for the figure, centred below its axes, where it can cover no data: the
    entries of ``axes`` (every axes of the figure by default; each label once) or the given
    ``handles``/``labels``. Axes legends already drawn are removed. :func:`finish_layout`
    (called by ``plots.save``) makes room for it and narrows it to the figure's width."""
    axes = list(fig.axes if axes is None else axes)
    if handles is None:
        handles, labels = legend_entries(axes)
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if not handles:
        return None
    ncol = ncol or min(len(handles), 4)
    return _figure_legend(fig, list(handles), list(labels or []), ncol, kwargs)


def _figure_legend(fig: plt.Figure, handles: list, labels: list[str], ncol: int,
                   kwargs: dict) -> Legend:
    leg = fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                     ncol=ncol, **kwargs)
    setattr(leg, _BELOW, (handles, labels, ncol, kwargs))
    return leg


def _fit_width(fig: plt.Figure, leg: Legend, renderer) -> Legend:
    """The legend, rebuilt with fewer columns until it is no wider than the figure."""
    handles, labels, ncol, kwargs = getattr(leg, _BELOW)
    while ncol > 1 and leg.get_window_extent(renderer).width > 0.98 * fig.bbox.width:
        leg.remove()
        ncol -= 1
        leg = _figure_legend(fig, handles, labels, ncol, kwargs)
    return leg


def legend_under(ax: plt.Axes, **kwargs) -> Legend | None:
    """The axes' legend, centred under its x-axis label (outside the data): for panels whose
    legends differ. :func:`finish_layout` moves it to just below the label."""
    if not ax.get_legend_handles_labels()[0]:
        return None
    kwargs.setdefault("ncol", 1)
    leg = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), **kwargs)
    setattr(leg, _UNDER, True)
    return leg


def _place_under(fig: plt.Figure, renderer) -> None:
    """Anchor each :func:`legend_under` legend just below its axes' x-axis decorations."""
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None or not getattr(leg, _UNDER, False):
            continue
        bottom = ax.xaxis.get_tightbbox(renderer)
        pixels = bottom.y0 if bottom is not None else ax.bbox.y0
        y = ax.transAxes.inverted().transform((0.0, pixels - 4.0 * fig.dpi / 72.0))[1]
        leg.set_bbox_to_anchor((0.5, y), transform=ax.transAxes)


def finish_layout(fig: plt.Figure, mark: str = "") -> None:
    """``tight_layout`` that keeps a strip at the bottom for the legends of
    :func:`legend_below` (stacked, first on top) and below them the quick-run ``mark``, so
    that neither covers an axis label; legends of :func:`legend_under` sit under their
    axes' labels."""
    fig.tight_layout()
    under = any(getattr(ax.get_legend(), _UNDER, False) for ax in fig.axes)
    below = [leg for leg in fig.legends if hasattr(leg, _BELOW)]
    if not (under or below or mark):
        return
    renderer = fig.canvas.get_renderer()
    height = fig.bbox.height
    y = 0.003
    if mark:
        text = fig.text(0.995, y, mark, **MARK_STYLE)
        y += text.get_window_extent(renderer).height / height + 0.004
    for leg in reversed(below):
        leg = _fit_width(fig, leg, renderer)
        leg.set_bbox_to_anchor((0.5, y), transform=fig.transFigure)
        y += leg.get_window_extent(renderer).height / height + 0.008
    rect = (0.0, min(y, 0.6), 1.0, 1.0)
    for _ in range(2 if under else 1):  # the legends under axes move with them: twice
        _place_under(fig, renderer)
        fig.tight_layout(rect=rect)
    _place_under(fig, renderer)


# ------------------------------------------------------------------ ticks
def sweep_ticks(ax: plt.Axes, values: Iterable[Any], axis: str = "x", fmt: str = "g") -> None:
    """Ticks at the swept values only, labelled with them and without minor labels: a log
    axis over a sweep otherwise labels 2×10², 3×10², … between them, which collide."""
    import math

    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    vals = sorted({float(v) for v in values if v is not None and math.isfinite(float(v))})
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(vals))
    target.set_major_formatter(FixedFormatter([format(v, fmt) for v in vals]))
    target.set_minor_formatter(NullFormatter())


def _overlap(a, b, pad: float) -> bool:
    return not (a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0
                or b.y1 + pad <= a.y0)


def _hide(axis, minor: bool, hidden: set[float]) -> None:
    """Blank the labels at ``hidden`` locations, keeping every tick and the other labels."""
    from matplotlib.ticker import FixedFormatter, FixedLocator

    locs = list(axis.get_minorticklocs() if minor else axis.get_majorticklocs())
    fmt = axis.get_minor_formatter() if minor else axis.get_major_formatter()
    texts = fmt.format_ticks(locs)
    texts = ["" if loc in hidden else text for loc, text in zip(locs, texts, strict=True)]
    if minor:
        axis.set_minor_locator(FixedLocator(locs))
        axis.set_minor_formatter(FixedFormatter(texts))
    else:
        axis.set_major_locator(FixedLocator(locs))
        axis.set_major_formatter(FixedFormatter(texts))


def thin_tick_labels(fig: plt.Figure) -> int:
    """Hide every tick label that would overlap one kept before it (major labels first, in
    axis order, then minor ones); returns how many were hidden."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    pad = TICK_PAD * fig.dpi / 72.0
    count = 0
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            majors = {id(t) for t in axis.get_major_ticks()}
            kept: list = []
            drop: dict[bool, set[float]] = {False: set(), True: set()}
            ticks = sorted(axis._update_ticks(), key=lambda t: (id(t) not in majors, t.get_loc()))
            for tick in ticks:
                label = tick.label1
                if not (label.get_visible() and label.get_text()):
                    continue
                box = label.get_window_extent(renderer)
                if any(_overlap(box, other, pad) for other in kept):
                    drop[id(tick) not in majors].add(tick.get_loc())
                else:
                    kept.append(box)
            for minor, hidden in drop.items():
                if hidden:
                    _hide(axis, minor, hidden)
                    count += len(hidden)
    return count


# ------------------------------------------------------------------ log axes
def on_log_axis(curves: Curves) -> Curves:
    """Curves to draw on a log-scale axis: values ≤ 0 (exact zeros, round-off below them) are
    counted as seeds at zero, as a log10 curve's are, so ``plots.band``/``mean_curve`` mark
    them (▼ at the axis bottom, "1 at 0" in the count notes) instead of a line to −∞."""
    zero = curves.zero | curves.values.le(0.0)
    return replace(curves, values=curves.values.where(~zero), zero=zero, log=True)


def log_line(ax: plt.Axes, x: Any, y: Any, color: str, label: str | None = None,
             **line) -> int:
    """``y`` against ``x`` on a log-y axis, its values ≤ 0 left out (the line breaks there)
    and a ▼ at the axis bottom where each stretch of them begins; returns their count."""
    import numpy as np

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    bad = np.isfinite(y) & ~(y > 0)
    ax.plot(x, np.where(y > 0, y, np.nan), color=color, label=label, **line)
    starts = x[bad & ~np.concatenate([[False], bad[:-1]])]
    if starts.size:
        ax.plot(starts, np.zeros(starts.size), ls="none", marker=ZERO_MARKER, ms=4,
                color=color, transform=ax.get_xaxis_transform(), clip_on=False)
    return int(bad.sum())


def zero_key(color: str = "k"):
    """A legend handle for the ▼ marker of :func:`log_line` and ``on_log_axis`` curves."""
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker=ZERO_MARKER, ms=4, color=color)


def errorbar_log(ax: plt.Axes, x: Any, y: Any, half: Any, color: str, label: str | None = None,
                 **kwargs) -> int:
    """``y ± half`` as error bars on a log-y axis: where ``y − half`` is not positive the lower
    bar cannot be drawn (it would run to −∞), so it stops at the point and an open ▽ below
    the point says so; returns how many were cut."""
    import numpy as np

    y = np.asarray(y, float)
    half = np.nan_to_num(np.asarray(half, float))
    cut = (y - half <= 0) & np.isfinite(y) & (half > 0)
    ax.errorbar(x, y, yerr=[np.where(cut, 0.0, half), half], color=color, label=label, **kwargs)
    if cut.any():
        ax.plot(np.asarray(x, float)[cut], y[cut] / 1.6, ls="none", marker=CUT_MARKER, ms=5,
                mfc="none", color=color)
    return int(cut.sum())


#: The marker of a lower error bar that :func:`errorbar_log` cut at the point.
CUT_MARKER = "v"
#: What the cut bar says, beside the marker in a legend.
CUT_NOTE = "mean − 2 std ≤ 0: lower bar not drawn on the log axis"
