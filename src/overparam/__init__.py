"""overparam: gradient descent on overparameterized networks, measured against the theory.

    import overparam as op
    res = op.run("local-pl/bound-tightness", quick=True, seeds=5)
    res.runs, res.steps, res.checks      # pandas DataFrames
    res = op.load("overparam-results/local-pl__bound-tightness")   # reopen, no rerun

Importing overparam is light (no JAX, pandas or matplotlib until a run needs them) and leaves
the process's JAX platform alone unless asked: ``OVERPARAM_PLATFORM=cpu`` in the environment or
``overparam.set_platform("cpu")`` before the first computation (see ``overparam._jax``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

try:
    __version__ = version("overparam")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def run(
    id_or_spec: str | Path | dict[str, Any],
    *,
    quick: bool = False,
    seeds: int | None = None,
    steps: int | None = None,
    out: str | Path = "overparam-results",
    sets: dict[str, Any] | None = None,
    progress: bool = False,
    executor: str = "local",
    workers: int | None = None,
    replace: bool = False,
    allow_import: bool = False,
    **overrides: Any,
):
    """Run a registered experiment, a spec file or a spec dict; return its Result.

    ``sets`` maps dotted paths to values (a list sweeps a scalar field, like ``--set``);
    other keyword arguments override top-level fields, ``__`` standing for a dot
    (``problem__width=[500, 1000]``). ``executor`` is ``local``, ``dask`` (a local cluster
    of ``workers`` processes) or ``dask://HOST:PORT``, as on the command line. A results
    folder holding another spec's runs is refused (``SpecError``) unless ``replace``.
    ``allow_import`` lets a spec name user code to import (``problem.model``).
    """
    from overparam.executors import make_executor
    from overparam.runner import execute, plan
    from overparam.spec.imports import allowing_imports

    pairs = list((sets or {}).items()) + [(k.replace("__", "."), v) for k, v in overrides.items()]
    with allowing_imports(allow_import):
        p = plan(id_or_spec, quick=quick, seeds=seeds, steps=steps, sets=pairs,
                 command=f"overparam.run({id_or_spec!r})" if not isinstance(id_or_spec, dict)
                 else "")
        ex = make_executor(executor, workers)
        try:
            return execute(p, Path(out), progress=progress, executor=ex, replace=replace)
        finally:
            ex.close()


def probe(apply: Any, init: Any, data: Any, **options: Any):
    """GD on any pure JAX model ``apply(params, X)`` with ``init(key) -> params``, measured
    at every iterate (sharpness, curvature, PL ratio, NTK, trace, laziness); returns its
    Result. See ``overparam.generic.api.probe`` for the options and docs/probe.md."""
    from overparam.generic.api import probe as _probe

    return _probe(apply, init, data, **options)


def set_platform(name: str) -> None:
    """Run JAX (overparam's and the rest of the process's) on ``name``: ``cpu``, ``cuda``, or a
    comma-separated preference list. Call it before the first computation: JAX picks its
    backend once per process."""
    from overparam._jax import set_platform as _set

    _set(name)


def load(path: str | Path):
    """Reopen a results folder (an experiment's, or an ``--out`` folder holding one) as a
    Result, without rerunning anything or importing JAX; see ``overparam.results``."""
    from overparam.results import load as _load

    return _load(path)


def list_experiments() -> list[str]:
    """Ids of every registered experiment."""
    from overparam.experiments import all_experiments

    return [e.id for e in all_experiments()]


__all__ = ["__version__", "list_experiments", "load", "probe", "run", "set_platform"]
