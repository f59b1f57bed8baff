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
from overparam.checks.core import CHECK_COLUMNS, vacuous
from overparam.errors import SpecError
from overparam.executors import Executor, LocalExecutor
from overparam.experiments import Experiment, get_experiment
from overparam.experiments.claims import Frames, count_claims, evaluate_claims
from overparam.fingerprints import expecting, file_fingerprints
from overparam.folder_rules import TABLES_SCHEMA, check_target
from overparam.plots import quick_figures
from overparam.problems.protocol import COMPANION, compile_key
from overparam.progress import Progress
from overparam.resources import seeds_per_batch
from overparam.results import Result
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
from overparam.store import ExperimentStore, folder_name, lock_folder, write_json, write_parquet


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
                          "seed": seed, "schema": TABLES_SCHEMA}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def n_runs(self) -> int:
        return len(self.settings) * self.spec.seeds


def _content_id(spec: Spec) -> str:
    """The id of a spec given without one: ``user-`` and a hash of its content, so two
    different dict specs never share a results folder."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True, default=str)
    return "user-" + hashlib.sha256(text.encode()).hexdigest()[:10]


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
    seen: dict[str, int] = {}
    for i, s in enumerate(settings):  # two grid points that resolve to one setting
        j = seen.setdefault(_key(s), i)
        if j != i:
            raise SpecError("cases" if spec.cases else "sweep",
                            f"points {j} and {i} of the grid give the same setting: list each "
                            "configuration once")
    problems.check_memory(settings, spec.seeds, base)  # before anything large is allocated
    exp_id = spec.id or (experiment.id if experiment else _content_id(spec))
    p = Plan(
        experiment_id=exp_id, title=spec.title or (experiment.title if experiment else exp_id),
        paper=spec.paper or (experiment.paper if experiment else "user"), spec=spec,
        settings=settings, base_dir=base, quick=quick, command=command, experiment=experiment,
    )
    p.fingerprints = file_fingerprints(settings, base)
    for s in settings if build_instances else ():  # build one instance per setting: catches bad files before any write
        problems.family(s).build_instance(s, spec.seed, base)
    return p


@dataclass(frozen=True)
class Batch:
    """One task: the missing seeds of one setting, run together (vmapped)."""

    experiment_id: str
    setting: Setting
    seeds: tuple[int, ...]
    run_ids: tuple[str, ...]
    base_dir: Path
    #: The files' fingerprints when the command was planned: a file read with other bytes
    #: is refused (fingerprints.expecting).
    fingerprints: dict[str, str] = field(default_factory=dict)


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
    with expecting(batch.fingerprints, batch.base_dir):
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
        gone = ~rows["alive"][:, -1] & ~rows.get(COMPANION, rows["alive"] & False)[:, -1]
        return bool((finished | gone).all()) and "stop" in rows

    _, timing = engine.run_chunks(step, engine.stack(carries), engine.stack(data), n_rows,
                                  setting.chunk, on_chunk, cache_key=compile_key(fam, setting))
    rows = {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}
    wall = (time.perf_counter() - t_start) / len(seeds)
    flat = flatten(setting_dict(setting))
    logged = [k for k in rows if k not in ("t", "alive", "stop", COMPANION)]
    out = []
    for i, (seed, run_id) in enumerate(zip(seeds, batch.run_ids, strict=True)):
        alive = rows["alive"][i]
        dead = np.flatnonzero(~alive)
        reached = np.flatnonzero(rows["stop"][i]) if "stop" in rows else np.zeros(0, int)
        if reached.size and (not dead.size or reached[0] < dead[0]):
            dead = np.zeros(0, int)
        # A dead run's rows end with its last computed iterate: the row where it failed
        # (its huge or non-finite loss kept); the rows after repeat frozen weights.
        last = int(dead[0]) - 1 if dead.size else (int(reached[0]) if reached.size
                                                   else rows["alive"].shape[1] - 1)
        comp = np.flatnonzero(~rows[COMPANION][i]) if dead.size and COMPANION in rows else None
        end = last if comp is None else max(last, comp[0] - 1 if comp.size else alive.size - 1)
        table = {"step": np.arange(end + 1), "t": rows["t"][i, : end + 1],
                 **{k: rows[k][i, : end + 1] for k in logged}}
        steps_df = pd.DataFrame(table)
        steps_df.insert(0, "run_id", run_id)
        status, note = ("diverged", f"diverged at step {last}") if dead.size else ("ok", "")
        if reached.size and not dead.size:
            note = f"reached the target loss at step {last}"
        why = fam.failure(setting, consts[i])
        if why:
            status, note = "failed", why
        elif status == "ok":
            with _extreme_values_quietly():
                why = fam.stalled(setting, consts[i], steps_df)
            if why:
                status, note = "stalled", why
        with _extreme_values_quietly():
            c, extra, checks = fam.finalize(setting, insts[i], consts[i], steps_df, status)
        steps_df = steps_df[["run_id", "step", "t", *fam.columns, *fam.extra_columns(setting)]]
        record = {
            "run_id": run_id, "experiment": batch.experiment_id, **flat, "seed": seed,
            "status": status, "note": note, "steps_done": int(last if dead.size or reached.size else setting.steps),
            "wall_s": wall, "theory_s": theory_s / len(seeds), "run_s": timing["run_s"],
            "compile_s": timing["compile_s"], "batch_size": len(seeds), **extra, **c,
            "checks": [{"run_id": run_id, "erratum": "", "corrected_by": "",
                        **(vacuous(r, "the run stalled") if status == "stalled" else r)}
                       for r in checks],
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
        size = seeds_per_batch(setting, len(missing), plan_.base_dir) if missing else 0
        for i in range(0, len(missing), max(size, 1)):  # seeds that fit in memory together
            part = missing[i:i + size]
            batches.append(Batch(plan_.experiment_id, setting, tuple(part),
                                 tuple(plan_.run_id(setting, s) for s in part), plan_.base_dir,
                                 plan_.fingerprints))
    for result in executor.map_unordered(compute_batch, batches):
        store.save_batch(result.runs)
        for k in ("compile_s", "run_s", "theory_s"):
            timings[k] += result.timing[k]
        timings["computed"] = timings.get("computed", 0) + len(result.runs)
        bar.advance(len(result.runs))


def execute(plan_: Plan, out: Path, progress: bool = True,
            executor: Executor | None = None, replace: bool = False) -> Result:
    """Run every missing run of the plan, then write the tables, figures and manifest.

    ``executor`` decides where batches run (default: this process); results are written
    here whatever it is. A folder holding another spec's results is refused unless
    ``replace`` (:func:`check_target`)."""
    out = Path(out)
    check_target(plan_, out, replace)
    executor = executor or LocalExecutor()
    with lock_folder(out / folder_name(plan_.experiment_id)):
        check_target(plan_, out, replace)  # again: another process may have written meanwhile
        store = ExperimentStore(out, plan_.experiment_id)
        return _execute(plan_, store, executor, progress)


def _execute(plan_: Plan, store: ExperimentStore, executor: Executor,
             progress: bool) -> Result:
    """``execute`` with the folder held."""
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
    figures, summary, claim_counts = [], [], {}
    if plan_.experiment is not None:
        with quick_figures(plan_.quick):
            figures, summary = plan_.experiment.finish(store.root, runs, steps, checks,
                                                       plan_.quick)
        claims = evaluate_claims(plan_.experiment.claims, Frames(runs, steps, checks, plan_.quick))
        write_parquet(store.root / "claims.parquet", claims)
        claim_counts = count_claims(claims)
    elif plan_.settings:  # a user's spec: its family's default figure
        with quick_figures(plan_.quick):
            figures = problems.family(plan_.settings[0]).figure(store.root, runs, steps)
    timings["total_s"] = time.perf_counter() - t0
    computed = int(timings.pop("computed", 0))
    manifest = {
        "id": plan_.experiment_id, "title": plan_.title, "paper": plan_.paper,
        "paper_title": plan_.experiment.paper_title if plan_.experiment else "",
        "figure": plan_.experiment.figure if plan_.experiment else "",
        "version": overparam.__version__, "schema": TABLES_SCHEMA, "command": plan_.command,
        "quick": plan_.quick,
        "spec": plan_.spec.model_dump(mode="json"),
        "settings": [setting_dict(s) for s in plan_.settings],
        "runs": runs[["run_id", "status"]].to_dict(orient="records"),
        "reused": len(runs) - computed, "computed": computed,
        "timings": timings, "executor": executor.name, "figures": figures, "summary": summary, "claims": claim_counts,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(store.root / "manifest.json", manifest)
    store.drop_parts()
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
