"""Content hashes of the files a spec reads: part of every run id, so changed data gets new
run ids (and a pipe or a device, which would never end, is refused)."""

from __future__ import annotations

import hashlib
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
