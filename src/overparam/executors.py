"""Where batches run: in this process, or as tasks on a Dask cluster.

A batch is one setting with its missing seeds (vmapped together), so a task is never smaller
than a compiled loop. Executors only compute: the caller saves what comes back, in its own
process, so a task that is retried after its worker died is saved once.

    local                    this process, one batch after another (the default)
    dask                     a local Dask cluster of worker processes (``workers``)
    dask://HOST:PORT         an existing Dask scheduler (tcp://HOST:PORT works too)
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from overparam.errors import SpecError

#: How often the Dask scheduler re-runs a task that raised (a dead worker is rescheduled
#: by the scheduler itself, up to ``distributed.scheduler.allowed-failures`` times).
RETRIES = 2


#: Dask's nanny sets these to 1 in every worker it spawns, and jaxlib's LAPACK (eigh, SVD, QR
#: inside the compiled loop) runs on OpenBLAS: a local cluster gives each worker its share of
#: the cores instead (a variable already set in this process wins, as in Dask).
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"

#: The nanny also sets MALLOC_TRIM_THRESHOLD_=65536, which turns glibc's adaptive heap off:
#: each step's temporaries go back to the OS and fault in again, and the loop of a width-4000
#: Fig 1 setting took 1.9x as long. A task keeps this much at the top of the heap instead.
HEAP_TOP_PAD = 256 << 20
_M_TOP_PAD = -2  # glibc's mallopt parameter number


def blas_environ(workers: int) -> dict[str, str]:
    """The nanny's pre-spawn environment with each of ``workers`` workers given its share of
    the cores for BLAS threads."""
    import dask
    from dask.system import CPU_COUNT

    share = str(max(1, CPU_COUNT // max(workers, 1)))
    return {**dask.config.get(PRE_SPAWN_ENVIRON, {}),
            **dict.fromkeys(BLAS_THREAD_VARIABLES, share)}


@functools.cache
def keep_heap() -> bool:
    """Where MALLOC_TRIM_THRESHOLD_ is set (a Dask worker), have glibc keep HEAP_TOP_PAD bytes
    when it trims the heap; True if it did (False elsewhere, or without glibc). Once per
    process: the setting lasts."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_TOP_PAD, HEAP_TOP_PAD))


class InWorker:
    """``fn`` as a Dask task: the worker's heap is tuned before each call."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def __call__(self, item: Any) -> Any:
        keep_heap()
        return self.fn(item)


class Executor(Protocol):
    """Runs ``fn`` on every item and yields the results as they finish (any order)."""

    name: str

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Batches one after another in this process (compiled loops are cached across them)."""

    name = "local"

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass


def _connect(client_cls: Any, address: str, timeout: float) -> Any:
    """A Client of the scheduler at ``address``, or SpecError within ``timeout`` + 5 s: a
    server that accepts the connection but never speaks Dask must not hang the command."""
    import threading

    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = client_cls(address, timeout=timeout)
        except BaseException as exc:  # reported below, in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout + 5.0)
    if "client" in box:
        return box["client"]
    exc = box.get("error")
    if exc is None:
        why = f"no Dask scheduler answered within {timeout + 5:.0f} s"
    elif address.startswith("tls://") and isinstance(exc, TypeError | ValueError):
        why = "tls:// needs Dask's TLS security settings (distributed.comm.tls in its config)"
    else:
        why = f"{type(exc).__name__}: {exc}"
    raise SpecError("--executor", f"cannot reach the Dask scheduler at {address} ({why})")


class DaskExecutor:
    """Batches as Dask tasks: on a local cluster of processes, or on a scheduler's workers.

    Workers need the same overparam version and, for specs that read files, the same paths
    (resolved on the client). Results travel back to the client, which writes them."""

    def __init__(self, address: str | None = None, workers: int | None = None,
                 retries: int = RETRIES, connect_timeout: float = 10.0):
        import dask
        from dask.distributed import Client, LocalCluster

        self.address, self.retries = address, retries
        self._cluster = None
        if address is None:
            n = workers or 1
            self.name = f"dask (local cluster, {n} worker{'s' * (n != 1)})"
            # One thread per worker: a batch already uses every core XLA gives it, and JAX
            # must not be forked after it starts threads, so workers are spawned processes.
            # The scheduler's HTTP server takes any free port (8787 may belong to another
            # cluster, which would print a warning).
            with dask.config.set({PRE_SPAWN_ENVIRON: blas_environ(n)}):
                self._cluster = LocalCluster(n_workers=n, threads_per_worker=1,
                                             processes=True, dashboard_address=":0")
            self.client = Client(self._cluster)
        else:
            self.name = f"dask ({address})"
            self.client = _connect(Client, address, connect_timeout)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        from dask.distributed import as_completed

        items = list(items)
        if not items:
            return
        futures = self.client.map(InWorker(fn), items, pure=False, retries=self.retries)
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.release()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


#: The most local worker processes: beyond a few per core they only cost memory and start-up.
MAX_WORKERS = 4 * (os.cpu_count() or 1)


def parse_executor(executor: str, workers: int | None) -> tuple[str, str | None]:
    """Validate ``--executor`` / ``--workers``; return (kind, scheduler address or None)."""
    if workers is not None and workers < 1:
        raise SpecError("--workers", f"must be at least 1, got {workers}")
    if workers is not None and workers > MAX_WORKERS:
        raise SpecError("--workers", f"{workers} worker processes on {os.cpu_count()} cores; "
                        f"at most {MAX_WORKERS} (4 per core)")
    if executor == "local":
        if workers not in (None, 1):
            raise SpecError("--workers", "only the dask executor takes workers "
                            "(use --executor dask)")
        return "local", None
    if executor == "dask":
        return "dask", None
    for scheme in ("dask://", "tcp://", "tls://"):
        if executor.startswith(scheme):
            host = executor[len(scheme):]
            if not host or ":" not in host:
                raise SpecError("--executor", f"{executor!r} needs a host and a port, "
                                "e.g. dask://HOST:8786")
            if workers is not None:
                raise SpecError("--workers", "an existing scheduler has its own workers; "
                                "--workers is for --executor dask")
            return "dask", ("tcp://" if scheme == "dask://" else scheme) + host
    raise SpecError("--executor", f"unknown executor {executor!r}: use local, dask or "
                    "dask://HOST:PORT")


def make_executor(executor: str = "local", workers: int | None = None) -> Executor:
    """An executor from the command line's ``--executor`` and ``--workers``."""
    return start_executor(parse_executor(executor, workers), workers)


def start_executor(choice: tuple[str, str | None], workers: int | None = None) -> Executor:
    """Start the executor ``parse_executor`` chose: (kind, scheduler address or None)."""
    kind, address = choice
    if kind == "local":
        return LocalExecutor()
    return DaskExecutor(address=address, workers=workers)
