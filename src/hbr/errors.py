"""Errors and warnings that hbr raises for the user.

Every error names the argument or column, the bad value, the valid options and the fix.
``HbrError`` is the base class, so ``except hbr.HbrError`` catches all of them; the CLI turns
them into a one-paragraph message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "check_int",
    "HbrError",
    "FormulaError",
    "DataError",
    "PriorError",
    "OptionError",
    "OutputExistsError",
    "HbrWarning",
    "DiagnosticsWarning",
    "caret_message",
]


class HbrError(Exception):
    """Base class of every error hbr raises on purpose."""


class OptionError(HbrError, ValueError):
    """An argument of ``hbr.fit`` (or a CLI option) has an invalid value."""


class FormulaError(HbrError, ValueError):
    """A formula cannot be parsed or does not fit the data.

    Attributes
    ----------
    formula : str
        The formula as given.
    position : int
        0-based character offset of the problem in ``formula``.
    """

    def __init__(self, message: str, formula: str, position: int, length: int = 1) -> None:
        self.formula = formula
        self.position = position
        self.reason = message
        super().__init__(caret_message(message, formula, position, length))


class DataError(HbrError, ValueError):
    """The table does not fit the model: missing, non-numeric or non-finite values etc."""


class PriorError(HbrError, ValueError):
    """A prior is malformed, unknown, or given for a parameter that does not exist."""


class OutputExistsError(HbrError, FileExistsError):
    """An output file exists already and overwriting was not asked for."""


class HbrWarning(UserWarning):
    """Something the user should know about (rows dropped, sampling problems)."""


class DiagnosticsWarning(HbrWarning):
    """The fit's diagnostics verdict is not OK (divergences, R-hat, ESS, E-BFMI, tree depth,
    or Pareto k of an approximation): the message names each problem and what to try.
    Filter it like any warning, e.g. ``warnings.simplefilter("ignore", DiagnosticsWarning)``;
    the same verdict is ``fit.diagnostics()``."""


def caret_message(message: str, formula: str, position: int, length: int = 1) -> str:
    """Format ``message`` with the formula repeated and a caret under ``position``.

    >>> print(caret_message("unexpected ')'", "y ~ x)", 5))
    unexpected ')'
      y ~ x)
           ^
    """
    position = max(0, min(position, len(formula)))
    marks = "^" * max(1, min(length, len(formula) - position) if position < len(formula) else 1)
    return f"{message}\n  {formula}\n  {' ' * position}{marks}"


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int if it is one and at least ``minimum``, else an OptionError naming
    ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OptionError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
