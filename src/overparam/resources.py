"""Memory guard: estimate the bytes a setting's arrays need and refuse what cannot fit.

``plan()`` calls :func:`check_memory` once the sweep is expanded, before any instance is
built, so a setting that could never run (a width of 10⁷, an NTK of 10⁵ rows, 10⁴ seeds of
a large network) is an error naming the field, not an out-of-memory kill hours later.

The estimate reads the problem families' code: what ``build_instance`` and ``prepare`` keep
per seed (data, weights, the stacked and device copies), what the compiled step holds while
it runs (gradients, the new iterate, the scan's double buffer, forward activations), the Gram
and NTK matrices a family forms when its options ask for them, and the logged rows (one
chunk on the device, the whole trace once the chunks are joined). The seeds of a setting run
together (vmapped), so per-seed terms are multiplied by the number of seeds; the one-off
set-up work (loss constants, theory at init) runs one seed at a time. Each term is a count of
float64 entries times the number of copies alive at once; the totals are meant to be right
within a factor of about 2, and the guard refuses only settings whose estimate exceeds the
available memory.

The available memory is what the operating system reports as available (psutil, else
``os.sysconf``), capped by a cgroup limit and, when JAX runs on an accelerator, by its free
memory. ``OVERPARAM_MEMORY`` (bytes, or a size such as ``64GiB``) replaces it.
"""

from __future__ import annotations

import gzip
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from overparam.errors import SpecError
from overparam.spec import (
    DatasetData,
    DeepLinear,
    InlineData,
    LinearClassifier,
    NpyData,
    Setting,
    Shallow,
    SphereData,
    SyntheticData,
    TwoLayerLinear,
    setting_dict,
)

FLOAT = 8  # bytes of a float64

#: Copies of the weights alive per seed while a setting runs: the instance's numpy arrays,
#: the stacked batch, the device copy, the carry's start (params0 / W0, V0), the gradients,
#: the new iterate and the scan's double buffer, plus the family's own temporaries.
PARAM_COPIES = {"two_layer_linear": 12.0, "deep_linear": 6.0, "linear_classifier": 5.0,
                "shallow": 10.0}
#: Copies of the data per seed: the instance, the stacked batch, the device copy.
DATA_COPIES = 3.0
#: Copies of one chunk's rows: the scan's output and the host's view of it.
CHUNK_COPIES = 2.0
#: Copies of the whole trace: the chunks kept, their concatenation and the steps tables.
TRACE_COPIES = 3.0
#: Activation-sized (width × samples) arrays of the shallow network's step: the
#: pre-activation, φ, φ', and the backward pass's products.
SHALLOW_ACTIVATION_COPIES = 6.0
#: Stage vectors a flow solver keeps per step, besides the weights themselves.
FLOW_STAGES = {"tsit5": 9, "dopri8": 16, "kvaerno5": 10}

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
def _resolve(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def npy_shape(path: Path) -> tuple[int, ...] | None:
    """The shape stored in a .npy header (None when the file cannot be read as one: the
    loader reports that with the field's name)."""
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
    shape = npy_shape(_resolve(path, base_dir))
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


def _data_field(data: Any) -> str:
    if isinstance(data, SyntheticData):
        return "problem.data.samples" if (data.samples or 0) > data.n else "problem.data.n"
    return "problem.data.X"


def _idx_count(folder: Path, name: str) -> tuple[int, int]:
    """(items, entries per item) from an IDX header in ``folder`` ((0, 0) when unreadable)."""
    for path in (folder / name, folder / f"{name}.gz"):
        if not path.is_file():
            continue
        try:
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as fh:
                head = fh.read(4)
                if len(head) < 4 or head[0] or head[1] or not head[3]:
                    return 0, 0
                dims = np.frombuffer(fh.read(4 * head[3]), dtype=">u4")
        except (OSError, EOFError, ValueError):
            return 0, 0
        if dims.size != head[3]:
            return 0, 0
        return int(dims[0]), int(np.prod(dims[1:], dtype=np.int64))
    return 0, 0


#: scikit-learn's digits: 1797 samples of 8×8 pixels.
DIGITS_SAMPLES, DIGITS_PIXELS = 1797, 64


def shallow_shape(data: Any, base_dir: Path) -> tuple[int, int, int, int, int]:
    """(d0, n, d2, n_test, full training set) of the shallow network's data."""
    if isinstance(data, SphereData):
        return data.input_dim(), data.n, data.d2, 0, data.n
    assert isinstance(data, DatasetData)
    if data.dataset() == "mnist":
        folder = _resolve(data.path, base_dir)
        n_full, d0 = _idx_count(folder, "train-images-idx3-ubyte")
        test_full, _ = _idx_count(folder, "t10k-images-idx3-ubyte")
    else:
        test_full = round(data.test_fraction * DIGITS_SAMPLES)
        n_full, d0 = DIGITS_SAMPLES - test_full, DIGITS_PIXELS
    n = min(data.n_train or n_full, n_full)
    n_test = min(data.n_test or test_full, test_full)
    return d0, n, 10, n_test, n_full


# ----------------------------------------------------------------- per family
def _rows_terms(setting: Setting, columns: int) -> list[Term]:
    """One chunk's rows (scan output) and the whole trace once the chunks are joined."""
    rows = setting.steps + 1
    chunk = min(setting.chunk, rows)
    return [
        Term("one chunk's rows", "chunk" if setting.chunk < rows else "steps",
             chunk * columns, CHUNK_COPIES, hint="lower chunk"),
        Term("the logged trace", "steps", rows * columns, TRACE_COPIES,
             hint="lower steps"),
    ]


def _columns(setting: Setting) -> int:
    """Numbers the compiled step logs per row: the family's loop columns, t, alive (, stop)."""
    from overparam import problems

    fam = problems.family(setting)
    cols = getattr(fam, "LOOP_COLUMNS", fam.COLUMNS)
    return len(cols) + 2 + (setting.problem.kind == "shallow")


def _two_layer(setting: Setting, base_dir: Path) -> list[Term]:
    prob: TwoLayerLinear = setting.problem
    samples, n, m = data_shape(prob.data, base_dir)
    h = prob.width
    terms = [
        # the loop carries the row-space coordinates (B1, B2): (n+m) × min(h, n+m)
        Term("weights W1, W2", "problem.width", (n + m) * min(h, n + m),
             PARAM_COPIES["two_layer_linear"]),
        Term("instances W1(0), W2(0) (host)", "problem.width", (n + m) * h, 1.0),
        Term("data X, Y", _data_field(prob.data), samples * (n + m), DATA_COPIES),
        # the (n+m)×h QR of the imbalance spectrum and W1 W2ᵀ at init, one seed at a time
        Term("set-up QR of [W1; W2]", "problem.width", (n + m) * h, 3.0, per_seed=False),
    ]
    if isinstance(prob.data, SyntheticData):  # Haar factors of the generators
        square = n * n + (samples * samples if prob.data.x == "spectrum" else 0)
        terms.append(Term("data generator", _data_field(prob.data), square, 3.0, per_seed=False))
    if prob.loss == "squared":
        terms.append(Term("XᵀX of the minimizer", "problem.data.n", n * n, 2.0, per_seed=False))
    else:  # Newton on W ∈ R^{n×m}: jax.hessian pushes nm tangents through the samples × m
        # logits, then the dense (nm)² Hessian
        terms.append(Term("Newton Hessian of the minimizer", "problem.data.n",
                          n * m * (samples * m + n * m), 3.0, per_seed=False))
    return terms


def _deep_size_field(prob: DeepLinear) -> str:
    return "problem.widths" if prob.widths is not None else "problem.hidden"


def _deep_linear(setting: Setting, base_dir: Path) -> list[Term]:
    prob: DeepLinear = setting.problem
    samples, nx, ny = data_shape(prob.data, base_dir)
    widths = prob.layer_widths(nx, ny)
    n0, nN, N = widths[0], widths[-1], len(widths) - 1
    size = _deep_size_field(prob)
    params = sum(widths[j] * widths[j - 1] for j in range(1, N + 1))
    k = min(n0, samples)
    terms = [
        Term("weights W_1 … W_N", size, params, PARAM_COPIES["deep_linear"]),
        # chains from the thin side: min(n0, nN) rows or columns per layer
        Term("partial products", size, min(n0, nN) * sum(widths), 3.0),
        Term("data X, Y, basis U, W*", _data_field(prob.data),
             samples * (n0 + nN) + n0 * k + 4 * nN * n0, DATA_COPIES),
        Term("SVD of X", _data_field(prob.data), n0 * k + k * samples, 2.0, per_seed=False),
    ]
    if N >= 3 and prob.sigma_min_inner_every:
        inner = widths[N - 1] * widths[1] + max(widths[j] for j in range(2, N)) * widths[1]
        terms.append(Term("σ_min(W_{N−1:2}) product and SVD", size, inner, 2.0,
                          hint="set problem.sigma_min_inner_every: 0"))
    if setting.init.kind in ("orthogonal", "balanced"):  # Haar factors, one layer at a time
        big = max(max(widths[j], widths[j - 1]) ** 2 for j in range(1, N + 1))
        terms.append(Term("Haar factors of the init", size, big, 3.0, per_seed=False))
    if prob.loss in ("logistic", "softmax"):  # Newton on B ∈ R^{nN×rank} with its Hessian
        r = k
        terms.append(Term("Newton Hessian of the minimizer", "problem.data.n",
                          3 * (nN * r) ** 2 + nN * r * samples, 1.0, per_seed=False))
    return terms


def _classifier_size_field(prob: LinearClassifier, j: int) -> str:
    """The field that sets n_j of [dim, n1, …, 1]."""
    if j == 0:
        return "problem.dim"
    return "problem.widths" if prob.widths is not None else "problem.hidden"


def _linear_classifier(setting: Setting, base_dir: Path) -> list[Term]:
    prob: LinearClassifier = setting.problem
    widths = prob.layer_widths()
    N, d = len(widths) - 1, prob.dim
    params = sum(widths[j + 1] * widths[j] for j in range(N))
    size = "problem.dim" if N == 1 or widths[0] >= max(widths[1:-1]) else \
        _classifier_size_field(prob, 1)
    dyn = prob.dynamics
    terms = [Term("layers W_1 … W_N", size, params, PARAM_COPIES["linear_classifier"])]
    if N >= 2:  # balance_drift forms W_{j+1}ᵀW_{j+1} and W_j W_jᵀ: n_j × n_j, 0 < j < N
        grams = sum(widths[j] ** 2 for j in range(1, N))
        terms.append(Term("balance Gram matrices", _classifier_size_field(prob, 1), grams, 2.0))
    samples = getattr(dyn, "samples", None)
    if samples:
        terms.append(Term("fixed sample", "problem.dynamics.samples", samples * (d + 1),
                          DATA_COPIES + 1))
    if dyn.kind == "sgd":
        terms.append(Term("SGD batch", "problem.dynamics.batch", dyn.batch * (d + 2), 3.0))
    if dyn.kind in ("flow", "induced_flow"):
        state = d if dyn.kind == "induced_flow" else params
        terms.append(Term("flow solver stages", size, state, FLOW_STAGES[dyn.solver]))
        if dyn.solver == "kvaerno5":  # implicit: the Newton iteration's dense Jacobian
            terms.append(Term("implicit solver Jacobian", size, state * state, 2.0,
                              hint="use solver: tsit5 or dopri8"))
    # the population loss on (angle nodes) × (radius nodes) of the plane rule
    angles, radii = 7 * 2**prob.quadrature_level + 1, 7 * 2**prob.radius_level
    field = ("problem.quadrature_level" if prob.quadrature_level >= prob.radius_level
             else "problem.radius_level")
    terms.append(Term("population-loss quadrature", field, angles * radii, 4.0))
    return terms


def _shallow(setting: Setting, base_dir: Path) -> list[Term]:
    from overparam.problems.shallow import GRAM_MAX, NTK_MAX

    prob: Shallow = setting.problem
    d0, n, d2, n_test, n_full = shallow_shape(prob.data, base_dir)
    h = prob.width
    n_field = "problem.data.n" if isinstance(prob.data, SphereData) else "problem.data.n_train"
    act_field = "problem.width" if h >= n else n_field
    lazy = 2.0 if prob.lazy else 1.0
    terms = [
        Term("weights W, V", "problem.width", h * (d0 + d2), PARAM_COPIES["shallow"] * lazy),
        Term("activations W X, φ, φ'", act_field, h * (n + 2 * n_test),
             SHALLOW_ACTIVATION_COPIES * lazy),
        Term("data X, Y", n_field, (d0 + d2) * (n + n_test), DATA_COPIES),
        # theory at init: W0 X and φ(W0 X), the smaller Gram of φ, one seed at a time
        Term("activations at init", act_field, h * n, 3.0, per_seed=False),
        Term("Gram of φ(W0 X)", act_field, min(h, n) ** 2, 2.0, per_seed=False),
    ]
    if prob.dynamics.kind == "sgd":  # a minibatch's activations and gathered columns
        b = min(prob.dynamics.batch, n)
        terms.append(Term("minibatch", "problem.dynamics.batch", h * b * lazy + (d0 + d2) * b,
                          SHALLOW_ACTIVATION_COPIES))
    if n <= GRAM_MAX:  # σ_min(X^{*t}) and the expected-kernel check: n × n matrices
        terms.append(Term("n × n kernels", n_field, n * n, 4.0, per_seed=False))
    ntk = d2 * n
    if ntk <= NTK_MAX:  # beyond it build_instance refuses the NTK with its own message
        if prob.ntk_every:
            terms.append(Term("NTK", n_field, ntk * ntk, 3.5, hint="set problem.ntk_every: 0"))
            terms.append(Term("NTK factors", "problem.width", h * ntk, 2.0,
                              hint="set problem.ntk_every: 0"))
        elif setting.schedule.eta == "ntk":
            terms.append(Term("NTK at init", n_field, ntk * ntk + 2 * h * ntk, 3.5,
                              per_seed=False))
    if isinstance(prob.data, DatasetData) and prob.data.labels == "teacher":
        tw = prob.data.teacher.width
        terms.append(Term("teacher", "problem.data.teacher.width",
                          tw * (n_full + d0 + 10), 4.0, per_seed=False))
    return terms


_FAMILIES = {"two_layer_linear": _two_layer, "deep_linear": _deep_linear,
             "linear_classifier": _linear_classifier, "shallow": _shallow}


def estimate(setting: Setting, seeds: int, base_dir: Path = Path(".")) -> Estimate:
    """The memory terms of one setting whose ``seeds`` seeds run together."""
    terms = _FAMILIES[setting.problem.kind](setting, Path(base_dir))
    terms += _rows_terms(setting, _columns(setting))
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
    """The error for a setting that needs more than ``available`` bytes."""
    seeds = est.seeds
    if seeds > 1 and est.one_seed <= available / 2:
        return SpecError("seeds", f"the {seeds} seeds of a setting run together and need about "
                         f"{format_bytes(est.total)}, more than the {format_bytes(available)} "
                         f"{where} (one seed needs about {format_bytes(est.one_seed)}); use "
                         f"fewer seeds, or set {ENV} to allow more")
    big = est.largest
    value = _value(est.setting, big.field)
    which = f"{big.field} = {value}, " if value else ""
    plural = "s" if seeds != 1 else ""
    fixes = ["lower it"] + ([big.hint] if big.hint else [])
    if seeds > 1:
        fixes.append("use fewer seeds")
    fixes.append(f"set {ENV} to allow more")
    return SpecError(big.field, f"the arrays of this setting ({which}{seeds} seed{plural}) need "
                     f"about {format_bytes(est.total)} ({big.what}: "
                     f"{format_bytes(big.total(seeds))}), more than the "
                     f"{format_bytes(available)} {where}; {', '.join(fixes[:-1])} or {fixes[-1]}")


def check_memory(settings: Sequence[Setting], seeds: int, base_dir: Path = Path("."),
                 available: int | None = None) -> Estimate | None:
    """Refuse the plan (SpecError) when its largest setting needs more memory than there is.
    Returns that setting's estimate (None for no settings)."""
    if not settings:
        return None
    worst = max((estimate(s, seeds, base_dir) for s in settings), key=lambda e: e.total)
    where = "available"
    if available is None:
        available, where = available_memory()
    if worst.total > available:
        raise refusal(worst, available, where)
    return worst


__all__ = ["Estimate", "Term", "available_memory", "check_memory", "estimate", "format_bytes",
           "parse_size"]
