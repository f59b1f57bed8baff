"""IDX / MNIST / digits loading and the teacher of the teacher-student experiment.

The teacher tests pin what matters for the experiment: training runs until the full training
error is zero, the loss is softmax cross-entropy, the last partial minibatch is used exactly,
and the labels come from the very weights that were trained.
"""

from __future__ import annotations

import dataclasses
import gzip
import struct

import numpy as np
import pytest
from sklearn.datasets import load_digits

import overparam  # noqa: F401  (float64)
from overparam.data.datasets import (
    load_digits_split,
    load_mnist,
    read_idx,
    subsample,
    unit_rows,
    write_idx,
)
from overparam.data.teacher import (
    Teacher,
    cross_entropy,
    he_init,
    minibatches,
    relabel,
    sgd_epoch,
    teacher_labels,
    train_teacher,
)
from overparam.errors import SpecError

# ---------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 5 * 7, dtype=np.uint8).reshape(2, 5, 7),
        np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8),
        np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
        np.array([[0.1, -2.5e300], [np.pi, -0.0]], dtype=np.float64),
    ],
    ids=["uint8-images", "uint8-labels", "int32", "float64"],
)
def test_idx_round_trip(tmp_path, array, suffix):
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"  # really gzipped
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_hand_written_headers(tmp_path):
    # Images: magic 0x00000803, two 1 × 3 uint8 images.
    raw = b"\x00\x00\x08\x03" + struct.pack(">III", 2, 1, 3) + bytes([0, 1, 2, 253, 254, 255])
    (tmp_path / "u8").write_bytes(raw)
    np.testing.assert_array_equal(
        read_idx(tmp_path / "u8"), np.array([[[0, 1, 2]], [[253, 254, 255]]], dtype=np.uint8)
    )
    # Labels: magic 0x00000801.
    (tmp_path / "lab").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 4) + bytes([7, 0, 9, 1]))
    np.testing.assert_array_equal(read_idx(tmp_path / "lab"), [7, 0, 9, 1])
    # Big-endian int16, int8, float32 and float64 payloads.
    cases = [
        (0x0B, ">hhh", (1, -2, 258), np.int16),
        (0x09, ">bbb", (-128, 5, 127), np.int8),
        (0x0D, ">fff", (0.5, -1.25, 3.0), np.float32),
        (0x0E, ">ddd", (0.1, -7.0, 1e-300), np.float64),
        (0x0C, ">iii", (-1, 65536, 7), np.int32),
    ]
    for code, fmt, values, dtype in cases:
        p = tmp_path / f"t{code}"
        p.write_bytes(bytes([0, 0, code, 1]) + struct.pack(">I", 3) + struct.pack(fmt, *values))
        got = read_idx(p)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.array(values, dtype=dtype))


def test_idx_bad_files_name_the_file(tmp_path):
    good = tmp_path / "good"
    write_idx(good, np.zeros((3, 4, 4), dtype=np.uint8))
    raw = good.read_bytes()

    cut = tmp_path / "cut-data"
    cut.write_bytes(raw[:-5])
    with pytest.raises(SpecError, match="truncated") as e:
        read_idx(cut)
    assert e.value.field == "problem.data.path" and str(cut) in e.value.message

    cut_gz = tmp_path / "cut.gz"
    cut_gz.write_bytes(gzip.compress(raw[:10]))  # header promises 3 dims, has 1.5
    with pytest.raises(SpecError, match="truncated") as e:
        read_idx(cut_gz, field="problem.data.images")
    assert e.value.field == "problem.data.images" and str(cut_gz) in e.value.message

    for name, head in [("magic", b"\x01\x02\x08\x03"), ("code", b"\x00\x00\x07\x03")]:
        bad = tmp_path / f"bad-{name}"
        bad.write_bytes(head + raw[4:])
        with pytest.raises(SpecError, match="magic") as e:
            read_idx(bad)
        assert str(bad) in e.value.message

    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(SpecError, match="truncated"):
        read_idx(tiny)

    extra = tmp_path / "extra"
    extra.write_bytes(raw + b"\x00")
    with pytest.raises(SpecError, match="extra bytes"):
        read_idx(extra)

    with pytest.raises(SpecError, match="not found"):
        read_idx(tmp_path / "nope")


# -------------------------------------------------------------------------------------- MNIST


def _fake_mnist(folder, n_train=50, n_test=20, h=28, w=28, gz=("train-images-idx3-ubyte",)):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    folder.mkdir(exist_ok=True)
    for name, arr in arrays.items():
        write_idx(folder / (name + (".gz" if name in gz else "")), arr)
    return arrays


def test_load_mnist_fake_folder(tmp_path):
    arrays = _fake_mnist(tmp_path / "mnist")
    Xtr, ytr, Xte, yte = load_mnist(tmp_path / "mnist")
    assert Xtr.shape == (50, 784) and Xte.shape == (20, 784)
    assert Xtr.dtype == np.float64 and ytr.dtype == np.int64 and yte.dtype == np.int64
    assert 0.0 <= Xtr.min() and Xtr.max() <= 1.0 and Xtr.max() > 0.9
    np.testing.assert_array_equal(ytr, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(yte, arrays["t10k-labels-idx1-ubyte"])
    np.testing.assert_allclose(Xte[3], arrays["t10k-images-idx3-ubyte"][3].ravel() / 255.0)


def test_load_mnist_any_image_size(tmp_path):
    _fake_mnist(tmp_path / "m", n_train=6, n_test=4, h=5, w=7, gz=())
    Xtr, _, Xte, _ = load_mnist(tmp_path / "m")
    assert Xtr.shape == (6, 35) and Xte.shape == (4, 35)


def test_load_mnist_errors(tmp_path):
    folder = tmp_path / "m"
    _fake_mnist(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(SpecError) as e:
        load_mnist(folder)
    assert "t10k-labels-idx1-ubyte" in e.value.message and str(folder) in e.value.message
    assert e.value.field == "problem.data.path"

    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8))
    with pytest.raises(SpecError, match="20 images but 19 labels"):
        load_mnist(folder)

    with pytest.raises(SpecError, match="not found"):
        load_mnist(tmp_path / "missing")


# ------------------------------------------------------------------------------------- digits


def test_digits_split():
    Xtr, ytr, Xte, yte = load_digits_split(0.25, seed=3)
    assert Xtr.shape[1] == Xte.shape[1] == 64
    assert len(Xtr) + len(Xte) == 1797 and abs(len(Xte) - 0.25 * 1797) <= 10
    assert Xtr.min() >= 0.0 and max(Xtr.max(), Xte.max()) == 1.0
    # Deterministic for a seed, different for another.
    again = load_digits_split(0.25, seed=3)
    for a, b in zip((Xtr, ytr, Xte, yte), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(load_digits_split(0.25, seed=4)[1], ytr)
    # Train and test partition the data set exactly (as a multiset of (row, label)).
    full = load_digits()
    ref = np.column_stack([full.data / 16.0, full.target])
    got = np.column_stack([np.vstack([Xtr, Xte]), np.concatenate([ytr, yte])])
    np.testing.assert_array_equal(ref[np.lexsort(ref.T)], got[np.lexsort(got.T)])
    # Stratified: each class's share of the test set is the fraction, to one sample.
    for c in range(10):
        n_c = np.sum(full.target == c)
        assert abs(np.sum(yte == c) - 0.25 * n_c) <= 1


def test_unit_rows_and_subsample():
    X = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]])
    U = unit_rows(X)
    np.testing.assert_allclose(U, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]])
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20)
    Xs, ys = subsample(X, y, 7, seed=1)
    assert Xs.shape == (7, 2) and len(set(ys)) == 7
    np.testing.assert_array_equal(Xs[:, 0], 2 * ys)  # rows stay with their labels
    np.testing.assert_array_equal(subsample(X, y, 7, seed=1)[1], ys)
    assert not np.array_equal(subsample(X, y, 7, seed=2)[1], ys)
    assert len(subsample(X, y, 100, seed=0)[1]) == 20


# ------------------------------------------------------------------------------------ teacher


def _np_cross_entropy(logits, labels, mask):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    per_row = -logp[np.arange(len(labels)), labels]
    return np.sum(mask * per_row) / np.sum(mask)


def test_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = 3.0 * rng.standard_normal((9, 5))
    labels = rng.integers(0, 5, 9)
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], dtype=float)
    got = float(cross_entropy(logits, labels, mask))
    assert got == pytest.approx(_np_cross_entropy(logits, labels, mask), rel=1e-13, abs=0)
    full = float(cross_entropy(logits, labels))
    assert full == pytest.approx(_np_cross_entropy(logits, labels, np.ones(9)), rel=1e-13)
    # Stable for huge logits.
    big = float(cross_entropy(logits + 1e4, labels, mask))
    assert big == pytest.approx(got, rel=1e-9)


def test_he_init_std():
    W, V = he_init(np.random.default_rng(1), d0=300, width=800, classes=10)
    assert W.shape == (800, 300) and V.shape == (10, 800)
    assert W.std() == pytest.approx(np.sqrt(2 / 300), rel=0.01)
    assert V.std() == pytest.approx(np.sqrt(2 / 800), rel=0.05)
    assert abs(W.mean()) < 3 * np.sqrt(2 / 300) / np.sqrt(W.size)


def _np_tanh_sgd_epoch(W, V, X, y, perm, lr, batch):
    """Reference: plain loop over the minibatches of perm, hand-written tanh-network gradients."""
    W, V = W.copy(), V.copy()
    for start in range(0, len(perm), batch):
        b = perm[start : start + batch]
        Xb, yb = X[b], y[b]
        Z = Xb @ W.T
        H = np.tanh(Z)
        logits = H @ V.T
        P = np.exp(logits - logits.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        G = (P - np.eye(V.shape[0])[yb]) / len(b)
        gV = G.T @ H
        gW = ((G @ V) * (1 - H**2)).T @ Xb
        W -= lr * gW
        V -= lr * gV
    return W, V


def test_minibatches_pad_and_mask():
    idx, mask = minibatches(np.array([4, 2, 0, 1, 3]), 2)
    np.testing.assert_array_equal(idx, [[4, 2], [0, 1], [3, 0]])
    np.testing.assert_array_equal(mask, [[1, 1], [1, 1], [1, 0]])


def test_scan_epoch_matches_python_loop():
    rng = np.random.default_rng(5)
    n, d0, h, c, batch = 11, 4, 6, 3, 4  # batches of 4, 4 and a partial 3
    X = rng.standard_normal((n, d0))
    y = rng.integers(0, c, n)
    W, V = he_init(rng, d0, h, c)
    perm = rng.permutation(n)
    lr = 0.7
    W1, V1 = sgd_epoch(W, V, X, y, perm, lr=lr, batch=batch, activation="tanh")
    W2, V2 = _np_tanh_sgd_epoch(W, V, X, y, perm, lr, batch)
    np.testing.assert_allclose(W1, W2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(V1, V2, rtol=0, atol=1e-12)
    assert np.abs(W1 - W).max() > 1e-3  # the update is not trivially zero
    # Dropping the partial batch would give a different result.
    W3, _ = _np_tanh_sgd_epoch(W, V, X, y, perm[:8], lr, batch)
    assert np.abs(W3 - W1).max() > 1e-6


@pytest.fixture(scope="module")
def small_digits():
    Xtr, ytr, Xte, yte = load_digits_split(0.25, seed=0)
    Xs, ys = subsample(unit_rows(Xtr), ytr, 300, seed=0)
    return Xs, ys, unit_rows(Xte)


@pytest.fixture(scope="module")
def small_teacher(small_digits):
    X, y, _ = small_digits
    return train_teacher(X, y, width=128, seed=0)


def test_teacher_reaches_zero_error_and_labels_with_itself(small_digits, small_teacher):
    X, y, Xte = small_digits
    t = small_teacher
    assert t.train_error == 0.0 and t.epochs >= 1 and t.activation == "relu"
    assert t.W.shape == (128, 64) and t.V.shape == (10, 128)
    np.testing.assert_array_equal(t.predict(X), y)
    np.testing.assert_array_equal(relabel(t, X), y)
    ytr, yte = teacher_labels(X, Xte, t)
    np.testing.assert_array_equal(ytr, y)
    assert yte.shape == (len(Xte),) and yte.dtype == np.int64
    # The labels are the argmax of V φ(W xᵀ) for these very weights.
    manual = np.argmax(np.maximum(Xte @ t.W.T, 0.0) @ t.V.T, axis=1)
    assert np.mean(manual == yte) > 0.99
    assert np.mean(yte == load_digits_split(0.25, seed=0)[3]) > 0.8  # it learned digits


def test_teacher_stops_at_first_zero_epoch(small_digits, small_teacher):
    X, y, _ = small_digits
    again = train_teacher(X, y, width=128, seed=0, max_epochs=small_teacher.epochs)
    assert again.epochs == small_teacher.epochs
    assert again.fingerprint == small_teacher.fingerprint
    with pytest.raises(SpecError, match="after") as e:
        train_teacher(X, y, width=128, seed=0, max_epochs=small_teacher.epochs - 1)
    assert e.value.field == "problem.data.teacher.max_epochs"


def test_teacher_fails_loudly_when_it_cannot_fit():
    X = np.ones((6, 3)) / np.sqrt(3)
    y = np.array([0, 1, 0, 1, 0, 1])  # identical inputs, different labels
    with pytest.raises(SpecError, match="50.0000% after 3 epochs") as e:
        train_teacher(X, y, width=8, max_epochs=3)
    assert e.value.field == "problem.data.teacher.max_epochs"


def test_teacher_is_frozen_and_fingerprinted(small_teacher):
    t = small_teacher
    assert len(t.fingerprint) == 16 and int(t.fingerprint, 16) >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.W = t.W * 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        t.W[0, 0] = 1.0
    same = Teacher(t.W.copy(), t.V.copy(), t.activation, t.train_error, t.epochs)
    assert same.fingerprint == t.fingerprint
    W = t.W.copy()
    W[3, 7] += 1e-12
    assert Teacher(W, t.V, t.activation, 0.0, t.epochs).fingerprint != t.fingerprint
    V = t.V.copy()
    V[0, 0] = -V[0, 0]
    assert Teacher(t.W, V, t.activation, 0.0, t.epochs).fingerprint != t.fingerprint


def test_teacher_epochs_compile_once():
    from overparam.data.teacher import _compiled

    epoch, logits = _compiled("relu")
    if not hasattr(epoch, "_cache_size"):
        pytest.skip("this JAX does not expose the jit cache size")
    before = epoch._cache_size(), logits._cache_size()
    X = np.ones((7, 5)) / np.sqrt(5)
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    with pytest.raises(SpecError):
        train_teacher(X, y, width=9, batch=3, max_epochs=6)
    assert (epoch._cache_size(), logits._cache_size()) == (before[0] + 1, before[1] + 1)


def test_teacher_unknown_activation():
    with pytest.raises(SpecError) as e:
        train_teacher(np.eye(3), np.array([0, 1, 2]), activation="swish")
    assert e.value.field == "problem.data.teacher.activation" and "swish" in e.value.message
