"""User-facing errors: one clear message naming the field, exit status 2 at the CLI."""

from __future__ import annotations

#: The longest error line printed: a 100 000-character key or value is shown by its ends.
MAX_ERROR = 600


def bounded(text: str, limit: int = MAX_ERROR) -> str:
    """``text`` as one line of at most about ``limit`` characters (its head and tail)."""
    text = " ".join(text.split("\n"))
    if len(text) <= limit:
        return text
    keep = limit // 2 - 20
    return f"{text[:keep]} … ({len(text) - 2 * keep} characters left out) … {text[-keep:]}"


class SpecError(ValueError):
    """A spec, an override or an input file is invalid; `field` is its dotted path."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)
