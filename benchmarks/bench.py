"""Benchmark: overparam vs a plain NumPy reference on paper A's Fig 1 experiment.

Sections (one invocation runs them all; ``--sections`` picks a subset):

(a) whole process: ``overparam run local-pl/bound-tightness`` as a subprocess vs
    ``benchmarks/numpy_reference.py`` as a subprocess (measured on a few seeds per setting,
    extrapolated linearly to all seeds);
(b) in process: a warm ``overparam.run`` (executables compiled by a warm-up call) vs the
    reference's ``run_one`` called in this process (measured runs, extrapolated);
(c) scaling of the per-run theory constants with the width (log-log exponent), beside the
    direct O(h³) ``eigvalsh`` of the h×h imbalance D(0);
(d) compile share of a quick run in a fresh process;
(e) one GD step of paper C's deep linear network at hidden widths 2000 and 5000: achieved
    GFLOP/s against the machine's matmul throughput on the same products, and the ratio
    against a plain NumPy loop (``benchmarks/deep_linear_bench.py``).

Prints one table and writes every number to ``bench-results.json`` in the repository root
(``--quick``: to the temp folder, so a smoke run never overwrites the full numbers).
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import deep_linear_bench as dlb  # noqa: E402
import numpy_reference as ref  # noqa: E402

EXPERIMENT = "local-pl/bound-tightness"
TARGET_SPEEDUP = 10.0
SCHEDULES = ref.SCHEDULES


# --------------------------------------------------------------------------------- config
@dataclass
class Config:
    """Sizes of one benchmark invocation."""

    quick: bool
    widths: list[int]
    noises: list[float]
    seeds: int
    steps: int
    numpy_seeds: int
    repeats: int
    op_repeats: int
    theory_widths: list[int]
    inproc_noise: float
    sections: list[str]
    deep_widths: list[int]
    deep_steps: int
    numpy_threads: str
    json_path: Path
    keep: bool
    runs_per_width: int = field(init=False)

    def __post_init__(self) -> None:
        self.runs_per_width = len(self.noises) * len(SCHEDULES) * self.seeds

    def op_sets(self, widths: Sequence[int] | None = None,
                noises: Sequence[float] | None = None) -> dict[str, Any]:
        """``overparam.run`` overrides selecting this config's grid (or a part of it)."""
        return {"sweep.problem.width": list(widths or self.widths),
                "sweep.problem.data.noise": list(noises or self.noises)}

    def cli_overrides(self) -> list[str]:
        """CLI flags for the same grid; none at full size (the experiment's defaults)."""
        if not self.quick:
            return []
        return ["--seeds", str(self.seeds), "--steps", str(self.steps),
                "--set", f"sweep.problem.width={json.dumps(self.widths)}",
                "--set", f"sweep.problem.data.noise={json.dumps(self.noises)}"]


def make_config(a: argparse.Namespace) -> Config:
    """Full size (paper A Fig 1) or the ``--quick`` smoke size."""
    if a.quick:
        return Config(quick=True, widths=[100, 200], noises=[0.1, 3.0], seeds=3, steps=20,
                      numpy_seeds=a.numpy_seeds or 2, repeats=3, op_repeats=3,
                      theory_widths=[100, 200, 400, 800], inproc_noise=0.3,
                      sections=a.sections, deep_widths=[300, 600], deep_steps=10,
                      numpy_threads=a.numpy_threads,
                      json_path=a.json or Path(tempfile.gettempdir()) / "overparam-bench-results-quick.json",
                      keep=a.keep)
    seeds = 30
    ns = seeds if a.numpy_full else (a.numpy_seeds or 2)
    return Config(quick=False, widths=list(ref.WIDTHS), noises=list(ref.NOISES), seeds=seeds,
                  steps=200, numpy_seeds=min(ns, seeds), repeats=a.repeats,
                  op_repeats=a.op_repeats,
                  theory_widths=[500, 1000, 2000, 4000], inproc_noise=0.1,
                  sections=a.sections, deep_widths=[2000, 5000], deep_steps=30,
                  numpy_threads=a.numpy_threads,
                  json_path=a.json or ROOT / "bench-results.json", keep=a.keep)


# --------------------------------------------------------------------------------- helpers
def stats(xs: Sequence[float]) -> dict[str, Any]:
    """min / median / max / n of repeated timings (and the values)."""
    v = [float(x) for x in xs]
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v), "values": v}


def fmt_s(x: float) -> str:
    """Seconds, human-readable."""
    if not math.isfinite(x):
        return str(x)
    if x >= 3600:
        return f"{x / 3600:.2f} h"
    if x >= 60:
        return f"{x / 60:.1f} min"
    if x >= 1:
        return f"{x:.2f} s"
    return f"{x * 1e3:.1f} ms"


def fmt_stats(s: dict[str, Any]) -> str:
    """'median (min–max, n=…)' of a stats dict."""
    if s["n"] == 1:
        return f"{fmt_s(s['min'])} (n=1)"
    return f"{fmt_s(s['median'])} ({fmt_s(s['min'])}–{fmt_s(s['max'])}, n={s['n']})"


def log(msg: str) -> None:
    """Progress line on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def overparam_cmd() -> list[str]:
    """The ``overparam`` console script of this interpreter's environment."""
    exe = Path(sys.executable).parent / "overparam"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "overparam.cli"]


def timed_subprocess(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command, return (wall seconds, stdout); raise with its output tail on failure."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n"
                           f"{p.stderr[-3000:]}")
    return wall, p.stdout


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in output")


def loglog_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Slope of log y against log x (least squares)."""
    return float(np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)[0])


# ------------------------------------------------------------------------ BLAS threads
_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_", "openblas_set_num_threads")
_BLAS_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                 "openblas_get_num_threads64_", "openblas_get_num_threads")


def _openblas_libs() -> list[ctypes.CDLL]:
    """OpenBLAS copies loaded in this process (NumPy's and SciPy's wheels each ship one)."""
    try:
        paths = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                 if "openblas" in line.lower() and line.split()[-1].startswith("/")}
    except OSError:
        return []
    return [ctypes.CDLL(p) for p in sorted(paths)]


def blas_threads(n: int | None) -> int | None:
    """Set the OpenBLAS thread count of every loaded copy (None: leave); return NumPy's old one."""
    old = None
    for lib in _openblas_libs():
        get = next((getattr(lib, s) for s in _BLAS_GETTERS if hasattr(lib, s)), None)
        put = next((getattr(lib, s) for s in _BLAS_SETTERS if hasattr(lib, s)), None)
        if get is not None and old is None:
            old = int(get())
        if put is not None and n is not None:
            put(ctypes.c_int(n))
    return old


def thread_env(n: int | None) -> dict[str, str]:
    """Environment for a NumPy subprocess with ``n`` BLAS threads (None: inherited default)."""
    env = dict(os.environ)
    if n is not None:
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[k] = str(n)
    return env


_CALIBRATE = """
import time, numpy as np
rng = np.random.default_rng(0)
W = rng.standard_normal((20, 2000)); A = W * np.r_[np.ones(10), -np.ones(10)][:, None]
D = A.T @ W
t = time.perf_counter()
np.linalg.eigvalsh(D)
for _ in range(10):
    np.linalg.norm(A.T @ W - D)
print(time.perf_counter() - t)
"""


def choose_numpy_threads(mode: str) -> dict[str, Any]:
    """Pick the reference's BLAS threads: '1', 'default', or 'auto' (the faster of the two).

    'auto' times a small mix (eigvalsh of a 2000×2000 D, ten h×h Gram + norm passes) in
    fresh processes, so the reference gets its most favourable setting on this machine
    (multi-threaded OpenBLAS on a loaded machine can be orders of magnitude slower).
    """
    if mode in ("1", "default"):
        return {"mode": mode, "threads": 1 if mode == "1" else None}
    times: dict[str, float] = {}
    for name, n in (("1", 1), ("default", None)):
        best = math.inf
        for _ in range(2):
            # A thrashing thread setting is cut off once it is clearly the slower one.
            limit = None if name == "1" else 4.0 * times["1"] + 1.0
            try:
                p = subprocess.run([sys.executable, "-c", _CALIBRATE], env=thread_env(n),
                                   capture_output=True, text=True, timeout=limit, check=True)
            except subprocess.TimeoutExpired:
                break
            best = min(best, float(p.stdout.strip().splitlines()[-1]))
        times[name] = best
    pick = min(times, key=lambda k: times[k])
    return {"mode": "auto", "threads": 1 if pick == "1" else None, "picked": pick,
            "calibration_s": {k: (v if math.isfinite(v) else None) for k, v in times.items()},
            "note": "calibration_s null: cut off at 4× the one-thread time + 1 s"}


# ----------------------------------------------------------------------------- sections
def section_a(cfg: Config, tmp: Path, threads: int | None) -> dict[str, Any]:
    """Whole process: the CLI run vs the reference script (measured seeds, extrapolated)."""
    cmd = [*overparam_cmd(), "run", EXPERIMENT, "--out", str(tmp / "a-overparam"),
           "--no-progress", *cfg.cli_overrides()]
    log(f"(a) {' '.join(cmd[-6:]) if cfg.quick else ' '.join(cmd)}")
    op_wall, _ = timed_subprocess(cmd)
    manifest = json.loads((tmp / "a-overparam" / EXPERIMENT.replace("/", "__")
                           / "manifest.json").read_text())
    log(f"(a) overparam: {fmt_s(op_wall)}; reference on {cfg.numpy_seeds} seed(s)/setting")
    rcmd = [sys.executable, str(BENCH_DIR / "numpy_reference.py"),
            "--widths", *map(str, cfg.widths), "--seeds", str(cfg.numpy_seeds),
            "--steps", str(cfg.steps), "--noises", *map(str, cfg.noises)]
    ref_wall, out = timed_subprocess(rcmd, env=thread_env(threads))
    rj = last_json_line(out)
    factor = cfg.seeds / cfg.numpy_seeds
    overhead = ref_wall - rj["runs_seconds"]
    per_width = {}
    for w, d in rj["widths"].items():
        per_width[w] = {**d, "extrapolated_seconds": d["seconds"] * factor}
    extrap = overhead + rj["runs_seconds"] * factor
    log(f"(a) reference: measured {fmt_s(ref_wall)}, extrapolated {fmt_s(extrap)}")
    op_runs = _op_runs_summary(tmp / "a-overparam")
    return {
        "overparam": {"wall_s": op_wall, "manifest_timings": manifest["timings"],
                      "command": " ".join(cmd[1:]), "runs": cfg.runs_per_width * len(cfg.widths),
                      "per_width": op_runs},
        "numpy": {"measured_wall_s": ref_wall, "measured_runs_s": rj["runs_seconds"],
                  "process_overhead_s": overhead, "measured_seeds_per_setting": cfg.numpy_seeds,
                  "extrapolated_to_seeds": cfg.seeds, "extrapolation_factor": factor,
                  "extrapolated_wall_s": extrap, "is_extrapolated": factor != 1.0,
                  "per_width": per_width, "command": " ".join(rcmd[1:])},
        "speedup": extrap / op_wall,
    }


def _op_runs_summary(out: Path) -> dict[str, Any]:
    """Per width: overparam's seconds (from runs.parquet) and α1/α2, η0 means (sanity check)."""
    import pandas as pd

    runs = pd.read_parquet(out / EXPERIMENT.replace("/", "__") / "runs.parquet")
    res: dict[str, Any] = {}
    for w, g in runs.groupby("problem.width"):
        batches = g.drop_duplicates(["schedule.kind", "problem.data.noise"])
        res[str(int(w))] = {
            "runs": len(g), "wall_s_sum": float(g["wall_s"].sum()),
            "run_s_sum_batches": float(batches["run_s"].sum()),
            "compile_s_sum_batches": float(batches["compile_s"].sum()),
            "theory_s_sum": float(g["theory_s"].sum()),
            "alpha_ratio_mean": float((g["alpha1"] / g["alpha2"]).mean()),
            "eta0_mean": float(g["eta0"].mean()),
        }
    return res


def _op_run(cfg: Config, out: Path, **sets: Any) -> tuple[float, dict[str, Any]]:
    """One in-process ``overparam.run`` into a fresh folder; (wall seconds, manifest timings)."""
    import overparam as op

    t0 = time.perf_counter()
    res = op.run(EXPERIMENT, out=out, quick=False, seeds=cfg.seeds, steps=cfg.steps,
                 sets=cfg.op_sets(**sets))
    wall = time.perf_counter() - t0
    return wall, res.manifest["timings"]


def section_b(cfg: Config, tmp: Path, threads: int | None) -> dict[str, Any]:
    """In process: warm ``overparam.run`` vs the reference's ``run_one`` (extrapolated).

    The warm-up call runs every (width, schedule) at one noise level, which compiles every
    executable the timed calls need (the noise level does not change the shapes). Per-width
    overparam seconds come from the timed runs' own ``wall_s`` (``runs.parquet``).
    """
    log("(b) warm-up overparam.run (all widths × schedules, one noise level: compiles all)")
    warm_wall, warm_t = _op_run(cfg, tmp / "b-warmup", noises=[cfg.noises[0]])
    whole, whole_t, per_width_runs = [], [], []
    for r in range(cfg.op_repeats):
        log(f"(b) warm overparam.run, whole grid, repeat {r + 1}/{cfg.op_repeats}")
        w, t = _op_run(cfg, tmp / f"b-whole-{r}")
        whole.append(w)
        whole_t.append(t)
        per_width_runs.append(_op_runs_summary(tmp / f"b-whole-{r}"))
        shutil.rmtree(tmp / f"b-whole-{r}", ignore_errors=True)
    per_width_op = {
        str(h): {"width_wall": stats([pw[str(h)]["wall_s_sum"] for pw in per_width_runs]),
                 "per_run_s": stats([pw[str(h)]["wall_s_sum"] / pw[str(h)]["runs"]
                                     for pw in per_width_runs])}
        for h in cfg.widths}

    old = blas_threads(threads)
    per_width_np: dict[str, Any] = {}
    try:
        for h in cfg.widths:
            reps = cfg.repeats if h < max(cfg.widths) else 1
            per_sched: dict[str, Any] = {}
            for sch in SCHEDULES:
                log(f"(b) reference run_one width {h} {sch}, {reps} repeat(s)")
                per_sched[sch] = stats([ref.run_one(h, cfg.inproc_noise, sch, 0, cfg.steps).total_s
                                        for _ in range(reps)])
            per_run = statistics.mean(s["median"] for s in per_sched.values())
            per_width_np[str(h)] = {
                "per_schedule_run_s": per_sched, "per_run_s": per_run,
                "extrapolated_width_s": per_run * cfg.runs_per_width,
                "speedup_per_run": per_run / per_width_op[str(h)]["per_run_s"]["median"],
            }
    finally:
        blas_threads(old)
    np_total = sum(d["extrapolated_width_s"] for d in per_width_np.values())
    op_whole = stats(whole)
    return {
        "overparam": {"warmup_wall_s": warm_wall, "warmup_timings": warm_t,
                      "whole_wall": op_whole, "whole_timings": whole_t,
                      "whole_compile_s": [t["compile_s"] for t in whole_t],
                      "per_width": per_width_op},
        "numpy": {"measured": f"run_one per (width, schedule), noise {cfg.inproc_noise}, seed 0; "
                              f"{cfg.repeats} repeats below the largest width, 1 at it",
                  "extrapolated_to": f"{len(cfg.noises)} noises × {cfg.seeds} seeds per schedule",
                  "per_width": per_width_np, "extrapolated_whole_s": np_total},
        "speedup": np_total / op_whole["median"],
    }


def section_c(cfg: Config, threads: int | None) -> dict[str, Any]:
    """Theory constants vs width (exponent) and the direct eigvalsh of D(0) for contrast."""
    from overparam.problems import two_layer_linear as tlp
    from overparam.runner import plan
    from overparam.theory import local_pl as th

    reps = max(cfg.repeats, 3)
    rows: dict[str, Any] = {}
    for h in cfg.theory_widths:
        p = plan(EXPERIMENT, seeds=1, steps=cfg.steps,
                 sets=[("sweep.problem.width", [h]), ("sweep.problem.data.noise", [0.1]),
                       ("sweep.schedule.kind", ["local_pl"])])
        setting = p.settings[0]
        inst = tlp.build_instance(setting, p.spec.seed, p.base_dir)
        log(f"(c) theory_constants width {h}")
        tlp.theory_constants(setting, inst)  # warm-up (jax dispatch caches)
        tc = _repeat(lambda s=setting, i=inst: tlp.theory_constants(s, i), reps)
        t2 = _repeat(lambda i=inst: th.table2_constants(i.W1, i.W2, i.W_star, i.K, i.mu), reps)
        old = blas_threads(threads)
        try:
            direct = _repeat(lambda i=inst: np.linalg.eigvalsh(ref.imbalance(i.W1, i.W2)), reps)
        finally:
            blas_threads(old)
        rows[str(h)] = {"theory_constants": stats(tc), "table2_constants": stats(t2),
                        "direct_eigvalsh_D0": stats(direct)}
    ws = cfg.theory_widths
    ex = {k: loglog_exponent(ws, [rows[str(h)][k]["min"] for h in ws])
          for k in ("theory_constants", "table2_constants", "direct_eigvalsh_D0")}
    return {"widths": rows, "exponents": ex, "repeats": reps,
            "theory_constants_subcubic": ex["theory_constants"] < 1.5}


def _repeat(f: Callable[[], object], n: int) -> list[float]:
    """Wall seconds of n calls of f."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return out


_QUICK_RUN = """
import json, sys, time
t0 = time.perf_counter()
import overparam as op
t1 = time.perf_counter()
kw = json.loads(sys.argv[2])
r = op.run("local-pl/bound-tightness", quick=True, out=sys.argv[1], **kw)
print(json.dumps({"import_s": t1 - t0, "run_call_s": time.perf_counter() - t1,
                  "timings": r.manifest["timings"], "runs": len(r.runs)}))
"""


def section_d(cfg: Config, tmp: Path) -> dict[str, Any]:
    """Compile share of a quick run (``op.run(..., quick=True)``) in a fresh process."""
    kw = {"seeds": cfg.seeds, "steps": cfg.steps} if cfg.quick else {}
    log(f"(d) quick run in a fresh process {kw or ''}")
    wall, out = timed_subprocess([sys.executable, "-c", _QUICK_RUN, str(tmp / "d"), json.dumps(kw)])
    row = last_json_line(out)
    t = row["timings"]
    return {"process_wall_s": wall, **row, "overrides": kw,
            "compile_share": t["compile_s"] / t["total_s"]}


# ---------------------------------------------------------------------------- reporting
def environment(numpy_threads: dict[str, Any]) -> dict[str, Any]:
    """Machine, versions, load and the git state (read-only)."""
    import jax
    import scipy

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "numpy": np.__version__, "scipy": scipy.__version__,
        "jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()],
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty_files": [ln for ln in git("status", "--porcelain").splitlines() if ln],
        "numpy_reference_blas_threads": numpy_threads,
        "blas_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
    }


def table_rows(cfg: Config, res: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(part, overparam, numpy reference, ratio, note) rows of the final table."""
    rows: list[tuple[str, str, str, str, str]] = []
    k, S = cfg.numpy_seeds, cfg.seeds
    if "a" in res:
        a = res["a"]
        npd = a["numpy"]
        note = ("reference MEASURED on all seeds" if not npd["is_extrapolated"] else
                f"reference MEASURED {fmt_s(npd['measured_wall_s'])} on {k} seed(s)/setting, "
                f"EXTRAPOLATED ×{npd['extrapolation_factor']:g} to {S}")
        rows.append(("(a) whole process, full grid", fmt_s(a["overparam"]["wall_s"]),
                     fmt_s(npd["extrapolated_wall_s"]), f"{a['speedup']:.1f}×", note))
        for w, d in npd["per_width"].items():
            op_w = a["overparam"]["per_width"].get(w, {})
            rows.append((f"(a)   width {w}: seconds in runs", fmt_s(op_w.get("wall_s_sum", math.nan)),
                         fmt_s(d["extrapolated_seconds"]),
                         f"{d['extrapolated_seconds'] / op_w['wall_s_sum']:.1f}×" if op_w else "",
                         f"ref measured {fmt_s(d['seconds'])} ({d['runs']} runs); α1/α2 "
                         f"{op_w.get('alpha_ratio_mean', math.nan):.3f} vs "
                         f"{d['alpha_ratio_mean']:.3f}"))
    if "b" in res:
        b = res["b"]
        rows.append(("(b) in process, warm, full grid", fmt_stats(b["overparam"]["whole_wall"]),
                     fmt_s(b["numpy"]["extrapolated_whole_s"]), f"{b['speedup']:.1f}×",
                     "reference EXTRAPOLATED from one run per (width, schedule); overparam "
                     f"warm-up (compiles) took {fmt_s(b['overparam']['warmup_wall_s'])}, "
                     f"timed runs compiled {fmt_s(max(b['overparam']['whole_compile_s']))}"))
        for w, d in b["numpy"]["per_width"].items():
            o = b["overparam"]["per_width"][w]
            rows.append((f"(b)   width {w}, per run", fmt_stats(o["per_run_s"]),
                         fmt_s(d["per_run_s"]), f"{d['speedup_per_run']:.1f}×",
                         "overparam: batch wall / seeds (runs.parquet wall_s); reference: "
                         "MEASURED run_one, mean over schedules of the median"))
    if "c" in res:
        c = res["c"]
        for w, d in c["widths"].items():
            rows.append((f"(c) theory constants, width {w}", fmt_stats(d["theory_constants"]),
                         fmt_stats(d["direct_eigvalsh_D0"]),
                         f"{d['direct_eigvalsh_D0']['min'] / d['theory_constants']['min']:.1f}×",
                         f"reference column: eigvalsh of the explicit h×h D(0) only; "
                         f"table2_constants alone {fmt_s(d['table2_constants']['min'])} (min)"))
        ex = c["exponents"]
        rows.append(("(c) log-log exponent in width", f"{ex['theory_constants']:.2f}",
                     f"{ex['direct_eigvalsh_D0']:.2f}", "",
                     f"table2_constants alone {ex['table2_constants']:.2f}; "
                     + ("< 1.5: linear or better (fixed costs dominate below 1)"
                        if c["theory_constants_subcubic"] else "≥ 1.5: NOT linear")))
    if "e" in res:
        for w, d in res["e"]["widths"].items():
            rows.append((f"(e) deep linear step, width {w}", fmt_stats(d["overparam_step_s"]),
                         fmt_stats(d["numpy_loop_step_s"]), f"{d['speedup_vs_numpy_loop']:.1f}×",
                         f"{d['achieved_gflops']:.1f} GFLOP/s achieved vs {d['matmul_gflops']:.1f} "
                         f"GFLOP/s matmul on the same products = "
                         f"{100 * d['share_of_matmul']:.0f}% (target "
                         f"≥{100 * dlb.TARGET_MATMUL_SHARE:.0f}%); NumPy loop does "
                         f"{d['numpy_loop_flops_per_step'] / d['flops_per_step']:.0f}× the flops"))
    if "d" in res:
        d = res["d"]
        t = d["timings"]
        rows.append(("(d) quick run, fresh process", fmt_s(t["total_s"]), "", "",
                     f"compile_s {fmt_s(t['compile_s'])} = {100 * d['compile_share']:.0f}% of "
                     f"total_s; process wall {fmt_s(d['process_wall_s'])}"))
    return rows


def print_table(cfg: Config, res: dict[str, Any]) -> None:
    """The summary table (rich if available, else plain text)."""
    rows = table_rows(cfg, res)
    title = (f"overparam vs NumPy reference — {EXPERIMENT}, widths {cfg.widths}, "
             f"{cfg.seeds} seeds, {cfg.steps} steps{' (QUICK smoke)' if cfg.quick else ''}")
    head = ("part", "overparam", "numpy reference", "speedup", "note")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        for r in (head, *rows):
            print(" | ".join(r))
    else:
        t = Table(*head, title=title, show_lines=False)
        for r in rows:
            t.add_row(*r)
        Console(width=200).print(t)
    for key in ("a", "b"):
        if key in res:
            s = res[key]["speedup"]
            if cfg.quick:
                print(f"({key}) speedup {s:.1f}× at smoke sizes (compile and I/O dominate; the "
                      f"≥{TARGET_SPEEDUP:g}× target applies to the full size only)")
            else:
                verdict = "meets" if s >= TARGET_SPEEDUP else "MISSES"
                print(f"({key}) speedup {s:.1f}× {verdict} the ≥{TARGET_SPEEDUP:g}× target")


# --------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    """Parse options, run the sections, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke version: widths 100, 200; 3 seeds; 20 steps (< 2 minutes)")
    p.add_argument("--numpy-seeds", type=int, default=None,
                   help="seeds per setting measured for the reference in (a) (default 2)")
    p.add_argument("--numpy-full", action="store_true",
                   help="run the reference on all 30 seeds in (a) (hours at width 4000)")
    p.add_argument("--numpy-threads", choices=("auto", "1", "default"), default="auto",
                   help="BLAS threads of the reference (auto: the faster of 1 and default)")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the cheap timings")
    p.add_argument("--op-repeats", type=int, default=1,
                   help="repeats of the warm whole-grid overparam.run in (b) (--quick: 3)")
    p.add_argument("--sections", nargs="+", default=["a", "b", "c", "d", "e"],
                   choices=("a", "b", "c", "d", "e"))
    p.add_argument("--json", type=Path, default=None, help="where to write the results")
    p.add_argument("--keep", action="store_true", help="keep the temporary result folders")
    a = p.parse_args(argv)
    cfg = make_config(a)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    nt = choose_numpy_threads(cfg.numpy_threads)
    log(f"reference BLAS threads: {nt}")
    threads = nt["threads"]
    tmp = Path(tempfile.mkdtemp(prefix="overparam-bench-"))
    res: dict[str, Any] = {}
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "a": lambda: section_a(cfg, tmp, threads), "b": lambda: section_b(cfg, tmp, threads),
        "c": lambda: section_c(cfg, threads), "d": lambda: section_d(cfg, tmp),
        "e": lambda: dlb.section_e(cfg.deep_widths, cfg.deep_steps, numpy_steps=cfg.repeats,
                                   repeats=cfg.repeats, log=log)}
    errors: dict[str, str] = {}
    try:
        for key in ("a", "b", "c", "d", "e"):
            if key not in cfg.sections:
                continue
            t0 = time.perf_counter()
            try:
                res[key] = runners[key]()
            except Exception as exc:  # a failed section must not lose the others' numbers
                errors[key] = f"{type(exc).__name__}: {exc}"
                log(f"({key}) FAILED: {errors[key][:2000]}")
                continue
            res[key]["section_wall_s"] = time.perf_counter() - t0
    finally:
        if cfg.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "environment": environment(nt),
        "load_average_start_end": [list(load0), list(os.getloadavg())],
        "bench_wall_s": time.perf_counter() - t_start,
        "target_speedup": TARGET_SPEEDUP,
        "results": res,
        "errors": errors,
    }
    cfg.json_path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print_table(cfg, res)
    print(f"bench wall {fmt_s(out['bench_wall_s'])}; load average (1, 5, 15 min) at start "
          f"{tuple(round(x, 2) for x in load0)}, at end "
          f"{tuple(round(x, 2) for x in os.getloadavg())}; results: {cfg.json_path}")
    for key, msg in errors.items():
        print(f"({key}) FAILED: {msg.splitlines()[0] if msg else ''}")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
