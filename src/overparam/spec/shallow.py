"""The shallow nonlinear network's problem spec (paper B): data, teacher, dynamics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from overparam.errors import SpecError
from overparam.spec.base import ProblemSpec, Strict, only
from overparam.spec.data import NpyData

ACTIVATION_NAMES = ("gelu", "softplus", "sigmoid", "tanh", "elu", "relu")
Activation = Literal["gelu", "softplus", "sigmoid", "tanh", "elu", "relu"]


class ActivationSpec(Strict):
    """An activation with a parameter: ``{kind: elu, alpha: 0.1}`` is ELU with α = 0.1
    (x | α(eˣ − 1)); the plain names are the same as ``{kind: name}``."""

    kind: Activation
    alpha: float | None = None

    @model_validator(mode="after")
    def _check(self) -> ActivationSpec:
        if self.alpha is not None and self.kind != "elu":
            raise SpecError("problem.activation.alpha", f"only elu takes alpha, not {self.kind}")
        if self.alpha is not None and not self.alpha > 0:
            raise SpecError("problem.activation.alpha", f"must be > 0 (got {self.alpha})")
        return self


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
    and test through the same activation it was trained with. Its own seed, so every student
    of an experiment sees the same teacher."""

    width: PositiveInt = 512
    activation: Activation = "relu"
    bias: bool = Field(False, description="biases in both layers, PyTorch's default init")
    inputs: Literal["unit", "student"] = Field(
        "unit", description="unit: trained on unit-norm samples; student: on the samples as "
        "the student sees them (normalize)")
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


class ShallowNpyData(NpyData):
    """A given instance from .npy files: X (samples × d0), Y (samples × d2), and optionally a
    held-out X_test, Y_test. Targets whose rows are one-hot are class labels (train and test
    errors are logged). Used as they are: no normalization."""

    X_test: Path | None = None
    Y_test: Path | None = None

    @model_validator(mode="after")
    def _check_test(self) -> ShallowNpyData:
        if (self.X_test is None) != (self.Y_test is None):
            raise SpecError("problem.data.X_test", "give both X_test and Y_test, or neither")
        return self


ShallowData = Annotated[SphereData | DatasetData | ShallowNpyData, Field(discriminator="kind")]


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
    activation: Activation | ActivationSpec = "gelu"
    bias: bool = Field(False, description="Φ = V φ(W X + b1 1ᵀ) + b2 1ᵀ (the paper's Φ has none)")
    bias_init: Literal["pytorch", "zeros"] | None = Field(
        None, description="pytorch (default with bias): b ~ U(±1/√fan_in), not scaled by ω; "
        "zeros; with init npy, biases: [b1, b2] files instead")
    bias_files: list[Path] | None = Field(
        None, description="with bias and init npy: [b1.npy (width), b2.npy (d2)]")
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

    @model_validator(mode="before")
    @classmethod
    def _activation(cls, raw: Any) -> Any:
        """A parameterized activation is checked here, so its error names its own field."""
        act = raw.get("activation") if isinstance(raw, dict) else None
        if isinstance(act, dict):
            if not isinstance(act.get("alpha", 1.0), int | float) or isinstance(
                    act.get("alpha"), bool):
                raise SpecError("problem.activation.alpha", f"must be a number (got "
                                f"{act.get('alpha')!r})")
            ActivationSpec.model_validate(act)
        return raw

    @model_validator(mode="after")
    def _check_bias(self) -> Shallow:
        if not self.bias and self.bias_init is not None:
            raise SpecError("problem.bias_init", "is for a network with biases; set bias: true")
        if not self.bias and self.bias_files is not None:
            raise SpecError("problem.bias_files", "is for a network with biases; set bias: true")
        if self.bias_files is not None and self.bias_init is not None:
            raise SpecError("problem.bias_files", "give either bias_init or bias_files")
        if self.bias_files is not None and len(self.bias_files) != 2:
            raise SpecError("problem.bias_files", f"lists {len(self.bias_files)} files, "
                            "expected [b1.npy, b2.npy]")
        return self

    def bias_scheme(self) -> str:
        """none, pytorch, zeros or npy."""
        if not self.bias:
            return "none"
        return "npy" if self.bias_files is not None else (self.bias_init or "pytorch")


def fit(problem: Shallow, init: Any, schedule: Any) -> None:
    """The constant schedule (a number, thm2 or ntk) and paper B's inits."""
    if schedule.kind != "constant" or (isinstance(schedule.eta, str)
                                       and schedule.eta not in ("thm2", "ntk")):
        raise SpecError("schedule.eta" if schedule.kind == "constant" else "schedule.kind",
                        "shallow takes the constant schedule with eta a number, thm2 or ntk")
    only("init.kind", init.kind, ("omega", "he", "lecun", "xavier", "gaussian", "npy"),
         "shallow")
    if init.kind == "gaussian" and init.p is not None:
        raise SpecError("init.p", "shallow's gaussian init takes std (ω1 = ω2 = std)")
    if init.kind == "npy" and (init.weights is None or len(init.weights) != 2):
        raise SpecError("init.weights", "shallow reads weights: [W.npy (width × d0), "
                        "V.npy (d2 × width)]")
    if problem.bias_files is not None and init.kind != "npy":
        raise SpecError("problem.bias_files", "biases from files go with init npy; "
                        "use bias_init otherwise")
    if problem.bias and schedule.kind == "constant" and schedule.eta == "thm2":
        raise SpecError("schedule.eta", "thm2 is paper B's step for the bias-free network; "
                        "with bias give a number or ntk")


PROBLEM = ProblemSpec(Shallow, defaults={"schedule": {"kind": "constant", "eta": "thm2"},
                                         "init": {"kind": "he"}}, fit=fit)
