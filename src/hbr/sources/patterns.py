r"""Bernoulli, binomial and Poisson rows collapsed to covariate patterns by DuckDB, out of core.

The likelihood of these families depends on the rows of one covariate pattern only through
sums (:mod:`hbr.design.aggregate`), so DuckDB's ``GROUP BY`` over the coded columns (the
fixed-effect columns, each group term's columns and level, and for the binomial the offset)
reduces a table of any size to one row per pattern: the summed response, the summed trials
(the row count for Bernoulli rows), the summed exposures :math:`\sum e^{o_i}` for the Poisson,
and the constant that keeps the collapsed log likelihood equal to the row-wise one. The rows
never enter Python; a million rows repeating a few thousand patterns become a few thousand.

:func:`pattern_design` returns a :class:`~hbr.design.types.Design` without rows, whose
:class:`~hbr.sources.tablestats.TableStats` carries the patterns (``collapsed``): the log
density reads them; LOO streams the rows again (:mod:`hbr.sources.stream`), as for the
Gaussian statistics of :mod:`hbr.sources.duckdb`. The formula is coded as the in-memory
path codes it (same names, levels, treatment coding and transforms).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hbr.design.aggregate import AGGREGATED_FAMILY
from hbr.design.stats import SuffStats
from hbr.design.types import Design, GroupBlock
from hbr.errors import DataError, OptionError
from hbr.formula import Formula, parse_formula
from hbr.sources.duckdb import (_Coder, _q, _source, connect, raise_bad_values, table_types,
                                used_source)
from hbr.sources.tablestats import TableStats, used_columns

__all__ = ["collapsible", "pattern_design", "MAX_PATTERNS"]

MAX_PATTERNS = 2_000_000  # more distinct patterns than this: the rows hardly repeat


def collapsible(formulas: list[str], family: str) -> str | None:
    """None when DuckDB can collapse the model's rows to covariate patterns, else what
    stands in the way (for the error message)."""
    if family not in AGGREGATED_FAMILY:
        return f"family={family!r} (only bernoulli, binomial and poisson rows collapse exactly)"
    if len(formulas) > 1:
        return "a second formula"
    f = parse_formula(formulas[0])
    if any(f.addition(a) is not None for a in ("se", "cens", "trunc_lb", "trunc_ub", "weights")):
        return "se(), cens(), trunc() or weights()"
    return None


def _columns(coder: _Coder, f: Formula, family: str) -> tuple[dict[str, str], Any]:
    """The SQL expressions of the pattern table: y, trials, offset, x_i, z_i, the level key
    and order of each grouping factor; and the coded terms and group coefficients."""
    y = coder.factor(f.response)
    if isinstance(y, tuple):
        raise DataError(f"the response {f.response.expr!r} is not numeric")
    X, xnames, slices = coder.terms(list(f.terms), f.intercept)
    cols = {"y": y}
    trials = f.addition("trials")
    if trials is not None:
        cols["n"] = coder.factor(trials)
    cols["off"] = " + ".join(f"({coder.factor(o)})" for o in f.offsets) or "0.0"
    cols.update({f"x{i}": e for i, e in enumerate(X)})
    factors = list(dict.fromkeys(g.factor for g in f.groups))
    blocks = []
    for gt in f.groups:
        zc, names, _ = coder.terms([t for t in gt.terms if t.factors],
                                   any(not t.factors for t in gt.terms))
        a = len([c for c in cols if c.startswith("z")])
        cols.update({f"z{a + i}": e for i, e in enumerate(zc)})
        blocks.append((gt, factors.index(gt.factor), list(range(a, a + len(zc))),
                       tuple("1" if n == "Intercept" else n for n in names)))
    for k, fc in enumerate(factors):
        cols[f"g{k}"] = " || ':' || ".join(f"CAST({_q(c)} AS VARCHAR)" for c in fc)
        cols[f"o{k}"] = _q(fc[0]) if len(fc) == 1 else cols[f"g{k}"]
    return cols, (xnames, slices, factors, blocks)


def _check(con: Any, t: str, cols: dict[str, str], used: list[str], family: str,
           response: str) -> None:
    """Missing values, non-finite values and responses the family cannot have, each a
    DataError naming the column, the count and the fix."""
    num = [c for c in cols if c[0] in "nxz" or c in ("y", "off")]
    bad_y = {"bernoulli": "y NOT IN (0, 1)", "poisson": "y < 0 OR y <> floor(y)",
             "binomial": "y < 0 OR y <> floor(y) OR n < 0 OR n <> floor(n) OR y > n"}[family]
    inner = (f"(SELECT {', '.join(f'{e} AS {c}' for c, e in cols.items() if c in num)}, "
             f"{', '.join(f'{_q(c)} IS NULL AS null{i}' for i, c in enumerate(used))} "
             f"FROM {t})")
    finite = " AND ".join(f"isfinite({c})" for c in num)
    q = ([f"count(*) FILTER (WHERE null{i})" for i in range(len(used))]
         + [f"count(*) FILTER (WHERE NOT ({finite}))",
            f"count(*) FILTER (WHERE {finite} AND ({bad_y}))",
            f"min(y) FILTER (WHERE {finite} AND ({bad_y}))"])
    r = con.execute(f"SELECT {', '.join(q)} FROM {inner}").fetchone()
    raise_bad_values(used, r[:len(used)], r[len(used)])
    if r[len(used) + 1]:
        need = {"bernoulli": "0 or 1 (or True/False)", "poisson": "counts (whole numbers >= 0)",
                "binomial": "whole numbers of successes between 0 and the trials"}[family]
        raise DataError(f"family={family!r} needs {response!r} to be {need}, but "
                        f"{int(r[len(used) + 1])} row(s) are not (e.g. {r[-1]:g}); recode "
                        "the column or choose the family that fits it")


def _keys(cols: dict[str, str], family: str) -> list[str]:
    """The columns that make a pattern (the offset too, except for the Poisson, whose
    exposures add up)."""
    return ([c for c in cols if c[0] in "xzgo" and c[1:].isdigit()]
            + (["off"] if family != "poisson" else []))


def _collapse_sql(cols: dict[str, str], family: str, t: str) -> str:
    keys = _keys(cols, family)
    inner = f"(SELECT {', '.join(f'{e} AS {c}' for c, e in cols.items())} FROM {t})"
    agg = ["count(*) AS cnt", "sum(y) AS ysum", "sum(y * y) AS y2"]
    if family == "poisson":
        agg += ["ln(sum(exp(off))) AS a3", "sum(y * off) - sum(lgamma(y + 1)) AS a4"]
    elif "n" in cols:
        agg += ["sum(n) AS a3", "sum(lgamma(n + 1) - lgamma(y + 1) - lgamma(n - y + 1)) AS a4"]
    return (f"SELECT {', '.join(keys + agg)} FROM {inner} GROUP BY {', '.join(keys)} "
            f"ORDER BY {', '.join(keys)} LIMIT {MAX_PATTERNS + 1}")


def _weighted_sd(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    N = w.sum()
    m = (w[:, None] * a).sum(axis=0) / N
    return np.sqrt(np.clip((w[:, None] * (a - m) ** 2).sum(axis=0), 0, None) / max(N - 1, 1))


def pattern_design(formula: str | Formula, path: str | os.PathLike[str], family: str,
                   threads: int | None = None, memory_limit: str | None = None,
                   dropna: bool = False) -> Design:
    """The :class:`~hbr.design.types.Design` of a Bernoulli, binomial or Poisson model on
    CSV/Parquet files, its rows collapsed to covariate patterns by DuckDB (see the module
    docstring); ``threads`` and ``memory_limit`` are DuckDB settings.

    Raises
    ------
    DataError, FormulaError
        Unknown columns, missing or non-finite values, a response the family cannot have.
    """
    f = parse_formula(formula) if isinstance(formula, str) else formula
    rows, cols, meta, memo = _query(f, path, family, threads, memory_limit, dropna)
    return _design(f, family, rows, cols, meta, memo, source=os.fspath(path),
                   settings={"threads": threads, "memory_limit": memory_limit})


def _query(f: Formula, path: str | os.PathLike[str], family: str, threads: int | None,
           memory_limit: str | None, dropna: bool) -> tuple[dict, dict, Any, dict]:
    """The checked, collapsed pattern rows from DuckDB, with the columns and coded terms."""
    with connect(threads, memory_limit) as con:
        src = _source(path)
        types = table_types(con, src, path)
        used = list(dict.fromkeys(used_columns(f) + [
            c for fa in [a for _, a in f.additions] + list(f.offsets)
            for c in _fa_columns(fa)]))
        src = used_source(src, used, types, dropna)
        coder = _Coder(con, src, f, types)
        cols, meta = _columns(coder, f, family)
        _check(con, src, cols, used, family, f.response.expr)
        res = con.execute(_collapse_sql(cols, family, src)).fetchnumpy()
    if len(res["cnt"]) > MAX_PATTERNS:
        raise OptionError(f"the rows of {os.fspath(path)!r} hold more than {MAX_PATTERNS:,} "
                          "distinct covariate patterns, so collapsing them gains little; read "
                          "the table with pandas (engine='pandas', CLI: --engine pandas) or "
                          "coarsen the continuous predictors")
    return {k: np.asarray(v) for k, v in res.items()}, cols, meta, coder.memo


def _levels(res: dict[str, np.ndarray], k: int, name: str) -> tuple[tuple, np.ndarray]:
    """The levels of grouping factor ``k`` (sorted by value, as the in-memory path sorts
    them) and the level of each pattern."""
    import pandas as pd

    g = np.asarray(res[f"g{k}"]).astype(str)
    first = pd.DataFrame({"o": res[f"o{k}"], "g": g}).drop_duplicates("g")
    levels = tuple(first.sort_values(["o", "g"], kind="stable")["g"])
    if len(levels) < 2:
        raise DataError(f"the grouping factor {name!r} has only one level")
    return levels, pd.Index(levels).get_indexer(g).astype(np.int64)


def _design(f: Formula, family: str, rows: dict[str, np.ndarray], cols: dict[str, str], meta: Any,
            memo: dict, **where: Any) -> Design:
    """The Design without rows that carries the collapsed patterns (see the module
    docstring)."""
    from scipy.special import gammaln

    xnames, slices, factors, blocks = meta
    P, p = len(rows["cnt"]), len(xnames)

    def f64(names: list[str]) -> np.ndarray:
        if not names:
            return np.zeros((P, 0))
        return np.column_stack([rows[c].astype(float) for c in names])

    cnt, Y, Y2 = (rows[c].astype(float) for c in ("cnt", "ysum", "y2"))
    X = f64([f"x{i}" for i in range(p)])
    z_all = f64([c for c in cols if c[0] == "z"])
    found = [_levels(rows, k, ":".join(fc)) for k, fc in enumerate(factors)]
    collapsed: dict[str, Any] = {"y": Y, "X": X, "groups": []}
    groups = []
    for gt, k, zcols, coefs in blocks:
        levels, index = found[k]
        collapsed["groups"].append({"index": index.astype(np.int32), "Z": z_all[:, zcols]})
        groups.append(GroupBlock(":".join(gt.factor), levels, np.zeros(0, dtype=np.int64),
                                 np.zeros((0, len(zcols))), coefs, gt.correlated,
                                 counts=np.bincount(index, cnt, len(levels)).astype(np.int64)))
    for (levels, _), fc in zip(found, factors):
        memo["group:" + ":".join(fc)] = levels
    N = float(cnt.sum())
    if family == "poisson":
        O = rows["a3"].astype(float)
        collapsed["offset"] = O
        const = float(rows["a4"].sum() - Y @ O + gammaln(Y + 1).sum())
    else:
        collapsed["offset"] = rows["off"].astype(float)
        n = rows["a3"].astype(float) if "n" in cols else cnt
        collapsed["trials"] = n
        const = float((rows["a4"].sum() if "n" in cols else 0.0)
                      - (gammaln(n + 1) - gammaln(Y + 1) - gammaln(n - Y + 1)).sum())
    y_mean = float(Y.sum() / N)
    y_sd = float(np.sqrt(max(Y2.sum() - N * y_mean**2, 0.0) / max(N - 1, 1)))
    st = SuffStats(groups[0].counts.astype(float), np.zeros(0), np.zeros(0), np.zeros(0),
                   X.T @ (cnt[:, None] * X), np.zeros(p), np.asarray(float(Y2.sum())),
                   np.asarray(N))
    ts = TableStats(f.response.expr, tuple(xnames), groups[0].factor, groups[0].levels,
                    tuple(c for g in groups for c in g.coefs), st, y_mean, y_sd,
                    (cnt[:, None] * X).sum(axis=0) / N, _weighted_sd(X, cnt), memo,
                    tuple(slices), tuple(g.k for g in groups), _weighted_sd(z_all, cnt),
                    collapsed={"rows": collapsed, "const": const, "family": family}, **where)
    return Design(f, f.response.expr, np.zeros(0), np.zeros((0, p)), tuple(slices),
                  tuple(groups), memo=dict(memo), table_stats=ts)


def _fa_columns(fa: Any) -> list[str]:
    from hbr.design.transforms import factor_columns
    return [c for c, _ in factor_columns(fa)]
