"""Ctrl-C that is never lost.

Python raises ``KeyboardInterrupt`` in whatever code runs when SIGINT arrives; when that is a
garbage-collection callback (JAX registers one, and it runs often while a first fit imports
and compiles) Python prints "Exception ignored" and carries on: the fit ran to its end and
wrote its outputs (issue 22). The command line installs :func:`install`: its handler also
records the request, and :func:`check` raises ``KeyboardInterrupt`` again at the next
checkpoint (before and after the pilot, after compiling, between sampling chunks). A library
user keeps Python's own handler; then :func:`check` never raises. The ``hbr`` script
installs it before its imports, in a mode that only records (an exception raised inside an
import would end in a traceback); the command line then checks first thing and leaves with
"interrupted", exit 130.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["install", "check", "requested", "leave"]

_REQUESTED = threading.Event()
_INSTALLED = threading.Event()
_RAISE = threading.Event()


def _handler(signum: int, frame: Any) -> None:
    _REQUESTED.set()
    if _RAISE.is_set():
        raise KeyboardInterrupt


_DEFAULT_HOOK = sys.unraisablehook


def _quiet(unraisable: Any) -> None:
    """Python's report of an exception it ignored, except our own KeyboardInterrupt (the
    handler recorded it; :func:`check` raises it again where it counts)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _REQUESTED.is_set():
        return
    _DEFAULT_HOOK(unraisable)


def install(raise_now: bool = True) -> None:
    """Handle SIGINT with a handler that remembers it (main thread only) and, with
    ``raise_now``, raises ``KeyboardInterrupt`` as Python's does."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        _INSTALLED.set()
        if sys.unraisablehook is not _quiet:
            global _DEFAULT_HOOK
            _DEFAULT_HOOK = sys.unraisablehook
            sys.unraisablehook = _quiet
        if raise_now:
            _RAISE.set()


def leave(code: int) -> None:
    """End the process now with ``code`` when :func:`install` was called (the command line):
    an interpreter torn down while XLA is compiling can crash (SIGSEGV seen when Ctrl-C came
    3 s into a first fit), so the streams are flushed and the process exits at once.
    Otherwise (a library, a test runner) this returns."""
    if _INSTALLED.is_set():
        import os
        import sys

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def requested() -> bool:
    """Whether Ctrl-C was pressed since :func:`install`."""
    return _REQUESTED.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` when Ctrl-C was pressed (and perhaps swallowed)."""
    if _REQUESTED.is_set():
        raise KeyboardInterrupt
