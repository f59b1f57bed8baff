"""Data of paper A's experiments (synthetic generators) and user data from .npy files."""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path

import numpy as np

from overparam.errors import SpecError
from overparam.fingerprints import check, digest_of
from overparam.numerics.haar import haar
from overparam.spec import NpyData, SyntheticData


def random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Haar-distributed orthogonal n×n matrix."""
    return haar(rng, n, n)


def make_X(spec: SyntheticData, rng: np.random.Generator) -> np.ndarray:
    """X ∈ R^{samples×n}: orthogonal (Fig 1, 4), Gaussian, or UΣV with Σ ~ U[range] (Fig 5)."""
    samples = spec.samples or spec.n
    if spec.x == "orthogonal":
        return random_orthogonal(rng, spec.n)
    if spec.x == "gaussian":
        return rng.standard_normal((samples, spec.n))
    lo, hi = spec.x_singular_range
    k = min(samples, spec.n)
    u = random_orthogonal(rng, samples)[:, :k]
    v = random_orthogonal(rng, spec.n)[:k, :]
    return (u * rng.uniform(lo, hi, size=k)) @ v


def make_synthetic(
    spec: SyntheticData, W0: np.ndarray, rng: np.random.Generator, loss: str
) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) for one seed. W0 = W1(0)W2(0)ᵀ is used when target == 'init' (paper A §4, G.2)."""
    X = make_X(spec, rng)
    samples = X.shape[0]
    if spec.target == "init":
        theta = W0
    else:
        theta = spec.target_std * rng.standard_normal((spec.n, spec.m))
    Z = X @ theta + spec.noise * rng.standard_normal((samples, spec.m))
    if loss == "squared":
        return X, Z
    if spec.target != "teacher_labels":
        raise SpecError("problem.data.target", f"loss {loss} needs target: teacher_labels")
    if loss == "logistic":
        return X, (Z > 0).astype(np.float64)
    return X, np.eye(spec.m)[np.argmax(Z, axis=1)]


def load_npy(path: Path, field: str) -> np.ndarray:
    """Load one array (read-only); unreadable files, non-numeric or non-finite data name the
    field. A file is read once per process while it is unchanged (size and modification
    time), however many seeds and settings use it."""
    if Path(path).exists() and not Path(path).is_file():
        raise SpecError(field, f"{path} is not a regular file")
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        raise SpecError(field, f"file not found: {path}") from None
    except OSError as exc:
        raise SpecError(field, f"cannot read {path} ({exc})") from None
    real = Path(path).resolve()
    arr, digest = _load_npy(real, st.st_mtime_ns, st.st_size, field, str(path))
    check(real, digest, field, str(path))  # the bytes used are the bytes planned with
    return arr


@functools.lru_cache(maxsize=32)
def _load_npy(real: Path, mtime_ns: int, size: int, field: str,
              path: str) -> tuple[np.ndarray, str]:
    """The checked array of file ``real`` (``path``: its name as the spec gave it) and the
    fingerprint of the very bytes it was read from."""
    _check_header(real, size, field, path)
    try:
        raw = real.read_bytes()
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except FileNotFoundError:
        raise SpecError(field, f"file not found: {path}") from None
    except (OSError, ValueError, EOFError) as exc:  # an empty file raises EOFError
        raise SpecError(field, f"cannot read {path} as .npy ({exc or 'empty file'})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise SpecError(field, f"{path} is an .npz archive; expected one array saved by np.save")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise SpecError(field, f"{path} holds {arr.dtype}, expected real numbers")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise SpecError(field, f"{path} has shape {arr.shape}, expected a matrix")
    if 0 in arr.shape:
        raise SpecError(field, f"{path} has shape {arr.shape}: no rows or no columns")
    if not np.all(np.isfinite(arr)):
        raise SpecError(field, f"{path} contains NaN or infinite values")
    arr.flags.writeable = False  # shared by every caller of the cache
    return arr, digest_of(Path(path).name, raw)  # named as the spec names it


def _check_header(real: Path, size: int, field: str, path: str) -> None:
    """Refuse an .npy whose header declares more data than the file holds (it would make
    np.load allocate the declared size) before reading the data."""
    try:
        with open(real, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(f)
            start = f.tell()
    except (OSError, ValueError, EOFError):
        return  # not an .npy (or an .npz): np.load says which, below
    declared = math.prod(shape) * dtype.itemsize
    if declared > size - start:
        raise SpecError(field, f"{path}'s header declares shape {shape} ({declared} bytes) but "
                        f"the file holds {size - start} bytes of data")


def load_data(spec: NpyData, base_dir: Path, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """User (X, Y) with shapes and labels checked against the loss."""
    X = load_npy(resolve(spec.X, base_dir), "problem.data.X")
    Y = load_npy(resolve(spec.Y, base_dir), "problem.data.Y")
    if X.shape[0] != Y.shape[0]:
        raise SpecError("problem.data.Y", f"has {Y.shape[0]} rows but X has {X.shape[0]}")
    if loss == "logistic" and (Y.shape[1] != 1 or not np.all(np.isin(Y, (0.0, 1.0)))):
        raise SpecError("problem.data.Y", "logistic loss needs one column of 0/1 labels")
    if loss == "softmax" and not (
        np.all(np.isin(Y, (0.0, 1.0))) and np.allclose(Y.sum(axis=1), 1.0)
    ):
        raise SpecError("problem.data.Y", "softmax loss needs one-hot rows")
    return X, Y


def resolve(path: Path, base_dir: Path) -> Path:
    """Paths in a spec are relative to the spec file's folder."""
    return path if path.is_absolute() else base_dir / path
