"""The light commands start fast: `overparam list`, `--help` and `--version` import none of
the heavy dependencies (JAX alone costs seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("jax", "jaxlib", "diffrax", "dask", "distributed", "matplotlib", "scipy", "pandas")

CODE = """
    import json, sys
    sys.argv = ["overparam", *{args!r}]
    from overparam.cli import main
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    print(json.dumps({{"code": code, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize("args", [["list"], ["--help"], ["--version"], ["run", "--help"]])
def test_light_commands_import_no_heavy_dependency(args):
    code = textwrap.dedent(CODE.format(args=args, heavy=HEAVY))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"code": 0, "heavy": []}, res.stdout


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    res = subprocess.run([sys.executable, "-m", "overparam.cli", "--version"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"overparam {version('overparam')}"
