"""hbr: Bayesian hierarchical regression from a formula.

>>> import hbr
>>> radon = hbr.load_dataset("radon")
>>> mn = radon[radon.state == "MN"]
>>> fit = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=1)  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP

``hbr.plots``, ``hbr.report`` and ``hbr.checks`` load on first use (PEP 562), so
``import hbr`` loads neither ArviZ nor matplotlib.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from hbr._version import __version__
from hbr import datasets, priors
from hbr.api import fit
from hbr.checks.compare import Comparison, compare
from hbr.datasets import list_datasets, load_dataset, simulate
from hbr.errors import (DataError, FormulaError, HbrError, HbrWarning, OptionError,
                        OutputExistsError, PriorError)
from hbr.formula import parse_formula
from hbr.io import read_table
from hbr.posterior import Fit, load_fit, summarize_predictions

__all__ = ["fit", "Fit", "load_fit", "compare", "Comparison", "summarize_predictions",
           "load_dataset", "simulate", "list_datasets", "read_table", "parse_formula",
           "priors", "datasets", "HbrError", "FormulaError", "DataError", "PriorError",
           "OptionError", "OutputExistsError", "HbrWarning", "__version__"]

_LAZY = ("plots", "report", "checks")
# old module paths of the flat layout (before issue 16), still reachable with a warning
_MOVED = {"predictive": "hbr.posterior.predictive", "loo": "hbr.checks.loo",
          "calibration": "hbr.checks.calibration", "diagnostics": "hbr.checks.diagnostics"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"hbr.{name}")
    if name in _MOVED:
        warnings.warn(f"hbr.{name} moved to {_MOVED[name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(_MOVED[name])
    raise AttributeError(f"module 'hbr' has no attribute {name!r}")
