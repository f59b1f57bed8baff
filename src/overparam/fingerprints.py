"""Content hashes of the files a spec reads: part of every run id, so changed data gets new
run ids (and a pipe or a device, which would never end, is refused).

The hashes are taken when a command is planned; while its batches run, every .npy file is
hashed again from exactly the bytes it is read from and compared (:func:`expecting`,
:func:`check`): a file replaced in between is refused instead of giving other numbers under
the planned run ids.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from overparam.errors import SpecError
from overparam.spec import Setting


def _paths(node: Any, where: str = "") -> list[tuple[str, Path]]:
    """Every file path in a setting, with the dotted field that names it."""
    if isinstance(node, Path):
        return [(where, node)]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _paths(v, f"{where}.{k}" if where else k)]
    if isinstance(node, list | tuple):
        return [p for i, v in enumerate(node) for p in _paths(v, f"{where}[{i}]")]
    return []


def file_fingerprints(settings: list[Setting], base_dir: Path) -> dict[str, str]:
    """Content hashes of every file (or folder of files) a setting reads, so changed data gets
    new run ids."""
    out: dict[str, str] = {}
    for s in settings:
        for fieldname, p in _paths(s.model_dump()):
            full = p if p.is_absolute() else base_dir / p
            if full.exists() and not (full.is_file() or full.is_dir()):
                raise SpecError(fieldname, f"{full} is not a regular file (a pipe or a device "
                                "would never end)")
            files = sorted(f for f in full.iterdir() if f.is_file()) if full.is_dir() else [full]
            digest = hashlib.sha256()
            try:
                for f in files:  # a folder (MNIST's IDX files) hashes its files' names and bytes
                    digest.update(f.name.encode() + f.read_bytes())
            except OSError as exc:
                raise SpecError(fieldname, f"cannot read {full} ({exc.strerror})") from None
            out[str(p)] = digest.hexdigest()[:16]
    return out


def digest_of(name: str, data: bytes) -> str:
    """The fingerprint of one file from its name and bytes (as :func:`file_fingerprints`)."""
    return hashlib.sha256(name.encode() + data).hexdigest()[:16]


_expected: contextvars.ContextVar[dict[Path, str] | None] = contextvars.ContextVar(
    "overparam_expected_files", default=None)


@contextlib.contextmanager
def expecting(fingerprints: dict[str, str], base_dir: Path) -> Iterator[None]:
    """While the block runs, files read through :func:`check` must have the planned bytes."""
    expected = {}
    for name, digest in fingerprints.items():
        p = Path(name)
        expected[(p if p.is_absolute() else base_dir / p).resolve()] = digest
    token = _expected.set(expected)
    try:
        yield
    finally:
        _expected.reset(token)


def check(real: Path, digest: str, field: str, shown: str) -> None:
    """SpecError when ``real`` was fingerprinted at plan time with other bytes than the ones
    just read (``digest``)."""
    want = (_expected.get() or {}).get(real)
    if want is not None and want != digest:
        raise SpecError(field, f"{shown} changed after the command was planned (its bytes "
                        "differ from those its run ids were derived from): rerun the command "
                        "to plan with the new file")
