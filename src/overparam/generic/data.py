"""The probe's data: scikit-learn's bundled digits, or the shared matrix sources (.npy files,
inline rows, paper A's synthetic generator), as (X samples × inputs, Y samples × outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from overparam.errors import SpecError
from overparam.generic.losses import check_targets


def digits(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """The first ``samples`` digits of the chosen classes in a shuffle drawn from
    ``spec.seed``: pixels/16, centred per pixel; one-hot targets (or ±1 for two classes)."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    keep = np.flatnonzero(np.isin(raw.target, spec.classes))
    if spec.samples > keep.size:
        raise SpecError("problem.data.samples", f"{spec.samples} asked, the classes "
                        f"{spec.classes} have {keep.size} images")
    order = np.random.default_rng(spec.seed).permutation(keep)[: spec.samples]
    X = np.asarray(raw.data[order], np.float64) / 16.0
    X = X - X.mean(axis=0)
    labels = np.searchsorted(sorted(spec.classes), raw.target[order])
    if spec.targets == "sign":
        return X, (2.0 * labels - 1.0)[:, None]
    return X, np.eye(len(spec.classes))[labels]


def load(problem: Any, base_dir: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) of a validated jax_model problem, targets checked against the loss."""
    spec = problem.data
    if spec.kind == "digits":
        X, Y = digits(spec)
    elif spec.kind == "npy":
        from overparam.data.synthetic import load_data

        X, Y = load_data(spec, base_dir, "squared")
    elif spec.kind == "inline":
        X, Y = np.asarray(spec.X, np.float64), np.asarray(spec.Y, np.float64)
    else:
        from overparam.data.synthetic import make_synthetic

        rng = np.random.default_rng([seed, 2])
        W0 = 0.1 * rng.standard_normal((spec.n, spec.m))
        X, Y = make_synthetic(spec, W0, rng, "squared")
    why = check_targets(problem.loss.kind, Y)
    if why:
        raise SpecError("problem.data", why)
    return np.asarray(X, np.float64), np.asarray(Y, np.float64)
