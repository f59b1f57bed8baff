"""User-facing errors: one clear message naming the field, exit status 2 at the CLI."""

from __future__ import annotations


class SpecError(ValueError):
    """A spec, an override or an input file is invalid; `field` is its dotted path."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)
