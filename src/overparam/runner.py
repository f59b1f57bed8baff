"""From a spec to results on disk: plan (validate everything), run missing batches, assemble.

Planning touches no file under the output folder, so a bad spec writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import overparam
from overparam import engine, problems
from overparam.checks.core import CHECK_COLUMNS
from overparam.errors import SpecError
from overparam.executors import Executor, LocalExecutor
from overparam.experiments import Experiment, get_experiment
from overparam.problems.protocol import compile_key
from overparam.progress import Progress
from overparam.spec import (
    Setting,
    Spec,
    apply_overrides,
    expand,
    flatten,
    load_yaml,
    parse_set,
    set_path,
    setting_dict,
    validate_spec,
)
from overparam.store import ExperimentStore, write_json


@dataclass
class Plan:
    """A validated experiment: its settings, seeds and where paths are resolved."""

    experiment_id: str
    title: str
    paper: str
    spec: Spec
    settings: list[Setting]
    base_dir: Path
    quick: bool
    command: str
    experiment: Experiment | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)

    def seeds(self) -> list[int]:
        return [self.spec.seed + i for i in range(self.spec.seeds)]

    def run_id(self, setting: Setting, seed: int) -> str:
        key = json.dumps({"setting": setting_dict(setting), "files": self.fingerprints,
                          "seed": seed}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def n_runs(self) -> int:
        return len(self.settings) * self.spec.seeds


def _paths(node: Any, where: str = "") -> list[tuple[str, Path]]:
    """Every file path in a setting, with the dotted field that names it."""
    if isinstance(node, Path):
        return [(where, node)]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _paths(v, f"{where}.{k}" if where else k)]
    if isinstance(node, list | tuple):
        return [p for i, v in enumerate(node) for p in _paths(v, f"{where}[{i}]")]
    return []


def _file_fingerprints(settings: list[Setting], base_dir: Path) -> dict[str, str]:
    """Content hashes of every file (or folder of files) a setting reads, so changed data gets
    new run ids."""
    out: dict[str, str] = {}
    for s in settings:
        for fieldname, p in _paths(s.model_dump()):
            full = p if p.is_absolute() else base_dir / p
            files = sorted(f for f in full.iterdir() if f.is_file()) if full.is_dir() else [full]
            digest = hashlib.sha256()
            try:
                for f in files:  # a folder (MNIST's IDX files) hashes its files' names and bytes
                    digest.update(f.name.encode() + f.read_bytes())
            except OSError as exc:
                raise SpecError(fieldname, f"cannot read {full} ({exc.strerror})") from None
            out[str(p)] = digest.hexdigest()[:16]
    return out


def plan(
    id_or_spec: str | Path | dict[str, Any],
    *,
    quick: bool = False,
    seeds: int | None = None,
    steps: int | None = None,
    sets: list[str] | list[tuple[str, Any]] = (),
    base_dir: Path | None = None,
    command: str = "",
    build_instances: bool = True,
) -> Plan:
    """Validate an experiment id, a spec file or a spec dict with its overrides.

    ``build_instances=False`` validates the spec and its files but builds no instance (no
    data set is generated or read): enough to list the planned run ids.
    """
    experiment = None
    if isinstance(id_or_spec, dict):
        raw, base = dict(id_or_spec), Path(base_dir or Path.cwd())
    elif isinstance(id_or_spec, Path) or str(id_or_spec).endswith((".yaml", ".yml")):
        path = Path(id_or_spec)
        raw, base = load_yaml(path), path.resolve().parent
        raw.setdefault("id", path.stem)
    else:
        experiment = get_experiment(str(id_or_spec))
        raw, base = experiment.raw_spec(), Path(base_dir or Path.cwd())
    if quick:
        quick_over = (experiment.quick if experiment else raw.pop("quick", {})) or {}
        raw = apply_overrides(raw, list(quick_over.items()))
    raw.pop("quick", None)
    pairs = [parse_set(p) if isinstance(p, str) else p for p in sets]
    if seeds is not None:
        pairs.append(("seeds", seeds))
    if steps is not None:
        pairs.append(("steps", steps))
    raw = apply_overrides(raw, pairs)
    spec = validate_spec(raw)
    settings = expand(spec)
    problems.check_memory(settings, spec.seeds, base)  # before anything large is allocated
    exp_id = spec.id or (experiment.id if experiment else "user-spec")
    p = Plan(
        experiment_id=exp_id, title=spec.title or (experiment.title if experiment else exp_id),
        paper=spec.paper or (experiment.paper if experiment else "user"), spec=spec,
        settings=settings, base_dir=base, quick=quick, command=command, experiment=experiment,
    )
    p.fingerprints = _file_fingerprints(settings, base)
    for s in settings if build_instances else ():  # build one instance per setting: catches bad files before any write
        problems.family(s).build_instance(s, spec.seed, base)
    return p


@dataclass
class Result:
    """An experiment's results folder with its three tables loaded lazily."""

    path: Path
    experiment_id: str

    @property
    def runs(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "runs.parquet")

    @property
    def steps(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "steps.parquet")

    @property
    def checks(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "checks.parquet")

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / "manifest.json").read_text())


@dataclass(frozen=True)
class Batch:
    """One task: the missing seeds of one setting, run together (vmapped)."""

    experiment_id: str
    setting: Setting
    seeds: tuple[int, ...]
    run_ids: tuple[str, ...]
    base_dir: Path


@dataclass
class BatchResult:
    """What a batch sends back: (run_id, steps table, run record) per seed, and its timings."""

    runs: list[tuple[str, pd.DataFrame, dict[str, Any]]]
    timing: dict[str, float]


#: Columns of runs.parquet that are measured times: they differ between two runs of the
#: same command; every other column is the same number for number.
TIMING_COLUMNS = ("wall_s", "theory_s", "run_s", "compile_s")


def _extreme_values_quietly() -> np.errstate:
    """An extreme setting (a huge ridge or step) overflows the theory's constants and checks
    to inf or nan: those are the numbers reported (and the run diverges), so numpy need not
    warn about them."""
    return np.errstate(over="ignore", divide="ignore", invalid="ignore")


def compute_batch(batch: Batch) -> BatchResult:
    """Run the seeds of one setting together; pure: writes nothing (any process may run it)."""
    t_start = time.perf_counter()
    setting, seeds = batch.setting, list(batch.seeds)
    fam = problems.family(setting)
    insts = [fam.build_instance(setting, s, batch.base_dir) for s in seeds]
    t_theory = time.perf_counter()
    with _extreme_values_quietly():
        consts, carries, data, step = fam.prepare(setting, insts)
    theory_s = time.perf_counter() - t_theory
    n_rows = setting.steps + 1
    chunks: list[dict[str, np.ndarray]] = []
    finished = np.zeros(len(seeds), bool)

    def on_chunk(start: int, rows: dict[str, np.ndarray]) -> bool:
        """Keep the chunk; True once every seed has stopped (a target reached) or died."""
        chunks.append(rows)
        if "stop" in rows:
            finished[:] |= rows["stop"].any(axis=1)
        return bool((finished | ~rows["alive"][:, -1]).all()) and "stop" in rows

    _, timing = engine.run_chunks(step, engine.stack(carries), engine.stack(data), n_rows,
                                  setting.chunk, on_chunk, cache_key=compile_key(fam, setting))
    rows = {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}
    wall = (time.perf_counter() - t_start) / len(seeds)
    flat = flatten(setting_dict(setting))
    logged = [k for k in rows if k not in ("t", "alive", "stop")]
    out = []
    for i, (seed, run_id) in enumerate(zip(seeds, batch.run_ids, strict=True)):
        alive = rows["alive"][i]
        dead = np.flatnonzero(~alive)
        reached = np.flatnonzero(rows["stop"][i]) if "stop" in rows else np.zeros(0, int)
        if reached.size and (not dead.size or reached[0] < dead[0]):
            dead = np.zeros(0, int)
        last = int(dead[0]) if dead.size else (int(reached[0]) if reached.size
                                               else rows["alive"].shape[1] - 1)
        table = {"step": np.arange(last + 1), "t": rows["t"][i, : last + 1],
                 **{k: rows[k][i, : last + 1] for k in logged}}
        steps_df = pd.DataFrame(table)
        steps_df.insert(0, "run_id", run_id)
        status, note = ("diverged", f"diverged at step {last}") if dead.size else ("ok", "")
        if reached.size and not dead.size:
            note = f"reached the target loss at step {last}"
        why = fam.failure(setting, consts[i])
        if why:
            status, note = "failed", why
        with _extreme_values_quietly():
            c, extra, checks = fam.finalize(setting, insts[i], consts[i], steps_df, status)
        steps_df = steps_df[["run_id", "step", "t", *fam.columns]]
        record = {
            "run_id": run_id, "experiment": batch.experiment_id, **flat, "seed": seed,
            "status": status, "note": note, "steps_done": int(last if dead.size or reached.size else setting.steps),
            "wall_s": wall, "theory_s": theory_s / len(seeds), "run_s": timing["run_s"],
            "compile_s": timing["compile_s"], "batch_size": len(seeds), **extra, **c,
            "checks": [{"run_id": run_id, **r} for r in checks],
        }
        out.append((run_id, steps_df, record))
    return BatchResult(out, {**timing, "theory_s": theory_s,
                             "wall_s": time.perf_counter() - t_start})


class Search:
    """What an adaptive experiment sees: derive settings from planned ones and run them.

    Settings it evaluates join the plan, so resuming repeats the same decisions from the
    stored runs without recomputing them."""

    def __init__(self, plan_: Plan, store: ExperimentStore, timings: dict, bar: Progress,
                 executor: Executor):
        self.plan, self._store, self._timings, self._bar = plan_, store, timings, bar
        self._executor = executor
        self.templates = list(plan_.settings)  # the spec's settings: where searches start
        plan_.settings.clear()
        self._known: set[str] = set()

    def derive(self, setting: Setting, overrides: dict[str, Any]) -> Setting:
        """``setting`` with dotted overrides applied (validated)."""
        raw = setting_dict(setting)
        for key, value in overrides.items():
            raw = set_path(raw, key, value)
        return Setting.model_validate(raw)

    def evaluate(self, setting: Setting) -> list[dict[str, Any]]:
        """The run records of every seed of ``setting`` (run now where missing)."""
        if _key(setting) not in self._known:
            self._known.add(_key(setting))
            self.plan.settings.append(setting)
            self._bar.grow(self.plan.spec.seeds)
            self._bar.advance(sum(self._store.is_done(self.plan.run_id(setting, s))
                                  for s in self.plan.seeds()))
        _run_missing(self.plan, [setting], self._store, self._timings, self._bar,
                     self._executor)
        return [self._store.load_run(self.plan.run_id(setting, s))[1] for s in self.plan.seeds()]


def _key(setting: Setting) -> str:
    return json.dumps(setting_dict(setting), sort_keys=True)


def _run_missing(plan_: Plan, settings: list[Setting], store: ExperimentStore,
                 timings: dict[str, float], bar: Progress, executor: Executor) -> None:
    """Run every seed of ``settings`` not yet in the store; save each batch as it comes back."""
    batches = []
    for setting in settings:
        missing = [s for s in plan_.seeds() if not store.is_done(plan_.run_id(setting, s))]
        if missing:
            batches.append(Batch(plan_.experiment_id, setting, tuple(missing),
                                 tuple(plan_.run_id(setting, s) for s in missing),
                                 plan_.base_dir))
    for result in executor.map_unordered(compute_batch, batches):
        for run_id, steps_df, record in result.runs:
            store.save_run(run_id, steps_df, record)
        for k in timings:
            timings[k] += result.timing[k]
        bar.advance(len(result.runs))


def execute(plan_: Plan, out: Path, progress: bool = True,
            executor: Executor | None = None) -> Result:
    """Run every missing run of the plan, then write the tables, figures and manifest.

    ``executor`` decides where batches run (default: this process); results are written
    here whatever it is."""
    out = Path(out)
    executor = executor or LocalExecutor()
    store = ExperimentStore(out, plan_.experiment_id)
    t0 = time.perf_counter()
    timings = {"compile_s": 0.0, "run_s": 0.0, "theory_s": 0.0}
    done_before = sum(store.is_done(plan_.run_id(s, seed))
                      for s in plan_.settings for seed in plan_.seeds())
    search = plan_.experiment.search if plan_.experiment is not None else None
    total = 0 if search else plan_.n_runs
    with Progress(plan_.experiment_id, total, 0 if search else done_before,
                  enabled=progress) as bar:
        if search is not None:
            search(Search(plan_, store, timings, bar, executor))
        else:
            _run_missing(plan_, plan_.settings, store, timings, bar, executor)
    runs, steps, checks = assemble(plan_, store)
    store.write_tables(runs, steps, checks)
    figures, summary = [], []
    if plan_.experiment is not None:
        figures, summary = plan_.experiment.finish(store.root, runs, steps, checks, plan_.quick)
    elif plan_.settings:  # a user's spec: its family's default figure
        figures = problems.family(plan_.settings[0]).figure(store.root, runs, steps)
    timings["total_s"] = time.perf_counter() - t0
    manifest = {
        "id": plan_.experiment_id, "title": plan_.title, "paper": plan_.paper,
        "paper_title": plan_.experiment.paper_title if plan_.experiment else "",
        "figure": plan_.experiment.figure if plan_.experiment else "",
        "version": overparam.__version__, "command": plan_.command, "quick": plan_.quick,
        "spec": plan_.spec.model_dump(mode="json"),
        "runs": runs[["run_id", "status"]].to_dict(orient="records"),
        "timings": timings, "executor": executor.name, "figures": figures, "summary": summary,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(store.root / "manifest.json", manifest)
    return Result(store.root, plan_.experiment_id)


def _uniform_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column: a setting swept over numbers and words
    (``schedule.eta: [eta_max, 0.01]``) is stored as text."""
    for col in df.columns:
        if pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            continue
        kinds = {type(v) for v in df[col] if v is not None and not (isinstance(v, float) and v != v)}
        if len(kinds) > 1:
            df[col] = [None if v is None else str(v) for v in df[col]]
    return df


def assemble(plan_: Plan, store: ExperimentStore) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concatenate the plan's runs in plan order (settings, then seeds)."""
    records, step_tables, check_rows = [], [], []
    for setting in plan_.settings:
        for seed in plan_.seeds():
            steps_df, record = store.load_run(plan_.run_id(setting, seed))
            check_rows.extend(record.pop("checks"))
            records.append(record)
            step_tables.append(steps_df)
    runs = _uniform_columns(pd.DataFrame.from_records(records))
    steps = pd.concat(step_tables, ignore_index=True)
    checks = pd.DataFrame.from_records(check_rows, columns=list(CHECK_COLUMNS))
    if not checks.empty:
        checks["holds"] = checks["holds"].astype(bool)
    return runs, steps, checks
