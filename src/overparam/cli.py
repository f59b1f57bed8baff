"""The `overparam` command line: list, run, run-spec, report, reproduce."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from overparam.errors import SpecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Gradient descent on overparameterized networks, measured against the theory.")
# Not a terminal (pipes, CI, logs): wide enough that ids and check names never fold.
out_console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DEFAULT_OUT = Path("overparam-results")
Quick = Annotated[bool, typer.Option("--quick", help="small sizes: seconds to a minute")]
Seeds = Annotated[int | None, typer.Option("--seeds", help="number of seeds (repeats)")]
Steps = Annotated[int | None, typer.Option("--steps", help="GD steps per run")]
Out = Annotated[Path, typer.Option("--out", help="results folder")]
Sets = Annotated[list[str] | None, typer.Option(
    "--set", help="KEY=VALUE override by dotted path, VALUE as YAML; a list sweeps it")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="no progress bar")]
ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="where settings run: local, dask (a local cluster) or dask://HOST:PORT")]
Workers = Annotated[int | None, typer.Option(
    "--workers", help="worker processes of --executor dask (default 1)")]


def _fail(exc: SpecError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _command() -> str:
    return "overparam " + shlex.join(sys.argv[1:])


def _parse_executor(executor: str, workers: int | None) -> tuple[str, str | None]:
    """Check --executor and --workers (bad ones exit 2 before anything is planned)."""
    from overparam.executors import parse_executor

    try:
        return parse_executor(executor, workers)
    except SpecError as exc:
        _fail(exc)


def _executor(choice: tuple[str, str | None], workers: int | None):
    """Start the executor (an unreachable scheduler exits 2, writing nothing)."""
    from overparam.executors import start_executor

    try:
        return start_executor(choice, workers)
    except SpecError as exc:
        _fail(exc)


def _run(target, quick, seeds, steps, out, sets, no_progress, executor, workers) -> None:
    from overparam.report import check_summary
    from overparam.runner import execute, plan

    choice = _parse_executor(executor, workers)
    try:
        p = plan(target, quick=quick, seeds=seeds, steps=steps, sets=sets or [], command=_command())
    except SpecError as exc:
        _fail(exc)
    ex = _executor(choice, workers)
    try:
        res = execute(p, out, progress=not no_progress, executor=ex)
    finally:
        ex.close()
    runs = res.runs
    counts = runs["status"].value_counts().to_dict()
    out_console.print(f"[bold]{p.experiment_id}[/]: {len(runs)} runs "
                      + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    summary = check_summary(res.checks)
    if not summary.empty:
        table = Table("check", "equation", "holds", "violated", "n/a", "verdict", "median lhs/rhs")
        for r in summary.itertuples():
            table.add_row(r.check, r.equation, str(r.n_holds), str(r.n_violated),
                          str(r.n_not_applicable), r.verdict, f"{r.median_ratio:.3g}")
        out_console.print(table)
    for line in res.manifest.get("summary", []):
        out_console.print(line, highlight=False, markup=False)
    out_console.print(f"results: {res.path}")


@app.command("list")
def list_cmd() -> None:
    """List the registered experiments."""
    from overparam.experiments import all_experiments

    table = Table("id", "paper", "figure", "title")
    for e in all_experiments():
        table.add_row(e.id, e.paper, e.figure, e.title)
    out_console.print(table)


@app.command("run")
def run_cmd(experiment_id: str, quick: Quick = False, seeds: Seeds = None, steps: Steps = None,
            out: Out = DEFAULT_OUT, set_: Sets = None, no_progress: NoProgress = False,
            executor: ExecutorOpt = "local", workers: Workers = None) -> None:
    """Run a registered experiment by id."""
    _run(experiment_id, quick, seeds, steps, out, set_, no_progress, executor, workers)


@app.command("run-spec")
def run_spec_cmd(spec_file: Path, quick: Quick = False, seeds: Seeds = None, steps: Steps = None,
                 out: Out = DEFAULT_OUT, set_: Sets = None, no_progress: NoProgress = False,
                 executor: ExecutorOpt = "local", workers: Workers = None) -> None:
    """Run a user experiment from a YAML spec file (paths in it are relative to the file)."""
    _run(spec_file, quick, seeds, steps, out, set_, no_progress, executor, workers)


@app.command("report")
def report_cmd(results_dir: Path) -> None:
    """Write RESULTS_DIR/index.html: figures and check verdicts of every experiment."""
    from overparam.report import write_report

    if not results_dir.is_dir():
        _fail(SpecError("RESULTS_DIR", f"{results_dir} is not a folder"))
    out_console.print(f"report: {write_report(results_dir)}")


@app.command("reproduce")
def reproduce_cmd(quick: Quick = False, out: Out = DEFAULT_OUT,
                  no_progress: NoProgress = False, executor: ExecutorOpt = "local",
                  workers: Workers = None) -> None:
    """Run every registered experiment, then write the report."""
    from overparam.experiments import all_experiments
    from overparam.report import write_report
    from overparam.runner import execute, plan

    choice = _parse_executor(executor, workers)
    plans = []
    for e in all_experiments():  # every plan first: a bad one stops before anything runs
        cmd = f"overparam run {e.id}" + (" --quick" if quick else "")
        try:
            plans.append(plan(e.id, quick=quick, command=cmd))
        except SpecError as exc:
            _fail(exc)
    ex = _executor(choice, workers)
    try:
        for p in plans:
            res = execute(p, out, progress=not no_progress, executor=ex)
            counts = res.runs["status"].value_counts().to_dict()
            out_console.print(f"[bold]{p.experiment_id}[/]: "
                              + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    finally:
        ex.close()
    out_console.print(f"report: {write_report(out).resolve()}")


def main() -> None:
    # The command runs on the CPU unless OVERPARAM_PLATFORM says otherwise (the library
    # leaves the platform to JAX); workers it starts inherit this.
    os.environ.setdefault("OVERPARAM_PLATFORM", "cpu")
    if sys.argv[1:] in (["--version"], ["-V"]):
        from overparam import __version__

        out_console.print(f"overparam {__version__}", highlight=False)
        return
    app()


if __name__ == "__main__":
    main()
