"""Statistics over seeds, the one way every figure and summary table takes them.

A run that diverges or stops early has fewer rows, and a loss that reaches exactly 0 has no
log10. A mean over "the seeds still there" then jumps where one leaves, and draws dynamics
that never happened. The rule (docs/observables.md, "Statistics over seeds"):

- :func:`seed_curves` keeps, per x (step, time), how many seeds have a finite value there
  (``n``), how many sit at zero where a log is taken (``n_zero``: counted, never averaged
  as −inf nor dropped silently) and how many runs there are (``n_total``). The mean ± std is
  a *band* only where every seed is present (``full``: n == n_total); elsewhere the mean of
  the seeds present is kept, in :meth:`Curves.segments` one piece per set of seeds, so that
  no line joins means over different seeds, and :meth:`Curves.notes` says where the count
  drops ("n=3/5, 1 at 0"). ``plots.band`` and ``plots.mean_curve`` draw them so.
- :func:`over_runs` averages a per-run table per group over the runs of the given statuses
  only (``ok`` by default) and says how many went in (``n_in``) and how many each other
  status left out (``n_diverged``, ...). :func:`final_rows` gives each run's last row.

Importing is light (numpy and pandas load on first use), like ``plots``: the experiments'
modules import it and ``overparam list`` must start fast."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Run statuses (runs.parquet); over_runs reports the ones it leaves out under these names.
STATUSES = ("ok", "diverged", "failed", "stalled")
#: Runs that finished: what a table of final values averages over.
OK = ("ok",)
#: Runs that computed their initial point: enough for a quantity measured at t = 0.
STARTED = ("ok", "diverged", "stalled")


@dataclass(frozen=True)
class Segment:
    """A piece of the mean curve over one fixed set of seeds (``members``): ``x``, the mean
    and std (ddof 1; 0 for one seed) of those seeds there; ``full`` when they are all the
    runs (then mean ± std is the band)."""

    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    members: tuple
    full: bool


@dataclass(frozen=True)
class Note:
    """Where the number of seeds drawn changes to fewer than all: x, the y of the curve
    there (its last drawn value when none is left), and the counts."""

    x: float
    y: float
    n: int
    n_zero: int
    n_total: int

    @property
    def text(self) -> str:
        return f"n={self.n}/{self.n_total}" + (f", {self.n_zero} at 0" if self.n_zero else "")


@dataclass(frozen=True)
class Curves:
    """One observable of a group of runs, x × run, with its statistics over seeds.

    ``values``: what is drawn (log10 of the column when ``log``); NaN where a run has no
    row, a value that is not finite, or (log) a value at zero. ``has_row``: the run has a
    row at x. ``zero``: (log) the value is ≤ 0, exact 0 or round-off below it. Per x:
    ``n`` seeds with a finite value, ``n_zero`` seeds at zero, ``n_rows`` seeds with a row,
    ``mean`` and ``std`` (ddof 1; 0 for a single seed) over the ``n`` finite values,
    ``full`` where n == n_total, and ``lo``, ``hi`` = mean ∓ std only where ``full`` (the
    band; NaN elsewhere)."""

    column: str
    log: bool
    values: pd.DataFrame
    has_row: pd.DataFrame
    zero: pd.DataFrame
    n_total: int

    # ---------------------------------------------------------------- per x
    @property
    def index(self) -> pd.Index:
        return self.values.index

    @property
    def finite(self) -> pd.DataFrame:
        import numpy as np

        return np.isfinite(self.values)

    @property
    def n(self) -> pd.Series:
        return self.finite.sum(axis=1).astype(int)

    @property
    def n_zero(self) -> pd.Series:
        return self.zero.sum(axis=1).astype(int)

    @property
    def n_rows(self) -> pd.Series:
        return self.has_row.sum(axis=1).astype(int)

    @property
    def full(self) -> pd.Series:
        return (self.n == self.n_total) & (self.n_total > 0)

    @property
    def mean(self) -> pd.Series:
        return self.values.where(self.finite).mean(axis=1)

    @property
    def std(self) -> pd.Series:
        sd = self.values.where(self.finite).std(axis=1)
        return sd.mask(self.n == 1, 0.0)

    @property
    def lo(self) -> pd.Series:
        return (self.mean - self.std).where(self.full)

    @property
    def hi(self) -> pd.Series:
        return (self.mean + self.std).where(self.full)

    def complete_mean(self) -> pd.Series:
        """The mean where every seed is present, NaN elsewhere: what a fit should use."""
        return self.mean.where(self.full)

    def complete_until(self) -> float:
        """The last x of the first stretch where every seed is present (NaN if none)."""
        full = self.full.to_numpy()
        if not full.any():
            return math.nan
        start = int(full.argmax())
        stop = start + (int((~full[start:]).argmax()) if (~full[start:]).any() else full.size - start)
        return float(self.index[stop - 1])

    # ---------------------------------------------------------------- drawing
    def segments(self) -> list[Segment]:
        """The mean curve in pieces of constant membership (consecutive x where the same
        seeds have finite values). A piece after the first starts one x early, at the mean
        of *its* seeds there, when they all have a value: so each piece is continuous, and
        no line joins a mean over some seeds to a mean over others."""
        import numpy as np

        mask = self.finite.to_numpy()
        vals = self.values.to_numpy(float)
        x = self.index.to_numpy()
        cols = list(self.values.columns)
        out: list[Segment] = []
        if mask.shape[0] == 0:
            return out
        change = np.flatnonzero((mask[1:] != mask[:-1]).any(axis=1)) + 1
        starts = np.concatenate([[0], change])
        stops = np.concatenate([change, [mask.shape[0]]])
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            m = mask[a]
            if not m.any():
                continue
            lo = a - 1 if a > 0 and mask[a - 1][m].all() else a
            seg = vals[lo:b][:, m]
            std = seg.std(axis=1, ddof=1) if seg.shape[1] > 1 else np.zeros(seg.shape[0])
            out.append(Segment(x=x[lo:b], mean=seg.mean(axis=1), std=std,
                               members=tuple(c for c, k in zip(cols, m, strict=True) if k),
                               full=bool(m.sum() == self.n_total)))
        return out

    def notes(self) -> list[Note]:
        """Each x where (n, n_zero) changes to fewer than all seeds drawn, with something
        still to say (a seed left or one sits at 0): "n=3/5", "n=2/5, 1 at 0"."""
        import numpy as np

        n, z = self.n.to_numpy(), self.n_zero.to_numpy()
        mean = self.mean.to_numpy(float)
        x = self.index.to_numpy()
        out: list[Note] = []
        prev = (self.n_total, 0)
        last_y = math.nan
        for i in range(n.size):
            state = (int(n[i]), int(z[i]))
            if state != prev and state[0] < self.n_total and (state[0] > 0 or state[1] > 0):
                y = mean[i] if np.isfinite(mean[i]) else last_y
                if math.isfinite(y):
                    out.append(Note(float(x[i]), float(y), state[0], state[1], self.n_total))
            prev = state
            if np.isfinite(mean[i]):
                last_y = float(mean[i])
        return out

    def zero_onsets(self) -> np.ndarray:
        """The x where more seeds sit at zero than at the previous x (log curves only)."""
        import numpy as np

        z = self.n_zero.to_numpy()
        up = np.diff(np.concatenate([[0], z])) > 0
        return self.index.to_numpy()[up]

    def end_onsets(self) -> np.ndarray:
        """The x where fewer runs have a row than at the previous x: a run stopped (it
        diverged or ended early) while others go on."""
        import numpy as np

        rows = self.n_rows.to_numpy()
        down = np.flatnonzero(np.diff(rows) < 0) + 1
        return self.index.to_numpy()[down]

    # ---------------------------------------------------------------- building
    def with_x(self, x: Iterable[Any]) -> Curves:
        """The same curves on another x axis of the same length (wall-clock, flow time)."""
        import pandas as pd

        index = pd.Index(list(x))
        return replace(self, **{k: getattr(self, k).set_axis(index, axis=0)
                                for k in ("values", "has_row", "zero")})

    @classmethod
    def from_wide(cls, wide: pd.DataFrame, n_total: int | None = None, log: bool = False,
                  column: str = "") -> Curves:
        """Curves from a wide table x × run that is already what is drawn (e.g. log10
        values): NaN counts as a run not present, −inf as a seed at zero (log10 of 0)."""
        import numpy as np

        values = wide.astype(float)
        zero = values.eq(-np.inf)
        return cls(column=column, log=log or bool(zero.to_numpy().any()),
                   values=values.where(np.isfinite(values)), has_row=values.notna(),
                   zero=zero, n_total=int(wide.shape[1] if n_total is None else n_total))


def seed_curves(steps: pd.DataFrame, run_ids: Iterable[Any], column: str, x: str = "step",
                log: bool = False) -> Curves:
    """``column`` of the runs ``run_ids`` as :class:`Curves` on ``x`` (log10 of it when
    ``log``). Every run id counts in ``n_total``, also one with no row at all."""
    import numpy as np
    import pandas as pd

    ids = list(dict.fromkeys(run_ids.tolist() if hasattr(run_ids, "tolist") else run_ids))
    sub = steps[steps["run_id"].isin(ids)]
    raw = sub.assign(_row=1.0).pivot(index=x, columns="run_id", values=[column, "_row"])
    raw = raw.sort_index()
    got = raw[column] if len(raw) else pd.DataFrame(index=raw.index)
    value = pd.DataFrame({r: pd.to_numeric(got[r], errors="coerce") if r in got else np.nan
                          for r in ids}, index=raw.index, dtype=float)
    has_row = (raw["_row"] if len(raw) else pd.DataFrame(index=raw.index)).reindex(
        columns=ids).notna()
    value.columns.name = has_row.columns.name = "run_id"
    if log:
        zero = value.le(0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.log10(value.where(value > 0))
    else:
        zero = pd.DataFrame(False, index=value.index, columns=value.columns)
    return Curves(column=column, log=log, values=value.where(np.isfinite(value)),
                  has_row=has_row, zero=zero, n_total=len(ids))


# ------------------------------------------------------------------ tables over runs
def final_rows(steps: pd.DataFrame, run_ids: Iterable[Any] | None = None,
               columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run: each column's last logged (non-null) value, i.e. at the run's last
    computed iterate for a column logged at every step; ``run_id`` as a column."""
    sub = steps if run_ids is None else steps[steps["run_id"].isin(list(run_ids))]
    if columns is not None:
        sub = sub[["run_id", *columns]]
    return sub.groupby("run_id", sort=False).last().reset_index()


def _stat(values: pd.Series, stat: str) -> float:
    """One statistic of the finite values: mean, std, median, min, max, qNN (the NN-th
    percentile), ci (half-width of the mean's 95% t-interval) or count."""
    import numpy as np

    v = values.to_numpy(float)
    v = v[np.isfinite(v)]
    if stat == "count":
        return float(v.size)
    if v.size == 0:
        return math.nan
    if stat == "mean":
        return float(v.mean())
    if stat == "median":
        return float(np.median(v))
    if stat == "std":
        return float(v.std(ddof=1)) if v.size > 1 else math.nan
    if stat in ("min", "max"):
        return float(getattr(v, stat)())
    if stat.startswith("q") and stat[1:].isdigit():
        return float(np.quantile(v, int(stat[1:]) / 100))
    if stat == "ci":
        from scipy import stats

        if v.size < 2:
            return math.nan
        return float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    raise ValueError(f"unknown statistic {stat!r}")


def over_runs(frame: pd.DataFrame, by: str | Sequence[str], columns: Sequence[str],
              runs: pd.DataFrame | None = None, statuses: Sequence[str] | None = OK,
              stats: Sequence[str] = ("mean",)) -> pd.DataFrame:
    """Per group of ``by`` (one row per run in ``frame``, keyed by ``run_id``), the
    statistics of ``columns`` over the runs whose status is in ``statuses`` (None: all).

    Output, one row per group found in ``frame`` (also one where no run went in): the
    ``by`` columns; ``col`` holding ``stats[0]`` and ``col_<stat>`` the others (non-finite
    values are skipped); ``n_in``, the runs that went in; and with a status filter
    ``n_<status>`` for each status left out (``n_diverged``, ``n_failed``, ``n_stalled``
    and any other seen). ``status`` (and a missing ``by`` column) is taken from ``runs``
    by run id where ``frame`` has none."""
    import pandas as pd

    keys = [by] if isinstance(by, str) else list(by)
    need = [c for c in ("status", *keys) if c not in frame.columns]
    if need and statuses is None:
        need = [c for c in need if c != "status"]
    if need:
        if runs is None:
            raise KeyError(f"over_runs: {need} neither in the table nor given by runs")
        frame = frame.merge(runs[["run_id", *need]], on="run_id", how="left")
    left_out: list[str] = []
    if statuses is not None:
        seen = [s for s in dict.fromkeys(frame["status"].astype(str)) if s not in STATUSES]
        left_out = [s for s in (*STATUSES, *seen) if s not in statuses]
    groups = frame.groupby(keys, sort=True, dropna=False) if keys else [((), frame)]
    rows = []
    for key, grp in groups:
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        inside = grp if statuses is None else grp[grp["status"].isin(list(statuses))]
        for col in columns:
            for i, stat in enumerate(stats):
                row[col if i == 0 else f"{col}_{stat}"] = _stat(inside[col], stat)
        row["n_in"] = len(inside)
        for s in left_out:
            row[f"n_{s}"] = int((grp["status"] == s).sum())
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        out = pd.DataFrame(columns=[*keys, *columns, "n_in"])
    return out


def left_out_text(row: Any) -> str:
    """", 2 diverged left out" for a row of :func:`over_runs` (empty when none was)."""
    get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    parts = [f"{int(get(f'n_{s}', 0))} {s}" for s in STATUSES[1:]
             if get(f"n_{s}", 0) and int(get(f"n_{s}", 0))]
    return f", {' and '.join(parts)} left out" if parts else ""
