"""Formula x table -> :class:`Design` (NumPy and pandas; no JAX).

The design holds the response, the fixed-effect columns, one :class:`GroupBlock` per group
term and the formulas of distributional parameters; its sufficient statistics
(:mod:`hbr.design.stats`) are what the exact marginal likelihood needs. Transforms of columns
(``log``, ``center``, ...) are in :mod:`hbr.design.transforms`, checks of the columns in
:mod:`hbr.design.checks`, and new rows are coded as the training rows were by
:mod:`hbr.design.newdata`.
"""

from hbr.design.build import build_design
from hbr.design.types import DPARS, Design, DparDesign, GroupBlock, TermSlice
from hbr.design.stats import SuffStats, pad_stats, suffstats

__all__ = ["Design", "DparDesign", "GroupBlock", "TermSlice", "build_design", "DPARS",
           "SuffStats", "suffstats", "pad_stats"]
