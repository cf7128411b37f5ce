"""hbr: Bayesian hierarchical regression from a formula.

>>> import hbr
>>> radon = hbr.load_dataset("radon")
>>> mn = radon[radon.state == "MN"]
>>> fit = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=1)  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP

``hbr.plots``, ``hbr.report`` and ``hbr.checks`` load on first use (PEP 562), and so do
``hbr.fit`` and ``hbr.compare`` (they reach JAX): ``import hbr`` loads neither JAX, ArviZ
nor matplotlib, and ``hbr --help`` answers without them.
"""

from __future__ import annotations

import importlib
import os as _os
import sys as _sys
import warnings
from typing import Any

if _os.path.basename(_sys.argv[0] if _sys.argv else "") == "hbr":  # the hbr script: Ctrl-C
    from hbr._runtime.interrupt import install as _install  # from the first moment
    from hbr._runtime.collector import tune as _tune_collector  # fewer GC passes

    _install(raise_now=False)
    _tune_collector()

from hbr._version import __version__
from hbr import datasets, priors
from hbr.datasets import list_datasets, load_dataset, simulate
from hbr.errors import (DataError, DiagnosticsWarning, FormulaError, HbrError, HbrWarning,
                        OptionError, OutputExistsError, PriorError)
from hbr.formula import parse_formula
from hbr.io import read_table

__all__ = ["fit", "Fit", "load_fit", "compare", "Comparison", "summarize_predictions",
           "load_dataset", "simulate", "list_datasets", "read_table", "parse_formula",
           "priors", "datasets", "HbrError", "FormulaError", "DataError", "PriorError",
           "OptionError", "OutputExistsError", "HbrWarning", "DiagnosticsWarning",
           "__version__"]

_LAZY = ("plots", "report", "checks")
# names whose modules reach JAX (or SciPy, ArviZ's neighbours): imported on first use
_LAZY_NAMES = {"fit": "hbr.api", "compare": "hbr.checks.compare",
               "Comparison": "hbr.checks.compare", "Fit": "hbr.posterior",
               "load_fit": "hbr.posterior", "summarize_predictions": "hbr.posterior"}
# old module paths of the flat layout (before issue 16), still reachable with a warning
_MOVED = {"predictive": "hbr.posterior.predictive", "loo": "hbr.checks.loo",
          "calibration": "hbr.checks.calibration", "diagnostics": "hbr.checks.diagnostics"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"hbr.{name}")
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value  # once: later lookups do not come here
        return value
    if name in _MOVED:
        warnings.warn(f"hbr.{name} moved to {_MOVED[name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(_MOVED[name])
    raise AttributeError(f"module 'hbr' has no attribute {name!r}")
