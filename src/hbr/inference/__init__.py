"""Engines over a :class:`hbr.target.Target` only: NUTS (:mod:`hbr.inference.nuts`),
random-walk Metropolis, ADVI, Pathfinder, Laplace and MAP (:mod:`hbr.inference.methods`),
one row each in :data:`~hbr.inference.table.METHODS`; the mode finder
(:mod:`hbr.inference.mode`) and the chunk driver they share.

Modules here import ``hbr.target``, ``hbr._runtime`` and ``hbr.errors`` and nothing else of
hbr (``tests/test_architecture.py``), so an engine cannot depend on how a model was built.
"""

from hbr._runtime.deferred import defer_unused_scipy

defer_unused_scipy()  # before NumPyro loads: SciPy modules it imports that no fit calls

from hbr.inference.methods import INITS  # noqa: E402
from hbr.inference.table import METHODS, Method, RunOptions, run_method

__all__ = ["METHODS", "Method", "RunOptions", "INITS", "run_method"]
