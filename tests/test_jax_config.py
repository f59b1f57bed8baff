"""overparam's JAX set-up: float64 wherever JAX is used, the platform left alone unless asked,
and a persistent compilation cache that a second process reuses."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "overparam"


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_every_module_that_uses_jax_configures_it_first():
    """float64 is switched on by overparam._jax; a module importing JAX without it could make
    float32 arrays when it is the first one a user imports."""
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "_jax.py":
            continue
        names = _imports(ast.parse(path.read_text()))
        if any(n == "jax" or n.startswith("jax.") for n in names) and "overparam._jax" not in names:
            missing.append(str(path.relative_to(SRC)))
    assert not missing, f"import overparam._jax in: {missing}"


def _python(code: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "OVERPARAM_PLATFORM")}
    full.update(env)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


def test_importing_overparam_leaves_jax_and_the_platform_alone():
    out = _python("""
        import json, os, sys
        import overparam
        print(json.dumps(["jax" in sys.modules, os.environ.get("JAX_PLATFORMS")]))
    """)
    assert json.loads(out) == [False, None]


def test_overparam_platform_sets_jax_platforms_only_when_asked():
    code = """
        import os
        from overparam import _jax
        print(os.environ.get("JAX_PLATFORMS"), _jax.jax.config.jax_enable_x64)
    """
    assert _python(code) == "None True"
    assert _python(code, OVERPARAM_PLATFORM="cpu") == "cpu True"
    assert _python(code, OVERPARAM_PLATFORM="cpu", JAX_PLATFORMS="cpu,cuda") == "cpu,cuda True"


def test_set_platform_is_the_explicit_call():
    code = """
        import jax.numpy as jnp
        import overparam
        overparam.set_platform("cpu")
        platform = jnp.ones(2).devices().pop().platform
        overparam.set_platform("cpu")  # the running platform again: accepted
        try:
            overparam.set_platform("cuda")
        except RuntimeError as e:
            print(platform, "refused" if "before the first computation" in str(e) else e)
    """
    assert _python(code).split() == ["cpu", "refused"]


def test_cache_dir_follows_the_environment(tmp_path):
    code = """
        from overparam import _jax
        print(_jax.cache_dir(), _jax.jax.config.jax_compilation_cache_dir)
    """
    mine = tmp_path / "c"
    out = _python(code, OVERPARAM_CACHE_DIR=str(mine))
    chosen, configured = out.split()
    assert Path(chosen).parent == mine and chosen == configured and Path(chosen).is_dir()
    assert _python(code, OVERPARAM_CACHE_DIR="off") == "None None"
    xdg = _python_env_free(code, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert Path(xdg.split()[0]).parent == tmp_path / "xdg" / "overparam" / "xla"


def _python_env_free(code: str, **env: str) -> str:
    """Like _python, without the suite's OVERPARAM_CACHE_DIR."""
    saved = os.environ.pop("OVERPARAM_CACHE_DIR", None)
    try:
        return _python(code, **env)
    finally:
        if saved is not None:
            os.environ["OVERPARAM_CACHE_DIR"] = saved


COMPILE = """
    import json, time
    import numpy as np
    from overparam import _jax
    from overparam.engine import run_chunks

    def step(c, d, k):
        c = c * 0.5 + d
        return c, {"c": c}

    t0 = time.perf_counter()
    carry, t = run_chunks(step, np.ones((3, 4)), np.ones((3, 4)), 7, 7, lambda s, r: None)
    entries = sum(1 for p in _jax.cache_dir().iterdir() if p.name.endswith("-cache"))
    print(json.dumps({"compile_s": t["compile_s"], "entries": entries, **_jax.cache_stats(),
                      "carry": np.asarray(carry).tolist()}))
"""


def test_a_second_process_loads_the_executable_instead_of_compiling(tmp_path):
    cache = str(tmp_path / "xla")
    first = json.loads(_python(COMPILE, OVERPARAM_CACHE_DIR=cache))
    second = json.loads(_python(COMPILE, OVERPARAM_CACHE_DIR=cache))
    assert first["entries"] >= 1 and first["misses"] >= 1
    assert second["entries"] == first["entries"]
    assert second["misses"] == 0 and second["hits"] >= 1  # loaded, nothing compiled
    assert second["carry"] == first["carry"]


@pytest.mark.parametrize("n", [2])
def test_processes_sharing_one_cache_at_once_agree(tmp_path, n):
    """Two processes compiling the same program into one empty cache at the same time: both
    finish with the same numbers, and a third finds every entry readable."""
    cache = str(tmp_path / "xla")
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "OVERPARAM_PLATFORM")}
    env["OVERPARAM_CACHE_DIR"] = cache
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(COMPILE)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert results[0]["carry"] == results[1]["carry"]
    third = subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(COMPILE)],
                           env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert "cache" not in third.stderr.lower(), third.stderr
