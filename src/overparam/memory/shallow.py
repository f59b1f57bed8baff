"""Memory terms of the shallow network's settings."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from overparam.resources import (
    DATA_COPIES,
    Term,
    data_shape,
    resolve,
)
from overparam.spec.setting import Setting
from overparam.spec.shallow import DatasetData, Shallow, SphereData

#: Copies of the weights alive per seed while a setting runs (see overparam.resources).
PARAM_COPIES = 10.0
#: Activation-sized (width × samples) arrays of the step: the pre-activation, φ, φ', and
#: the backward pass's products.
SHALLOW_ACTIVATION_COPIES = 6.0


def _idx_count(folder: Path, name: str) -> tuple[int, int]:
    """(items, entries per item) from an IDX header in ``folder`` ((0, 0) when unreadable)."""
    for path in (folder / name, folder / f"{name}.gz"):
        if not path.is_file():
            continue
        try:
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as fh:
                head = fh.read(4)
                if len(head) < 4 or head[0] or head[1] or not head[3]:
                    return 0, 0
                dims = np.frombuffer(fh.read(4 * head[3]), dtype=">u4")
        except (OSError, EOFError, ValueError):
            return 0, 0
        if dims.size != head[3]:
            return 0, 0
        return int(dims[0]), int(np.prod(dims[1:], dtype=np.int64))
    return 0, 0


#: scikit-learn's digits: 1797 samples of 8×8 pixels.
DIGITS_SAMPLES, DIGITS_PIXELS = 1797, 64


def shallow_shape(data: Any, base_dir: Path) -> tuple[int, int, int, int, int]:
    """(d0, n, d2, n_test, full training set) of the shallow network's data."""
    if isinstance(data, SphereData):
        return data.input_dim(), data.n, data.d2, 0, data.n
    if data.kind == "npy":  # a given instance: the shapes in the files' headers
        n, d0, d2 = data_shape(data, base_dir)
        n_test = data_shape(data.model_copy(update={"X": data.X_test, "Y": data.Y_test}),
                            base_dir)[0] if data.X_test is not None else 0
        return d0, n, d2, n_test, n
    assert isinstance(data, DatasetData)
    if data.dataset() == "mnist":
        folder = resolve(data.path, base_dir)
        n_full, d0 = _idx_count(folder, "train-images-idx3-ubyte")
        test_full, _ = _idx_count(folder, "t10k-images-idx3-ubyte")
    else:
        test_full = round(data.test_fraction * DIGITS_SAMPLES)
        n_full, d0 = DIGITS_SAMPLES - test_full, DIGITS_PIXELS
    n = min(data.n_train or n_full, n_full)
    n_test = min(data.n_test or test_full, test_full)
    return d0, n, 10, n_test, n_full


# ----------------------------------------------------------------- per family


def terms(setting: Setting, base_dir: Path) -> list[Term]:
    """The arrays of one seed of this setting (the logged rows are the family's to add)."""
    from overparam.problems.shallow import NTK_MAX
    from overparam.problems.shallow_constants import GRAM_MAX

    prob: Shallow = setting.problem
    d0, n, d2, n_test, n_full = shallow_shape(prob.data, base_dir)
    h = prob.width
    n_field = {"sphere": "problem.data.n", "npy": "problem.data.X"}.get(prob.data.kind,
                                                                        "problem.data.n_train")
    act_field = "problem.width" if h >= n else n_field
    lazy = 2.0 if prob.lazy else 1.0
    terms = [
        Term("weights W, V", "problem.width", h * (d0 + d2), PARAM_COPIES * lazy),
        Term("activations W X, φ, φ'", act_field, h * (n + 2 * n_test),
             SHALLOW_ACTIVATION_COPIES * lazy),
        Term("data X, Y", n_field, (d0 + d2) * (n + n_test), DATA_COPIES),
        # theory at init: W0 X and φ(W0 X), the smaller Gram of φ, one seed at a time
        Term("activations at init", act_field, h * n, 3.0, per_seed=False),
        Term("Gram of φ(W0 X)", act_field, min(h, n) ** 2, 2.0, per_seed=False),
    ]
    if prob.dynamics.kind == "sgd":  # a minibatch's activations and gathered columns
        b = min(prob.dynamics.batch, n)
        terms.append(Term("minibatch", "problem.dynamics.batch", h * b * lazy + (d0 + d2) * b,
                          SHALLOW_ACTIVATION_COPIES))
    if n <= GRAM_MAX:  # σ_min(X^{*t}) and the expected-kernel check: n × n matrices
        terms.append(Term("n × n kernels", n_field, n * n, 4.0, per_seed=False))
    ntk = d2 * n
    if ntk <= NTK_MAX:  # beyond it build_instance refuses the NTK with its own message
        if prob.ntk_every:
            terms.append(Term("NTK", n_field, ntk * ntk, 3.5, hint="set problem.ntk_every: 0"))
            terms.append(Term("NTK factors", "problem.width", h * ntk, 2.0,
                              hint="set problem.ntk_every: 0"))
        elif setting.schedule.eta == "ntk":
            terms.append(Term("NTK at init", n_field, ntk * ntk + 2 * h * ntk, 3.5,
                              per_seed=False))
    if isinstance(prob.data, DatasetData) and prob.data.labels == "teacher":
        tw = prob.data.teacher.width
        terms.append(Term("teacher", "problem.data.teacher.width",
                          tw * (n_full + d0 + 10), 4.0, per_seed=False))
    return terms
