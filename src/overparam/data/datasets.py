"""Real data sets for the teacher-student experiment: MNIST from IDX files, scikit-learn's digits.

MNIST is read from the four standard IDX files in a local folder (raw or gzipped), so nothing
is downloaded; the bundled 8×8 digits are the default because they need no files at all.
Helpers put samples on the unit sphere (the networks' theory assumes unit-norm inputs) and
draw deterministic splits and subsets from a seed.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from overparam.errors import SpecError

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_WRITE_CODES: dict[np.dtype, int] = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float64): 0x0E,
}

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_bytes(path: Path, field: str) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise SpecError(field, f"file not found: {path}") from None
    except (OSError, EOFError) as exc:
        raise SpecError(field, f"cannot read {path} ({exc})") from None


def read_idx(path: Path, field: str = "problem.data.path") -> np.ndarray:
    """Decode one IDX file (raw or .gz) into a native-endian array; bad files raise SpecError."""
    path = Path(path)
    raw = _read_bytes(path, field)
    if len(raw) < 4:
        raise SpecError(field, f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    if raw[0] != 0 or raw[1] != 0:
        raise SpecError(field, f"{path}: bad IDX magic {raw[:4].hex()} (must start with 0000)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise SpecError(field, f"{path}: bad IDX magic {raw[:4].hex()} (unknown type 0x{code:02x})")
    if ndim == 0:
        raise SpecError(field, f"{path}: bad IDX magic {raw[:4].hex()} (zero dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SpecError(field, f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got < expected:
        raise SpecError(
            field, f"{path}: truncated IDX data ({got} of {expected} bytes for shape {shape})"
        )
    if got > expected:
        raise SpecError(
            field, f"{path}: {got - expected} extra bytes after the IDX data of shape {shape}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8, int32 or float64 array as IDX (gzipped when the name ends in .gz)."""
    path = Path(path)
    arr = np.asarray(array)
    code = _WRITE_CODES.get(arr.dtype)
    if code is None:
        raise ValueError(f"write_idx supports uint8, int32 and float64, not {arr.dtype}")
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"write_idx needs 1 to 255 dimensions, not {arr.ndim}")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def _find(folder: Path, name: str, field: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise SpecError(field, f"MNIST file {name} (or {name}.gz) not found in {folder}")


def _images(path: Path, field: str) -> np.ndarray:
    arr = read_idx(path, field)
    if arr.ndim < 2:
        raise SpecError(field, f"{path}: images need at least 2 dimensions, got shape {arr.shape}")
    X = arr.reshape(arr.shape[0], -1).astype(np.float64)
    return X / 255.0 if arr.dtype == np.uint8 else X


def _labels(path: Path, field: str) -> np.ndarray:
    arr = read_idx(path, field)
    if arr.ndim != 1:
        raise SpecError(field, f"{path}: labels must be 1-D, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        raise SpecError(field, f"{path}: labels must be integers, got {arr.dtype}")
    return arr.astype(np.int64)


def load_mnist(
    folder: Path, field: str = "problem.data.path"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) from the four standard IDX files in `folder`.

    Images of any h×w are flattened to rows; uint8 pixels are scaled to [0, 1].
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(field, f"MNIST folder not found: {folder}")
    paths = {key: _find(folder, name, field) for key, name in MNIST_FILES.items()}
    out = []
    for split in ("train", "test"):
        X = _images(paths[f"{split}_images"], field)
        y = _labels(paths[f"{split}_labels"], field)
        if X.shape[0] != y.shape[0]:
            raise SpecError(
                field,
                f"{folder}: {split} set has {X.shape[0]} images but {y.shape[0]} labels",
            )
        out += [X, y]
    if out[0].shape[1] != out[2].shape[1]:
        raise SpecError(
            field, f"{folder}: train images have {out[0].shape[1]} pixels, test {out[2].shape[1]}"
        )
    return out[0], out[1], out[2], out[3]


def load_digits_split(
    test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits (1797 × 64, pixels / 16), stratified split drawn from `seed`."""
    if not 0.0 < test_fraction < 1.0:
        raise SpecError("problem.data.test_fraction", f"must lie in (0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test_idx.append(members[: int(round(test_fraction * members.size))])
    is_test = np.zeros(y.size, dtype=bool)
    is_test[np.concatenate(test_idx)] = True
    train = rng.permutation(np.flatnonzero(~is_test))
    test = rng.permutation(np.flatnonzero(is_test))
    return X[train], y[train], X[test], y[test]


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm; all-zero rows stay zero."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def subsample(X: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` samples of a permutation drawn from `seed` (all of them when n ≥ len)."""
    if n < 1:
        raise SpecError("problem.data.samples", f"must be at least 1, got {n}")
    idx = np.random.default_rng(seed).permutation(len(X))[:n]
    return X[idx], y[idx]


__all__ = [
    "IDX_DTYPES",
    "MNIST_FILES",
    "load_digits_split",
    "load_mnist",
    "read_idx",
    "subsample",
    "unit_rows",
    "write_idx",
]
