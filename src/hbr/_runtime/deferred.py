"""SciPy modules that NumPyro and JAX import at start-up but a fit never calls, loaded on
first use instead.

``import numpyro`` runs ``import scipy.fft`` (for :mod:`numpyro.diagnostics`, which hbr does
not call) and ``numpyro.distributions`` imports ``jax.experimental.sparse``, which runs
``import scipy.sparse.linalg`` (and with it ``scipy.linalg``). Measured with
``python -X importtime`` on ``hbr fit --example radon`` (jax 0.10.2, numpyro 0.22,
SciPy 1.17): 0.22 s and 0.055 s of a 3.8 s command.

``scipy.linalg`` is a package stand-in (:class:`_DeferredPackage`): JAX's CPU backend, the
first time it lowers a program, imports ``scipy.linalg.cython_blas`` and
``scipy.linalg.cython_lapack`` for their LAPACK function pointers, and importing a submodule
runs its package's ``__init__`` (all of ``scipy.linalg``: 0.13 s in ``hbr fit --example
radon``, its docstring parsing alone 0.1 s). The stand-in carries the package's real
``__path__`` and spec, so those two extension modules load by themselves (5 ms) and the rest
of ``scipy.linalg`` loads at the first attribute anybody reads from it. ``scipy.sparse`` is
one too: ``jax.experimental.sparse.linalg`` imports it (and ``scipy.sparse.linalg``) but
reads it only in ``spsolve``; imported for real it took 0.13-0.19 s, 84 ms of it
``numpy.f2py``, which SciPy's array-API layer imports. :func:`defer_unused_scipy` puts a
stand-in for each in ``sys.modules`` before NumPyro loads; the first attribute anybody reads
from a stand-in (``scipy.fft.rfft``, ``from scipy.fft import rfft``, a submodule import)
imports the real module, which then replaces the stand-in everywhere the import system
keeps it (``sys.modules`` and the parent package's attribute). Nothing changes for a module
already imported, or when NumPyro is imported before hbr.

Python's own :class:`importlib.util.LazyLoader` cannot serve here: on Python 3.11 the
import system reads ``module.__spec__`` on every ``import`` of a module already in
``sys.modules``, which makes a lazy module load at NumPyro's own ``import scipy.fft``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["DEFERRED", "defer_unused_scipy"]

# imported by numpyro (diagnostics) and jax.experimental.sparse (linalg) at start-up; never
# called by a fit
DEFERRED = ("scipy.fft", "scipy.sparse", "scipy.sparse.linalg", "scipy.linalg")
# packages whose submodules are imported on their own (JAX: LAPACK's Cython tables in
# scipy.linalg; scipy.sparse.linalg, itself a stand-in, in scipy.sparse)
_PACKAGES = frozenset({"scipy.sparse", "scipy.linalg"})

# re-entrant: loading the real scipy.sparse.linalg imports scipy.linalg, a stand-in too
_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """A stand-in for the module ``name``: its own attributes are only the module's name and
    spec, so the first other attribute read imports the real module (see the module
    docstring) and reads it there."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        # a spec that is not initialising: the import system returns this object as it is
        self.__spec__ = importlib.machinery.ModuleSpec(name, None)

    def __getattr__(self, attr: str) -> Any:
        return getattr(_load(self), attr)


class _DeferredPackage(_Deferred):
    """A stand-in for the package ``name`` with its real spec and ``__path__``: a submodule
    import (``import scipy.linalg.cython_lapack``) loads that submodule alone; any other
    attribute imports the real package, as :class:`_Deferred`."""

    def __init__(self, name: str, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(name)
        self.__spec__ = spec  # found, never executed: not initialising
        self.__path__ = list(spec.submodule_search_locations or [])


def _load(stand_in: _Deferred) -> types.ModuleType:
    name = stand_in.__name__
    with _LOCK:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        real = importlib.import_module(name)  # sets the parent's attribute, as any import
    return real


def defer_unused_scipy() -> None:
    """Put a stand-in for each of :data:`DEFERRED` not yet imported in ``sys.modules`` (and
    on its parent package: ``scipy``, imported for real in a few milliseconds once NumPy
    is loaded, or the stand-in of ``scipy.sparse``). Call before the first ``import numpyro``;
    calling it again does nothing."""
    for name in DEFERRED:
        if name in sys.modules:
            continue
        parent_name, _, child = name.rpartition(".")
        try:
            parent = importlib.import_module(parent_name)
        except ImportError:  # no SciPy: NumPyro falls back to NumPy by itself
            continue
        if child in vars(parent):  # imported already, under another path
            continue
        if name in _PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.submodule_search_locations is None:
                continue
            stand_in: _Deferred = _DeferredPackage(name, spec)
        else:
            stand_in = _Deferred(name)
        sys.modules[name] = stand_in
        if not isinstance(parent, _Deferred):  # a stand-in parent finds it on first use
            setattr(parent, child, stand_in)
