"""Whether a spec may name user code to import ("module:function"): importing runs that
code, so it is refused unless the caller allowed it (``--allow-import``,
``allow_import=True``)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "overparam_imports_allowed", default=False)


def imports_allowed() -> bool:
    """Whether the running command allowed imports of user code."""
    return _allowed.get()


@contextlib.contextmanager
def allowing_imports(allowed: bool = True) -> Iterator[None]:
    """Allow (or keep forbidding) imports of user code while the block runs."""
    token = _allowed.set(bool(allowed))
    try:
        yield
    finally:
        _allowed.reset(token)
