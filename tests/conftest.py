"""Shared fixtures: float64 JAX (via the package import) and tiny specs that compile fast."""

from __future__ import annotations

import copy

import pytest

import overparam  # noqa: F401  (enables float64)

TINY = {
    "id": "tiny",
    "problem": {
        "kind": "two_layer_linear",
        "loss": "squared",
        "width": 12,
        "data": {
            "kind": "synthetic",
            "n": 3,
            "m": 2,
            "x": "orthogonal",
            "target": "init",
            "noise": 0.05,
        },
    },
    "init": {"kind": "gaussian", "std": 1.0},
    "schedule": {"kind": "local_pl"},
    "steps": 15,
    "seeds": 2,
}


@pytest.fixture
def tiny() -> dict:
    return copy.deepcopy(TINY)
