"""``overparam.probe``: the theory's measurements on any JAX model, from Python.

The functions are registered in this process under a name derived from their code, and the
data is written once as .npy files under ``<out>/.inputs/<digest>/`` (content-addressed), so
the run is an ordinary spec: same run ids for the same model, data and settings, same
results folder, resume, report and ``overparam.load``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from overparam.generic import models
from overparam.generic.figures import slq_table

__all__ = ["probe", "slq_table"]


def _write_inputs(out: Path, X: np.ndarray, Y: np.ndarray) -> tuple[Path, Path]:
    """X and Y as .npy under a folder named by their bytes (written once, atomically)."""
    from overparam.store import atomic_write

    digest = hashlib.sha256()
    for arr in (X, Y):
        digest.update(f"{arr.dtype}{arr.shape}".encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    folder = (out / ".inputs" / digest.hexdigest()[:16]).resolve()
    paths = (folder / "X.npy", folder / "Y.npy")
    for path, arr in zip(paths, (X, Y), strict=True):
        if not path.is_file():
            atomic_write(path, lambda p, a=arr: np.save(p.open("wb"), a, allow_pickle=False))
    return paths


def _matrix(value: Any, name: str) -> np.ndarray:
    from overparam.errors import SpecError

    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or 0 in arr.shape:
        raise SpecError(f"data.{name}", f"expected a non-empty matrix, got shape {arr.shape}")
    return arr


def probe(
    apply: Callable[[Any, Any], Any],
    init: Callable[[Any], Any],
    data: tuple[Any, Any] | dict[str, Any],
    *,
    loss: str | dict[str, Any] = "squared",
    schedule: dict[str, Any] | None = None,
    steps: int = 200,
    seeds: int = 1,
    measure: Sequence[str] = ("curvature", "pl_ratio"),
    every: dict[str, int] | None = None,
    lanczos: dict[str, int] | None = None,
    id: str | None = None,
    out: str | Path = "overparam-results",
    progress: bool = False,
    replace: bool = False,
    **fields: Any,
):
    """Full-batch GD on ``apply(params, X)`` from ``init(key)`` (key = PRNGKey(seed)).

    ``data``: ``(X, Y)`` arrays (samples as rows) or a data spec (``{"kind": "digits",
    ...}``); ``loss``: ``squared`` | ``cross_entropy`` | ``logistic`` or its spec
    (``{"kind": ..., "reduction": "mean", "ridge": 0, "l_star": 0}``); ``schedule``: a
    schedule spec (default constant η = 0.01); ``measure``: any of ``curvature``,
    ``pl_ratio``, ``sharpness``, ``trace``, ``slq``, ``ntk``, ``dist_init``, ``lazy_gap``;
    ``every``: {measurement: k} to run a costly one every k-th step. Other keyword arguments
    are top-level spec fields (``chunk``, ``diverge_factor``, ``seed``). Returns the Result.
    """
    from overparam import run

    out = Path(out)
    if isinstance(data, dict):
        data_spec = dict(data)
    else:
        X, Y = (_matrix(v, n) for v, n in zip(data, ("X", "Y"), strict=True))
        xp, yp = _write_inputs(out, X, Y)
        data_spec = {"kind": "npy", "X": str(xp), "Y": str(yp)}
    problem = {"kind": "jax_model", "model": models.register(apply, init), "init": None,
               "data": data_spec, "loss": {"kind": loss} if isinstance(loss, str) else loss,
               "measure": list(measure), "every": dict(every or {}),
               "lanczos": dict(lanczos or {})}
    spec: dict[str, Any] = {"problem": problem, "steps": steps, "seeds": seeds,
                            "schedule": schedule or {"kind": "constant", "eta": 0.01}, **fields}
    spec["id"] = id or f"probe/{getattr(apply, '__name__', 'model')}"
    return run(spec, out=out, progress=progress, replace=replace)
