"""The experiment registry: each paper module registers recipes (spec grid + figure + summary)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overparam.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

#: (root, runs, steps, checks, quick) -> (figure paths relative to root, summary lines). The
#: frames are pandas DataFrames; the registry itself imports no pandas (``overparam list``
#: stays fast), so the alias names them as text.
Finisher = Callable[[Path, "pd.DataFrame", "pd.DataFrame", "pd.DataFrame", bool],
                    tuple[list[str], list[str]]]


@dataclass(frozen=True)
class Experiment:
    """A registered reproduction: full-size spec, quick overrides, figure and summary."""

    id: str
    title: str
    paper: str
    paper_title: str
    figure: str
    spec: dict[str, Any]
    quick: dict[str, Any] = field(default_factory=dict)
    finisher: Finisher | None = None
    #: An adaptive experiment (e.g. a bisection on the width) gets a ``runner.Search`` whose
    #: templates are the spec's settings; the settings it evaluates are the experiment's runs.
    search: Callable[[Any], None] | None = None
    #: The paper's statements about this figure or table, evaluated after the run
    #: (:mod:`overparam.experiments.claims`).
    claims: tuple[Any, ...] = ()

    def raw_spec(self) -> dict[str, Any]:
        raw = copy.deepcopy(self.spec)
        raw.setdefault("id", self.id)
        raw.setdefault("title", self.title)
        raw.setdefault("paper", self.paper)
        return raw

    def finish(self, root: Path, runs, steps, checks, quick: bool) -> tuple[list[str], list[str]]:
        """Draw the figures (paths relative to root) and return summary lines."""
        if self.finisher is None:
            return [], []
        return self.finisher(root, runs, steps, checks, quick)


REGISTRY: dict[str, Experiment] = {}


def verdict_line(checks: pd.DataFrame, ids, prefix: str, ratios: bool = False) -> str:
    """'check 3h/1v/2n, …' for the given runs (h holds, v violated, n not applicable), with the
    median and largest lhs/rhs when ``ratios``."""
    import pandas as pd

    sub = checks[checks["run_id"].isin(ids)]
    parts = []
    for check, grp in sub.groupby("check", sort=False):
        counts = grp["status"].value_counts()
        text = f"{check.removeprefix(prefix)} " + "/".join(
            f"{counts.get(s, 0)}{s[0]}" for s in ("holds", "violated", "not_applicable")
            if counts.get(s, 0))
        top = grp["max_ratio"].max()
        if ratios and pd.notna(top):
            text += f" (ratio median {grp['median_ratio'].median():.3g}, max {top:.3g})"
        parts.append(text)
    return ", ".join(parts)


def register(exp: Experiment) -> Experiment:
    if exp.id in REGISTRY:
        raise ValueError(f"experiment {exp.id} registered twice")
    REGISTRY[exp.id] = exp
    return exp


def _load_all() -> None:
    from overparam.experiments import (  # noqa: F401
        directional,
        local_pl,
        near_isometry,
        probe,
        trajectory,
    )


def all_experiments() -> list[Experiment]:
    _load_all()
    return sorted(REGISTRY.values(), key=lambda e: (e.paper, e.id))


def get_experiment(experiment_id: str) -> Experiment:
    _load_all()
    if experiment_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise SpecError("experiment", f"unknown experiment {experiment_id!r}; known: {known}")
    return REGISTRY[experiment_id]
