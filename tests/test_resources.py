"""The memory guard: estimates against the arrays a setting really builds, and refusals at plan
time (exit 2, one line naming the field, nothing written)."""

from __future__ import annotations

import copy
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from overparam import engine, problems, resources
from overparam.cli import app
from overparam.errors import SpecError
from overparam.problems.protocol import compile_key
from overparam.runner import plan
from overparam.spec import expand, validate_spec

runner = CliRunner()
GiB = 1024**3

#: The one-copy size of a term against the arrays it stands for: equal up to this factor.
TERM_FACTOR = 1.5

SMALL = {
    "two_layer_linear": {
        "problem": {"kind": "two_layer_linear", "width": 2000,
                    "data": {"kind": "synthetic", "n": 3, "m": 2, "x": "orthogonal"}},
        "init": {"kind": "gaussian", "std": 1.0}, "schedule": {"kind": "constant", "eta": 0.01},
    },
    "deep_linear": {
        "problem": {"kind": "deep_linear", "widths": [6, 40, 40, 3],
                    "data": {"kind": "synthetic", "samples": 30}},
        "init": {"kind": "gaussian"},
    },
    "linear_classifier": {
        "problem": {"kind": "linear_classifier", "dim": 20, "depth": 3, "hidden": 30,
                    "dynamics": {"kind": "gd", "gradient": "sample", "samples": 200}},
        "init": {"kind": "gaussian", "std": 0.1}, "schedule": {"kind": "constant", "eta": 0.01},
    },
    "shallow": {
        "problem": {"kind": "shallow", "width": 300, "data": {"kind": "sphere", "n": 50, "d0": 5}},
        "schedule": {"kind": "constant", "eta": 0.01},
    },
}


def _setting(raw: dict, seeds: int = 2, steps: int = 40, chunk: int = 16):
    spec = validate_spec({**copy.deepcopy(raw), "seeds": seeds, "steps": steps, "chunk": chunk})
    return expand(spec)[0]


def _nbytes(tree) -> int:
    return sum(np.asarray(x).nbytes for x in jax.tree_util.tree_leaves(tree))


def _close(estimated: float, actual: float, factor: float = TERM_FACTOR) -> bool:
    return actual / factor <= estimated <= actual * factor


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_terms_match_the_arrays_built(kind, tmp_path):
    """Weights, data and one chunk's rows of the estimate against the instance's arrays, the
    stacked batch and the step's rows (shapes from tracing the step, no compilation)."""
    seeds = 2
    setting = _setting(SMALL[kind], seeds)
    est = resources.estimate(setting, seeds, tmp_path)
    fam = problems.family(setting)
    insts = [fam.build_instance(setting, s, tmp_path) for s in range(seeds)]
    _, carries, data, step = fam.prepare(setting, insts)
    stacked_carry, stacked_data = engine.stack(carries), engine.stack(data)

    weights = next(t for t in est.terms if t.what.startswith(("weights", "layers")))
    params = carries[0].params
    assert _close(weights.nbytes, _nbytes(params)), (weights, _nbytes(params))

    data_term = est.term("data X, Y") or est.term("data X, Y, basis U, W*") \
        or est.term("fixed sample")
    names = {"two_layer_linear": ("X", "Y"), "deep_linear": ("X", "Y", "U", "W_star"),
             "linear_classifier": ("X", "y"), "shallow": ("X", "Y")}[kind]
    actual = sum(np.asarray(data[0][k]).nbytes for k in names)
    assert _close(data_term.nbytes, actual, 2.0), (data_term, actual)

    row = jax.eval_shape(step, carries[0], data[0], np.int32(0))[1]
    row_bytes = sum(np.dtype(x.dtype).itemsize * max(1, int(np.prod(x.shape)))
                    for x in jax.tree_util.tree_leaves(row))
    chunk = est.term("one chunk's rows")
    assert _close(chunk.nbytes, setting.chunk * row_bytes), (chunk, row_bytes)
    trace = est.term("the logged trace")
    assert _close(trace.nbytes, (setting.steps + 1) * row_bytes)

    # Everything resident (the stacked batch and one chunk of every seed's rows) is counted,
    # and the temporaries on top stay within a sane multiple of it.
    resident = _nbytes(stacked_carry) + _nbytes(stacked_data) + seeds * setting.chunk * row_bytes
    assert resident <= est.total <= 40 * resident + 2 * 1024**2, (resident, est.total)


def test_one_chunk_rows_really_run(tiny, tmp_path):
    """The chunk term against the rows a compiled chunk really returns (TINY, one chunk)."""
    setting = _setting(tiny, seeds=2, steps=9, chunk=5)
    fam = problems.family(setting)
    insts = [fam.build_instance(setting, s, tmp_path) for s in (0, 1)]
    _, carries, data, step = fam.prepare(setting, insts)
    key = compile_key(fam, setting)
    got: list[dict] = []
    engine.run_chunks(step, engine.stack(carries), engine.stack(data), 5, 5,
                      lambda start, rows: got.append(rows) or True, cache_key=key)
    actual = sum(v.nbytes for v in got[0].values())
    est = resources.estimate(setting, 2, tmp_path)
    assert _close(2 * est.term("one chunk's rows").nbytes, actual), actual


def test_estimate_grows_with_the_field_that_drives_it():
    base = SMALL["shallow"]
    small = resources.estimate(_setting(base), 2)
    wide = copy.deepcopy(base)
    wide["problem"]["width"] = 300_000
    big = resources.estimate(_setting(wide), 2)
    assert big.largest.field == "problem.width"
    assert big.total > 100 * small.total
    deep = copy.deepcopy(SMALL["deep_linear"])
    deep["problem"]["widths"] = [6, 20000, 20000, 3]
    est = resources.estimate(_setting(deep), 2)
    assert est.largest.field == "problem.widths"
    # σ_min(W_{N−1:2}) forms the hidden × hidden product; switching it off removes that term
    assert est.term("σ_min(W_{N−1:2}) product and SVD") is not None
    deep["problem"]["sigma_min_inner_every"] = 0
    assert resources.estimate(_setting(deep), 2).term("σ_min(W_{N−1:2}) product and SVD") is None


def test_npy_data_sizes_come_from_the_headers(tmp_path):
    """.npy data are sized from their headers (nothing loaded); an unreadable file counts as
    empty, so the loader reports it with the field's name."""
    np.save(tmp_path / "X.npy", np.zeros((50, 7)))
    np.save(tmp_path / "Y.npy", np.zeros(50))
    raw = copy.deepcopy(SMALL["two_layer_linear"])
    raw["problem"]["data"] = {"kind": "npy", "X": "X.npy", "Y": "Y.npy"}
    est = resources.estimate(_setting(raw), 1, tmp_path)
    assert est.term("data X, Y").entries == 50 * (7 + 1)
    assert est.term("weights W1, W2").entries == (7 + 1) * (7 + 1)  # row-space coordinates
    assert est.term("instances W1(0), W2(0) (host)").entries == (7 + 1) * 2000
    (tmp_path / "Y.npy").write_bytes(b"not a numpy file")
    assert resources.npy_shape(tmp_path / "Y.npy") is None
    assert resources.npy_shape(tmp_path / "missing.npy") is None
    resources.estimate(_setting(raw), 1, tmp_path)  # no exception


def test_sizes_parse_and_format():
    assert resources.parse_size("16GiB") == 16 * GiB
    assert resources.parse_size("512 MB") == 512 * 1024**2
    assert resources.parse_size("1.5g") == int(1.5 * GiB)
    assert resources.parse_size("1000") == 1000
    with pytest.raises(SpecError, match=resources.ENV):
        resources.parse_size("lots")
    assert resources.format_bytes(37.2 * GiB) == "37.2 GiB"
    assert resources.format_bytes(512) == "512 B"
    assert resources.format_bytes(3 * 1024**4) == "3.0 TiB"


def test_available_memory_is_positive_and_the_variable_overrides_it(monkeypatch):
    avail, _ = resources.available_memory()
    assert avail > 0
    monkeypatch.setenv(resources.ENV, "3GiB")
    assert resources.available_memory() == (3 * GiB, f"set by {resources.ENV}")


def test_refusal_names_the_driving_field(tiny):
    tiny["problem"]["width"] = 10**8
    setting = _setting(tiny)
    with pytest.raises(SpecError) as err:
        resources.check_memory([setting], 2, available=2 * GiB)
    assert err.value.field == "problem.width"
    assert "GiB" in err.value.message and "2.0 GiB available" in err.value.message
    # many seeds of a setting that fits once: they run in batches of the most that fit
    tiny["problem"]["width"] = 10**5
    setting = _setting(tiny, seeds=2000)
    assert resources.check_memory([setting], 2000, available=2 * GiB) is not None
    k = resources.seeds_per_batch(setting, 2000, available=2 * GiB)
    assert 1 <= k < 2000
    assert resources.estimate(setting, k).total <= 2 * GiB < resources.estimate(setting,
                                                                                  k + 1).total
    assert resources.seeds_per_batch(setting, 3, available=2 * GiB) == 3  # all fit together


def test_sweep_point_too_large_is_refused_at_plan(tiny, monkeypatch):
    monkeypatch.setenv(resources.ENV, "500MiB")
    with pytest.raises(SpecError) as err:
        plan(tiny, sets=[("problem.width", [12, 10**7])])
    assert err.value.field == "problem.width" and "10000000" in err.value.message
    assert plan(tiny, sets=[("problem.width", [12, 24])]).n_runs == 4


def _cli(tmp_path: Path, spec: dict, *extra: str):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    res = runner.invoke(app, ["run-spec", str(path), "--out", str(out), "--no-progress", *extra])
    return res, out


@pytest.mark.parametrize("width", [10**7, 10**12])
def test_cli_refuses_a_huge_width_and_writes_nothing(tmp_path, tiny, monkeypatch, width):
    """10⁷ against 500 MiB (the budget fixed so the test does not depend on the machine), and
    10¹² (tens of petabytes) against the real memory: refused before any array is built."""
    if width == 10**7:
        monkeypatch.setenv(resources.ENV, "500MiB")
    tiny["problem"]["width"] = width
    res, out = _cli(tmp_path, tiny)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: problem.width:"), res.output
    assert "GiB" in lines[0] and "Traceback" not in res.output
    assert not out.exists()


def test_cli_runs_what_fits(tmp_path, tiny):
    res, out = _cli(tmp_path, tiny, "--set", "steps=3")
    assert res.exit_code == 0, res.output
    assert (out / "tiny" / "runs.parquet").exists()


def test_mnist_sizes_come_from_the_idx_headers(tmp_path):
    """MNIST is sized from the IDX headers (raw or gzipped), digits from its known shape."""
    from overparam.data.datasets import write_idx

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 255, (7, 4, 4), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(7, dtype=np.uint8) % 10)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(3, dtype=np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (3, 4, 4), np.uint8))
    spec = {"problem": {"kind": "shallow", "width": 8,
                        "data": {"kind": "dataset", "path": str(tmp_path), "labels": "true"}},
            "schedule": {"kind": "constant", "eta": 0.1}}
    est = resources.estimate(_setting(spec), 1, tmp_path)
    assert est.term("data X, Y").entries == (16 + 10) * (7 + 3)
    assert est.term("weights W, V").entries == 8 * (16 + 10)
    digits = {"problem": {"kind": "shallow", "width": 8, "data": {"kind": "dataset",
                                                                  "labels": "true"}},
              "schedule": {"kind": "constant", "eta": 0.1}}
    est = resources.estimate(_setting(digits), 1, tmp_path)
    assert est.term("data X, Y").entries == (64 + 10) * 1797


def test_seeds_that_do_not_fit_together_run_in_batches_with_the_same_numbers(tiny, tmp_path,
                                                                             monkeypatch):
    import pandas as pd

    import overparam as op

    tiny["seeds"] = 3
    one = resources.estimate(_setting(tiny), 1).total
    together = op.run(tiny, out=tmp_path / "a", progress=False)
    monkeypatch.setenv(resources.ENV, str(int(one * 1.5)))  # one seed fits, two do not
    assert resources.seeds_per_batch(_setting(tiny), 3) == 1
    apart = op.run(tiny, out=tmp_path / "b", progress=False)
    assert list(apart.runs["status"]) == ["ok"] * 3
    pd.testing.assert_frame_equal(together.steps, apart.steps, rtol=1e-12, check_exact=False)
