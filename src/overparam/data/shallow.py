"""Data of the shallow network (paper B): unit-norm points on the sphere with Gaussian targets,
images (digits, MNIST) with the labels of a trained teacher, or a user's .npy instance, as
X ∈ R^{d0×n}, Y ∈ R^{d2×n}.

A dataset and its teacher are built once per process and shared by every run that asks for
the same data, so all students of an experiment see one teacher.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from overparam.errors import SpecError
from overparam.spec import DatasetData, SphereData
from overparam.spec.shallow import ShallowNpyData

N_CLASSES = 10


class ShallowData(NamedTuple):
    """Training (X, Y) and held-out (X_test, Y_test) columns; labels are one-hot for images."""

    X: np.ndarray
    Y: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    classify: bool
    info: dict


def sphere(spec: SphereData, rng: np.random.Generator) -> ShallowData:
    """n uniform points on S^{d0−1}; Y with i.i.d. N(0, 1) entries scaled to ‖Y‖_F = y_norm."""
    d0 = spec.input_dim()
    X = rng.standard_normal((d0, spec.n))
    X /= np.linalg.norm(X, axis=0, keepdims=True)
    Y = rng.standard_normal((spec.d2, spec.n))
    Y *= spec.y_norm / np.linalg.norm(Y)
    empty = np.zeros((d0, 0)), np.zeros((spec.d2, 0))
    return ShallowData(X, Y, *empty, classify=False, info={"d0": d0})


def _is_one_hot(Y: np.ndarray) -> bool:
    return bool(np.all(np.isin(Y, (0.0, 1.0))) and np.all(Y.sum(axis=1) == 1.0))


def npy(spec: ShallowNpyData, base_dir: Path) -> ShallowData:
    """The user's instance (samples as rows in the files, as columns here), read by the
    shared .npy loader; one-hot targets make it a classification (errors logged)."""
    from overparam.data.synthetic import load_data, load_npy, resolve

    X, Y = load_data(spec, base_dir, "squared")
    classify = Y.shape[1] > 1 and _is_one_hot(Y)
    X_test, Y_test = np.zeros((0, X.shape[1])), np.zeros((0, Y.shape[1]))
    if spec.X_test is not None:
        X_test = load_npy(resolve(spec.X_test, base_dir), "problem.data.X_test")
        Y_test = load_npy(resolve(spec.Y_test, base_dir), "problem.data.Y_test")
        if X_test.shape[1] != X.shape[1]:
            raise SpecError("problem.data.X_test", f"has {X_test.shape[1]} columns but X has "
                            f"{X.shape[1]}")
        if Y_test.shape != (X_test.shape[0], Y.shape[1]):
            raise SpecError("problem.data.Y_test", f"has shape {Y_test.shape}, expected "
                            f"{(X_test.shape[0], Y.shape[1])}")
        if classify and not _is_one_hot(Y_test):
            raise SpecError("problem.data.Y_test", "Y is one-hot, so Y_test must be too")
    info = {"dataset": "npy", "labels": "given", "d0": X.shape[1]}
    return ShallowData(X.T.copy(), Y.T.copy(), X_test.T.copy(), Y_test.T.copy(), classify, info)


def one_hot(labels: np.ndarray) -> np.ndarray:
    """(classes × n) one-hot columns."""
    out = np.zeros((N_CLASSES, labels.size))
    out[labels, np.arange(labels.size)] = 1.0
    return out


def images(spec: DatasetData, base_dir: Path) -> ShallowData:
    """The dataset of the spec (cached per process)."""
    key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    path = None if spec.path is None else (spec.path if spec.path.is_absolute()
                                           else base_dir / spec.path)
    return _images(key, str(path) if path else "")


@functools.lru_cache(maxsize=4)
def _images(key: str, path: str) -> ShallowData:
    from overparam.data import datasets
    from overparam.data.teacher import teacher_labels, train_teacher

    spec = DatasetData.model_validate(json.loads(key))
    if spec.dataset() == "mnist":
        Xtr, ytr, Xte, yte = datasets.load_mnist(Path(path))
    else:
        Xtr, ytr, Xte, yte = datasets.load_digits_split(spec.test_fraction, spec.split_seed)
    info: dict = {"dataset": spec.dataset(), "labels": spec.labels}
    raw_tr, raw_te = Xtr, Xte
    if spec.normalize == "unit":
        Xtr, Xte = datasets.unit_rows(Xtr), datasets.unit_rows(Xte)
    else:
        mean, std = Xtr.mean(), Xtr.std()
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    if spec.labels == "teacher":  # unit-norm samples, or exactly what the student sees
        t = spec.teacher
        if t.inputs == "unit":
            Utr, Ute = datasets.unit_rows(raw_tr), datasets.unit_rows(raw_te)
        else:
            Utr, Ute = Xtr, Xte
        teacher = train_teacher(Utr, ytr, width=t.width, activation=t.activation, lr=t.lr,
                                batch=t.batch, max_epochs=t.max_epochs, seed=t.seed,
                                bias=t.bias)
        ytr, yte = teacher_labels(Utr, Ute, teacher)
        info.update(teacher_train_error=teacher.train_error, teacher_epochs=teacher.epochs,
                    teacher_fingerprint=teacher.fingerprint)
    info["input_norm"] = float(np.median(np.linalg.norm(Xtr, axis=1)))
    if spec.n_train is not None and spec.n_train < len(ytr):
        Xtr, ytr = datasets.subsample(Xtr, ytr, spec.n_train, spec.split_seed)
    if spec.n_test is not None and spec.n_test < len(yte):
        Xte, yte = datasets.subsample(Xte, yte, spec.n_test, spec.split_seed + 1)
    info["d0"] = Xtr.shape[1]
    return ShallowData(Xtr.T.copy(), one_hot(ytr), Xte.T.copy(), one_hot(yte), True, info)
