"""The `overparam` command line: list, run, run-spec, report, reproduce, show."""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from overparam.errors import SpecError, bounded

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


Strict = Annotated[bool, typer.Option(
    "--strict", help="exit 3 when a run diverged, too (failed and stalled runs always do)")]

AllowImport = Annotated[bool, typer.Option(
    "--allow-import", help="let the spec name user code to import (module:function); "
    "importing runs that code")]

Replace = Annotated[bool, typer.Option(
    "--replace", help="replace the results of another spec in the --out folder")]

#: Exit status when the command ran but some run failed or stalled (or diverged, --strict).
EXIT_RUNS = 3
#: Exit status when results could not be written (no space left, no permission).
EXIT_WRITE = 4
#: Exit statuses of an interrupted command (128 + the signal's number, as shells report).
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class _Terminated(BaseException):
    """SIGTERM, raised where the command is so that it unwinds like Ctrl-C."""


@contextlib.contextmanager
def _guard(out: Path):
    """One line and a documented exit status, never a traceback, when the command is
    interrupted or cannot write: completed batches stay saved and a rerun resumes."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    resume = "rerun the same command to resume (completed batches are kept)"
    try:
        yield
    except SpecError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: {resume}", highlight=False, markup=False)
        raise typer.Exit(EXIT_SIGINT) from None
    except _Terminated:
        err_console.print(f"terminated: {resume}", highlight=False, markup=False)
        raise typer.Exit(EXIT_SIGTERM) from None
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                             errno.EROFS):
            raise
        need = "space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "write permission"
        err_console.print(f"error: cannot write the results under {out} ({exc.strerror}): "
                          f"it needs {need}; {resume} once it has", highlight=False,
                          markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_WRITE) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


def _fail(exc: SpecError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(bounded(str(exc)))}", highlight=False,
                      soft_wrap=True)
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


def _run(target, quick, seeds, steps, out, sets, no_progress, executor, workers,
         strict, replace, allow_import=False) -> None:
    from overparam.spec.imports import allowing_imports

    choice = _parse_executor(executor, workers)
    with allowing_imports(allow_import):
        _run_allowed(target, quick, seeds, steps, out, sets, no_progress, choice, workers,
                     strict, replace)


def _run_allowed(target, quick, seeds, steps, out, sets, no_progress, choice, workers,
                 strict, replace) -> None:
    from overparam.runner import check_target, execute, plan

    try:
        p = plan(target, quick=quick, seeds=seeds, steps=steps, sets=sets or [], command=_command())
        check_target(p, out, replace)
    except SpecError as exc:
        _fail(exc)
    ex = _executor(choice, workers)
    with _guard(out):
        try:
            res = execute(p, out, progress=not no_progress, executor=ex, replace=replace)
        finally:
            ex.close()
    _print_checks(res)
    _print_claims(res)
    for line in res.manifest.get("summary", []):
        out_console.print(line, highlight=False, markup=False)
    out_console.print(f"results: {res.path}", highlight=False, markup=False)
    _exit_for([res], strict)


def _counts_line(res) -> str:
    """'<id>: 12 runs ok 11, diverged 1 (reused 4, computed 8)'."""
    runs, m = res.runs, res.manifest
    counts = runs["status"].value_counts().to_dict()
    reuse = f" (reused {m['reused']}, computed {m['computed']})" if "reused" in m else ""
    return (f"[bold]{escape(res.experiment_id)}[/]: {len(runs)} runs "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + reuse)


def _print_checks(res) -> None:
    """Run counts, the check table with each check's reason, and the headline verdict."""
    from overparam.report import check_summary, headline

    out_console.print(_counts_line(res))
    summary = check_summary(res.checks)
    if summary.empty:
        return
    table = Table("check", "equation", "holds", "violated", "n/a", "vacuous", "verdict",
                  "median lhs/rhs", "note")
    for r in summary.itertuples():
        table.add_row(*(escape(str(x)) for x in (
            r.check, r.equation, r.n_holds, r.n_violated, r.n_not_applicable, r.n_vacuous,
            r.verdict, f"{r.median_ratio:.3g}", r.note)))
    out_console.print(table)
    verdict, printed = headline(summary)
    out_console.print(f"verdict: {verdict}", highlight=False, markup=False)
    for line in printed:
        out_console.print(f"  {line} (docs/errata.md)", highlight=False, markup=False)


def _claims_text(res) -> str:
    """'; claims: 2 hold, 1 fails, 1 cannot' (empty without claims)."""
    counts = res.manifest.get("claims") or {}
    parts = [f"{n} {'hold' if v == 'holds' else v}" for v, n in counts.items() if n]
    return f"; claims: {', '.join(parts)}" if parts else ""


def _print_claim_tally(results) -> None:
    """Per paper: how many of its claims hold, fail, or cannot be evaluated at this size."""
    tally: dict[str, dict[str, int]] = {}
    for res in results:
        paper = res.manifest.get("paper") or "?"
        for v, n in (res.manifest.get("claims") or {}).items():
            tally.setdefault(paper, {}).setdefault(v, 0)
            tally[paper][v] += n
    for paper, counts in sorted(tally.items()):
        total = sum(counts.values())
        if not total:
            continue
        rest = ", ".join(f"{n} {v}" for v, n in counts.items() if n and v != "holds")
        out_console.print(f"paper {paper}: {counts.get('holds', 0)} of {total} claims hold"
                          + (f" ({rest})" if rest else ""), highlight=False, markup=False)


def _print_claims(res) -> None:
    """The paper's claims about the experiment (see :func:`overparam.show.claims_table`)."""
    from overparam.show import claims_table

    table = claims_table(res.claims)
    if table is not None:
        out_console.print(table)


def _exit_for(results, strict: bool) -> None:
    """Exit 3 when a run failed or stalled (or, with --strict, diverged), naming the count
    and the first reason; 0 otherwise."""
    import pandas as pd

    bad = ("failed", "stalled", "diverged") if strict else ("failed", "stalled")
    runs = pd.concat([r.runs.assign(_exp=r.experiment_id) for r in results], ignore_index=True)
    hit = runs[runs["status"].isin(bad)]
    if hit.empty:
        return
    first = hit.iloc[0]
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(hit["status"].value_counts().items()))
    err_console.print(f"{len(hit)} of {len(runs)} runs did not succeed ({kinds}); first, in "
                      f"{first['_exp']}: {first['note'] or first['status']}",
                      highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_RUNS)




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
            executor: ExecutorOpt = "local", workers: Workers = None,
            strict: Strict = False, replace: Replace = False,
            allow_import: AllowImport = False) -> None:
    """Run a registered experiment by id."""
    _run(experiment_id, quick, seeds, steps, out, set_, no_progress, executor, workers, strict,
         replace, allow_import)


@app.command("run-spec")
def run_spec_cmd(spec_file: Path, quick: Quick = False, seeds: Seeds = None, steps: Steps = None,
                 out: Out = DEFAULT_OUT, set_: Sets = None, no_progress: NoProgress = False,
                 executor: ExecutorOpt = "local", workers: Workers = None,
                 strict: Strict = False, replace: Replace = False,
            allow_import: AllowImport = False) -> None:
    """Run a user experiment from a YAML spec file (paths in it are relative to the file)."""
    _run(spec_file, quick, seeds, steps, out, set_, no_progress, executor, workers, strict,
         replace, allow_import)


@app.command("report")
def report_cmd(results_dir: Path) -> None:
    """Write RESULTS_DIR/index.html: figures and check verdicts of every experiment."""
    from overparam.report import write_report

    if not results_dir.is_dir():
        _fail(SpecError("RESULTS_DIR", f"{results_dir} is not a folder"))
    out_console.print(f"report: {write_report(results_dir)}", highlight=False, markup=False)


@app.command("reproduce")
def reproduce_cmd(quick: Quick = False, out: Out = DEFAULT_OUT,
                  no_progress: NoProgress = False, executor: ExecutorOpt = "local",
                  workers: Workers = None, strict: Strict = False,
                  replace: Replace = False) -> None:
    """Run every registered experiment, then write the report."""
    from overparam.experiments import all_experiments
    from overparam.report import write_report
    from overparam.runner import check_target, execute, plan

    choice = _parse_executor(executor, workers)
    plans = []
    for e in all_experiments():  # every plan first: a bad one stops before anything runs
        cmd = f"overparam run {e.id}" + (" --quick" if quick else "")
        try:
            plans.append(plan(e.id, quick=quick, command=cmd))
            check_target(plans[-1], out, replace)
        except SpecError as exc:
            _fail(exc)
    ex = _executor(choice, workers)
    results = []
    with _guard(out):
        try:
            for p in plans:
                results.append(execute(p, out, progress=not no_progress, executor=ex,
                                       replace=replace))
                out_console.print(_counts_line(results[-1]) + _claims_text(results[-1]))
        finally:
            ex.close()
        _print_claim_tally(results)
        out_console.print(f"report: {write_report(out).resolve()}", highlight=False,
                          markup=False)
    _exit_for(results, strict)


@app.command("show")
def show_cmd(results_dir: Annotated[Path, typer.Argument(
        metavar="DIR", help="an experiment's results folder, or an --out folder holding one")],
) -> None:
    """Print a results folder: run counts by status, the runs not ok, the check verdicts."""
    from overparam.show import read, render

    try:
        shown = read(results_dir)
    except (OSError, ValueError) as exc:
        err_console.print(f"[bold red]error:[/] {escape(bounded(str(exc)))}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(2) from None
    render(shown, out_console)


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
