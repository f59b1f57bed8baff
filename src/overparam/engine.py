"""The compiled loop: a per-seed step, vmapped over seeds, scanned over steps in chunks.

Each chunk is one compiled call; its rows go to ``on_chunk`` (the store streams them to
disk) before the next chunk starts. Divergence is carried in the step's state, so a
diverged seed never stops the others.

The seed axis is padded to a bucket size (``resources.seed_bucket``: 1, 2, 4, 8, then multiples of 8)
with copies of the first seed, whose rows are dropped. Runs with 3 or 4 seeds, or a resume
that has 27 of 30 seeds left, then use the same executable (found in the persistent
compilation cache by another process), and a seed's numbers never depend on how many seeds
ran beside it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from overparam import _jax  # noqa: F401  (float64)
from overparam.resources import seed_bucket


def stack(trees: list[Any]) -> Any:
    """Stack per-seed pytrees along a new leading axis."""
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


#: Executables kept in memory for settings that share a compile key (oldest dropped first);
#: the on-disk XLA cache (``overparam._jax``) keeps the rest across processes.
COMPILED_MAX = 64
_COMPILED: OrderedDict[Any, Any] = OrderedDict()


def _remember(key: Any, compiled: Any) -> None:
    _COMPILED[key] = compiled
    while len(_COMPILED) > COMPILED_MAX:
        _COMPILED.popitem(last=False)


def _pad_seeds(tree: Any, size: int) -> Any:
    """Pad the leading (seed) axis of every leaf to ``size`` with copies of seed 0."""
    def pad(x):
        x = np.asarray(x)
        extra = size - x.shape[0]
        return x if extra == 0 else np.concatenate([x, np.repeat(x[:1], extra, axis=0)])

    return jax.tree_util.tree_map(pad, tree)


def _signature(tree: Any) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return (treedef, tuple((np.shape(x), np.asarray(x).dtype.str) for x in leaves))


def run_chunks(
    step: Callable[[Any, Any, Any], tuple[Any, dict[str, Any]]],
    carry: Any,
    data: Any,
    n_rows: int,
    chunk: int,
    on_chunk: Callable[[int, dict[str, np.ndarray]], bool | None],
    cache_key: Any = None,
) -> tuple[Any, dict[str, float]]:
    """Run ``n_rows`` steps for every seed (leading axis of carry and data).

    ``step(carry, data, k)`` gets one seed's carry and data and the global step index k.
    Returns the final carry and timings: ``compile_s`` (tracing + XLA compilation) and
    ``run_s`` (execution). ``on_chunk(start_row, rows)`` gets arrays of shape (seeds, rows);
    when it returns True no further chunk runs (every seed has finished early).
    Settings whose step is the same function (``cache_key``) and whose arrays have the same
    shapes reuse one compiled executable (e.g. a sweep over a noise level).
    """
    length = min(chunk, n_rows)
    n_seeds = jax.tree_util.tree_leaves(carry)[0].shape[0]
    size = seed_bucket(n_seeds)
    carry, data = _pad_seeds(carry, size), _pad_seeds(data, size)

    def scan_one(c, d, start):
        # The step index is not batched, so a step may branch on it (lax.cond) cheaply.
        ks = start + jax.numpy.arange(length)
        return jax.lax.scan(lambda cc, k: step(cc, d, k), c, ks)

    t0 = time.perf_counter()
    key = None if cache_key is None else (cache_key, length, _signature(carry), _signature(data))
    compiled = _COMPILED.get(key) if key is not None else None
    if compiled is not None:
        _COMPILED.move_to_end(key)
    else:
        compiled = (jax.jit(jax.vmap(scan_one, in_axes=(0, 0, None)))
                    .lower(carry, data, np.int32(0)).compile())
        if key is not None:
            _remember(key, compiled)
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    start = 0
    while start < n_rows:
        carry, rows = compiled(carry, data, np.int32(start))
        keep = min(length, n_rows - start)
        stop = on_chunk(start, {k: np.asarray(v)[:n_seeds, :keep] for k, v in rows.items()})
        start += keep
        if stop:
            break
    carry = jax.tree_util.tree_map(lambda x: x[:n_seeds], carry)
    return carry, {"compile_s": compile_s, "run_s": time.perf_counter() - t1}
