"""Evaluate the factors of a formula on a table: columns, categorical coding, transforms.

A factor is a column (``floor``) or a call (``C(county)``, ``log(x)``, ``I(x ** 2)``). Calls are
Python expressions parsed by :mod:`hbr.formula` and evaluated here against a whitelist, never
with ``eval``: columns, numbers, ``+ - * / **`` and the functions ``C``, ``I``, ``log``,
``log2``, ``log10``, ``log1p``, ``exp``, ``sqrt``, ``abs``, ``center``, ``scale`` and
``standardize`` (one argument each), and ``poly(x, degree)`` (:mod:`hbr.design.poly`), worth
``degree`` columns. Text columns are categorical. This module never imports JAX.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

from hbr.errors import DataError, caret_message
from hbr.design import poly
from hbr.design.interpret import BASES, Basis, interpret
from hbr.formula import Factor

__all__ = ["Transform", "TRANSFORMS", "STATEFUL", "Categorical", "FUNCTIONS", "evaluate",
           "evaluate_numeric", "categorical", "is_categorical",
           "factor_columns"]


class Transform(NamedTuple):
    """One function of a formula: its NumPy form (None for the stateful ones, which learn
    the training mean and sd: :func:`stateful_memo`), its DuckDB SQL template (``{}`` the
    argument; None when DuckDB computes it from remembered moments), the values it needs
    (for the error message) and whether it is stateful."""

    numpy: Callable[[np.ndarray], np.ndarray] | None
    sql: str | None
    domain: str
    stateful: bool = False


# the one table of transforms, read by pandas (here), DuckDB (hbr.sources.duckdb) and Dask
# (hbr.sources.dask); adding a function is one row (tests/test_tables.py checks each reader)
TRANSFORMS: dict[str, Transform] = {
    "log": Transform(np.log, "ln({})", "positive"),
    "log2": Transform(np.log2, "log2({})", "positive"),
    "log10": Transform(np.log10, "log10({})", "positive"),
    "log1p": Transform(np.log1p, "ln(1 + {})", "> -1"),
    "exp": Transform(np.exp, "exp({})", "finite"),
    "sqrt": Transform(np.sqrt, "sqrt({})", "non-negative"),
    "abs": Transform(np.abs, "abs({})", "finite"),
    "center": Transform(None, None, "finite", stateful=True),
    "scale": Transform(None, None, "finite", stateful=True),
    "standardize": Transform(None, None, "finite", stateful=True),
}
STATEFUL = tuple(name for name, t in TRANSFORMS.items() if t.stateful)
_BINOPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power}
FUNCTIONS = sorted([*TRANSFORMS, *BASES, "C", "I"])


class Categorical:
    """A categorical factor evaluated on the data: integer codes and level names."""

    def __init__(self, codes: np.ndarray, levels: list[str]) -> None:
        self.codes, self.levels = codes, levels


def factor_columns(factor: Factor) -> list[tuple[str, Factor]]:
    """Column names a factor reads (function names excluded)."""
    funcs = {id(n.func) for n in ast.walk(factor.tree) if isinstance(n, ast.Call)}
    return [(factor.column_names.get(n.id, n.id), factor) for n in ast.walk(factor.tree)
            if isinstance(n, ast.Name) and id(n) not in funcs]


def evaluate(factor: Factor, data: pd.DataFrame, text: str, memo: dict[str, Any] | None = None
             ) -> np.ndarray | Categorical | Basis:
    """The value of ``factor`` on ``data``: numbers (N,), a :class:`Categorical` or a
    :class:`~hbr.design.interpret.Basis` of arrays (``poly``).

    ``memo`` remembers what a transform learnt from the data it was first evaluated on: the
    mean (and sd) of ``center``/``scale``, the recurrence of ``poly`` and the levels of each
    categorical, keyed by the expression. Evaluating new rows with the training fit's ``memo`` codes them as the training
    rows were (new data for prediction); a level not seen in training gets code -1.
    """
    backend = _NumPy(factor, data, text, {} if memo is None else memo)
    val = interpret(factor, backend, tuple(TRANSFORMS))
    for v in (val.columns if isinstance(val, Basis) else [val]):
        bad = ~np.isfinite(v) if isinstance(v, np.ndarray) else np.zeros(0, bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(caret_message(
                f"{factor.expr!r} has {int(bad.sum())} non-finite value(s) (first: {v[i]} in "
                f"row {data.index[i]}); remove or fix those rows", text, factor.span[0],
                factor.span[1] - factor.span[0]))
    return val


class _NumPy:
    """The NumPy backend of :func:`hbr.design.interpret.interpret`: values are arrays (N,)
    or :class:`Categorical`."""

    def __init__(self, factor: Factor, data: pd.DataFrame, text: str, memo: dict[str, Any]
                 ) -> None:
        self.factor, self.data, self.text, self.memo = factor, data, text, memo

    def fail(self, message: str) -> DataError:
        a, b = self.factor.span
        return DataError(caret_message(message, self.text, a, b - a))

    def column(self, ident: str, column: str) -> np.ndarray | Categorical:
        s = self.data[column]
        if f"levels:{ident}" in self.memo:
            return categorical(s, self.memo, f"levels:{ident}")
        if is_categorical(s) and self.memo.get(NEW_DATA):  # numeric when fitted
            return self._numbers(s, column)
        if is_categorical(s):
            return categorical(s, self.memo, f"levels:{ident}")
        return s.to_numpy(dtype=np.float64)

    def _numbers(self, s: pd.Series, column: str) -> np.ndarray:
        """New rows of a column that was numeric in the training table but holds text now:
        its numbers when every value reads as one ("0.5"), else a DataError."""
        v = pd.to_numeric(s.astype(str).str.strip(), errors="coerce")
        bad = v.isna().to_numpy() | ~np.isfinite(v.to_numpy(dtype=float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise self.fail(f"column {column!r} was numeric when the model was fitted, but the "
                            f"new table holds {s.iloc[i]!r} in it (row {s.index[i]}); give "
                            "numbers there (0.5, not '0.5ppm')")
        return v.to_numpy(dtype=np.float64)

    def categorical(self, ident: str, column: str) -> Categorical:
        return categorical(self.data[column], self.memo, f"levels:{ident}")

    def is_categorical(self, value: Any) -> bool:
        return isinstance(value, Categorical)

    def constant(self, value: float) -> np.ndarray:
        return np.full(len(self.data), value)

    def negate(self, value: np.ndarray) -> np.ndarray:
        return -value

    def binop(self, op: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return _BINOPS[op](left, right)

    def transform(self, fn: str, v: np.ndarray, key: str, arg: ast.expr) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = _stateful(fn, v, self.memo, key)
        if not np.all(np.isfinite(out)) and np.all(np.isfinite(v)):
            i = int(np.flatnonzero(~np.isfinite(out))[0])
            raise self.fail(f"{fn}() needs {TRANSFORMS[fn].domain} values, but "
                            f"{ast.unparse(arg)} = {v[i]:g} in row {self.data.index[i]}")
        return out

    def basis(self, fn: str, v: np.ndarray, key: str, degree: int, raw: bool) -> Basis:
        labels = [str(j) for j in range(1, degree + 1)]
        if raw:
            return Basis([v ** j for j in range(1, degree + 1)], labels)
        if key not in self.memo:
            coefs = poly.fit(v, degree)
            if poly.too_few_values(coefs) is not None:
                raise self.fail(poly_too_few(key, degree, len(np.unique(v[np.isfinite(v)]))))
            self.memo[key] = coefs
        return Basis(list(poly.columns(v, degree, self.memo[key]).T), labels)


def poly_too_few(key: str, degree: int, distinct: int | None) -> str:
    """The message for ``poly(x, degree)`` of an ``x`` with too few distinct values."""
    arg = key.split(":", 1)[1].rsplit(":", 1)[0]
    takes = f"takes {distinct}" if distinct is not None else f"takes {degree} or fewer"
    return (f"poly({arg}, {degree}) needs at least {degree + 1} distinct values of {arg}, but "
            f"it {takes}; lower the degree")


def _stateful(fn: str, v: np.ndarray, memo: dict[str, Any], key: str) -> np.ndarray:
    """``fn(v)``; ``center``/``scale``/``standardize`` use (and record) the training mean and
    sd (ddof=1; a constant column is only centred)."""
    if not TRANSFORMS[fn].stateful:
        return TRANSFORMS[fn].numpy(v)
    if key not in memo:
        memo[key] = stateful_memo(fn, float(v.mean()), float(v.std(ddof=1)) if v.size > 1
                                  else 0.0)
    mean, sd = memo[key]
    return (v - mean) / sd


NEW_DATA = "__new_data__"  # a memo key: the rows are new rows to predict, coded as the training's


def stateful_memo(fn: str, mean: float, sd: float) -> tuple[float, float]:
    """What ``center``/``scale``/``standardize`` remember of the table whose column has this
    ``mean`` and sd (ddof=1): the mean, and the divisor (1 for ``center``, and for a constant
    or undefined sd)."""
    return mean, sd if fn != "center" and np.isfinite(sd) and sd > 0 else 1.0


def is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def categorical(s: pd.Series, memo: dict[str, Any] | None = None, key: str = ""
                ) -> Categorical:
    """Codes and level names of ``s`` (levels sorted, or the categorical's own order). With
    ``memo[key]`` set, the levels are those (codes -1 for values not among them; a value
    matches a level by its text, or else as the same whole number: 27001, 27001.0 and
    "27001" are one level, "01" and "1" are not); otherwise they are recorded there."""
    if memo is not None and key in memo:
        levels = memo[key]
        text = s.astype(str).to_numpy()
        codes = np.asarray(pd.Index(levels).get_indexer(text), dtype=np.int64)
        if (codes < 0).any():
            canon = [_whole_number(str(lv)) for lv in levels]
            if len(set(canon)) == len(canon):
                miss = codes < 0
                codes[miss] = pd.Index(canon).get_indexer([_whole_number(t)
                                                           for t in text[miss]])
        return Categorical(codes, list(levels))
    out = _categorical(s)
    if memo is not None:
        memo[key] = tuple(out.levels)
    return out


_WHOLE = re.compile(r"([+-]?(?:0|[1-9][0-9]*))(?:\.0*)?")


def _whole_number(text: str) -> str:
    """``"27001"`` for ``"27001.0"`` (how pandas writes an integer code in a float column);
    any other text unchanged (leading zeros are part of a code: "01" stays "01")."""
    m = _WHOLE.fullmatch(text.strip())
    return m.group(1).lstrip("+") if m else text


def _categorical(s: pd.Series) -> Categorical:
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.cat.remove_unused_categories()
    else:
        try:
            levels = sorted(pd.unique(s))
        except TypeError:
            levels = sorted(pd.unique(s.astype(str)))
            s = s.astype(str)
        cat = pd.Categorical(s, categories=levels)
    codes = np.asarray(pd.Categorical(cat).codes, dtype=np.int64)
    return Categorical(codes, [str(v) for v in pd.Categorical(cat).categories])


def evaluate_numeric(fa, data: pd.DataFrame, text: str, what: str,
                     memo: dict | None = None) -> np.ndarray:
    """A factor that must be numeric (the argument of se(), trials() or offset())."""
    val = evaluate(fa, data, text, memo)
    if not isinstance(val, np.ndarray):
        raise DataError(caret_message(f"{what} needs one column of numbers, but {fa.expr!r} "
                                      f"is {'not numeric' if isinstance(val, Categorical) else 'several columns'}",
                                      text, fa.span[0], fa.span[1] - fa.span[0]))
    return val
