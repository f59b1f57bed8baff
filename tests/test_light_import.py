"""Registering the experiments is light: `overparam list` and `--help` start fast, so the
registry and the paper modules import no JAX, plotting, dataframe or cluster library."""

from __future__ import annotations

import json
import math
import subprocess
import sys

HEAVY = ("jax", "jaxlib", "diffrax", "dask", "distributed", "matplotlib", "scipy", "pandas")

PROBE = """
import json, sys
import overparam.experiments as e
ids = [x.id for x in e.all_experiments()]
e.get_experiment(ids[0])
print(json.dumps({"n": len(ids), "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


def _probe() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,)], capture_output=True,
                         text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_registering_imports_no_heavy_module():
    res = _probe()
    assert res["n"] > 0
    assert res["loaded"] == [], f"importing the registry loaded {res['loaded']}"


def test_plain_tables_match_what_they_replace():
    """The colour cycle and the lazy-training ratios are written out; they must stay what
    matplotlib and numpy give."""
    import matplotlib.colors
    import matplotlib.pyplot as plt
    import numpy as np

    from overparam.experiments import near_isometry
    from overparam.plots import COLORS

    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    assert COLORS == [matplotlib.colors.to_hex(c) for c in cycle]
    he = 2.0 / math.sqrt(784 * 1000)
    assert near_isometry.MNIST_HE == he
    assert near_isometry.RATIOS == [float(v * v / he) for v in np.geomspace(0.002, 0.1, 10)]
