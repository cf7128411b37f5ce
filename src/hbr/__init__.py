"""hbr: Bayesian hierarchical regression from a formula.

>>> import hbr
>>> radon = hbr.load_dataset("radon")
>>> mn = radon[radon.state == "MN"]
>>> fit = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=1)  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP
"""

__version__ = "0.1.0"

from hbr import priors  # noqa: E402
from hbr.api import Fit, fit  # noqa: E402
from hbr._load import load_fit  # noqa: E402
from hbr.compare import compare  # noqa: E402
from hbr.datasets import list_datasets, load_dataset, simulate  # noqa: E402
from hbr.errors import (DataError, FormulaError, HbrError, HbrWarning,  # noqa: E402
                        OptionError, OutputExistsError, PriorError)
from hbr.formula import parse_formula  # noqa: E402
from hbr.io import read_table  # noqa: E402

__all__ = ["fit", "Fit", "load_fit", "compare", "load_dataset", "simulate", "list_datasets", "read_table", "parse_formula",
           "priors", "HbrError", "FormulaError", "DataError", "PriorError", "OptionError",
           "OutputExistsError", "HbrWarning", "__version__"]
