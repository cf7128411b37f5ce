"""The progress bars: sampling's (``hbr fit``, ``hbr.fit(..., progress=True)``) and a bar of
steps for the work after the fit (``fit.loo()``: rows; ``fit.report()``: sections)."""

from __future__ import annotations

from typing import Any, Callable

import contextlib
import sys
from typing import Iterator

__all__ = ["progress_bar", "interactive", "wants_bar", "steps"]


def interactive() -> bool:
    """Whether a person is watching: stderr is a terminal, or the code runs in a Jupyter
    (IPython kernel) session, where rich draws its bar in the notebook."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a replaced or closed stderr
        pass
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell is not None else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def wants_bar(progress: bool | None, name: str = "progress") -> bool:
    """``progress`` as a decision: None means :func:`interactive`; anything but a bool or
    None is a named :class:`~hbr.errors.OptionError`."""
    if progress is None:
        return interactive()
    if isinstance(progress, bool):
        return progress
    from hbr.errors import OptionError

    raise OptionError(f"{name} must be True (a bar on stderr), False (none) or None (a bar "
                      f"when a person is watching: a terminal or a notebook), got {progress!r}")


@contextlib.contextmanager
def steps(description: str, total: float, show: bool) -> Iterator[Callable[[float], None]]:
    """A bar of ``total`` steps on stderr when ``show`` (else nothing is drawn): yields
    ``advance(n)``. The work and its results do not depend on it."""
    if not show:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn)

    bar = Progress(TextColumn("{task.description:<22}"), BarColumn(), TaskProgressColumn(),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=False)
    task = bar.add_task(description, total=total)
    with bar:
        yield lambda n=1: bar.advance(task, n)


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
