"""Benchmark: overparam against plain NumPy loops, and its scale-out over Dask workers.

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
    against a plain NumPy loop (``benchmarks/deep_linear_bench.py``);
(f) one GD step of paper B's shallow network V·φ(WX) at widths d1 = 1000 and 4000 against
    a plain NumPy loop over the seeds, with GFLOP/s and the loss-curve agreement
    (``benchmarks/shallow_bench.py``);
(g) Dask scale-out: ``overparam run`` with the local executor and with
    ``--executor dask --workers 1, 2, 4``; speed-ups and efficiency;
(h) paper A Fig 1 with the local_pl schedule only (widths 500/1000/4000 × 3 noises × 30
    seeds × 200 steps): ``overparam run`` as a subprocess with a warm compilation cache
    (one untimed run fills it), repeated, against ``numpy_reference.py --schedules local_pl``;
    the whole grid, and width 500 alone (whole process and per run);
(i) the generic probe: GD on the edge-of-stability MLP with the sharpness every 10 steps
    against plain GD steps, and against scipy's ``eigsh`` on jitted Hessian-vector products
    in a per-seed Python loop (``benchmarks/probe_bench.py``).

Prints one table, one line per measurement with the same columns for every row (median and
[min–max] over repeats of the times, the ratio against the reference, GFLOP/s, the scaling
exponent), and writes every number to ``bench-results.json`` in the repository root
(``--quick``: to the temp folder, so a smoke run never overwrites the full numbers): the
uniform rows under ``table``, each section's raw numbers under ``results``.
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
import probe_bench as pb  # noqa: E402
import shallow_bench as sb  # noqa: E402

EXPERIMENT = "local-pl/bound-tightness"
TARGET_SPEEDUP = 10.0
SCHEDULES = ref.SCHEDULES
SECTIONS = ("a", "b", "c", "d", "e", "f", "g", "h", "i")


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
    shallow_widths: list[int]
    shallow_seeds: int
    shallow_steps: int
    dask_workers: list[int]
    dask_repeats: int
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
                      shallow_widths=[250, 500], shallow_seeds=2, shallow_steps=10,
                      dask_workers=a.dask_workers, dask_repeats=a.dask_repeats or 2,
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
                  shallow_widths=[1000, 4000], shallow_seeds=4, shallow_steps=50,
                  dask_workers=a.dask_workers, dask_repeats=a.dask_repeats or 1,
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


def per_repeat_exponents(xs: Sequence[float], series: Sequence[Sequence[float]]) -> list[float]:
    """One log-log slope per repeat: repeat r's timings across the widths ``xs``
    (``series[i]`` holds the repeats at ``xs[i]``; the common number of repeats is used)."""
    n = min(len(v) for v in series)
    return [loglog_exponent(xs, [v[r] for v in series]) for r in range(n)]


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
            # repeat i: the mean over schedules of each schedule's i-th run
            per_run_values = [statistics.mean(s["values"][i] for s in per_sched.values())
                              for i in range(reps)]
            per_width_np[str(h)] = {
                "per_schedule_run_s": per_sched, "per_run_s": per_run,
                "per_run": stats(per_run_values),
                "extrapolated_width_s": per_run * cfg.runs_per_width,
                "speedup_per_run": per_run / per_width_op[str(h)]["per_run_s"]["median"],
            }
    finally:
        blas_threads(old)
    np_total = sum(d["extrapolated_width_s"] for d in per_width_np.values())
    np_whole = {k: sum(d["per_run"][k] * cfg.runs_per_width for d in per_width_np.values())
                for k in ("min", "median", "max")}
    np_whole["n"] = min(d["per_run"]["n"] for d in per_width_np.values())
    op_whole = stats(whole)
    return {
        "overparam": {"warmup_wall_s": warm_wall, "warmup_timings": warm_t,
                      "whole_wall": op_whole, "whole_timings": whole_t,
                      "whole_compile_s": [t["compile_s"] for t in whole_t],
                      "per_width": per_width_op},
        "numpy": {"measured": f"run_one per (width, schedule), noise {cfg.inproc_noise}, seed 0; "
                              f"{cfg.repeats} repeats below the largest width, 1 at it",
                  "extrapolated_to": f"{len(cfg.noises)} noises × {cfg.seeds} seeds per schedule",
                  "per_width": per_width_np, "extrapolated_whole_s": np_total,
                  "extrapolated_whole": np_whole},
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
    keys = ("theory_constants", "table2_constants", "direct_eigvalsh_D0")
    ex = {k: loglog_exponent(ws, [rows[str(h)][k]["min"] for h in ws]) for k in keys}
    per_rep = {k: per_repeat_exponents(ws, [rows[str(h)][k]["values"] for h in ws])
               for k in keys}
    return {"widths": rows, "exponents_of_min": ex, "exponents_per_repeat": per_rep,
            "repeats": reps,
            "theory_constants_subcubic": statistics.median(per_rep["theory_constants"]) < 1.5}


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
    """A quick run (``op.run(..., quick=True)``) in fresh processes: cold (an empty
    compilation cache) then warm (the cache the cold run filled), ``repeats`` rounds, each
    with a new cache folder."""
    kw = {"seeds": cfg.seeds, "steps": cfg.steps} if cfg.quick else {}
    cold, warm = [], []
    for r in range(max(cfg.repeats, 2)):
        env = {**os.environ, "OVERPARAM_CACHE_DIR": str(tmp / f"d-cache-{r}")}
        for name, into in (("cold", cold), ("warm", warm)):
            log(f"(d) quick run in a fresh process, {name} cache, round {r + 1} {kw or ''}")
            out = tmp / f"d-{name}-{r}"
            wall, text = timed_subprocess([sys.executable, "-c", _QUICK_RUN, str(out),
                                           json.dumps(kw)], env=env)
            into.append({"process_wall_s": wall, **last_json_line(text)})
            shutil.rmtree(out, ignore_errors=True)
    t = cold[0]["timings"]
    return {"cold": cold, "warm": warm, "overrides": kw,
            "compile_share": t["compile_s"] / t["total_s"]}


def section_f(cfg: Config, threads: int | None) -> dict[str, Any]:
    """One GD step of paper B's shallow network vs a plain NumPy loop (``shallow_bench``)."""
    return sb.section_f(cfg.shallow_widths, cfg.shallow_steps, cfg.shallow_seeds,
                        max(cfg.repeats, 2), blas_threads=blas_threads, threads=threads, log=log)


def _fig1_local_pl(cfg: Config, tmp: Path, widths: Sequence[int], threads: int | None,
                   ref_seeds: int) -> dict[str, Any]:
    """overparam (warm cache, ``repeats`` timed runs) and the reference on one width grid."""
    grid = ["--set", 'sweep.schedule.kind=["local_pl"]',
            "--set", f"sweep.problem.width={json.dumps(list(widths))}",
            "--set", f"sweep.problem.data.noise={json.dumps(cfg.noises)}",
            "--seeds", str(cfg.seeds), "--steps", str(cfg.steps)]
    tag = "-".join(map(str, widths))

    def op_once(name: str) -> float:
        out = tmp / f"h-{tag}-{name}"
        wall, _ = timed_subprocess([*overparam_cmd(), "run", EXPERIMENT, "--out", str(out),
                                    "--no-progress", *grid])
        return wall

    log(f"(h) widths {list(widths)}: warm-up run (fills the compilation cache)")
    warmup = op_once("warmup")
    walls = []
    for r in range(cfg.repeats):
        walls.append(op_once(str(r)))
        log(f"(h) widths {list(widths)}: overparam {fmt_s(walls[-1])}")
    runs = _op_runs_summary(tmp / f"h-{tag}-0")
    rcmd = [sys.executable, str(BENCH_DIR / "numpy_reference.py"), "--schedules", "local_pl",
            "--widths", *map(str, widths), "--seeds", str(ref_seeds), "--steps", str(cfg.steps),
            "--noises", *map(str, cfg.noises)]
    log(f"(h) widths {list(widths)}: reference on {ref_seeds} seed(s)/setting")
    ref_wall, out = timed_subprocess(rcmd, env=thread_env(threads))
    rj = last_json_line(out)
    factor = cfg.seeds / ref_seeds
    extrap = ref_wall - rj["runs_seconds"] + rj["runs_seconds"] * factor
    log(f"(h) reference {fmt_s(ref_wall)} measured, {fmt_s(extrap)} for all seeds")
    n_runs = len(widths) * len(cfg.noises) * cfg.seeds
    return {"overparam_wall_s": with_values(walls), "warmup_wall_s": warmup,
            "overparam_per_run_s": sum(d["wall_s_sum"] for d in runs.values()) / n_runs,
            "runs": n_runs, "numpy": rj, "numpy_wall_s": ref_wall,
            "numpy_extrapolation_factor": factor, "numpy_extrapolated_wall_s": extrap,
            "numpy_per_run_s": rj["runs_seconds"] / (n_runs / factor),
            "command": " ".join(grid), "reference_command": " ".join(rcmd[1:])}


def section_h(cfg: Config, tmp: Path, threads: int | None) -> dict[str, Any]:
    """Paper A Fig 1, local_pl only: the whole grid, then its first width alone."""
    return {"grid": _fig1_local_pl(cfg, tmp, cfg.widths, threads, cfg.numpy_seeds),
            "first_width": _fig1_local_pl(cfg, tmp, cfg.widths[:1], threads, cfg.seeds)}


def run_help_text() -> str:
    """``overparam run --help`` (wide terminal, so option names are not wrapped)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    p = subprocess.run([*overparam_cmd(), "run", "--help"], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    return p.stdout + p.stderr


def _runs_digest(out: Path) -> dict[str, Any]:
    """Run count, statuses and final losses (by run id) of an ``overparam run`` folder."""
    import pandas as pd

    runs = pd.read_parquet(out / EXPERIMENT.replace("/", "__") / "runs.parquet")
    return {"runs": len(runs), "status": runs["status"].value_counts().to_dict(),
            "final_loss": dict(zip(runs["run_id"], runs["final_loss"].astype(float),
                                   strict=True))}


def section_g(cfg: Config, tmp: Path) -> dict[str, Any]:
    """Dask scale-out: the whole experiment with the local executor and with
    ``--executor dask --workers N``, each into a fresh folder, ``dask_repeats`` rounds (each
    round runs every variant once, so the rounds pair the variants)."""
    cpus = os.cpu_count() or 1
    text = run_help_text()
    if "--executor" not in text or "--workers" not in text:
        note = "`overparam run --help` lists no --executor/--workers option: section skipped"
        log(f"(g) {note}")
        return {"skipped": True, "note": note, "cpu_count": cpus}
    workers = sorted({1, *cfg.dask_workers})
    variants = [("local", [])] + [(f"dask-{w}", ["--executor", "dask", "--workers", str(w)])
                                  for w in workers]
    size = ["--quick"] if cfg.quick else []
    walls: dict[str, list[float]] = {name: [] for name, _ in variants}
    digests: dict[str, Any] = {}
    commands: dict[str, str] = {}
    for r in range(cfg.dask_repeats):
        for name, flags in variants:
            out = tmp / f"g-{name}-{r}"
            cmd = [*overparam_cmd(), "run", EXPERIMENT, "--out", str(out), "--no-progress",
                   *size, *flags]
            log(f"(g) round {r + 1}/{cfg.dask_repeats}: {name} "
                f"{' '.join(size + flags) or '(default executor)'}")
            wall, _ = timed_subprocess(cmd)
            walls[name].append(wall)
            commands[name] = " ".join(["overparam", *cmd[len(overparam_cmd()):]])
            if r == 0:
                digests[name] = _runs_digest(out)
            shutil.rmtree(out, ignore_errors=True)
    base = digests["local"]
    agreement = {}
    for name, d in digests.items():
        common = base["final_loss"].keys() & d["final_loss"].keys()
        diffs = [abs(d["final_loss"][k] - base["final_loss"][k])
                 / max(abs(base["final_loss"][k]), 1e-300) for k in common
                 if math.isfinite(base["final_loss"][k]) and math.isfinite(d["final_loss"][k])]
        agreement[name] = {"runs": d["runs"], "status": d["status"],
                           "same_run_ids": len(common) == base["runs"] == d["runs"],
                           "final_loss_max_rel_diff_vs_local": max(diffs) if diffs else None}
    return {"cpu_count": cpus, "workers": workers, "rounds": cfg.dask_repeats,
            "quick": cfg.quick, "walls": {k: stats(v) for k, v in walls.items()},
            "commands": commands, "agreement_with_local": agreement}


# ---------------------------------------------------------------------------- reporting
def environment(numpy_threads: dict[str, Any]) -> dict[str, Any]:
    """Machine, versions, load and the git state (read-only)."""
    import jax
    import scipy

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()  # porcelain lines start with ' '
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


# ------------------------------------------------------------------------- uniform rows
TABLE_CONVENTIONS = {
    "stats": "min / median / max / n over repeats; n = 1 (min = median = max) where a "
             "measurement is taken once (the full-size whole-grid timings, say the notes)",
    "ratio": "reference / overparam (> 1: overparam is faster; in (g) the reference is the "
             "baseline executor). Paired repeats (both sides measured in the same round): "
             "min / median / max of the per-round ratios. Otherwise median = ref median / op "
             "median, min = ref min / op max, max = ref max / op min",
    "gflops": "counted flops of the products (2·rows·inner·cols each) / each repeat's time; "
              "min / median / max over those",
    "exponent": "log-log slope of time against width, fitted per repeat (repeat r's timings "
                "across the widths); min / median / max over repeats",
    "efficiency": "(g) only: speed-up / min(workers, cpu_count)",
}


def mmm(x: Sequence[float] | dict[str, Any] | None) -> dict[str, Any] | None:
    """{min, median, max, n} of a list of values or of a stats dict (None stays None)."""
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: float(x[k]) if k != "n" else int(x[k]) for k in ("min", "median", "max", "n")}
    v = [float(y) for y in x]
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}


def ratio_of(reference: dict[str, Any], overparam: dict[str, Any],
             paired: bool = False) -> dict[str, Any]:
    """reference / overparam with min / median / max (see TABLE_CONVENTIONS['ratio'])."""
    rv, ov = reference.get("values"), overparam.get("values")
    if paired and rv and ov and len(rv) == len(ov):
        return {**mmm([r / o for r, o in zip(rv, ov, strict=True)]), "convention": "paired"}
    one = reference["n"] == 1 and overparam["n"] == 1
    return {"min": reference["min"] / overparam["max"],
            "median": reference["median"] / overparam["median"],
            "max": reference["max"] / overparam["min"],
            "n": min(reference["n"], overparam["n"]),
            "convention": "single" if one else "extremes"}


def per_value(work: float, times: dict[str, Any], scale: float = 1e-9) -> dict[str, Any]:
    """work / time for each repeat (e.g. GFLOP/s), min / median / max over repeats."""
    return mmm([work / t * scale for t in times["values"]])


def with_values(x: Sequence[float]) -> dict[str, Any]:
    """mmm plus the values (kept for paired ratios; dropped from the table rows)."""
    return {**mmm(x), "values": [float(y) for y in x]}


def row(section: str, measurement: str, unit: str, *, overparam: dict | None = None,
        reference: dict | None = None, reference_is: str | None = None,
        ratio: dict | None = None, gflops: dict | None = None,
        matmul_gflops: dict | None = None, exponent: dict | None = None,
        efficiency: dict | None = None, note: str = "") -> dict[str, Any]:
    """One row of the uniform table: every row has every key (None where it does not apply)."""
    return {"section": section, "measurement": measurement, "unit": unit,
            "overparam": mmm(overparam), "reference": mmm(reference),
            "reference_is": reference_is, "ratio": ratio, "gflops": gflops,
            "matmul_gflops": matmul_gflops, "exponent": exponent, "efficiency": efficiency,
            "note": note}


def single(x: float) -> dict[str, Any]:
    """A one-off measurement as stats (n = 1)."""
    return with_values([x])


def exponent_row(section: str, what: str, widths: Sequence[int], series: list[list[float]],
                 note: str = "") -> dict[str, Any]:
    ex = per_repeat_exponents(widths, series)
    return row(section, f"{what} vs width {widths[0]}→{widths[-1]}",
               "log-log slope", exponent={**mmm(ex), "widths": list(widths)}, note=note)


def rows_a(cfg: Config, a: dict[str, Any]) -> list[dict[str, Any]]:
    npd, opd = a["numpy"], a["overparam"]
    k, S = cfg.numpy_seeds, cfg.seeds
    ext = (f"ref measured {fmt_s(npd['measured_wall_s'])} on {k} seed(s)/setting, "
           f"EXTRAPOLATED ×{npd['extrapolation_factor']:g} to {S}"
           if npd["is_extrapolated"] else "ref measured on all seeds")
    op, rf = single(opd["wall_s"]), single(npd["extrapolated_wall_s"])
    out = [row("a", f"whole process, {opd['runs']} runs", "s", overparam=op, reference=rf,
               reference_is="numpy_reference.py subprocess", ratio=ratio_of(rf, op),
               note=f"n=1 (one run each); {ext}")]
    for w, d in npd["per_width"].items():
        o = opd["per_width"].get(w)
        if o is None:
            continue
        op_w, rf_w = single(o["wall_s_sum"]), single(d["extrapolated_seconds"])
        out.append(row("a", f"width {w}: seconds in runs", "s", overparam=op_w, reference=rf_w,
                       reference_is="numpy_reference.py subprocess",
                       ratio=ratio_of(rf_w, op_w),
                       note=f"n=1{'; ref EXTRAPOLATED' if npd['is_extrapolated'] else ''}; "
                            f"α1/α2 {o['alpha_ratio_mean']:.3f} vs "
                            f"{d['alpha_ratio_mean']:.3f} (ref)"))
    return out


def rows_b(cfg: Config, b: dict[str, Any]) -> list[dict[str, Any]]:
    opd, npd = b["overparam"], b["numpy"]
    op_whole, rf_whole = opd["whole_wall"], npd["extrapolated_whole"]
    n_op = op_whole["n"]
    out = [row("b", "in process, warm, whole grid", "s", overparam=op_whole,
               reference=rf_whole, reference_is="run_one in process, EXTRAPOLATED",
               ratio=ratio_of(rf_whole, op_whole),
               note=(f"{'n=1 (one whole-grid run); ' if n_op == 1 else ''}"
                     f"ref extrapolated from run_one per (width, schedule); timed runs "
                     f"compiled {fmt_s(max(opd['whole_compile_s']))}"))]
    for w, d in npd["per_width"].items():
        o = opd["per_width"][w]["per_run_s"]
        out.append(row("b", f"width {w}, per run", "s", overparam=o, reference=d["per_run"],
                       reference_is="run_one in process", ratio=ratio_of(d["per_run"], o),
                       note=("ref n=1 at the largest width; " if d["per_run"]["n"] == 1 else "")
                       + "op: batch wall / seeds; ref: mean over schedules"))
    return out


def rows_c(cfg: Config, c: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for w, d in c["widths"].items():
        t2 = d["table2_constants"]
        out.append(row("c", f"theory constants, width {w}", "s", overparam=d["theory_constants"],
                       reference=d["direct_eigvalsh_D0"], reference_is="eigvalsh of h×h D(0)",
                       ratio=ratio_of(d["direct_eigvalsh_D0"], d["theory_constants"]),
                       note=f"Table 2 alone {fmt_range(t2)}"))
    ws = [int(w) for w in c["widths"]]
    for key, what, note in (
            ("theory_constants", "theory constants", "< 1.5: linear or better"
             if c["theory_constants_subcubic"] else "≥ 1.5: NOT linear"),
            ("table2_constants", "Table 2 alone", ""),
            ("direct_eigvalsh_D0", "ref eigvalsh D(0)", "O(h³) expected")):
        out.append(exponent_row("c", what, ws, [c["widths"][str(w)][key]["values"] for w in ws],
                                note))
    return out


def rows_d(d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for what in ("compile_s", "total_s"):
        c = with_values([x["timings"][what] for x in d["cold"]])
        w = with_values([x["timings"][what] for x in d["warm"]])
        out.append(row("d", f"quick run {what}: warm cache", "s", overparam=w, reference=c,
                       reference_is="the same run, cold (empty) cache",
                       ratio=ratio_of(c, w, paired=True),
                       note=f"fresh processes; cold compile is {100 * d['compile_share']:.0f}% "
                            "of total_s" if what == "compile_s" else "fresh processes"))
    c = with_values([x["process_wall_s"] for x in d["cold"]])
    w = with_values([x["process_wall_s"] for x in d["warm"]])
    out.append(row("d", "quick run, whole process: warm cache", "s", overparam=w, reference=c,
                   reference_is="the same run, cold (empty) cache",
                   ratio=ratio_of(c, w, paired=True), note="includes Python and JAX start-up"))
    return out


def _step_rows(sec: str, label: str, widths: dict[str, Any], paired: bool,
               note: Callable[[dict[str, Any], float], str]) -> list[dict[str, Any]]:
    out = []
    for w, d in widths.items():
        op_s, np_s = d["overparam_step_s"], d["numpy_loop_step_s"]
        gf = per_value(d["flops_per_step"], op_s)
        mm = per_value(d["flops_per_step"], d["matmul_same_products_s"])
        share = statistics.median(d["matmul_same_products_s"]["values"]) / op_s["median"]
        out.append(row(sec, f"{label}, width {w}", "s/step", overparam=op_s, reference=np_s,
                       reference_is="NumPy loop", ratio=ratio_of(np_s, op_s, paired),
                       gflops=gf, matmul_gflops=mm,
                       note=note(d, share)))
    ws = [int(w) for w in widths]
    if len(ws) > 1:
        out.append(exponent_row(sec, "overparam step", ws,
                                [widths[str(w)]["overparam_step_s"]["values"] for w in ws]))
        out.append(exponent_row(sec, "NumPy loop step", ws,
                                [widths[str(w)]["numpy_loop_step_s"]["values"] for w in ws]))
    return out


def rows_e(e: dict[str, Any]) -> list[dict[str, Any]]:
    return _step_rows("e", "deep linear step", e["widths"], False, lambda d, share: (
        f"{100 * share:.0f}% of matmul (target ≥{100 * dlb.TARGET_MATMUL_SHARE:.0f}%); loop "
        f"{d['numpy_loop_flops_per_step'] / d['flops_per_step']:.0f}× flops"))


def rows_f(f: dict[str, Any]) -> list[dict[str, Any]]:
    def note(d: dict[str, Any], share: float) -> str:
        a = d["agreement"]
        return (f"{f['seeds']} seeds; loss agrees to {fmt_e(a['final_loss_max_rel_diff'])}"
                f"{'' if a['ok'] else ' FAILED'}")

    return _step_rows("f", "shallow step", f["widths"], True, note)


def rows_g(g: dict[str, Any]) -> list[dict[str, Any]]:
    if g.get("skipped"):
        return [row("g", "Dask scale-out", "s", note=g["note"])]
    cpus, W = g["cpu_count"], g["walls"]
    local = W["local"]
    ag = g["agreement_with_local"]
    n1 = "n=1 (one round); " if local["n"] == 1 else ""
    out = [row("g", "local executor, whole experiment", "s", overparam=local,
               note=f"{n1}cpu_count {cpus}; {ag['local']['runs']} runs")]
    for w in g["workers"]:
        name = f"dask-{w}"
        t = W[name]
        same = ag[name]
        diff = same["final_loss_max_rel_diff_vs_local"]
        check = (f"final losses = local to {fmt_e(diff)}" if same["same_run_ids"] and
                 diff is not None else "runs DIFFER from local")
        for base, label in (("local", "local executor"), ("dask-1", "--workers 1")):
            if base == name:
                continue
            rt = ratio_of(W[base], t, paired=True)
            eff = {k: rt[k] / min(w, cpus) for k in ("min", "median", "max")}
            out.append(row("g", f"dask --workers {w} vs {label}", "s", overparam=t,
                           reference=W[base], reference_is=label, ratio=rt, efficiency=eff,
                           note=f"{n1}efficiency {fmt_num(eff, digits=2)}; {check}"))
    return out


def rows_h(h: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key in ("grid", "first_width"):
        d = h[key]
        widths = "/".join(d["numpy"]["widths"])
        op, rf = d["overparam_wall_s"], single(d["numpy_extrapolated_wall_s"])
        ext = d["numpy_extrapolation_factor"]
        ref_note = (f"ref measured {fmt_s(d['numpy_wall_s'])}, EXTRAPOLATED ×{ext:g} to all "
                    "seeds" if ext != 1 else "ref measured on all seeds, n=1")
        out.append(row("h", f"Fig 1 local_pl, width {widths}, {d['runs']} runs, whole process",
                       "s", overparam=op, reference=rf,
                       reference_is="numpy_reference.py --schedules local_pl",
                       ratio=ratio_of(rf, op),
                       note=f"warm compilation cache; {ref_note}"))
        pr_op, pr_rf = single(d["overparam_per_run_s"]), single(d["numpy_per_run_s"])
        out.append(row("h", f"Fig 1 local_pl, width {widths}, per run", "s", overparam=pr_op,
                       reference=pr_rf, reference_is="run_one (set-up + 200 steps)",
                       ratio=ratio_of(pr_rf, pr_op),
                       note="op: runs.parquet wall_s (batch share); ref: mean over its runs"))
    return out


def build_table(cfg: Config, res: dict[str, Any]) -> list[dict[str, Any]]:
    """The uniform rows of every section that ran, in section order."""
    rows: list[dict[str, Any]] = []
    makers: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
        "a": lambda r: rows_a(cfg, r), "b": lambda r: rows_b(cfg, r),
        "c": lambda r: rows_c(cfg, r), "d": rows_d, "e": rows_e, "f": rows_f, "g": rows_g,
        "h": rows_h, "i": lambda r: pb.rows_i(r, row, with_values, ratio_of)}
    for key in SECTIONS:
        if key in res:
            rows += makers[key](res[key])
    return rows


def _unit_of(seconds: float) -> tuple[str, float]:
    for name, div, lim in (("h", 3600.0, 3600.0), ("min", 60.0, 60.0), ("s", 1.0, 1.0),
                           ("ms", 1e-3, 1e-3)):
        if seconds >= lim:
            return name, div
    return "µs", 1e-6


def _g(x: float, digits: int = 3) -> str:
    """x with ``digits`` significant digits, whole numbers from 10^digits on (no e-notation
    there)."""
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 10**digits:
        return f"{x:.0f}"
    text = f"{x:#.{digits}g}"  # '#': keep trailing zeros (45.0, not 45)
    return text[:-1] if text.endswith(".") else text


def _like(x: float, median_text: str) -> str:
    """x with as many decimals as the formatted median (so a range reads at one precision)."""
    if not math.isfinite(x) or "e" in median_text:
        return _g(x)
    decimals = len(median_text.split(".")[1]) if "." in median_text else 0
    return f"{x:.{decimals}f}"


def fmt_range(s: dict[str, Any] | None) -> str:
    """Times: 'median [min–max] unit' (unit from the median); '(n=1)' for single runs."""
    if s is None:
        return "—"
    name, div = _unit_of(s["median"])
    med = _g(s["median"] / div)
    if s["min"] == s["median"] == s["max"]:
        return f"{med} {name} (n={s['n']})"
    return f"{med} [{_like(s['min'] / div, med)}–{_like(s['max'] / div, med)}] {name}"


def fmt_num(s: dict[str, Any] | None, suffix: str = "", digits: int = 3) -> str:
    """Numbers: 'median [min–max]' (just the median when all three agree)."""
    if s is None:
        return "—"
    med = _g(s["median"], digits)
    if s["min"] == s["median"] == s["max"]:
        return f"{med}{suffix}"
    return f"{med}{suffix} [{_like(s['min'], med)}–{_like(s['max'], med)}]"


def fmt_e(x: float) -> str:
    """A small relative difference: '0' or one digit in e-notation."""
    return "0" if x == 0 else f"{x:.0e}"


def table_cells(r: dict[str, Any]) -> tuple[str, ...]:
    """The printed cells of one uniform row."""
    return (r["section"], r["measurement"], fmt_range(r["overparam"]),
            fmt_range(r["reference"]), fmt_num(r["ratio"], "×"), fmt_num(r["gflops"]),
            fmt_num(r["matmul_gflops"]), fmt_num(r["exponent"], digits=2), r["note"])


TABLE_WIDTH = 200


def print_table(cfg: Config, rows: list[dict[str, Any]], res: dict[str, Any]) -> None:
    """The one summary table, one line per row (rich if available, else plain text); notes
    too long for the line are numbered and printed under the table."""
    title = (f"overparam vs plain NumPy loops: median [min–max] over repeats"
             f"{' (QUICK: smoke sizes)' if cfg.quick else ''}")
    head = ("§", "measurement", "overparam", "reference", "ratio ref/op", "GFLOP/s",
            "matmul GFLOP/s", "exponent", "note")
    cells = [list(table_cells(r)) for r in rows]
    fixed = sum(max(len(c[i]) for c in [list(head), *cells]) for i in range(len(head) - 1))
    room = max(TABLE_WIDTH - fixed - 3 * len(head) - 1, 20)
    notes: list[str] = []
    for c in cells:
        if len(c[-1]) > room:
            notes.append(c[-1])
            c[-1] = f"note {len(notes)}"
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        print(title)
        for c in (head, *cells):
            print(" | ".join(c))
    else:
        t = Table(title=escape(title), show_lines=False)
        for h in head:
            t.add_column(escape(h), no_wrap=True, overflow="fold")
        for c in cells:
            t.add_row(*(escape(x) for x in c))
        Console(width=TABLE_WIDTH).print(t)
    for i, n in enumerate(notes, 1):
        print(f"note {i}: {n}")
    for key in ("a", "b"):
        if key in res:
            sp = res[key]["speedup"]
            if cfg.quick:
                print(f"({key}) speedup {sp:.1f}× at smoke sizes (compile and I/O dominate; the "
                      f"≥{TARGET_SPEEDUP:g}× target applies to the full size only)")
            else:
                verdict = "meets" if sp >= TARGET_SPEEDUP else "MISSES"
                print(f"({key}) speedup {sp:.1f}× {verdict} the ≥{TARGET_SPEEDUP:g}× target")


def section_checks(res: dict[str, Any]) -> dict[str, str]:
    """Failed correctness checks of the sections that ran (they fail the benchmark)."""
    bad: dict[str, str] = {}
    if "f" in res:
        worst = {w: d["agreement"] for w, d in res["f"]["widths"].items()
                 if not d["agreement"]["ok"]}
        if worst:
            bad["f"] = ("check failed: the NumPy loop's loss after the steps differs from "
                        f"overparam's by more than {sb.AGREEMENT_RTOL:g} (relative): {worst}")
    if "i" in res and not res["i"]["agreement"]["ok"]:
        bad["i"] = (f"check failed: overparam's sharpness differs from eigsh's λ_max by "
                    f"{res['i']['agreement']['max_rel_diff']:.3g} (relative)")
    if "g" in res and not res["g"].get("skipped"):
        off = [k for k, v in res["g"]["agreement_with_local"].items() if not v["same_run_ids"]]
        if off:
            bad["g"] = f"check failed: the runs of {off} differ from the local executor's"
    return bad


# --------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    """Parse options, run the sections, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke version of every section (a few minutes)")
    p.add_argument("--numpy-seeds", type=int, default=None,
                   help="seeds per setting measured for the reference in (a) (default 2)")
    p.add_argument("--numpy-full", action="store_true",
                   help="run the reference on all 30 seeds in (a) (hours at width 4000)")
    p.add_argument("--numpy-threads", choices=("auto", "1", "default"), default="auto",
                   help="BLAS threads of the reference (auto: the faster of 1 and default)")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the cheap timings")
    p.add_argument("--op-repeats", type=int, default=1,
                   help="repeats of the warm whole-grid overparam.run in (b) (--quick: 3)")
    p.add_argument("--dask-workers", type=int, nargs="+", default=[1, 2, 4],
                   help="worker counts of (g) (1 is always run: the speed-up baseline)")
    p.add_argument("--dask-repeats", type=int, default=None,
                   help="rounds of (g), each running every executor once (default 1; "
                        "--quick: 2)")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
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
                                   repeats=cfg.repeats, log=log, set_threads=blas_threads,
                                   numpy_threads=threads),
        "f": lambda: section_f(cfg, threads), "g": lambda: section_g(cfg, tmp),
        "h": lambda: section_h(cfg, tmp, threads),
        "i": lambda: pb.section_i(cfg.quick, max(cfg.repeats, 2), log)}
    errors: dict[str, str] = {}
    try:
        for key in SECTIONS:
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
    errors.update(section_checks(res))
    table = build_table(cfg, res)
    for key, msg in errors.items():
        if key not in res:
            table.append(row(key, "section FAILED", "", note=msg.splitlines()[0][:300]))
    out = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "environment": environment(nt),
        "load_average_start_end": [list(load0), list(os.getloadavg())],
        "bench_wall_s": time.perf_counter() - t_start,
        "target_speedup": TARGET_SPEEDUP,
        "table_conventions": TABLE_CONVENTIONS,
        "table": table,
        "results": res,
        "errors": errors,
    }
    cfg.json_path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print_table(cfg, table, res)
    print(f"bench wall {fmt_s(out['bench_wall_s'])}; load average (1, 5, 15 min) at start "
          f"{tuple(round(x, 2) for x in load0)}, at end "
          f"{tuple(round(x, 2) for x in os.getloadavg())}; results: {cfg.json_path}")
    for key, msg in errors.items():
        print(f"({key}) FAILED: {msg.splitlines()[0] if msg else ''}")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
