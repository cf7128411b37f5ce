"""What a model fitted out of core is made of, whoever computed it (DuckDB or Dask):
:class:`TableStats`, the columns it reads (:func:`used_columns`), and which models qualify
(:func:`eligible`: a Gaussian model whose group terms are all on one factor, integrated out
exactly from sufficient statistics). This module never imports JAX, DuckDB or Dask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hbr.design.stats import SuffStats
from hbr.design.types import TermSlice
from hbr.formula import Formula, parse_formula

__all__ = ["TableStats", "used_columns", "eligible", "needs_rows"]


@dataclass(frozen=True, eq=False)
class TableStats:
    """What a Gaussian model with one (integrated-out) grouping factor needs of a table.

    ``fixed_names`` and ``coefs`` name the columns of X and Z as :class:`hbr.design.types.Design`
    does; ``levels`` are the grouping factor's levels in the order of the statistics' last
    axis; ``x_mean``/``x_sd`` and ``y_mean``/``y_sd`` are the column moments the default
    priors use; ``memo`` what the transforms learnt (as ``Design.memo``).
    """

    response: str
    fixed_names: tuple[str, ...]
    factor: str
    levels: tuple[str, ...]
    coefs: tuple[str, ...]
    stats: SuffStats
    y_mean: float
    y_sd: float
    x_mean: np.ndarray
    x_sd: np.ndarray
    memo: dict = field(default_factory=dict)
    terms: tuple[TermSlice, ...] = ()
    widths: tuple[int, ...] = ()  # Z columns of each group term, in formula order
    z_sd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    engine: str = "duckdb"  # or "dask"
    # where the rows are, for what streams them again (hbr.checks.loo): the path or glob, or the
    # Dask DataFrame; with the DuckDB settings used (threads, memory_limit)
    source: Any = None
    settings: dict = field(default_factory=dict)
    # Bernoulli, binomial or Poisson rows collapsed to covariate patterns
    # (hbr.sources.patterns): {"rows": the pattern rows, "const": row-wise minus collapsed
    # log likelihood, "family": the rows' family}; None for Gaussian statistics
    collapsed: dict | None = None


def used_columns(f: Formula) -> list[str]:
    """The columns a model read out of core uses: response, terms, group terms and factor."""
    from hbr.design.transforms import factor_columns

    return list(dict.fromkeys(
        [c for fa in [f.response] + [fa for t in f.terms for fa in t.factors]
         + [fa for g in f.groups for t in g.terms for fa in t.factors]
         for c, _ in factor_columns(fa)] + [c for g in f.groups for c in g.factor]))


def eligible(formulas: list[str], family: str, parameterization: str = "marginal"
             ) -> str | None:
    """None when the model can be fitted from sufficient statistics (DuckDB or Dask), else
    the feature that needs the rows (for the error message)."""
    if family == "lognormal":
        return "family='lognormal' (its statistics are those of log y, not read out of core)"
    if family != "gaussian":
        return f"family={family!r} (only Gaussian effects integrate out to statistics)"
    if parameterization != "marginal":
        return f"parameterization={parameterization!r}"
    if len(formulas) > 1:
        return "a second formula (sigma ~ ...)"
    return needs_rows(parse_formula(formulas[0]))


def needs_rows(f: Formula) -> str | None:
    """The feature of ``f`` that needs the rows in memory, or None."""
    if f.additions or f.offsets:
        return "se(), trials(), cens(), trunc(), weights() or offset()"
    if f.smooths:
        return "a smooth s(x) (its basis is learnt from the rows)"
    if len({g.factor for g in f.groups}) != 1:
        return "group terms on other than exactly one grouping factor"
    return None
