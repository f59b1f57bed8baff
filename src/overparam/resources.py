"""Memory guard: estimate the bytes a setting's arrays need and refuse what cannot fit.

``plan()`` calls :func:`check_memory` once the sweep is expanded, before any instance is
built, so a setting that could never run (a width of 10⁷, an NTK of 10⁵ rows, 10⁴ seeds of
a large network) is an error naming the field, not an out-of-memory kill hours later.

The estimate reads the problem families' code: what ``build_instance`` and ``prepare`` keep
per seed (data, weights, the stacked and device copies), what the compiled step holds while
it runs (gradients, the new iterate, the scan's double buffer, forward activations), the Gram
and NTK matrices a family forms when its options ask for them, and the logged rows (one
chunk on the device, the whole trace once the chunks are joined). The seeds of a setting run
together (vmapped), so per-seed terms are multiplied by the number of seeds (seeds that do not
fit together run in batches of the most that do, :func:`seeds_per_batch`); the one-off
set-up work (loss constants, theory at init) runs one seed at a time. Each term is a count of
float64 entries times the number of copies alive at once; the totals are meant to be right
within a factor of about 2, and the guard refuses only settings whose estimate exceeds the
available memory.

The available memory is what the operating system reports as available (psutil, else
``os.sysconf``), capped by a cgroup limit and, when JAX runs on an accelerator, by its free
memory. ``OVERPARAM_MEMORY`` (bytes, or a size such as ``64GiB``) replaces it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from overparam.errors import SpecError
from overparam.spec.data import InlineData, NpyData, SyntheticData
from overparam.spec.setting import Setting, setting_dict

FLOAT = 8  # bytes of a float64

#: Each family's PARAM_COPIES (in overparam.memory.<kind>) counts the copies of its weights
#: alive per seed while a setting runs: the instance's numpy arrays, the stacked batch, the
#: device copy, the carry's start (params0 / W0, V0), the gradients, the new iterate and the
#: scan's double buffer, plus the family's own temporaries.
#: Copies of the data per seed: the instance, the stacked batch, the device copy.
DATA_COPIES = 3.0
#: Copies of one chunk's rows: the scan's output and the host's view of it.
CHUNK_COPIES = 2.0
#: Copies of the whole trace: the chunks kept, their concatenation and the steps tables.
TRACE_COPIES = 3.0

ENV = "OVERPARAM_MEMORY"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


@dataclass(frozen=True)
class Term:
    """One group of arrays: ``entries`` float64 numbers, ``copies`` of them alive at once,
    per seed (the seeds of a setting run together) or once, while the setting is set up
    (``per_seed`` False: work done one seed at a time, such as a loss's minimizer)."""

    what: str
    field: str
    entries: float
    copies: float = 1.0
    per_seed: bool = True
    hint: str = ""

    @property
    def nbytes(self) -> float:
        """Bytes of one copy (one seed's, for a per-seed term)."""
        return self.entries * FLOAT

    def total(self, seeds: int) -> float:
        return self.nbytes * self.copies * (seeds if self.per_seed else 1)


#: Above this many seeds, buckets are multiples of it (at most SEED_BUCKET − 1 padded seeds).
SEED_BUCKET = 8


def seed_bucket(n: int) -> int:
    """Seeds that really run together when n are asked for (the engine pads the seed axis so
    that nearby counts share one executable): the next power of two up to 8, then the next
    multiple of 8."""
    if n <= SEED_BUCKET:
        return 1 << max(n - 1, 0).bit_length()
    return -(-n // SEED_BUCKET) * SEED_BUCKET


def _combine(terms: Sequence[Term], seeds: int) -> float:
    """Per-seed terms are alive together; the set-up terms come one after another."""
    run = sum(t.total(seeds) for t in terms if t.per_seed)
    return run + max((t.total(seeds) for t in terms if not t.per_seed), default=0.0)


@dataclass(frozen=True)
class Estimate:
    """The terms of one setting with ``seeds`` seeds."""

    setting: Setting
    seeds: int
    terms: tuple[Term, ...]

    @property
    def total(self) -> float:
        """Bytes at the peak: every per-seed term (for the padded seed count), plus the largest
        set-up term."""
        return _combine(self.terms, seed_bucket(self.seeds))

    @property
    def one_seed(self) -> float:
        """What the setting needs with a single seed."""
        return _combine(self.terms, 1)

    @property
    def largest(self) -> Term:
        return max(self.terms, key=lambda t: t.total(seed_bucket(self.seeds)))

    def term(self, what: str) -> Term | None:
        """The term called ``what`` (None when the setting has none)."""
        return next((t for t in self.terms if t.what == what), None)


# ------------------------------------------------------------------ sizes of inputs


def resolve(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def npy_shape(path: Path) -> tuple[int, ...] | None:
    """The shape stored in a .npy header (None when the file cannot be read as one: the
    loader reports that with the field's name; a pipe or a device is never opened)."""
    if not Path(path).is_file():
        return None
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            body = os.fstat(fh.fileno()).st_size - fh.tell()
    except (OSError, ValueError, EOFError, SyntaxError):
        return None
    shape = tuple(int(s) for s in shape)
    if dtype.hasobject or body < math.prod(shape) * dtype.itemsize:  # a header that lies
        return None
    return shape


def _matrix_shape(path: Path, base_dir: Path) -> tuple[int, int]:
    """(rows, columns) of a data file as the loader reads it (a vector is one column)."""
    shape = npy_shape(resolve(path, base_dir))
    if shape is None or len(shape) not in (1, 2):
        return 0, 0
    return (shape[0], 1) if len(shape) == 1 else (shape[0], shape[1])


def data_shape(data: Any, base_dir: Path) -> tuple[int, int, int]:
    """(samples, input dimension, output dimension) of paper A/C data (0 when unreadable)."""
    if isinstance(data, SyntheticData):
        return data.samples or data.n, data.n, data.m
    if isinstance(data, InlineData):
        return len(data.X), len(data.X[0]), len(data.Y[0])
    if isinstance(data, NpyData):
        rows, nx = _matrix_shape(data.X, base_dir)
        _, ny = _matrix_shape(data.Y, base_dir)
        return rows, nx, ny
    return 0, 0, 0


def data_field(data: Any) -> str:
    if isinstance(data, SyntheticData):
        return "problem.data.samples" if (data.samples or 0) > data.n else "problem.data.n"
    return "problem.data.X"


def rows_terms(setting: Setting, columns: int) -> list[Term]:
    """One chunk's rows (scan output) and the whole trace once the chunks are joined."""
    rows = setting.steps + 1
    chunk = min(setting.chunk, rows)
    return [
        Term("one chunk's rows", "chunk" if setting.chunk < rows else "steps",
             chunk * columns, CHUNK_COPIES, hint="lower chunk"),
        Term("the logged trace", "steps", rows * columns, TRACE_COPIES,
             hint="lower steps"),
    ]


def estimate(setting: Setting, seeds: int, base_dir: Path = Path(".")) -> Estimate:
    """The memory terms of one setting whose ``seeds`` seeds run together."""
    from overparam.problems import registry

    terms = registry.get(setting.problem.kind).memory(setting, Path(base_dir))
    return Estimate(setting, seeds, tuple(t for t in terms if t.entries > 0))


# ------------------------------------------------------------------ available memory
def parse_size(text: str) -> int:
    """Bytes of ``12345``, ``16GiB``, ``16G``, ``512 MB`` (binary units either way)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtpe]?)(i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise SpecError(ENV, f"expected a size such as 16GiB or a number of bytes, got {text!r}")
    power = "bkmgtpe".index((m.group(2) or "b").lower())
    return int(float(m.group(1)) * 1024**power)


def format_bytes(n: float) -> str:
    """``37.2 GiB``: binary units, three significant digits."""
    n = float(n)
    i = 0
    while abs(n) >= 1024 and i < len(_UNITS) - 1:
        n /= 1024
        i += 1
    return f"{n:.0f} B" if i == 0 else f"{n:.1f} {_UNITS[i]}"


def _host_available() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_available() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2, else v1); None when unlimited."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit = _read_int(limit_file)
        if limit is not None and limit < 2**60:
            return max(limit - (_read_int(usage_file) or 0), 0)
    return None


def _device_available() -> int | None:
    """Free memory of JAX's first device when it is an accelerator (None on CPU)."""
    from overparam._jax import jax

    try:
        dev = jax.devices()[0]
    except RuntimeError:
        return None
    if dev.platform == "cpu":
        return None
    stats = dev.memory_stats() or {}
    limit = stats.get("bytes_limit")
    return int(limit - stats.get("bytes_in_use", 0)) if limit else None


def available_memory() -> tuple[int, str]:
    """(bytes a setting may use, where that number comes from)."""
    env = os.environ.get(ENV, "").strip()
    if env:
        return parse_size(env), f"set by {ENV}"
    avail, where = _host_available(), "available"
    cgroup = _cgroup_available()
    if cgroup is not None and cgroup < avail:
        avail, where = cgroup, "available to this process's cgroup"
    device = _device_available()
    if device is not None and device < avail:
        avail, where = device, "free on the accelerator"
    return avail, where


# ------------------------------------------------------------------ the guard
def _value(setting: Setting, field: str) -> str:
    cur: Any = setting_dict(setting)
    for part in field.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    shown = repr(cur) if not isinstance(cur, str) else cur
    return shown if len(shown) <= 60 else shown[:57] + "..."


def refusal(est: Estimate, available: int, where: str = "available") -> SpecError:
    """The error for a setting whose one seed needs more than ``available`` bytes."""
    big = est.largest
    value = _value(est.setting, big.field)
    which = f"{big.field} = {value}, " if value else ""
    fixes = ["lower it"] + ([big.hint] if big.hint else []) + [f"set {ENV} to allow more"]
    return SpecError(big.field, f"the arrays of this setting ({which}one seed) need "
                     f"about {format_bytes(est.total)} ({big.what}: "
                     f"{format_bytes(big.total(1))}), more than the "
                     f"{format_bytes(available)} {where}; {', '.join(fixes[:-1])} or {fixes[-1]}")


def check_memory(settings: Sequence[Setting], seeds: int, base_dir: Path = Path("."),
                 available: int | None = None) -> Estimate | None:
    """Refuse the plan (SpecError) when one seed of its largest setting needs more memory
    than there is; more seeds than fit together run in several batches
    (:func:`seeds_per_batch`). Returns that setting's estimate for one seed (None for no
    settings)."""
    if not settings:
        return None
    worst = max((estimate(s, 1, base_dir) for s in settings), key=lambda e: e.total)
    where = "available"
    if available is None:
        available, where = available_memory()
    if worst.total > available:
        raise refusal(worst, available, where)
    return worst


def seeds_per_batch(setting: Setting, seeds: int, base_dir: Path = Path("."),
                    available: int | None = None) -> int:
    """How many of a setting's ``seeds`` run together (vmapped): all of them when they fit
    in memory, else the most that do, at least one."""
    if available is None:
        available = available_memory()[0]
    if estimate(setting, seeds, base_dir).total <= available:
        return seeds
    lo, hi = 1, seeds  # estimate(lo) fits (check_memory saw to it), estimate(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if estimate(setting, mid, base_dir).total <= available else (lo, mid)
    return lo


__all__ = ["Estimate", "Term", "available_memory", "check_memory", "estimate", "format_bytes",
           "parse_size", "seeds_per_batch"]
