"""Experiment specs: pydantic models, YAML loading, dotted overrides and sweeps.

A spec is validated once here; everything downstream works on validated objects.
A sweep (``sweep: {dotted.path: [v1, v2]}``) expands into the Cartesian product
of settings; ``--set KEY=[a,b]`` on a field that does not take a list adds a sweep.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from overparam.errors import SpecError

MAX_SEEDS = 10_000
MAX_STEPS = 10_000_000


def _misplaced_bool(value: Any, tp: Any) -> bool:
    """Whether ``value`` holds a boolean where the annotation ``tp`` wants a number (pydantic
    would read ``true`` as 1)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _misplaced_bool(value, args[0])
    if origin in (Union, types.UnionType):
        if isinstance(value, bool) and bool in args:
            return False
        return any(_misplaced_bool(value, a) for a in args)
    if isinstance(value, bool):
        return tp in (int, float)
    if isinstance(value, list | tuple) and origin in (list, tuple):
        items = [a for a in args if a is not Ellipsis]
        if origin is tuple and len(items) == len(value):
            return any(_misplaced_bool(v, a) for v, a in zip(value, items, strict=True))
        return bool(items) and any(_misplaced_bool(v, items[0]) for v in value)
    return False


def _huge_int(value: Any) -> int | None:
    """An integer in ``value`` (or its lists) beyond 64 bits, if any."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return value
    if isinstance(value, list | tuple):
        return next((v for v in map(_huge_int, value) if v is not None), None)
    return None


class FieldError(SpecError):
    """A SpecError whose field is relative to the model that raised it (the error's location
    in the spec is put in front of it)."""


class Strict(BaseModel):
    """Base model: unknown keys are errors, values are never coerced silently: a boolean is
    not a number, and numbers are finite (no NaN or infinity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            keys = alias.choices if isinstance(alias, AliasChoices) else [name]
            for key in keys:
                if not isinstance(key, str) or key not in raw:
                    continue
                if _misplaced_bool(raw[key], field.annotation):
                    raise FieldError(key, f"expected a number, got a boolean ({raw[key]!r})")
                if _huge_int(raw[key]):
                    raise FieldError(key, f"{_huge_int(raw[key])} is too large (at most "
                                     "2^63 - 1, what 64-bit arrays hold)")
        return raw

    @model_validator(mode="after")
    def _check_paths(self) -> Any:
        for name in type(self).model_fields:
            value = getattr(self, name)
            for i, path in enumerate(value if isinstance(value, list) else [value]):
                why = _bad_path(path) if isinstance(path, Path) else ""
                if why:
                    raise FieldError(f"{name}[{i}]" if isinstance(value, list) else name, why)
        return self


def _bad_path(path: Path) -> str:
    """Why ``path`` cannot name a file on any system ('' when it can)."""
    text = str(path)
    if not text.isprintable():
        return f"{text!r} contains a control character"
    if len(os.fsencode(text)) > 4096 or any(len(os.fsencode(p)) > 255 for p in path.parts):
        return f"{text[:40]!r}... is too long for a file name"
    return ""


# --------------------------------------------------------------------- data
class NpyData(Strict):
    """User data: X (samples × n) and Y (samples × m) from .npy files."""

    kind: Literal["npy"]
    X: Path
    Y: Path


class SyntheticData(Strict):
    """Paper A's generators: X orthogonal / Gaussian / given spectrum; Y from the init or a teacher."""

    kind: Literal["synthetic"]
    n: PositiveInt = 10
    m: PositiveInt = 10
    samples: PositiveInt | None = Field(None, description="rows of X; default n (square X)")
    x: Literal["orthogonal", "gaussian", "spectrum"] = "orthogonal"
    x_singular_range: tuple[PositiveFloat, PositiveFloat] = (1.8, 2.3)
    target: Literal["init", "gaussian", "teacher_labels"] = "init"
    target_std: NonNegativeFloat = 0.1
    noise: NonNegativeFloat = 0.1

    @model_validator(mode="after")
    def _check(self) -> SyntheticData:
        lo, hi = self.x_singular_range
        if lo > hi:
            raise ValueError("x_singular_range must be (low, high) with low <= high")
        if self.x == "orthogonal" and self.samples not in (None, self.n):
            raise ValueError("x: orthogonal needs samples == n")
        return self


class InlineData(Strict):
    """Small data written in the spec itself (e.g. the scalar toy of paper A, App. B)."""

    kind: Literal["inline"]
    X: list[list[float]]
    Y: list[list[float]]

    @model_validator(mode="after")
    def _check(self) -> InlineData:
        for name in ("X", "Y"):
            rows = getattr(self, name)
            if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
                raise ValueError(f"{name} must be a non-empty rectangular list of rows")
        if len(self.X) != len(self.Y):
            raise ValueError("X and Y need the same number of rows")
        return self


Data = Annotated[NpyData | SyntheticData | InlineData, Field(discriminator="kind")]


# ------------------------------------------------------------------ problems
class TwoLayerLinear(Strict):
    """Paper A's Problem 2: L(W1, W2) = ℓ(W1 W2ᵀ), W1 ∈ R^{n×h}, W2 ∈ R^{m×h}."""

    kind: Literal["two_layer_linear"]
    loss: Literal["squared", "logistic", "softmax"] = "squared"
    ridge: NonNegativeFloat = 0.0
    width: PositiveInt
    data: Data

    @model_validator(mode="after")
    def _check(self) -> TwoLayerLinear:
        if self.loss != "squared" and self.ridge <= 0:
            raise ValueError(f"loss {self.loss} needs ridge > 0 (strong convexity)")
        return self


DEEP_LOSSES = ("squared_half", "squared_mean", "logistic", "softmax")


def _paper_c_data() -> SyntheticData:
    """Paper C, App. G: X ∈ R^{128×1000}, W* ∈ R^{10×128}, ε all N(0, 1)."""
    return SyntheticData(kind="synthetic", n=128, m=10, samples=1000, x="gaussian",
                         target="gaussian", target_std=1.0, noise=1.0)


class DeepLinear(Strict):
    """Paper C's network a_N W_N ⋯ W_1 on the convex loss L(W) = (1/m) Σ l(W x_i, y_i).

    Give either ``widths`` [n0, n1, …, nN] (N ≥ 2 weight matrices) or ``depth`` N with
    equal ``hidden`` widths (n0, nN then come from the data).
    """

    kind: Literal["deep_linear"]
    widths: list[PositiveInt] | None = None
    depth: int | None = Field(None, ge=2, le=64)
    hidden: PositiveInt | None = None
    loss: Literal["squared_half", "squared_mean", "logistic", "softmax"] = "squared_half"
    ridge: NonNegativeFloat = Field(0.0, description="λ of the ridge term λ‖W‖²_X")
    data: Data = Field(default_factory=_paper_c_data)
    sigma_min_inner_every: NonNegativeInt = Field(
        1, description="log σ_min(W_{N−1:2}) every k steps (0: never); it costs O(width³)")

    @model_validator(mode="before")
    @classmethod
    def _data_defaults(cls, raw: Any) -> Any:
        """Synthetic data for a deep network: Gaussian X, Gaussian teacher (or its labels for
        cross-entropy), and n, m from ``widths`` unless given."""
        if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
            return raw
        data = dict(raw["data"])
        if data.get("kind") == "synthetic":
            ce = raw.get("loss") in ("logistic", "softmax")
            data.setdefault("target", "teacher_labels" if ce else "gaussian")
            data.setdefault("x", "gaussian")
            widths = raw.get("widths")
            if isinstance(widths, list) and len(widths) >= 2:
                data.setdefault("n", widths[0])
                data.setdefault("m", widths[-1])
        return {**raw, "data": data}

    @model_validator(mode="after")
    def _check(self) -> DeepLinear:
        data = self.data
        if isinstance(data, SyntheticData):
            if data.target == "init":
                raise SpecError("problem.data.target", "deep_linear needs gaussian or teacher_labels")
            for key, size, end in (("n", data.n, 0), ("m", data.m, -1)):
                if self.widths and size != self.widths[end]:
                    raise SpecError(f"problem.data.{key}", f"is {size} but widths "
                                    f"{'starts' if end == 0 else 'ends'} with {self.widths[end]}")
        if self.widths is not None:
            if self.depth is not None or self.hidden is not None:
                raise SpecError("problem.widths", "give either widths or depth + hidden, not both")
            if len(self.widths) < 3:
                raise SpecError("problem.widths",
                                "needs n0, at least one hidden width, and nN (N >= 2)")
        elif self.depth is None or self.hidden is None:
            raise SpecError("problem.widths", "give widths [n0, n1, ..., nN] or both depth and "
                            "hidden")
        if self.loss in ("logistic", "softmax") and self.ridge <= 0:
            raise ValueError(f"loss {self.loss} needs ridge > 0 (strong convexity)")
        return self

    def layer_widths(self, nx: int, ny: int) -> list[int]:
        """[n0, …, nN] given the data's input and output dimensions."""
        if self.widths is not None:
            return list(self.widths)
        return [nx] + [self.hidden] * (self.depth - 1) + [ny]


class Distribution(Strict):
    """A spherically symmetric law of x ∈ R^dim (paper D, Assumption 1): standard Gaussian,
    uniform on the sphere, multivariate Student-t (df), or x = R·u with the radius R drawn from a
    scipy.stats law (``law``, ``args``, ``scale``; folded to |R| where it takes negative values)."""

    kind: Literal["gaussian", "uniform_sphere", "student_t", "radial"] = "uniform_sphere"
    df: PositiveFloat | None = Field(None, description="student_t: degrees of freedom (> 1)")
    law: str | None = Field(None, description="radial: a scipy.stats continuous distribution")
    args: list[float] = Field(default_factory=list, description="radial: the law's shape parameters")
    scale: PositiveFloat = 1.0

    @model_validator(mode="after")
    def _check(self) -> Distribution:
        if self.kind == "student_t" and self.df is None:
            raise SpecError("problem.distribution.df", "student_t needs df (> 1)")
        if self.kind != "student_t" and self.df is not None:
            raise SpecError("problem.distribution.df", f"df is for student_t, not {self.kind}")
        if self.kind == "radial" and not self.law:
            raise SpecError("problem.distribution.law", "radial needs law: a scipy.stats name")
        if self.kind != "radial" and (self.law is not None or self.args or self.scale != 1.0):
            raise SpecError("problem.distribution.law", f"law, args, scale are for radial, not "
                            f"{self.kind}")
        return self


def _check_samples(dyn: Any) -> Any:
    """A sample size goes with ``gradient: sample`` and only with it."""
    if (dyn.gradient == "sample") != (dyn.samples is not None):
        raise SpecError("problem.dynamics.samples", "give samples exactly when gradient is sample")
    return dyn


class PopulationGD(Strict):
    """Gradient descent on the population loss (exact quadrature) or on a fixed sample."""

    kind: Literal["gd"]
    gradient: Literal["population", "sample"] = "population"
    samples: PositiveInt | None = Field(None, description="size of the fixed sample (gradient: sample)")

    _samples = model_validator(mode="after")(lambda self: _check_samples(self))


class SGD(Strict):
    """Minibatch SGD: fresh draws from the distribution each step (samples unset), or batches
    drawn with replacement from a fixed sample of ``samples`` points."""

    kind: Literal["sgd"]
    batch: PositiveInt = 1000
    samples: PositiveInt | None = None


class Flow(Strict):
    """Gradient flow on all layers (``flow``) or the induced end-to-end flow (14) of a balanced
    net (``induced_flow``), solved by diffrax with adaptive steps. Rows are saved every η of
    flow time (the schedule's eta), so t = Σ η as for GD."""

    kind: Literal["flow", "induced_flow"]
    gradient: Literal["population", "sample"] = "population"
    samples: PositiveInt | None = None
    solver: Literal["tsit5", "dopri8", "kvaerno5"] = "tsit5"
    rtol: PositiveFloat = 1e-10
    atol: PositiveFloat = 1e-12
    max_steps: PositiveInt = Field(100_000, description="solver steps allowed per saved interval")

    _samples = model_validator(mode="after")(lambda self: _check_samples(self))


Dynamics = Annotated[PopulationGD | SGD | Flow, Field(discriminator="kind")]


class LinearClassifier(Strict):
    """Paper D: a (deep) linear classifier W_N ⋯ W_1 x (N = depth; N = 1 is logistic
    regression) trained on the logistic loss with labels y = sgn(vᵀx) and spherically
    symmetric x ∈ R^dim. Give ``depth`` with ``hidden`` widths, or ``widths`` [dim, n1, …, 1]."""

    kind: Literal["linear_classifier"]
    dim: int = Field(2, ge=2, le=100_000)
    depth: int = Field(1, ge=1, le=64)
    hidden: PositiveInt | None = Field(None, description="hidden widths (default dim)")
    widths: list[PositiveInt] | None = None
    v: list[float] | None = Field(None, description="the labelling direction (default e_dim)")
    distribution: Distribution = Field(default_factory=Distribution)
    dynamics: Dynamics = Field(default_factory=lambda: PopulationGD(kind="gd"))
    # Level 2 errs by ~1e-8 (angle) and ~1e-9 (radius, Student t) on the population gradient,
    # above the 1e-10 the exactness checks allow; level 3 is within 1e-11.
    quadrature_level: int = Field(4, ge=3, le=8, description="tanh-sinh step 2^-level in angle")
    radius_level: int = Field(5, ge=3, le=8, description="step 2^-level of the radius rule")
    restart_step: NonNegativeInt | None = Field(
        None, description="also draw the bounds from this row on (the paper's n = 5000, 18000)")
    delta: PositiveFloat = Field(1.0, description="δ of Lemma 5 / condition (11)")

    @model_validator(mode="after")
    def _check(self) -> LinearClassifier:
        if self.widths is not None:
            if len(self.widths) < 2 or self.widths[0] != self.dim or self.widths[-1] != 1:
                raise SpecError("problem.widths", f"must be [dim = {self.dim}, n1, ..., 1], "
                                f"got {self.widths}")
            if "depth" in self.model_fields_set or self.hidden is not None:
                raise SpecError("problem.widths", "give either widths or depth + hidden")
        if self.v is not None:
            if len(self.v) != self.dim:
                raise SpecError("problem.v", f"needs dim = {self.dim} entries, got {len(self.v)}")
            if not any(self.v):
                raise SpecError("problem.v", "must not be the zero vector")
        if (self.dynamics.kind == "sgd" and self.dynamics.samples is None
                and self.distribution.kind == "radial"):
            raise SpecError("problem.dynamics.samples", "radial laws have no exact JAX sampler "
                            "for fresh draws; give samples: n (SGD on a fixed sample)")
        return self

    def layer_widths(self) -> list[int]:
        """[dim, n1, …, n_{N−1}, 1]."""
        if self.widths is not None:
            return list(self.widths)
        return [self.dim] + [self.hidden or self.dim] * (self.depth - 1) + [1]

    def unit_v(self) -> list[float]:
        """v normalized to the unit sphere (default e_dim)."""
        if self.v is None:
            return [0.0] * (self.dim - 1) + [1.0]
        n = sum(x * x for x in self.v) ** 0.5
        return [x / n for x in self.v]


ACTIVATION_NAMES = ("gelu", "softplus", "sigmoid", "tanh", "elu", "relu")
Activation = Literal["gelu", "softplus", "sigmoid", "tanh", "elu", "relu"]


class SphereData(Strict):
    """Paper B's synthetic data: n inputs uniform on the unit sphere of R^d0 (Assumption 2's
    unit-norm columns) and Gaussian targets Y ∈ R^{d2×n} scaled to ‖Y‖_F = y_norm
    (``target: gaussian``), or the network's own output at init plus such noise
    (``target: init``, so h(w0) = y_norm² and condition (9) can hold). Give ``d0`` or
    ``d0_power`` (d0 = ⌈n^power⌉, e.g. 0.5 for the d0 ≈ √n regime)."""

    kind: Literal["sphere"]
    n: PositiveInt = 100
    d0: PositiveInt | None = None
    d0_power: PositiveFloat | None = Field(None, le=1.0)
    d2: PositiveInt = 1
    target: Literal["gaussian", "init"] = "gaussian"
    y_norm: PositiveFloat = 1.0

    @model_validator(mode="after")
    def _check(self) -> SphereData:
        if (self.d0 is None) == (self.d0_power is None):
            raise SpecError("problem.data.d0", "give exactly one of d0 and d0_power")
        return self

    def input_dim(self) -> int:
        """d0, fixed or ⌈n^power⌉."""
        if self.d0 is not None:
            return self.d0
        return max(1, math.ceil(self.n**self.d0_power - 1e-9))


class TeacherSpec(Strict):
    """The teacher of the teacher–student setup (paper B, App. G): a two-layer network with He
    init trained by SGD on cross-entropy until its training error is zero; it relabels train
    and test. Its own seed, so every student of an experiment sees the same teacher."""

    width: PositiveInt = 512
    activation: Activation = "relu"
    lr: PositiveFloat = 2.0
    batch: PositiveInt = 128
    max_epochs: PositiveInt = 2000
    seed: NonNegativeInt = 0


class DatasetData(Strict):
    """Images with class labels: scikit-learn's bundled digits (default) or MNIST read from the
    IDX files in ``path`` (giving a path selects MNIST). Samples are scaled to unit norm
    (Assumption 2) or standardized. ``labels: teacher`` relabels train and test by a trained
    teacher."""

    kind: Literal["dataset"]
    name: Literal["digits", "mnist"] | None = None
    path: Path | None = Field(None, description="folder with the four MNIST IDX files")
    n_train: PositiveInt | None = Field(None, description="use this many training samples")
    n_test: PositiveInt | None = None
    test_fraction: float = Field(0.25, gt=0, lt=1, description="digits: held-out fraction")
    split_seed: NonNegativeInt = 0
    normalize: Literal["unit", "standard"] = Field(
        "unit", description="unit: every sample scaled to norm 1 (Assumption 2); standard: "
        "pixels shifted and scaled by the training set's mean and std (as App. G)")
    labels: Literal["teacher", "true"] = "teacher"
    teacher: TeacherSpec = Field(default_factory=TeacherSpec)

    @model_validator(mode="after")
    def _check(self) -> DatasetData:
        if self.name == "mnist" and self.path is None:
            raise SpecError("problem.data.path", "mnist needs path: the folder with its IDX files")
        if self.name == "digits" and self.path is not None:
            raise SpecError("problem.data.path", "path is for mnist; digits ship with scikit-learn")
        return self

    def dataset(self) -> str:
        """digits or mnist (a path selects mnist)."""
        return self.name or ("mnist" if self.path is not None else "digits")


ShallowData = Annotated[SphereData | DatasetData, Field(discriminator="kind")]


class FullBatchGD(Strict):
    """Full-batch gradient descent: one row per step."""

    kind: Literal["gd"]


class MinibatchSGD(Strict):
    """SGD over a fresh permutation of the training set each epoch, last partial batch kept:
    one row per epoch (``steps`` counts epochs, t = epochs)."""

    kind: Literal["sgd"]
    batch: PositiveInt = 128


class Shallow(Strict):
    """Paper B: Φ(W, V) = V φ(W X), W ∈ R^{width×d0}, V ∈ R^{d2×width}, both layers trained
    on ‖Φ − Y‖²_F (``loss: sum``, the paper's h) or its mean over samples and outputs
    (``loss: mean``, PyTorch's MSELoss). The universal constants C of (9), (13), (14) and
    eq 33 are parameters (default 1)."""

    kind: Literal["shallow"]
    width: PositiveInt
    activation: Activation = "gelu"
    loss: Literal["sum", "mean"] = "sum"
    data: ShallowData = Field(default_factory=lambda: SphereData(kind="sphere", d0=20))
    dynamics: Annotated[FullBatchGD | MinibatchSGD, Field(discriminator="kind")] = Field(
        default_factory=lambda: FullBatchGD(kind="gd"))
    lazy: bool = Field(False, description="train the linearization at Θ0 alongside (lazy_gap)")
    ntk_every: NonNegativeInt = Field(
        1, description="eigenvalues of the NTK every k rows (0: never); costs width·(d2·n)²")
    target_loss: NonNegativeFloat | None = Field(
        None, description="stop a run at the first row whose loss is at most this")
    khatri_rao_t: PositiveInt | None = Field(
        None, description="t of σ_min(X^{*t}) (default: least t with C(d0+t−1, t) ≥ n)")
    chi_max: PositiveFloat | None = Field(
        None, description="χ_max of β_Φ (default σ_max(V0) + ρ_Φ, the bound inside the ball)")
    c_cond9: PositiveFloat = 1.0
    c_eta: PositiveFloat = 1.0
    c_rate: PositiveFloat = 1.0
    c_path: PositiveFloat = 1.0


Problem = Annotated[TwoLayerLinear | DeepLinear | LinearClassifier | Shallow,
                    Field(discriminator="kind")]


# --------------------------------------------------------------------- inits
class GaussianInit(Strict):
    """i.i.d. N(0, std²) entries; or std = width^(−p) (paper A Thm 3.3, App. G.1)."""

    kind: Literal["gaussian"]
    std: PositiveFloat | None = None
    p: float | None = None

    @model_validator(mode="after")
    def _check(self) -> GaussianInit:
        if self.std is not None and self.p is not None:
            raise ValueError("give either std or p, not both")
        return self


class ScaledInit(Strict):
    """Fan-based Gaussian inits (xavier, he, lecun), times gain."""

    kind: Literal["xavier", "he", "lecun"]
    gain: PositiveFloat = 1.0


class OrthogonalInit(Strict):
    """Two-layer: gain × orthonormal rows. Deep linear: paper C's one-peak random orthogonal
    projections and embeddings (Def. 1) peaking at layer ``peak`` (default: the widest)."""

    kind: Literal["orthogonal"]
    gain: PositiveFloat = 1.0
    peak: PositiveInt | None = None


class BalancedInit(Strict):
    """Paper C's special balanced initialization (equal hidden widths)."""

    kind: Literal["balanced"]


class NpyInit(Strict):
    """User weights from .npy files: W1 (n × width), W2 (m × width) for the two-layer
    network; ``weights`` [W_1, …, W_N] (W_j is n_j × n_{j−1}) for the deep linear one."""

    kind: Literal["npy"]
    W1: Path | None = None
    W2: Path | None = None
    weights: list[Path] | None = None

    @model_validator(mode="after")
    def _check(self) -> NpyInit:
        pair = self.W1 is not None and self.W2 is not None
        if self.weights is None and not pair:
            raise ValueError("give W1 and W2 (two-layer) or weights: [W_1, ..., W_N] (deep linear)")
        if self.weights is not None and (self.W1 is not None or self.W2 is not None):
            raise ValueError("give either W1/W2 or weights, not both")
        return self


class RankOneInit(Strict):
    """Paper D's initialization of a linear classifier with end-to-end vector w_e(0): either
    ``w0`` or the angle ``theta0`` (radians, to v) and ``norm0``; default the paper's
    w_e(0) = (0.6, −0.8) relation (cos θ0 = −0.8, norm 1). Deep nets get rank-one layers
    W_1 = s_1 u_2 w̄0ᵀ, W_j = s_j u_{j+1}u_jᵀ, W_N = s_N u_Nᵀ with random unit u_j:
    ``balanced`` puts s_j = ‖w0‖^{1/N} on every layer (balanced for any norm); ``paper`` is
    §5's literal construction (all of ‖w0‖ on W_1: balanced only when ‖w0‖ = 1); ``scaled``
    multiplies the balanced layers by ``layer_scales`` (product 1: same w_e(0), unbalanced)."""

    kind: Literal["rank_one"]
    w0: list[float] | None = None
    theta0: float | None = Field(None, ge=0.0, le=3.141592653589793)
    norm0: PositiveFloat = 1.0
    layers: Literal["balanced", "paper", "scaled"] = "balanced"
    layer_scales: list[PositiveFloat] | None = None

    @model_validator(mode="after")
    def _check(self) -> RankOneInit:
        if self.w0 is not None and (self.theta0 is not None or "norm0" in self.model_fields_set):
            raise SpecError("init.w0", "give either w0 or theta0 (+ norm0), not both")
        if self.w0 is not None and not any(self.w0):
            raise SpecError("init.w0", "must not be the zero vector")
        if (self.layers == "scaled") != (self.layer_scales is not None):
            raise SpecError("init.layer_scales", "give layer_scales exactly when layers is scaled")
        if self.layer_scales is not None:
            prod = math.prod(self.layer_scales)
            if abs(prod - 1.0) > 1e-9:
                raise SpecError("init.layer_scales", f"must multiply to 1 (keeps w_e(0)); "
                                f"the product is {prod:.6g}")
        return self


class OmegaInit(Strict):
    """Paper B's (17): W0 ~ N(0, ω1²), V0 ~ N(0, ω2²). Give omega1 and omega2, or the product
    ω1ω2 (a number, or he / lecun / xavier: the product those schemes give this network) with
    one of omega1, omega2 or ratio = ω2/ω1."""

    kind: Literal["omega"]
    omega1: PositiveFloat | None = None
    omega2: PositiveFloat | None = None
    product: PositiveFloat | Literal["he", "lecun", "xavier"] | None = None
    ratio: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check(self) -> OmegaInit:
        given = [k for k in ("omega1", "omega2", "ratio") if getattr(self, k) is not None]
        if self.product is None:
            if given != ["omega1", "omega2"]:
                raise SpecError("init.omega1", "give omega1 and omega2, or product with one of "
                                "omega1, omega2, ratio")
        elif len(given) != 1:
            raise SpecError("init.product", "with product give exactly one of omega1, omega2, "
                            f"ratio (got {', '.join(given) or 'none'})")
        return self


Init = Annotated[GaussianInit | ScaledInit | OrthogonalInit | BalancedInit | NpyInit | RankOneInit
             | OmegaInit,
                 Field(discriminator="kind")]

# ----------------------------------------------------------------- schedules
EtaChoice = PositiveFloat | Literal["eta_max"]
#: Named step sizes of the deep linear network (paper C): n_N/(βN) (Thm 1),
#: (1 − eps)·2n_N/(e^{2c}βN) (Thm 4–6), n_N/(N‖X‖²) (App. G).
DEEP_ETAS = ("thm1", "thm4", "data_norm")


class ConstantSchedule(Strict):
    """η_t = eta: a number, paper A's η_max (Thm 3.2; bound curve eq 17), for the deep
    linear network thm1, thm4 (with c and eps) or data_norm, for the shallow network thm2
    (eq 13 with its constant) or ntk (1/(β_f λ_max) of the NTK at init)."""

    kind: Literal["constant"]
    eta: PositiveFloat | Literal["eta_max", "thm1", "thm4", "data_norm", "thm2", "ntk"] = Field(
        "eta_max", validation_alias=AliasChoices("eta", "eta0"))
    c: float = Field(0.5, gt=0, lt=1)
    d: float = Field(1.01, gt=1)
    eps: float = Field(0.1, gt=0, lt=1, description="ε of η = (1 − ε)η0 (paper C, Thm 4–6)")


class PLSchedule(Strict):
    """Eq 19: η_t = min((1+η0^d)^{t/2} η0, 1/K_t) (local_pl) or 1/K̄_t (global_pl)."""

    kind: Literal["local_pl", "global_pl"]
    eta0: EtaChoice = "eta_max"
    c: float = Field(0.5, gt=0, lt=1)
    d: float = Field(1.01, gt=1)


class XuSchedule(Strict):
    """Xu et al. (2023): largest η satisfying Lemma C.1's cubic with c1 α1, c2 α2."""

    kind: Literal["xu2023"]
    c1: float = Field(0.5, gt=0, lt=1)
    c2: float = Field(1.5, gt=1)
    measured: bool = False


class BacktrackingSchedule(Strict):
    """Algorithm 1 (App. G.2.1): start at eta_bt, shrink by tau until sufficient decrease."""

    kind: Literal["backtracking"]
    eta_bt: PositiveFloat = 1.0
    tau: float = Field(0.1, gt=0, lt=1)
    gamma: float = Field(0.9, gt=0, lt=1)
    variant: Literal["armijo", "printed"] = "armijo"
    max_evals: PositiveInt = 60


class PowerSchedule(Strict):
    """η_k = max(eta0·(k + 1)^−power, eta_min): a decaying step bounded below (paper D, Thm 2
    needs η₊ ≥ η_k ≥ η₋ > 0)."""

    kind: Literal["power"]
    eta0: PositiveFloat
    power: NonNegativeFloat = 0.5
    eta_min: PositiveFloat = 1e-6


class PlainSchedule(Strict):
    """Problem 1: plain GD on W = W1(0)W2(0)ᵀ with η = 1/K (App. G.2)."""

    kind: Literal["plain_inverse_k"]


Schedule = Annotated[
    ConstantSchedule | PLSchedule | XuSchedule | BacktrackingSchedule | PlainSchedule
    | PowerSchedule,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- experiment
def _problem_defaults(raw: Any) -> Any:
    """Defaults that depend on the problem: the deep linear network steps with η = n_N/(βN)."""
    if isinstance(raw, dict):
        prob = raw.get("problem")
        kind = prob.get("kind") if isinstance(prob, dict) else getattr(prob, "kind", None)
        if kind == "deep_linear" and "schedule" not in raw:
            raw = {**raw, "schedule": {"kind": "constant", "eta": "thm1"}}
        if kind == "linear_classifier":
            raw = {"schedule": {"kind": "constant", "eta": 0.01}, "init": {"kind": "rank_one"},
                   **raw}
        if kind == "shallow":
            raw = {"schedule": {"kind": "constant", "eta": "thm2"}, "init": {"kind": "he"}, **raw}
    return raw


def _check_problem_fit(problem: Any, init: Any, schedule: Any) -> None:
    """Inits and schedules that a problem does not support are errors, not silent no-ops."""
    if problem.kind == "shallow":
        if schedule.kind != "constant" or schedule.eta in ("eta_max", *DEEP_ETAS):
            raise SpecError("schedule.eta" if schedule.kind == "constant" else "schedule.kind",
                            "shallow takes the constant schedule with eta a number, thm2 or ntk")
        if init.kind not in ("omega", "he", "lecun", "xavier", "gaussian"):
            raise SpecError("init.kind", "shallow supports omega, he, lecun, xavier, gaussian")
        if init.kind == "gaussian" and init.p is not None:
            raise SpecError("init.p", "shallow's gaussian init takes std (ω1 = ω2 = std)")
        return
    if init.kind == "omega":
        raise SpecError("init.kind", "omega is the shallow network's (ω1, ω2) init")
    if schedule.kind == "constant" and schedule.eta in ("thm2", "ntk"):
        raise SpecError("schedule.eta", f"{schedule.eta} is for the shallow network")
    if problem.kind == "linear_classifier":
        flow = problem.dynamics.kind in ("flow", "induced_flow")
        if schedule.kind not in ("constant", "power") or (flow and schedule.kind != "constant"):
            raise SpecError("schedule.kind", "linear_classifier takes constant (a number; for "
                            "flows the spacing of saved times) or power (GD, SGD)")
        if schedule.kind == "constant" and not isinstance(schedule.eta, float | int):
            raise SpecError("schedule.eta", f"{schedule.eta} is not defined for "
                            "linear_classifier; give a number")
        if init.kind not in ("rank_one", "gaussian"):
            raise SpecError("init.kind", "linear_classifier supports rank_one and gaussian")
        if init.kind == "gaussian" and init.p is not None:
            raise SpecError("init.p", "linear_classifier's gaussian init takes std")
        if problem.dynamics.kind == "induced_flow" and init.kind != "rank_one":
            raise SpecError("init.kind", "induced_flow starts from w_e(0): use rank_one")
        w0 = getattr(init, "w0", None)
        if w0 is not None and len(w0) != problem.dim:
            raise SpecError("init.w0", f"needs dim = {problem.dim} entries, got {len(w0)}")
        scales = getattr(init, "layer_scales", None)
        if scales is not None and len(scales) != len(problem.layer_widths()) - 1:
            raise SpecError("init.layer_scales", f"needs one scale per layer "
                            f"({len(problem.layer_widths()) - 1})")
        return
    if schedule.kind == "power":
        raise SpecError("schedule.kind", "power is for linear_classifier")
    if init.kind == "rank_one":
        raise SpecError("init.kind", "rank_one is for linear_classifier")
    if problem.kind == "deep_linear":
        if schedule.kind != "constant":
            raise SpecError("schedule.kind", "deep_linear supports the constant schedule "
                            "(eta: a number, thm1, thm4 or data_norm)")
        if schedule.eta == "eta_max":
            raise SpecError("schedule.eta", "eta_max is paper A's; deep_linear takes a number, "
                            "thm1, thm4 or data_norm")
        if init.kind in ("xavier", "he", "lecun"):
            raise SpecError("init.kind", "deep_linear supports gaussian, orthogonal, balanced, npy")
        if init.kind == "gaussian" and init.p is not None:
            raise SpecError("init.p", "deep_linear's gaussian init takes std (default 1)")
        if init.kind == "npy" and init.weights is None:
            raise SpecError("init.weights", "deep_linear reads weights: [W_1.npy, ..., W_N.npy]")
    else:
        if schedule.kind == "constant" and schedule.eta in DEEP_ETAS:
            raise SpecError("schedule.eta", f"{schedule.eta} is for deep_linear; "
                            "two_layer_linear takes a number or eta_max")
        if init.kind == "balanced":
            raise SpecError("init.kind", "balanced is deep_linear's special balanced init")
        if init.kind == "orthogonal" and init.peak is not None:
            raise SpecError("init.peak", "peak is for deep_linear's one-peak orthogonal init")
        if init.kind == "npy" and init.W1 is None:
            raise SpecError("init.W1", "two_layer_linear reads W1 and W2")


class Setting(Strict):
    """One point of an experiment grid: everything a run needs except the seed."""

    problem: Problem
    init: Init = GaussianInit(kind="gaussian", std=1.0)
    schedule: Schedule = PLSchedule(kind="local_pl")
    steps: PositiveInt = Field(200, le=MAX_STEPS)
    chunk: PositiveInt = Field(1000, description="steps per compiled chunk streamed to disk")
    diverge_factor: PositiveFloat = Field(1e10, description="loss > factor·L(0) marks divergence")

    _defaults = model_validator(mode="before")(_problem_defaults)

    @model_validator(mode="after")
    def _fit(self) -> Setting:
        _check_problem_fit(self.problem, self.init, self.schedule)
        return self


class Spec(Strict):
    """A whole experiment: a base setting, seeds, and the sweep grid."""

    id: str | None = None
    title: str | None = None
    paper: str | None = None
    problem: Problem
    init: Init = GaussianInit(kind="gaussian", std=1.0)
    schedule: Schedule = PLSchedule(kind="local_pl")
    steps: PositiveInt = Field(200, le=MAX_STEPS)
    chunk: PositiveInt = 1000
    diverge_factor: PositiveFloat = 1e10
    seeds: PositiveInt = Field(1, le=MAX_SEEDS)
    seed: NonNegativeInt = 0
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    cases: list[dict[str, Any]] = Field(
        default_factory=list, description="distinct configurations ({dotted.key: value} each); "
        "the sweep's product is taken within every case")

    _defaults = model_validator(mode="before")(_problem_defaults)

    @model_validator(mode="after")
    def _check_id(self) -> Spec:
        """The id names the results folder (``/`` becomes ``__``): it must stay one folder
        inside --out."""
        if self.id is None or self.id == "":
            return self
        if self.id.strip(".") == "" or len(self.id.replace("/", "__")) > 200 or "\\" in self.id \
                or any(ord(ch) < 32 or ord(ch) == 127 for ch in self.id):
            raise SpecError("id", f"{self.id[:60]!r} cannot name a results folder: give at most "
                            "200 printable characters, not only dots, and no backslash")
        return self


SETTING_KEYS = tuple(Setting.model_fields)


# ------------------------------------------------------------------- helpers
#: Parts of a pydantic location that name a schema (a union's arm), not a field.
_SCHEMA_PARTS = ("function-", "tagged-union", "constrained-", "literal[", "list[", "tuple[",
                 "dict[", "is-instance[", "lax-or-strict", "json-or-python")


_PLAIN_KEY = re.compile(r"[\w\-\[\]]+")


def _show_key(part: Any) -> str:
    """A key as it appears in an error's field: quoted when it is not a plain word (a space,
    a newline or a colon would make the one-line message ambiguous)."""
    text = str(part)
    return text if _PLAIN_KEY.fullmatch(text) else repr(text)


def show_field(dotted: str) -> str:
    """A user's dotted key (from --set, a sweep or a case) made safe for a one-line error."""
    return ".".join(_show_key(p) for p in str(dotted).split("."))


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = [_show_key(p) for p in loc if not str(p).startswith(_SCHEMA_PARTS)
             and str(p) not in ("int", "float", "str", "bool", "none", "nullable")]
    # Pydantic puts the union tag (e.g. 'npy') in the location; drop it for the user.
    clean: list[str] = []
    for p in parts:
        if clean and p in {"npy", "synthetic", "inline", "gaussian", "xavier", "he", "lecun", "orthogonal",
                           "constant", "local_pl", "global_pl", "xu2023", "backtracking",
                           "plain_inverse_k", "two_layer_linear", "deep_linear", "balanced",
                           "linear_classifier", "rank_one", "power", "gd", "sgd", "flow",
                           "induced_flow", "shallow", "sphere", "dataset", "omega"}:
            continue
        clean.append(p)
    return ".".join(clean)


def spec_error_from(exc: ValidationError, prefix: str = "") -> SpecError:
    """Turn pydantic's first error into one line that names the field and the bad value."""
    err = exc.errors()[0]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, SpecError):  # raised by a cross-field check that knows the field
        field = inner.field
        if isinstance(inner, FieldError):  # relative to where the error was raised
            where = _format_loc(err["loc"])
            field = f"{where}.{field}" if where else field
        return SpecError(f"{prefix}.{field}" if prefix else field, _one_line(inner.message))
    field = _format_loc(err["loc"])
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    msg = err["msg"].removeprefix("Value error, ")
    # a union (a number or a name) fails in each arm at the same field: say every way out
    arms = [e["msg"] for e in exc.errors()[1:] if _format_loc(e["loc"]) == _format_loc(err["loc"])
            and e["type"] != err["type"]]
    if arms:
        msg = "; or ".join([msg, *dict.fromkeys(arms)])
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in err and err["type"] not in ("missing",):
        shown = repr(err["input"])
        if len(shown) > 80:
            shown = shown[:77] + "..."
        msg = f"{msg} (got {shown})"
    return SpecError(field or "spec", _one_line(msg))


def _one_line(text: str) -> str:
    """Escape what would break a one-line message (pydantic quotes some inputs raw)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class _StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (YAML would keep the
    last one and drop the first without a word)."""


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base' may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: the constructor reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def safe_load(text: str) -> Any:
    """Parse YAML safely, refusing duplicate keys."""
    return yaml.load(text, Loader=_StrictLoader)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a spec file (safe_load only, no duplicate keys); errors name the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), f"cannot read spec file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(str(path), f"not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(raw, dict):
        raise SpecError(str(path), "a spec file must be a YAML mapping")
    quick = raw.get("quick")
    if quick is not None:
        if not isinstance(quick, dict):
            raise SpecError("quick", f"must be a mapping of dotted keys to values (got {quick!r})")
        for key in quick:
            if not isinstance(key, str) or key.split(".")[0] not in Spec.model_fields:
                raise SpecError(f"quick.{show_field(key)}", "unknown key; roots: "
                                + ", ".join(k for k in Spec.model_fields))
    return raw


def parse_set(pair: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` with VALUE as YAML."""
    if "=" not in pair:
        raise SpecError("--set", f"expected KEY=VALUE, got {pair!r}")
    key, _, value = pair.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise SpecError("--set", f"bad key {key!r}")
    try:
        return key, safe_load(value)
    except yaml.YAMLError as exc:
        raise SpecError(show_field(key), f"value {value!r} is not valid YAML: "
                         f"{_yaml_problem(exc)}") from None


def get_path(d: dict[str, Any], dotted: str) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def set_path(d: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``d`` with ``dotted`` set to ``value`` (intermediate dicts created)."""
    out = copy.deepcopy(d)
    cur = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        nxt = cur.get(part)
        if nxt is None:
            nxt = {}
        elif not isinstance(nxt, dict):
            raise SpecError(show_field(dotted), f"{part!r} is not a mapping")
        cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value
    return out


def apply_overrides(raw: dict[str, Any], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply ``--set`` overrides; a list on a field that does not take a list becomes a sweep.
    ``data.KEY`` is short for ``problem.data.KEY``."""
    out = copy.deepcopy(raw)

    def sweep() -> dict[str, Any]:
        grid = out.setdefault("sweep", {})
        if not isinstance(grid, dict):
            raise SpecError("sweep", f"must be a mapping of dotted keys to lists (got {grid!r})")
        return grid

    for key, value in pairs:
        if key.startswith("data.") and "data" not in out:  # short for problem.data.
            key = "problem." + key
        if key.startswith("sweep."):
            sweep()[key.removeprefix("sweep.")] = value
            continue
        if isinstance(value, list) and not isinstance(get_path(out, key), list):
            sweep()[key] = value
            continue
        out = set_path(out, key, value)
        if isinstance(out.get("sweep"), dict):
            out["sweep"].pop(key, None)
    return out


def validate_spec(raw: dict[str, Any]) -> Spec:
    """Validate a raw spec and every setting of its sweep grid."""
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise spec_error_from(exc) from None
    for key, values in spec.sweep.items():
        if not values:
            raise SpecError(f"sweep.{show_field(key)}", "a sweep needs at least one value")
        if key.split(".")[0] not in SETTING_KEYS:
            raise SpecError(f"sweep.{show_field(key)}",
                            f"unknown key; sweepable roots: {', '.join(SETTING_KEYS)}")
    for i, case in enumerate(spec.cases):
        for key in case:
            if key.split(".")[0] not in SETTING_KEYS:
                raise SpecError(f"cases[{i}].{show_field(key)}",
                                f"unknown key; roots: {', '.join(SETTING_KEYS)}")
    return spec


def _override(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set one dotted key of a setting; changing a union's kind drops the old kind's keys."""
    if key.endswith(".kind") and key.split(".")[0] in ("problem", "init", "schedule"):
        return set_path(raw, key.rsplit(".", 1)[0], {"kind": value})
    return set_path(raw, key, value)


def expand(spec: Spec) -> list[Setting]:
    """The Cartesian product of the sweep, as validated settings in a stable order."""
    # exclude_unset keeps "was this given?" (e.g. synthetic n defaults to widths[0]).
    base = spec.model_dump(mode="json", include=set(SETTING_KEYS), exclude_unset=True)
    keys = list(spec.sweep)
    settings: list[Setting] = []
    for i, case in enumerate(spec.cases or [{}]):
        case_raw = base
        for key, value in case.items():
            case_raw = _override(case_raw, key, value)
        for combo in itertools.product(*(spec.sweep[k] for k in keys)):
            raw = case_raw
            for key, value in zip(keys, combo, strict=True):
                raw = _override(raw, key, value)
            try:
                settings.append(Setting.model_validate(raw))
            except ValidationError as exc:
                err = spec_error_from(exc)
                where = [f"case {i}"] if spec.cases else []
                point = ", ".join(f"{k}={json.dumps(v)}" for k, v in zip(keys, combo, strict=True))
                if point:
                    where.append(f"sweep point {point}")
                if not where:
                    raise err from None
                raise SpecError(err.field, f"{err.message} [in {', '.join(where)}]") from None
    return settings


def setting_dict(setting: Setting) -> dict[str, Any]:
    """JSON-ready resolved setting (paths as strings)."""
    return setting.model_dump(mode="json")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys (used for the setting columns of runs.parquet)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list | tuple):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out
