"""Configure JAX once for the package: float64 everywhere, and a persistent compilation cache.

Every module that uses JAX imports this one (a test enforces it), so float64 is on before any
array is made. Importing overparam itself imports no JAX.

The platform is JAX's choice unless ``OVERPARAM_PLATFORM`` names one (``cpu``, ``cuda``): only
then is ``JAX_PLATFORMS`` set, and only if the process has not set it; ``set_platform`` (also
``overparam.set_platform``) is the explicit call. The ``overparam``
command sets ``OVERPARAM_PLATFORM=cpu`` for itself when it is unset, so the CLI runs on the
CPU by default.

Compiled XLA executables are kept on disk (``cache_dir()``), so a second run of the same
experiment, or the same shapes in another process, loads them instead of compiling. The
folder is ``$OVERPARAM_CACHE_DIR`` if set (``off``, ``0`` or empty disables the cache), else
``$XDG_CACHE_HOME/overparam/xla`` (``~/.cache/overparam/xla``), with one subfolder per
jaxlib version and CPU feature set, since an executable is only valid where it was compiled.
JAX takes a file lock around every read and write of the cache once a size limit is set (here
``OVERPARAM_CACHE_MAX_BYTES``, default 2 GiB, least recently used entries evicted), which makes
one folder safe for processes that run at the same time (Dask workers, two shells).
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

if "OVERPARAM_PLATFORM" in os.environ:
    os.environ.setdefault("JAX_PLATFORMS", os.environ["OVERPARAM_PLATFORM"])

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

#: Default size limit of the compilation cache (bytes).
CACHE_MAX_BYTES = 2 * 1024**3
_OFF = {"", "0", "off", "false", "no", "none"}


def _machine_tag() -> str:
    """jaxlib version and a hash of the CPU's model and feature flags (executables are
    specific to both)."""
    import jaxlib

    info = platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
        info += "".join(sorted({ln for ln in lines if ln.split(":")[0].strip() in
                                ("flags", "Features", "model name")}))
    except OSError:
        info += platform.processor()
    return f"jaxlib-{jaxlib.__version__}-{hashlib.sha256(info.encode()).hexdigest()[:12]}"


def set_platform(name: str) -> None:
    """Make ``name`` JAX's platform for this process; refused once a backend is running."""
    from jax._src import xla_bridge

    if getattr(xla_bridge, "backends_are_initialized", lambda: False)():
        current = jax.default_backend()
        if name.split(",")[0] == current:
            return
        raise RuntimeError(f"JAX already runs on {current}; call set_platform({name!r}) "
                           "before the first computation")
    jax.config.update("jax_platforms", name)


def cache_dir() -> Path | None:
    """The compilation cache folder in use for this process (None: disabled)."""
    env = os.environ.get("OVERPARAM_CACHE_DIR")
    if env is not None and env.strip().lower() in _OFF:
        return None
    if env is not None:
        root = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "overparam" / "xla"
    return root / _machine_tag()


def _enable_cache() -> None:
    """Point JAX's persistent cache at ``cache_dir()``, unless the user configured one."""
    if jax.config.jax_compilation_cache_dir:  # the user's own setting wins
        return
    path = cache_dir()
    if path is None:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home, say: run without a cache rather than fail
        return
    max_bytes = int(os.environ.get("OVERPARAM_CACHE_MAX_BYTES", CACHE_MAX_BYTES))
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_compilation_cache_max_size", max_bytes)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


_CACHE_EVENTS = {"/jax/compilation_cache/cache_hits": "hits",
                 "/jax/compilation_cache/cache_misses": "misses"}
_cache_counts = {"hits": 0, "misses": 0}


def _count_cache_event(event: str, **_: object) -> None:
    name = _CACHE_EVENTS.get(event)
    if name:
        _cache_counts[name] += 1


def cache_stats() -> dict[str, int]:
    """Persistent-cache hits (executables loaded from disk) and misses (compiled here) so far
    in this process."""
    return dict(_cache_counts)


jax.monitoring.register_event_listener(_count_cache_event)
_enable_cache()

__all__ = ["cache_dir", "cache_stats", "jax", "set_platform"]
