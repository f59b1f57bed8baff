"""Figure helpers shared by every experiment: mean ± std bands of log curves (statistics over
seeds from :mod:`overparam.aggregate`), saving png+pdf,
and labels of settings that read well whatever a cell holds (a number, a word, a list, or
nothing: NaN, None or pd.NA where a run has no such setting).

Importing this module is light (no matplotlib, numpy or pandas): the experiments' registry
imports it, and ``overparam list`` must start fast. Drawing code gets pyplot from
:func:`pyplot`, which selects the Agg backend and the house style on first use."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import matplotlib.pyplot as plt
    import pandas as pd

    from overparam.aggregate import Curves

#: Matplotlib's default colour cycle (tab10), as plain text so that importing needs no
#: matplotlib; the style below leaves the cycle as it is.
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 130, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "font.size": 9, "axes.titlesize": 9.5, "legend.fontsize": 8,
}

#: Largest axis limit drawn: matplotlib's tick locators overflow on a range near the float
#: maximum (a diverged run's flow time Σ η with η ≈ 1e308), so limits are clipped to this.
AXIS_LIMIT = 1e300

#: How a missing setting (NaN, None, pd.NA: the run has no such field) reads in a label.
MISSING = "—"

_styled = False


def pyplot():
    """matplotlib.pyplot on the Agg backend, with the house style applied (once)."""
    global _styled
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not _styled:
        plt.rcParams.update(STYLE)
        _styled = True
    return plt


# ------------------------------------------------------------------ values as text
def is_missing(value: Any) -> bool:
    """True for None, NaN (float or numpy), pd.NA and NaT; False for containers and text."""
    if value is None:
        return True
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return False
    if isinstance(value, float):
        return value != value
    if type(value).__module__.startswith("pandas"):
        kind = type(value).__name__
        if kind in ("NAType", "NaTType"):
            return True
    if hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        try:
            return bool(value != value)
        except (TypeError, ValueError):
            return False
    return False


def _is_number(value: Any) -> bool:
    """A real number (Python or numpy, not bool), not missing."""
    if isinstance(value, bool) or is_missing(value):
        return False
    if isinstance(value, int | float):
        return True
    dtype = getattr(value, "dtype", None)
    return getattr(value, "ndim", 1) == 0 and getattr(dtype, "kind", "") in "iuf"


def finite(value: Any) -> bool:
    """True for a number that is neither missing nor infinite."""
    return _is_number(value) and math.isfinite(float(value))


def setting_text(value: Any, spec: str = "") -> str:
    """A setting's value as short text: ``spec`` formats a number (``"g"``, ``".2f"``);
    missing values read as "—", lists as "[128, 2000, 10]", mappings as "{kind: gd}"."""
    if is_missing(value):
        return MISSING
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()  # numpy arrays and scalars, e.g. a list cell read back from parquet
        if is_missing(value):
            return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return format(value, spec) if spec else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(setting_text(v, spec) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {setting_text(v, spec)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def _texts(values: Iterable[Any]) -> list[str]:
    return [setting_text(v) for v in values]


def sort_key(value: Any) -> tuple:
    """Orders mixed settings without comparing across types: numbers (by value), then words,
    then lists and the rest (by their text), missing values last."""
    if is_missing(value):
        return (3, 0.0, "")
    if _is_number(value):
        return (0, float(value), "")
    if isinstance(value, str):
        return (1, 0.0, value)
    return (2, 0.0, setting_text(value))


def distinct(values: Any, sort: bool = True) -> list[Any]:
    """The distinct values of a setting column (one per text, missing ones included), sorted
    with :func:`sort_key` or in order of first appearance."""
    seen: dict[str, Any] = {}
    for v in list(values):
        seen.setdefault(setting_text(v), v)
    out = list(seen.values())
    return sorted(out, key=sort_key) if sort else out


def setting_groups(frame: pd.DataFrame, column: str,
                   sort: bool = False) -> list[tuple[Any, pd.DataFrame]]:
    """(value, rows) per distinct value of ``column``, like ``groupby`` but keeping missing
    values (which groupby drops) and list cells (which it cannot hash)."""
    keys = _texts(frame[column].tolist())
    firsts: dict[str, Any] = {}
    for key, v in zip(keys, frame[column].tolist(), strict=True):
        firsts.setdefault(key, v)
    order = list(firsts)
    if sort:
        order.sort(key=lambda k: sort_key(firsts[k]))
    return [(firsts[k], frame[[key == k for key in keys]]) for k in order]


def rows_with(frame: pd.DataFrame, column: str, value: Any) -> pd.Series:
    """Boolean mask of the rows whose ``column`` reads as ``value`` (so NaN matches NaN and
    a list matches an equal list), indexed like ``frame``."""
    import pandas as pd

    want = setting_text(value)
    return pd.Series([key == want for key in _texts(frame[column].tolist())], index=frame.index,
                     dtype=bool)


# ------------------------------------------------------------------ figures
def clip_huge_limits(fig: plt.Figure) -> None:
    """Clip every axis range to ±AXIS_LIMIT (points beyond it are left off the plot)."""
    for ax in fig.axes:
        for get, set_ in ((ax.get_xlim, ax.set_xlim), (ax.get_ylim, ax.set_ylim)):
            lo, hi = get()
            if not (abs(lo) <= AXIS_LIMIT and abs(hi) <= AXIS_LIMIT):
                set_(float(min(max(lo, -AXIS_LIMIT), AXIS_LIMIT)),
                     float(min(max(hi, -AXIS_LIMIT), AXIS_LIMIT)))


#: Set while a quick run draws its figures: every figure saved then carries the mark.
QUICK_MARK: ContextVar[str] = ContextVar("quick_mark", default="")
QUICK_TEXT = "quick run: reduced sizes, not the paper's (drop --quick for full size)"


@contextmanager
def quick_figures(quick: bool) -> Iterator[None]:
    """Mark every figure saved inside the block as a quick run's (when ``quick``)."""
    token = QUICK_MARK.set(QUICK_TEXT if quick else "")
    try:
        yield
    finally:
        QUICK_MARK.reset(token)


def save(fig: plt.Figure, root: Path, name: str) -> str:
    """Write figures/<name>.png and .pdf under root (atomically); return the png path
    relative to root. Inside :func:`quick_figures` the figure is marked as a quick run's.
    The layout makes room below the axes for the mark and the legends of
    ``plot_layout.legend_below``, and hides tick labels that would collide."""
    from overparam.store import atomic_write

    plt = pyplot()
    d = Path(root) / "figures"
    d.mkdir(parents=True, exist_ok=True)
    finish_figure(fig)
    for ext in ("png", "pdf"):
        atomic_write(d / f"{name}.{ext}", lambda tmp, ext=ext: fig.savefig(tmp, format=ext))
    plt.close(fig)
    return f"figures/{name}.png"


def finish_figure(fig: plt.Figure) -> None:
    """What :func:`save` does to a figure before writing it: finite limits, room for the quick
    mark and the legends below the axes, no colliding tick labels."""
    from overparam.plot_layout import finish_layout, thin_tick_labels

    clip_huge_limits(fig)
    finish_layout(fig, QUICK_MARK.get())
    thin_tick_labels(fig)


def log10_curves(steps: pd.DataFrame, run_ids, column: str, x: str = "step") -> Curves:
    """log10(column) of the runs as :class:`overparam.aggregate.Curves` (x × run, with the
    seeds present and those at exactly 0 counted per x); runs that stopped early leave NaN."""
    from overparam.aggregate import seed_curves

    return seed_curves(steps, run_ids, column, x=x, log=True)


def _curves(data: Curves | pd.DataFrame) -> Curves:
    from overparam.aggregate import Curves

    return data if isinstance(data, Curves) else Curves.from_wide(data)


#: Count notes of one curve closer than this share of its x range are thinned out: the
#: first drop (where the band ends) and the final count stay, the markers at the axis
#: bottom show every seed that stops (×) or reaches 0 (▼).
NOTE_GAP = 0.08


def _thin(notes: list, span: float) -> list:
    """The first note, then each at least NOTE_GAP·span after the last kept; the final note
    replaces the last kept one when too close to it (unless that is the first)."""
    kept = notes[:1]
    for note in notes[1:]:
        if note.x - kept[-1].x >= NOTE_GAP * span:
            kept.append(note)
        elif note is notes[-1] and len(kept) > 1:
            kept[-1] = note
    return kept


def _survivors(ax: plt.Axes, curves: Curves, color: str, label: str | None, line: dict,
               partial: dict, fill: float | None, above: bool) -> None:
    """Draw the pieces of the mean: over all seeds in ``line`` style (with the band when
    ``fill``), over fewer in the thinner ``partial`` style; then the count notes and
    markers at the axis bottom where seeds stop (×) or, on a log curve, reach 0 (▼)."""
    for seg in curves.segments():
        if seg.full:
            ax.plot(seg.x, seg.mean, color=color, label=label, **line)
            label = None
            if fill is not None:
                ax.fill_between(seg.x, seg.mean - seg.std, seg.mean + seg.std, color=color,
                                alpha=fill, linewidth=0)
        else:
            ax.plot(seg.x, seg.mean, color=color, label=label, **partial)
            label = None
    x = curves.index.to_numpy(float)
    notes = _thin(curves.notes(), float(x.max() - x.min()) if x.size else 0.0)
    for i, note in enumerate(notes):  # alternately above and below the curve; at its end,
        up = (i % 2 == 0) == above    # where no seed is left, to the left of the point
        ax.annotate(note.text, (note.x, note.y), xytext=(-2 if note.n == 0 else 2, 2 if up else -2),
                    textcoords="offset points", ha="right" if note.n == 0 else "left",
                    va="bottom" if up else "top", fontsize=6, color=color, clip_on=True,
                    annotation_clip=True)
    for where, marker in ((curves.zero_onsets(), "v"), (curves.end_onsets(), "x")):
        if len(where):
            ax.plot(where, [0.0] * len(where), ls="none", marker=marker, ms=4, color=color,
                    transform=ax.get_xaxis_transform(), clip_on=False)


def _partial(line: dict, ls: str, other: str) -> dict:
    """The style of a mean over fewer than all seeds: thinner, and dashed ``ls`` (``other``
    where the full curve is already drawn so)."""
    lw = float(line.get("lw", line.get("linewidth", 1.5)))
    full_ls = line.get("ls", line.get("linestyle", "-"))
    return {"ls": other if full_ls == ls else ls, "lw": max(0.6, 0.55 * lw), "alpha": 0.9}


def band(ax: plt.Axes, curves: Curves | pd.DataFrame, label: str, color: str, *,
         fill_alpha: float = 0.2, **line) -> Curves:
    """Mean ± one standard deviation across seeds, as in the paper's figures, drawn only
    where every seed is present; where some have stopped (or sit at 0 on a log curve) the
    mean of those left is a thin dashed line, with the count where it drops ("n=3/5, 1 at
    0") and a marker at the axis bottom where a seed reaches 0 (docs/observables.md,
    "Statistics over seeds"). Takes :class:`Curves` or a wide table x × run."""
    curves = _curves(curves)
    _survivors(ax, curves, color, label, line, _partial(line, "--", ":"), fill_alpha, True)
    return curves


def mean_curve(ax: plt.Axes, curves: Curves | pd.DataFrame, label: str, color: str,
               **line) -> Curves:
    """The mean across seeds in ``line`` style where every seed is present, thinner and
    dotted where fewer are (with the counts, as :func:`band`)."""
    curves = _curves(curves)
    _survivors(ax, curves, color, label, line, _partial(line, ":", "--"), None, False)
    return curves


def setting_label(runs: pd.DataFrame, keys: list[str]) -> pd.Series:
    """A short label per run from the swept columns: their values' texts, comma-separated
    (a run without one of the settings shows "—" in its place)."""
    import pandas as pd

    if not keys:
        return pd.Series(["all"] * len(runs), index=runs.index, dtype=object)
    columns = [_texts(runs[k].tolist()) for k in keys]
    return pd.Series([", ".join(parts) for parts in zip(*columns, strict=True)],
                     index=runs.index, dtype=object)


def swept_columns(runs: pd.DataFrame) -> list[str]:
    """Setting columns that tell runs apart, in table order: those taking more than one value
    (missing counting as one) and not already implied by the others, e.g. a backtracking
    schedule's ``tau``, absent from every other schedule, is implied by ``schedule.kind``.
    Columns every run has are taken first."""
    skip = {"run_id", "seed", "status", "note", "steps_done", "wall_s", "theory_s", "run_s",
            "compile_s", "final_loss", "final_loss_gap", "experiment"}
    cols = [c for c in runs.columns if ("." in c or c in ("steps",)) and c not in skip]
    texts = {c: _texts(runs[c].tolist()) for c in cols}
    cols = [c for c in cols if len(set(texts[c])) > 1]
    complete = [c for c in cols if MISSING not in texts[c]]
    kept: list[str] = []
    parts = 1  # groups the kept columns make
    for c in complete + [c for c in cols if c not in complete]:
        n = len(set(zip(*(texts[k] for k in (*kept, c)), strict=True)))
        if n > parts:
            kept.append(c)
            parts = n
    return [c for c in cols if c in kept]


def curves_figure(root: Path, runs: pd.DataFrame, steps: pd.DataFrame,
                  solid: tuple[str, str], dashed: Callable[[pd.DataFrame], tuple[str, str]], *,
                  ylabel: str, title: str, name: str = "loss", x: str = "step",
                  xlabel: str = "iteration t") -> list[str]:
    """A user spec's figure: per setting, the mean ± std over seeds of log10 of the ``solid``
    column (column, label) and the mean of a ``dashed`` companion (a bound, a twin), which
    may depend on the setting's runs. The families' default figures are made with it.
    Failed runs (which could not start) are left out; the others count as seeds (see
    :func:`band`). The legend sits under the axes, off the curves."""
    from overparam.plot_layout import legend_under

    plt = pyplot()
    keys = swept_columns(runs)
    labels = setting_label(runs, keys)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (label, grp) in enumerate(setting_groups(runs.assign(_label=labels), "_label")):
        color = COLORS[i % len(COLORS)]
        if "status" in grp:
            grp = grp[grp["status"] != "failed"]
        if grp.empty:  # every run of the setting failed: nothing ran to draw
            continue
        ids = grp["run_id"]
        band(ax, log10_curves(steps, ids, solid[0], x=x), f"{solid[1]}  [{label}]", color)
        column, text = dashed(grp)
        mean_curve(ax, log10_curves(steps, ids, column, x=x), text, color, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(" / ".join(keys) if keys else title)
    legend_under(ax, ncol=2)
    return [save(fig, root, name)]
