"""The sampling progress bar that ``hbr fit`` and ``hbr.fit(..., progress=True)`` show."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["progress_bar"]


def progress_bar(console: Any = None) -> tuple[Any, Callable[[int, int, str], None]]:
    """A rich progress bar (a context manager; on stderr unless ``console`` is given) and
    the ``progress(done, total, phase)`` function that moves it."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    bar = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(),
                   console=console if console is not None else Console(stderr=True),
                   transient=False)
    task = bar.add_task("compiling + warm-up", total=None)

    def update(done: int, total: int, phase: str) -> None:
        bar.update(task, completed=done, total=total,
                   description="warm-up" if phase == "warmup" else "sampling")
    return bar, update
