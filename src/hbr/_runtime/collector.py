"""The garbage collector of the ``hbr`` process (the command line, never a library user's).

CPython's cyclic collector runs a young-generation pass every 700 net allocations of
container objects (``gc.get_threshold() == (700, 10, 10)``). A warm ``hbr fit --example
radon`` allocates a few hundred thousand while it imports pandas, JAX and NumPyro and loads
its programs: about 430 passes, three of them full (each full pass walks every object the
imports made), 0.17-0.22 s of a 3 s command on this project's 2-core machine when it is
quiet (0.5 s under load), and 0.8 s under load of a first fit that traces and compiles
(timed with ``gc.callbacks``). The objects are nearly all long-lived (modules, functions,
JAX's rules), so the passes find little: raising the young threshold to 10,000 leaves
about 30 passes and no full one (about 0.1 s saved on a quiet repeat, 0.65 s on a first
fit under load), for 60 MB more peak memory on a first fit (770 -> 830 MB) and none on a
repeat.

:func:`tune` sets that threshold. It changes the whole process, so only the command line
calls it: the ``hbr`` script from its first import (``hbr/__init__``), ``python -m hbr`` in
:func:`hbr.cli.main`. ``import hbr`` in a user's program or notebook leaves the collector
as the user had it.
"""

from __future__ import annotations

import gc

__all__ = ["tune", "THRESHOLDS"]

THRESHOLDS = (10_000, 10, 10)  # young passes every 10,000 net allocations; older as usual


def tune() -> None:
    """Set :data:`THRESHOLDS` (idempotent)."""
    gc.set_threshold(*THRESHOLDS)
