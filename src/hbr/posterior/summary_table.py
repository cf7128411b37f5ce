"""The posterior summary as a table that prints whole: every column, in a script as in a
notebook, with ESS as integers and R-hat to three decimals (the values stay full
precision; only the printing rounds). Long tables (10^4 group effects) print their first
and last rows, as pandas does, with a count of the rows left out."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["SummaryTable", "formatters"]


def _number(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    return f"{v:.3f}" if v == 0 or 1e-3 <= abs(v) < 1e6 else f"{v:.3g}"


def formatters(columns: Any) -> dict[str, Callable[[float], str]]:
    """How each summary column prints: ESS as integers, R-hat to 3 decimals, MCSE to 3
    significant digits, other numbers to 3 decimals (3 significant digits when tiny or
    huge)."""
    out: dict[str, Callable[[float], str]] = {}
    for c in columns:
        if str(c).startswith("ess"):
            out[c] = lambda v: "nan" if not np.isfinite(v) else f"{v:.0f}"
        elif c == "r_hat":
            out[c] = lambda v: f"{v:.3f}"
        elif str(c).startswith("mcse"):
            out[c] = lambda v: f"{v:.3g}"
        else:
            out[c] = _number
    return out


class SummaryTable(pd.DataFrame):
    """A :class:`pandas.DataFrame` (everything pandas does works) that prints whole."""

    @property
    def _constructor(self) -> type:
        return SummaryTable

    def __repr__(self) -> str:
        rows = pd.get_option("display.max_rows") or len(self)
        return self.to_string(formatters=formatters(self.columns), max_rows=rows,
                              min_rows=min(rows, 20), show_dimensions=len(self) > rows)

    __str__ = __repr__
