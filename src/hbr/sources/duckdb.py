r"""Sufficient statistics of a Gaussian model straight from files, by DuckDB (out of core).

For ``y ~ x + (x | g)`` with Gaussian noise and every group term on one factor, the
marginal likelihood (:mod:`hbr.density.marginal`) needs only, per group :math:`j`, :math:`n_j`,
:math:`Z_j^\top Z_j`, :math:`Z_j^\top X_j`, :math:`Z_j^\top y_j`, and overall
:math:`X^\top X`, :math:`X^\top y`, :math:`y^\top y`, :math:`N`: :math:`O(J k (k + p) + p^2)`
numbers, whatever the number of rows. :func:`duckdb_statistics` has DuckDB compute them in
SQL over a CSV or Parquet file or glob (its own threads, spilling to disk when the table
outgrows memory), so the rows never enter Python.

The formula is coded as :func:`hbr.design.build_design` codes it (same column names, same
treatment coding, categorical levels sorted, ``center``/``scale`` with the table's mean and
sd): numeric columns, categorical columns (one indicator per level), interactions, and the
transforms ``log``, ``log2``, ``log10``, ``log1p``, ``exp``, ``sqrt``, ``abs``, ``center``,
``scale``/``standardize``, ``I()`` arithmetic and ``poly(x, d)`` (its recurrence learnt
in d + 1 queries, :mod:`hbr.design.poly`). A feature that needs the rows in memory
(known se, trials, offsets, a second formula, crossed or nested factors) is an error that
names it and the way out (read the table with pandas).

:func:`stats_design` turns them into a design without rows, which :func:`hbr.fit` samples
(``engine="duckdb"``, or ``"auto"`` for globs and large files); a Dask DataFrame goes the same
way through :mod:`hbr.sources.dask`.
"""

from __future__ import annotations

import ast
import contextlib
import glob as _glob
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from hbr.design import poly
from hbr.design.interpret import Basis, interpret
from hbr.design.transforms import TRANSFORMS, poly_too_few, stateful_memo
from hbr.design.types import TermSlice
from hbr.errors import DataError, FormulaError
from hbr.formula import Formula, Term, parse_formula
from hbr.design.stats import SuffStats
from hbr.sources.tablestats import TableStats, needs_rows, used_columns

__all__ = ["connect", "duckdb_statistics", "is_glob", "unreadable", "column_names"]

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL", "BOOLEAN")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def is_glob(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a glob pattern (``part-*.parquet``) rather than one file."""
    return any(c in os.fspath(path) for c in "*?[")


@contextlib.contextmanager
def connect(threads: int | None = None, memory_limit: str | None = None) -> Iterator[Any]:
    """A DuckDB connection that prints nothing (no progress bar) and keeps a table's row
    order, with the given ``threads`` and ``memory_limit``; closed on exit."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # a library prints nothing
        con.execute("SET preserve_insertion_order = true")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            con.execute(f"SET memory_limit = {_lit(memory_limit)}")
        yield con
    finally:
        con.close()


def unreadable(path: str | os.PathLike[str], exc: Exception) -> DataError:
    """The DataError for a file DuckDB cannot read, with DuckDB's first line."""
    return DataError(f"DuckDB cannot read {os.fspath(path)!r}: {str(exc).splitlines()[0]}")


def _source(path: str | os.PathLike[str]) -> str:
    p = os.fspath(path)
    files = sorted(_glob.glob(p)) if is_glob(p) else [p]
    if not files or not all(os.path.isfile(f) for f in files):
        raise DataError(f"no file matches {p!r}; give a CSV or Parquet file or a glob such as "
                        "'part-*.parquet'")
    ext = {os.path.splitext(f)[1].lower() for f in files}
    if ext <= {".parquet", ".pq"}:
        return f"read_parquet([{', '.join(_lit(f) for f in files)}])"
    if ext <= {".csv", ".tsv", ".txt"}:
        return f"read_csv([{', '.join(_lit(f) for f in files)}], header=true)"
    raise DataError(f"{p!r}: DuckDB reads .csv/.tsv/.txt or .parquet files, not "
                    f"{', '.join(sorted(ext))}")


def column_names(path: str | os.PathLike[str]) -> list[str]:
    """The columns of a CSV or Parquet file (or glob), from DuckDB's schema: no rows read
    beyond the sniffer's sample."""
    with connect() as con:
        return list(table_types(con, _source(path), path))


def table_types(con: Any, src: str, path: str | os.PathLike[str]) -> dict[str, str]:
    """The columns of ``src`` and their DuckDB types (upper case); a DataError naming
    ``path`` when DuckDB cannot read it."""
    import duckdb

    try:
        return {r[0]: str(r[1]).upper() for r in
                con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    except duckdb.Error as exc:
        raise unreadable(path, exc) from None


def used_source(src: str, used: list[str], types: dict[str, str], dropna: bool) -> str:
    """``src`` with the rows missing a value in ``used`` left out (``dropna``); a DataError
    for a used column the table does not have."""
    for c in used:
        if c not in types:
            raise DataError(f"unknown column {c!r} (the table has: "
                            f"{', '.join(list(types)[:12])})")
    if not dropna:
        return src
    return (f"(SELECT * FROM {src} WHERE "
            f"{' AND '.join(f'{_q(c)} IS NOT NULL' for c in used)})")


def raise_bad_values(used: list[str], nulls: Any, nonfinite: float) -> None:
    """The DataErrors of a scan's counts: missing values per used column, then rows whose
    coded values are not finite."""
    for c, n in zip(used, nulls):
        if n:
            raise DataError(f"column {c!r} has {int(n)} missing value(s); drop them with "
                            "dropna=True (CLI: --dropna) or fill them")
    if nonfinite:
        raise DataError(f"{int(nonfinite)} row(s) give non-finite values (log of 0, a "
                        "division by 0, inf in a column); remove or fix them")


class _SQL:
    """The DuckDB backend of :func:`hbr.design.interpret.interpret`: values are SQL
    expressions (numeric) or ``(column, levels)`` (categorical)."""

    _OPS = {"+": "({} + {})", "-": "({} - {})", "*": "({} * {})", "/": "({} / {})",
            "**": "pow({}, {})"}

    def __init__(self, coder: _Coder, fa: Any) -> None:
        self.coder, self.fa = coder, fa

    def fail(self, message: str) -> FormulaError:
        return self.coder.err(self.fa, message)

    def column(self, ident: str, column: str) -> str | tuple[str, tuple[str, ...]]:
        if not self.coder.types[column].startswith(_NUMERIC):
            return self.categorical(ident, column)
        return f"CAST({_q(column)} AS DOUBLE)"

    def categorical(self, ident: str, column: str) -> tuple[str, tuple[str, ...]]:
        return (column, self.coder.levels(column))

    def is_categorical(self, value: Any) -> bool:
        return isinstance(value, tuple)

    def constant(self, value: float) -> str:
        return repr(value)

    def negate(self, value: str) -> str:
        return f"(-{value})"

    def binop(self, op: str, left: str, right: str) -> str:
        return self._OPS[op].format(left, right)

    def transform(self, fn: str, inner: str, key: str, arg: ast.expr) -> str:
        if not TRANSFORMS[fn].stateful:
            return TRANSFORMS[fn].sql.format(inner)
        memo, coder = self.coder.memo, self.coder
        if key not in memo:
            m, s = coder.con.execute(f"SELECT avg({inner}), stddev_samp({inner}) "
                                     f"FROM {coder.src}").fetchone()
            memo[key] = stateful_memo(fn, float(m), float(s or 0.0))
        m, s = memo[key]
        return f"(({inner} - {m!r}) / {s!r})"

    def basis(self, fn: str, inner: str, key: str, degree: int, raw: bool) -> Basis:
        """``poly``: each step of the recurrence's two sums is one query over the files."""
        labels = [str(j) for j in range(1, degree + 1)]
        if raw:
            return Basis([f"pow({inner}, {j})" for j in range(1, degree + 1)], labels)
        memo, coder = self.coder.memo, self.coder

        def sums(alpha: tuple[float, ...], norm2: tuple[float, ...], j: int
                 ) -> tuple[float, float]:
            z = poly.recurrence(inner, alpha, norm2, j, _sql_step, _sql_first)[-1] if j else "1.0"
            return coder.con.execute(f"SELECT sum(({z}) * ({z})), sum({inner} * ({z}) * ({z})) "
                                     f"FROM {coder.src}").fetchone()
        if key not in memo:
            memo[key] = poly.learn(degree, sums)
            if poly.too_few_values(memo[key]) is not None:
                raise self.fail(poly_too_few(key, degree, None))
        alpha, norm2 = memo[key]
        zs = poly.recurrence(inner, alpha, norm2, degree, _sql_step, _sql_first)
        return Basis([f"({z} / {float(np.sqrt(norm2[j + 2]))!r})" for j, z in enumerate(zs)],
                     labels)


def _sql_first(x: str, a: float) -> str:
    return f"({x} - {a!r})"


def _sql_step(x: str, a: float, z: str, c: float, prev: str | float) -> str:
    return f"(({x} - {a!r}) * {z} - {c!r} * {prev})"


class _Coder:
    """Formula factors -> SQL expressions (numeric) or (column, levels) (categorical)."""

    def __init__(self, con: Any, src: str, f: Formula, types: dict[str, str]) -> None:
        self.con, self.src, self.f, self.types, self.memo = con, src, f, types, {}

    def err(self, fa: Any, msg: str) -> FormulaError:
        return FormulaError(msg, self.f.text, fa.span[0], fa.span[1] - fa.span[0])

    def levels(self, col: str) -> tuple[str, ...]:
        key = f"levels:{col}"
        if key not in self.memo:
            rows = self.con.execute(f"SELECT DISTINCT {_q(col)} AS v FROM {self.src} "
                                    f"WHERE {_q(col)} IS NOT NULL ORDER BY v").fetchall()
            self.memo[key] = tuple(str(r[0]) for r in rows)
        return self.memo[key]

    def factor(self, fa: Any) -> str | tuple[str, tuple[str, ...]]:
        """A factor as a SQL expression (numeric) or ``(column, levels)`` (categorical)."""
        return interpret(fa, _SQL(self, fa), tuple(TRANSFORMS))

    def terms(self, terms: list[Term], intercept: bool
              ) -> tuple[list[str], list[str], list[TermSlice]]:
        """SQL columns, names and term slices, coded as :func:`hbr.design.build.code_terms`
        codes them."""
        spanned: set[frozenset[str]] = set()
        cols, names, slices = [], [], []
        if intercept:
            spanned.add(frozenset())
            cols.append("1.0")
            names.append("Intercept")
            slices.append(TermSlice("Intercept", 0, 1, None))
        for term in terms:
            num, parts = "1.0", []
            key = term.key()
            for fa in term.factors:
                v = self.factor(fa)
                if isinstance(v, tuple):
                    (c, levels), reduced = v, (key - {fa.expr}) in spanned
                    kept = levels[1 if reduced else 0:]
                    parts.append(([f"CAST({_q(c)}::VARCHAR = {_lit(lv)} AS DOUBLE)"
                                   for lv in kept], list(kept)))
                elif isinstance(v, Basis):
                    parts.append((v.columns, v.labels))
                else:
                    num = f"{num} * {v}" if num != "1.0" else v
            spanned.add(key)
            start = len(cols)
            if not parts:
                cols.append(num)
                names.append(term.name)
                slices.append(TermSlice(term.name, start, start + 1, None))
                continue
            combos = [(num, [])]
            for exprs, labels in parts:
                combos = [(f"{e} * {x}", labs + [lab]) for e, labs in combos
                          for x, lab in zip(exprs, labels)]
            cols += [e for e, _ in combos]
            names += [f"{term.name}[{', '.join(labs)}]" for _, labs in combos]
            slices.append(TermSlice(term.name, start, len(cols),
                                    tuple(", ".join(labs) for _, labs in combos)))
        return cols, names, slices


def duckdb_statistics(formula: str | Formula, path: str | os.PathLike[str],
                      threads: int | None = None, memory_limit: str | None = None,
                      dropna: bool = False) -> TableStats:
    """Compute :class:`TableStats` of ``formula`` over a CSV/Parquet file or glob in DuckDB.

    Parameters
    ----------
    threads, memory_limit : optional
        DuckDB settings (e.g. ``memory_limit="500MB"``: larger tables spill to disk).
    dropna : bool
        Leave out rows with a missing value in a used column (else they are an error).

    Raises
    ------
    DataError, FormulaError
        Unknown columns, missing or non-finite values, a feature that needs the rows.
    """
    f = parse_formula(formula) if isinstance(formula, str) else formula
    why = needs_rows(f)
    if why:
        raise DataError(f"{why} needs the rows in memory; read the table with pandas "
                        "(hbr.read_table) to use it")
    (gcols,) = {g.factor for g in f.groups}
    with connect(threads, memory_limit) as con:
        src = _source(path)
        ts = _statistics(con, src, f, table_types(con, src, path), gcols, dropna)
        return replace(ts, source=os.fspath(path),
                       settings={"threads": threads, "memory_limit": memory_limit})


def _statistics(con: Any, src: str, f: Formula, types: dict[str, str], gcols: tuple[str, ...],
                dropna: bool) -> TableStats:
    used = used_columns(f)
    src = used_source(src, used, types, dropna)
    coder = _Coder(con, src, f, types)
    y = coder.factor(f.response)
    if isinstance(y, tuple):
        raise DataError(f"the response {f.response.expr!r} is not numeric")
    X, xnames, slices = coder.terms(list(f.terms), f.intercept)
    Z, zcoefs, widths = [], [], []
    for gt in f.groups:  # each group term coded on its own, as design._group_block does
        cols, names, _ = coder.terms([t for t in gt.terms if t.factors],
                                     any(not t.factors for t in gt.terms))
        Z += cols
        zcoefs += ["1" if n == "Intercept" else n for n in names]
        widths.append(len(cols))
    key = " || ':' || ".join(f"CAST({_q(c)} AS VARCHAR)" for c in gcols)
    # one column sorts the levels by value (numbers numerically), as the in-memory path
    order = _q(gcols[0]) if len(gcols) == 1 else key
    p, k = len(X), len(Z)
    cols = ", ".join([f"{y} AS y"] + [f"{e} AS x{i}" for i, e in enumerate(X)]
                     + [f"{e} AS z{i}" for i, e in enumerate(Z)] + [f"{key} AS g",
                                                                   f"{order} AS o"]
                     + [f"{_q(c)} IS NULL AS null{i}" for i, c in enumerate(used)])
    t = f"(SELECT {cols} FROM {src})"
    finite = " AND ".join(["isfinite(y)"] + [f"isfinite(x{i})" for i in range(p)]
                          + [f"isfinite(z{i})" for i in range(k)])
    # one scan: missing values per column, non-finite rows, then every global sum
    checks = [f"count(*) FILTER (WHERE null{i})" for i in range(len(used))] + [
        f"count(*) FILTER (WHERE NOT ({finite}))"]
    glob_sql = checks + ([f"sum(x{a} * x{b})" for a in range(p) for b in range(p)]
                + [f"sum(x{a} * y)" for a in range(p)]
                + ["sum(y * y)", "count(*)", "avg(y)", "stddev_samp(y)"]
                + [f"avg(x{a})" for a in range(p)] + [f"stddev_samp(x{a})" for a in range(p)]
                + [f"stddev_samp(z{a})" for a in range(k)])
    g = np.array(con.execute(f"SELECT {', '.join(glob_sql)} FROM {t}").fetchone(), dtype=float)
    nulls, bad, g = g[:len(used)], g[len(used)], g[len(checks):]
    raise_bad_values(used, nulls, bad)
    XtX, g = g[:p * p].reshape(p, p), g[p * p:]
    Xty, (yty, N, ym, ys), g = g[:p], g[p:p + 4], g[p + 4:]
    per = ([f"sum(z{a} * z{b})" for a in range(k) for b in range(k)]
           + [f"sum(z{a} * x{c})" for a in range(k) for c in range(p)]
           + [f"sum(z{a} * y)" for a in range(k)])
    rows = sorted(con.execute(f"SELECT o, g, count(*), {', '.join(per)} FROM {t} "
                              "GROUP BY o, g").fetchall(), key=lambda r: r[0])
    levels = tuple(str(r[1]) for r in rows)
    J = len(levels)
    if J < 2:
        raise DataError(f"the grouping factor {':'.join(gcols)!r} has only one level")
    arr = np.array([r[2:] for r in rows], dtype=float)
    n = arr[:, 0]
    ZtZ = arr[:, 1:1 + k * k].T.reshape(k, k, J)
    ZtX = arr[:, 1 + k * k:1 + k * k + k * p].T.reshape(k, p, J)
    Zty = arr[:, 1 + k * k + k * p:].T.reshape(k, J)
    stats = SuffStats(n, ZtZ, ZtX, Zty, XtX, Xty, np.asarray(yty), np.asarray(N))
    coder.memo["group:" + ":".join(gcols)] = levels
    return TableStats(f.response.expr, tuple(xnames), ":".join(gcols), levels, tuple(zcoefs),
                      stats, float(ym), float(ys or 0.0), g[:p], _nan0(g[p:2 * p]),
                      coder.memo, tuple(slices), tuple(widths), _nan0(g[2 * p:]))


def _nan0(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(a, dtype=float), nan=0.0)
