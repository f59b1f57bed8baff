"""A fifth problem family, written only here: GD on L(x) = a·x²/2 for a scalar x.

It exists to prove that a family is new files plus registration: it declares its spec model,
compatibility rules, memory terms, step, checks and figure through the protocol and touches
no shared module. The check is the closed form L(t) = L(0)(1 − ηa)^{2t}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import PositiveFloat

from overparam.checks.core import inequality
from overparam.errors import SpecError
from overparam.problems.protocol import (
    Family,
    Finalized,
    Prepared,
    alive_after,
    divergence_threshold,
)
from overparam.resources import Term, rows_terms
from overparam.spec.base import ProblemSpec, Strict, only

COLUMNS = ("loss", "x", "closed_form")


class ScalarQuadratic(Strict):
    """L(x) = a·x²/2 from x(0) = x0 + N(0, noise²)."""

    kind: Literal["scalar_quadratic"]
    a: PositiveFloat = 1.0
    x0: float = 1.0
    noise: float = 0.0


def fit(problem: ScalarQuadratic, init: Any, schedule: Any) -> None:
    only("schedule.kind", schedule.kind, ("constant",), "scalar_quadratic")
    if not isinstance(schedule.eta, float | int):
        raise SpecError("schedule.eta", "scalar_quadratic takes a number")


PROBLEM = ProblemSpec(ScalarQuadratic, defaults={"schedule": {"kind": "constant", "eta": 0.1}},
                      fit=fit)


class Instance(NamedTuple):
    x0: float


def build_instance(setting: Any, seed: int, base_dir: Path) -> Instance:
    p = setting.problem
    return Instance(p.x0 + p.noise * np.random.default_rng(seed).standard_normal())


def prepare(setting: Any, insts: list[Instance]) -> Prepared:
    import jax.numpy as jnp

    a, eta = setting.problem.a, float(setting.schedule.eta)
    consts = [{"L0": 0.5 * a * i.x0**2, "eta": eta} for i in insts]
    carries = [(np.float64(i.x0), np.float64(0.0), np.bool_(True)) for i in insts]
    data = [{"diverge_at": np.float64(divergence_threshold(setting, c["L0"])),
             "L0": np.float64(c["L0"])} for c in consts]

    def step(carry, d, k):
        x, t, alive = carry
        loss = 0.5 * a * x * x
        ok = alive_after(alive, loss, d["diverge_at"])
        row = {"loss": loss, "x": x, "closed_form": d["L0"] * (1 - eta * a) ** (2 * k),
               "t": t, "alive": alive}
        return (jnp.where(ok, x - eta * a * x, x), t + eta, ok), row

    return Prepared(consts, carries, data, step)


def finalize(setting: Any, inst: Instance, c: dict, steps: Any, status: str) -> Finalized:
    scale = np.maximum(steps["closed_form"].to_numpy(), 1e-300)
    checks = [inequality("Q.closed_form", "Q", "L(t) = L(0)(1 − ηa)^{2t}",
                         steps["loss"].to_numpy() / scale, np.ones(len(steps)),
                         atol=1e-12)]
    return Finalized(c, {"final_loss": float(steps["loss"].iloc[-1])}, checks)


def memory(setting: Any, base_dir: Path) -> list[Term]:
    return [Term("x", "problem", 1.0, 4.0)] + rows_terms(setting, len(COLUMNS) + 2)


def figure(root: Path, runs: Any, steps: Any) -> list[str]:
    from overparam.plots import curves_figure

    return curves_figure(root, runs, steps, ("loss", "L(t)"),
                         lambda grp: ("closed_form", "closed form"),
                         ylabel="log10 L(t)", title="scalar quadratic", name="quadratic")


FAMILY = Family(spec=PROBLEM, columns=COLUMNS, build_instance=build_instance, prepare=prepare,
                finalize=finalize, memory=memory, figure=figure,
                runtime_fields=("problem.x0", "problem.noise", "diverge_factor"))
