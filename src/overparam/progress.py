"""A rich progress bar over runs (done / total, ETA), silent when disabled or not a terminal."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, label: str, total: int, done: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.label, self.total, self.done = label, total, done
        self._bar: RichProgress | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            console = Console(file=sys.stderr)
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("runs"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=console, transient=False,
            )
            self._bar.__enter__()
            # an id's brackets are text, never rich markup
            self._task = self._bar.add_task(escape(self.label), total=self.total,
                                            completed=self.done)
        return self

    def grow(self, n: int) -> None:
        """More runs than planned (an experiment that searches adds them as it goes)."""
        self.total += n
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
