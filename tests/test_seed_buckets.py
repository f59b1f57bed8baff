"""Seeds run in padded buckets: nearby seed counts share one executable, and a seed's numbers
do not depend on how many seeds ran beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from overparam import engine
from overparam.resources import seed_bucket


def test_buckets_are_powers_of_two_then_multiples_of_eight():
    assert [seed_bucket(n) for n in range(1, 10)] == [1, 2, 4, 4, 8, 8, 8, 8, 16]
    assert [seed_bucket(n) for n in (16, 17, 27, 30, 32, 33)] == [16, 24, 32, 32, 32, 40]
    assert all(n <= seed_bucket(n) < n + 8 for n in range(1, 200))


def test_padded_seeds_are_dropped_and_do_not_change_the_real_ones():
    rng = np.random.default_rng(0)
    carry, data = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))

    def step(c, d, k):
        c = jnp.tanh(c) + d * k
        return c, {"c": c, "alive": c < 1e9}

    def run(n):
        got: list = []
        final, _ = engine.run_chunks(step, carry[:n], data[:n], 6, 4,
                                     lambda s, r: got.append(r) and False)
        return np.asarray(final), np.concatenate([g["c"] for g in got], axis=1)

    final3, rows3 = run(3)
    final4, rows4 = run(4)
    assert final3.shape == (3, 3) and rows3.shape == (3, 6, 3)
    assert np.array_equal(final3, final4[:3]) and np.array_equal(rows3, rows4[:3])


RERUN = """
    import json, sys
    sys.path.insert(0, {tests!r})
    from conftest import TINY
    import overparam as op
    from overparam import _jax
    res = op.run(TINY, seeds={seeds}, out={out!r})
    last = res.steps.sort_values("step").groupby("run_id")["loss"].last()
    print(json.dumps({{**_jax.cache_stats(), "loss": last.to_dict()}}))
"""


@pytest.mark.parametrize("first, second", [(3, 4)])
def test_a_rerun_with_other_seeds_compiles_nothing(tmp_path, first, second):
    env = {**os.environ, "OVERPARAM_CACHE_DIR": str(tmp_path / "xla")}
    tests = str(Path(__file__).parent)

    def run(seeds, out):
        code = textwrap.dedent(RERUN.format(tests=tests, seeds=seeds, out=str(tmp_path / out)))
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout.strip().splitlines()[-1])

    cold, warm = run(first, "a"), run(second, "b")
    assert cold["misses"] > 0
    assert warm["misses"] == 0 and warm["hits"] > 0
    # the seeds both runs share have the same numbers, bit for bit
    assert {k: warm["loss"][k] for k in cold["loss"]} == cold["loss"]


def test_the_in_memory_executable_cache_is_bounded(monkeypatch):
    """Settings that share a key reuse one executable; the oldest are dropped past the bound."""
    from overparam import engine

    monkeypatch.setattr(engine, "COMPILED_MAX", 2)
    monkeypatch.setattr(engine, "_COMPILED", engine.OrderedDict())

    def step(c, d, k):
        return c + d, {"x": c}

    def run(key):
        return engine.run_chunks(step, np.ones((1, 2)), np.ones((1, 2)), 3, 3,
                                 lambda s, r: None, cache_key=key)

    for key in ("a", "b", "a", "c"):  # "a" is used again, so "b" is the oldest when "c" comes
        carry, _ = run(key)
        np.testing.assert_array_equal(np.asarray(carry), [[4.0, 4.0]])
    assert [k[0] for k in engine._COMPILED] == ["a", "c"]
