"""The problem-family protocol: what a family declares so that the shared spine (spec →
runner → engine → store → report) runs it without knowing its kind.

A family is a frozen dataclass of functions (optax and blackjax style). The runner calls
``build_instance`` per seed, ``prepare`` once per batch of seeds, runs ``Prepared.step`` in the
compiled loop, then ``failure`` and ``finalize`` per run. The compile-cache identity is derived
from the validated setting (:func:`compile_key`), never written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

    from overparam.resources import Term
    from overparam.spec.base import ProblemSpec
    from overparam.spec.setting import Setting


#: A row's flag of a companion computation (a convex twin, a linearized model) that a family
#: goes on computing after its run has died: the run's rows then continue while the
#: companion lives, with the run's own columns NaN there (the family writes them so); the
#: run's status and ``steps_done`` stay its own.
COMPANION = "companion_alive"


class Prepared(NamedTuple):
    """A batch of seeds ready for the compiled loop: per-seed theory constants (the runs'
    columns), carries and data (stacked by the engine), and the per-seed step
    ``step(carry, data, k) -> (carry, row)``; a row holds ``t``, ``alive`` and the logged
    columns (and ``stop`` where a family stops runs early, ``COMPANION`` where it continues
    a companion past the run's death)."""

    constants: list[dict[str, Any]]
    carries: list[Any]
    data: list[Any]
    step: Callable[[Any, Any, Any], tuple[Any, dict[str, Any]]]


class Finalized(NamedTuple):
    """One run after its loop: its constants (possibly completed), extra columns of
    runs.parquet, and its rows of checks.parquet."""

    constants: dict[str, Any]
    extra: dict[str, Any]
    checks: list[dict[str, Any]]


@dataclass(frozen=True)
class Family:
    """A problem family. ``columns`` are the logged columns of steps.parquet (after run_id,
    step, t). ``failure`` says why a run cannot start, ``stalled`` why a finished run did not
    move (its rule, usually :func:`stall_reason`; '' when it moved). ``runtime_fields`` are
    the dotted setting fields that reach the compiled step only as arrays (data, init,
    sizes): settings that differ only there share one executable. Every other field is part of the compile key, so forgetting one here costs
    a compilation, never a wrong result."""

    spec: ProblemSpec
    columns: tuple[str, ...]
    build_instance: Callable[[Setting, int, Path], Any]
    prepare: Callable[[Setting, list[Any]], Prepared]
    finalize: Callable[[Setting, Any, dict[str, Any], pd.DataFrame, str], Finalized]
    memory: Callable[[Setting, Path], list[Term]]
    figure: Callable[[Path, pd.DataFrame, pd.DataFrame], list[str]]
    failure: Callable[[Setting, dict[str, Any]], str] = lambda setting, constants: ""
    stalled: Callable[[Setting, dict[str, Any], pd.DataFrame], str] = (
        lambda setting, constants, steps: "")
    runtime_fields: Sequence[str] = field(default=("problem.data", "init"))
    #: Logged columns that depend on the setting (after ``columns``), e.g. one per node of
    #: a quadrature whose size the spec chooses.
    extra_columns: Callable[[Setting], tuple[str, ...]] = lambda setting: ()

    @property
    def kind(self) -> str:
        return self.spec.kind


#: Setting fields that never reach a step: the engine handles the number of rows and chunks.
LOOP_FIELDS = ("steps", "chunk")


def _drop(tree: dict[str, Any], dotted: str) -> None:
    """Remove ``dotted`` from a dumped setting, keeping every ``kind`` below it (a kind picks
    a model, and so usually a code path)."""
    head, _, rest = dotted.partition(".")
    if rest:
        if isinstance(tree.get(head), dict):
            _drop(tree[head], rest)
    elif isinstance(tree.get(head), dict):
        tree[head] = _kinds_only(tree[head])
    else:
        tree.pop(head, None)


def _kinds_only(tree: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if key == "kind":
            out[key] = value
        elif isinstance(value, dict) and _kinds_only(value):
            out[key] = _kinds_only(value)
    return out


def compile_key(family: Family, setting: Setting) -> str:
    """The identity of a setting's compiled step: the whole validated setting except the
    family's runtime fields (their ``kind`` keys stay; array shapes are added by the
    engine)."""
    tree = setting.model_dump(mode="json")
    for dotted in (*family.runtime_fields, *LOOP_FIELDS):
        _drop(tree, dotted)
    return json.dumps(tree, sort_keys=True)


def alive_after(alive: Any, loss: Any, diverge_at: Any, *finite: Any) -> Any:
    """The divergence rule of every family: a run stays alive while its loss is finite and
    at most ``diverge_at`` (= diverge_factor · max(its reference loss, 1), see
    :func:`divergence_threshold`) and every other value named is finite."""
    import jax.numpy as jnp

    from overparam import _jax  # noqa: F401  (float64)

    ok = alive & jnp.isfinite(loss) & (loss <= diverge_at)
    for x in finite:
        ok = ok & jnp.all(jnp.isfinite(x))
    return ok


def divergence_threshold(setting: Setting, reference: float) -> float:
    """The loss above which a run has diverged: diverge_factor · max(reference, 1), with the
    reference the family's loss at init (for losses that start near zero, 1)."""
    import numpy as np

    return float(np.float64(setting.diverge_factor) * max(np.float64(reference), 1.0))


#: A run stalled when its loss gap fell by less than this fraction of its initial value ...
STALL_FRACTION = 0.01
#: ... while its step size stayed below this fraction of the local stability scale (η·K_t
#: for paper A, η*·β for paper C): a step size far below 1/K moves nothing, and every
#: "holds" on such a run is vacuous.
STALL_STEP_RATIO = 1e-2


def stall_reason(gap: Any, step_ratio: Any, scale_name: str) -> str:
    """Why a run with loss gaps ``gap`` (per step) and step sizes ``step_ratio`` (η over the
    local 1/K, per step) stalled ('' when it did not): the gap fell by less than
    STALL_FRACTION while every ratio stayed at most STALL_STEP_RATIO."""
    import numpy as np

    gap, ratio = np.asarray(gap, float), np.asarray(step_ratio, float)
    if gap.size < 2 or not (gap[0] > 0) or not np.isfinite(gap[-1]):
        return ""
    if gap[-1] < (1.0 - STALL_FRACTION) * gap[0]:
        return ""
    finite = ratio[np.isfinite(ratio)]
    if not finite.size or finite.max() > STALL_STEP_RATIO:
        return ""
    fell = 100.0 * (1.0 - gap[-1] / gap[0])
    return (f"stalled: the loss gap fell by {fell:.2g}% in {gap.size - 1} steps while "
            f"{scale_name} stayed <= {finite.max():.2g} (the step size is far below the "
            "local 1/K)")
