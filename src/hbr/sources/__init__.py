"""Rows elsewhere -> a :class:`~hbr.design.Design` without rows: CSV/Parquet files and globs
through DuckDB (:mod:`hbr.sources.duckdb`), Dask DataFrames (:mod:`hbr.sources.dask`), and
the fitted rows streamed again in chunks (:mod:`hbr.sources.stream`, for LOO and checks).

:func:`design_for` is the one rule for when a table is read out of core: what :func:`hbr.fit`
asks before it reads anything.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hbr.design.types import Design, GroupBlock
from hbr.errors import DataError, OptionError
from hbr.formula import parse_formula
from hbr.sources.dask import dask_statistics, is_dask
from hbr.sources.duckdb import connect, duckdb_statistics, is_glob, unreadable
from hbr.sources.patterns import collapsible, pattern_design
from hbr.sources.tablestats import TableStats, eligible, used_columns

__all__ = ["DUCKDB_BYTES", "TableStats", "connect", "dask_statistics", "design_for",
           "duckdb_statistics", "eligible", "is_dask", "is_glob", "out_of_core_by_default",
           "stats_design", "unreadable", "used_columns"]


DUCKDB_BYTES = 256 * 2**20  # files at least this large are read by DuckDB (engine="auto")


def out_of_core_by_default(path: str | os.PathLike[str]) -> bool:
    """Whether ``engine="auto"`` reads ``path`` with DuckDB: a glob, or a file of at least
    ``DUCKDB_BYTES`` (when the model allows it)."""
    p = os.fspath(path)
    return is_glob(p) or (os.path.isfile(p) and os.path.getsize(p) >= DUCKDB_BYTES)


def design_for(formulas: list[str], path: str | os.PathLike[str], family: str,
                       parameterization: str, engine: str, dropna: bool) -> Any:
    """The design of a model on CSV/Parquet files from DuckDB's statistics, or None when
    the files are to be read into pandas instead (see ``engine`` in :func:`fit`)."""
    if engine not in ("auto", "pandas", "duckdb"):
        raise OptionError(f"engine={engine!r} is not available; choose 'auto', 'pandas' or "
                          "'duckdb'")
    why = eligible(formulas, family, parameterization)  # what needs the rows, if anything
    if is_dask(path):  # a Dask DataFrame: statistics partition by partition, on its cluster
        if why:
            raise OptionError(f"{why} needs the rows in memory, but the table is a Dask "
                              "DataFrame; fit a sample (ddf.sample(frac=...).compute()) or a "
                              "Gaussian model with group terms on one factor")
        return stats_design(formulas[0], path, dropna=dropna)
    p = os.fspath(path)
    if engine == "pandas" or (engine == "auto" and not out_of_core_by_default(p)):
        return None
    if why and family != "gaussian" and parameterization != "marginal":
        why = collapsible(formulas, family)  # rows that collapse to covariate patterns
        if why is None:
            return stats_design(formulas[0], p, family=family, dropna=dropna)
    if why and (engine == "duckdb" or is_glob(p)):
        raise OptionError(f"{why} needs the rows in memory, but {p!r} is read out of core by "
                          "DuckDB; read it with pandas (hbr.fit(formula, hbr.read_table(path)))"
                          " or fit a Gaussian model with group terms on one factor, or a "
                          "bernoulli, binomial or poisson one")
    return None if why else stats_design(formulas[0], p, dropna=dropna)


def stats_design(formula: str, source: Any, family: str = "gaussian", **settings: Any
                 ) -> Design:
    """A :class:`~hbr.design.types.Design` whose rows stay where they are: empty ``y``, ``X``,
    ``index`` and ``Z``, with the :class:`TableStats` (``table_stats``) that DuckDB (a path
    or glob) or Dask (a Dask DataFrame) computed; for a Bernoulli, binomial or Poisson
    ``family`` on files, the covariate patterns DuckDB collapsed the rows to
    (:mod:`hbr.sources.patterns`)."""
    if family != "gaussian" and not is_dask(source):
        return pattern_design(formula, source, family, **settings)
    f = parse_formula(formula)
    if is_dask(source):
        ts = dask_statistics(f, source, dropna=settings.get("dropna", False))
    else:
        ts = duckdb_statistics(f, source, **settings)
    if ts.y_sd <= 0:
        raise DataError(f"the response {ts.response!r} is constant; there is nothing to model")
    p = len(ts.fixed_names)
    groups, start = [], 0
    for gt, w in zip(f.groups, ts.widths):
        groups.append(GroupBlock(ts.factor, ts.levels, np.zeros(0, dtype=np.int64),
                                 np.zeros((0, w)), ts.coefs[start:start + w], gt.correlated,
                                 counts=ts.stats.n.astype(np.int64)))
        start += w
    return Design(f, ts.response, np.zeros(0), np.zeros((0, p)), ts.terms, tuple(groups),
                  memo=dict(ts.memo), table_stats=ts)
