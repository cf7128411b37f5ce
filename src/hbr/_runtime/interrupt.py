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

Until sampling has draws to keep, the command line does not raise at all: a watcher thread
woken by the signal (:func:`signal.set_wakeup_fd`) prints "interrupted" and ends the process
at once with exit 130. Raising ``KeyboardInterrupt`` inside JAX while it imports or
compiles could crash the process (SIGSEGV, seen about 1 s into a first fit), and nothing
before the first kept draw is worth unwinding for: no output is written before sampling
ends. :func:`keep_draws` (called when the first kept chunk of draws is done) switches to
raising at the checkpoints, so that the draws so far are written as partial results.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["install", "check", "requested", "leave", "keep_draws"]

_REQUESTED = threading.Event()
_INSTALLED = threading.Event()
_RAISE = threading.Event()
_KEEP = threading.Event()  # draws exist that a Ctrl-C should keep (see keep_draws)
_WATCHING = threading.Event()


def _handler(signum: int, frame: Any) -> None:
    _REQUESTED.set()
    if not _KEEP.is_set() and _WATCHING.is_set():
        _leave_now()  # the watcher may be slower to wake: the same exit either way
    if _RAISE.is_set():
        raise KeyboardInterrupt


def _leave_now() -> None:
    """'interrupted', exit 130, at once (nothing is written before sampling ends)."""
    import os

    try:
        os.write(2, b"interrupted\n")
    except OSError:
        pass
    os._exit(130)


def _watch() -> None:
    """Before any draw is kept, end the process as soon as SIGINT arrives, even while the
    main thread is inside XLA (a signal handler written in Python would wait for it)."""
    import socket

    if _WATCHING.is_set() or threading.current_thread() is not threading.main_thread():
        return
    r, w = socket.socketpair()
    w.setblocking(False)
    try:
        signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        return

    def run() -> None:
        while True:
            got = r.recv(64)
            if not got:
                return
            if signal.SIGINT in got and not _KEEP.is_set():
                _REQUESTED.set()
                _leave_now()

    _WATCHING.set()
    threading.Thread(target=run, name="hbr-ctrl-c", daemon=True).start()
    _sockets.extend([r, w])  # kept open for the life of the process


_sockets: list[Any] = []


def keep_draws() -> None:
    """From now on a Ctrl-C keeps the draws so far: it raises at the next checkpoint
    instead of ending the process (called by the driver once a chunk of draws is kept)."""
    _KEEP.set()


_DEFAULT_HOOK = sys.unraisablehook


def _quiet(unraisable: Any) -> None:
    """Python's report of an exception it ignored, except our own KeyboardInterrupt (the
    handler recorded it; :func:`check` raises it again where it counts)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _REQUESTED.is_set():
        return
    _DEFAULT_HOOK(unraisable)


def install(raise_now: bool = True) -> None:
    """Handle SIGINT with a handler that remembers it (main thread only) and, with
    ``raise_now``, raises ``KeyboardInterrupt`` as Python's does; until :func:`keep_draws`
    a Ctrl-C ends the process at once ("interrupted", exit 130; :func:`_watch`)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        _INSTALLED.set()
        _watch()
        if sys.unraisablehook is not _quiet:
            global _DEFAULT_HOOK
            _DEFAULT_HOOK = sys.unraisablehook
            sys.unraisablehook = _quiet
        if raise_now:
            _RAISE.set()


def leave(code: int) -> None:
    """End the process now with ``code`` when :func:`install` was called (the command line):
    an interpreter torn down while XLA is compiling can crash (SIGSEGV seen when Ctrl-C came
    3 s into a first fit), so the streams are flushed and the process exits at once. The
    command line also ends this way once a command that loaded JAX is done (its outputs
    written): the interpreter's teardown would add 0.3-0.5 s. Otherwise (a library, a test
    runner) this returns."""
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
