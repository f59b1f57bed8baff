"""A teacher network for the teacher-student experiment: trained on real labels, then relabels.

The teacher is a two-layer network x ↦ V φ(W x + b1) + b2 (biases optional, PyTorch's default
U(±1/√fan_in) init) with He initialisation of the weights, trained by minibatch SGD on softmax
cross-entropy until its error on the whole training set is exactly zero; it labels through
the activation it was trained with. Three properties are guaranteed and tested: training runs until that point (or fails
loudly after `max_epochs`), the loss is the stated cross-entropy, and the labels come from the
very weights that were trained (a `Teacher` is immutable and carries their fingerprint).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.errors import SpecError
from overparam.inits.common import layer_std
from overparam.models import shallow

DEFAULT_LR = 2.0
DEFAULT_MAX_EPOCHS = 2000


def _activation_fn(name: str) -> Callable:
    from overparam.models import activations

    try:
        return activations.get(name).fn
    except ValueError as exc:
        raise SpecError("problem.data.teacher.activation", str(exc)) from None


def forward(W: jax.Array, V: jax.Array, X: jax.Array, fn: Callable, b1: jax.Array | None = None,
            b2: jax.Array | None = None) -> jax.Array:
    """Logits (n, classes) of the network x ↦ V φ(W x + b1) + b2 (``models.shallow.forward``)
    for the rows of X."""
    return shallow.forward(W, V, X.T, fn, b1, b2).T


def cross_entropy(logits: jax.Array, labels: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Softmax cross-entropy averaged over the rows where `mask` is 1 (all rows by default)."""
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    per_row = (
        jax.nn.logsumexp(logits, axis=1)
        - jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    )
    if mask is None:
        return jnp.mean(per_row)
    mask = jnp.asarray(mask, dtype=logits.dtype)
    return jnp.sum(mask * per_row) / jnp.sum(mask)


def he_init(
    rng: np.random.Generator, d0: int, width: int, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """He init: W ~ N(0, 2/d0) of shape (width, d0), V ~ N(0, 2/width) of shape (classes, width)."""
    W = rng.standard_normal((width, d0)) * layer_std("he", d0, width)
    V = rng.standard_normal((classes, width)) * layer_std("he", width, classes)
    return W, V


def minibatches(perm: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (batches, batch) of consecutive slices of `perm`, the last one padded, and a mask.

    Padding repeats index 0 with mask 0, so the last partial batch is kept and weighted exactly.
    """
    perm = np.asarray(perm, dtype=np.int64)
    n_batches = -(-perm.size // batch)
    idx = np.zeros(n_batches * batch, dtype=np.int64)
    mask = np.zeros(n_batches * batch, dtype=np.float64)
    idx[: perm.size] = perm
    mask[: perm.size] = 1.0
    return idx.reshape(n_batches, batch), mask.reshape(n_batches, batch)


@cache
def _compiled(activation: str) -> tuple[Callable, Callable]:
    """(epoch, logits) jitted for one activation; shapes stay fixed, so each compiles once."""
    fn = _activation_fn(activation)

    def loss(params, Xb, yb, mb):
        return cross_entropy(forward(*params[:2], Xb, fn, *params[2:]), yb, mb)

    grad = jax.grad(loss)

    @jax.jit
    def epoch(params, X, y, idx, mask, lr):
        def step(params, batch):
            bi, bm = batch
            g = grad(params, X[bi], y[bi], bm)
            return tuple(p - lr * d for p, d in zip(params, g, strict=True)), None

        params, _ = jax.lax.scan(step, tuple(params), (idx, mask))
        return params

    @jax.jit
    def logits(params, X):
        return forward(*params[:2], X, fn, *params[2:])

    return epoch, logits


def sgd_epoch(
    W: np.ndarray,
    V: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    perm: np.ndarray,
    *,
    lr: float,
    batch: int,
    activation: str = "relu",
) -> tuple[np.ndarray, np.ndarray]:
    """One SGD epoch over the minibatches of `perm` (last partial batch kept); new (W, V)."""
    epoch, _ = _compiled(activation)
    idx, mask = minibatches(perm, batch)
    W, V = epoch((jnp.asarray(W), jnp.asarray(V)), jnp.asarray(X), jnp.asarray(y),
                 jnp.asarray(idx), jnp.asarray(mask), lr)
    return np.asarray(W), np.asarray(V)


def _fingerprint(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Teacher:
    """Trained teacher weights W (h × d0), V (classes × h) and biases b1 (h), b2 (classes) or
    None; `fingerprint` is derived from them."""

    W: np.ndarray
    V: np.ndarray
    activation: str
    train_error: float
    epochs: int
    b1: np.ndarray | None = None
    b2: np.ndarray | None = None
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        for name in ("W", "V", "b1", "b2"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.W.ndim != 2 or self.V.ndim != 2 or self.V.shape[1] != self.W.shape[0]:
            raise ValueError(
                f"Teacher needs W (h, d0) and V (classes, h), got {self.W.shape} and {self.V.shape}"
            )
        if (self.b1 is None) != (self.b2 is None) or (
                self.b1 is not None and (self.b1.shape != self.W.shape[:1]
                                         or self.b2.shape != self.V.shape[:1])):
            raise ValueError("Teacher biases need b1 (h,) and b2 (classes,), both or neither")
        object.__setattr__(self, "fingerprint", _fingerprint(self.W, self.V, self.b1, self.b2))

    def params(self) -> tuple[np.ndarray, ...]:
        """(W, V) or (W, V, b1, b2)."""
        return (self.W, self.V) if self.b1 is None else (self.W, self.V, self.b1, self.b2)

    @property
    def classes(self) -> int:
        """Number of output classes."""
        return self.V.shape[0]

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Logits V φ(W xᵀ) for each row x of X, shape (n, classes)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.W.shape[1]:
            raise ValueError(f"X must have shape (n, {self.W.shape[1]}), got {X.shape}")
        _, logits = _compiled(self.activation)
        return np.asarray(logits(tuple(map(jnp.asarray, self.params())), jnp.asarray(X)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels argmax V φ(W xᵀ) for the rows of X (int64)."""
        return np.argmax(self.logits(X), axis=1).astype(np.int64)


def train_teacher(
    X: np.ndarray,
    y: np.ndarray,
    *,
    width: int = 512,
    activation: str = "relu",
    lr: float = DEFAULT_LR,
    batch: int = 128,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    seed: int = 0,
    classes: int | None = None,
    bias: bool = False,
) -> Teacher:
    """Train by SGD on cross-entropy until the full training error is 0 at the end of an epoch.
    With ``bias`` both layers carry biases, drawn as PyTorch's default U(±1/√fan_in) from a
    stream of their own (the weights are the same as without).

    Raises SpecError (field problem.data.teacher.max_epochs) if that takes more than
    `max_epochs` epochs.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise SpecError("problem.data", f"need X (n, d0) and y (n,), got {X.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise SpecError("problem.data", "labels must be non-negative integers")
    y = y.astype(np.int64)
    classes = int(y.max()) + 1 if classes is None else classes
    if y.max() >= classes:
        raise SpecError("problem.data", f"label {y.max()} out of range for {classes} classes")
    for name, value in (("width", width), ("batch", batch), ("max_epochs", max_epochs)):
        if value < 1:
            raise SpecError(f"problem.data.teacher.{name}", f"must be at least 1, got {value}")
    if not lr > 0:
        raise SpecError("problem.data.teacher.lr", f"must be positive, got {lr}")

    rng = np.random.default_rng(seed)
    W0, V0 = he_init(rng, X.shape[1], width, classes)
    params = [W0, V0]
    if bias:
        brng = np.random.default_rng([seed, 3])
        params += [brng.uniform(-1, 1, width) / np.sqrt(X.shape[1]),
                   brng.uniform(-1, 1, classes) / np.sqrt(width)]
    epoch, logits = _compiled(activation)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    params = tuple(map(jnp.asarray, params))
    error = 1.0
    for done in range(1, max_epochs + 1):
        idx, mask = minibatches(rng.permutation(X.shape[0]), batch)
        params = epoch(params, Xj, yj, jnp.asarray(idx), jnp.asarray(mask), lr)
        error = float(np.mean(np.argmax(np.asarray(logits(params, Xj)), axis=1) != y))
        if error == 0.0:
            p = [np.asarray(a) for a in params]
            teacher = Teacher(p[0], p[1], activation, error, done, *p[2:])
            # The returned object must itself label the training set perfectly.
            if np.any(teacher.predict(X) != y):
                raise RuntimeError("teacher predictions differ from the training-time check")
            return teacher
    raise SpecError(
        "problem.data.teacher.max_epochs",
        f"teacher training error is still {error:.4%} after {max_epochs} epochs "
        f"(width {width}, lr {lr}, batch {batch}); raise max_epochs, width or lr",
    )


def relabel(teacher: Teacher, X: np.ndarray) -> np.ndarray:
    """The teacher's labels for the rows of X."""
    return teacher.predict(X)


def teacher_labels(
    X_train: np.ndarray, X_test: np.ndarray, teacher: Teacher
) -> tuple[np.ndarray, np.ndarray]:
    """(y_train, y_test): the teacher's labels of both sets."""
    return relabel(teacher, X_train), relabel(teacher, X_test)


__all__ = [
    "DEFAULT_LR",
    "DEFAULT_MAX_EPOCHS",
    "Teacher",
    "cross_entropy",
    "forward",
    "he_init",
    "minibatches",
    "relabel",
    "sgd_epoch",
    "teacher_labels",
    "train_teacher",
]
