"""Sufficient statistics of a Gaussian model from a Dask DataFrame (issue 4).

Two passes over the partitions, both through ``dask.compute``, so they run on the user's
``dask.distributed`` cluster when a Client exists and on local threads otherwise: first the
levels of the categorical columns and grouping factor and the mean and sd of ``center``/
``scale`` arguments (and, one pass a degree, the recurrence of each ``poly``); then, per partition, the rows coded exactly as in memory (the same
code as prediction, :func:`hbr.design.newdata.new_rows`, with the levels of the whole table) and
their statistics (:func:`hbr.design.stats.suffstats`) and moments, summed in the client. Only
O(J k (k + p)) numbers per partition travel back.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import pandas as pd

from hbr.design.interpret import interpret
from hbr.design import poly
from hbr.design.transforms import (NEW_DATA, TRANSFORMS, evaluate, is_categorical,
                                   poly_too_few, stateful_memo)
from hbr.design.build import code_terms
from hbr.design.types import Design, GroupBlock
from hbr.errors import DataError, caret_message
from hbr.formula.types import Factor
from hbr.formula import Formula, parse_formula
from hbr.design.stats import SuffStats, suffstats
from hbr.sources.tablestats import TableStats, used_columns

__all__ = ["is_dask", "dask_statistics"]

def is_dask(data: Any) -> bool:
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def _levels(values: Any) -> tuple[str, ...]:
    vals = list(pd.unique(pd.Series(values).dropna()))
    try:
        vals = sorted(vals)
    except TypeError:
        vals = sorted(str(v) for v in vals)
    return tuple(str(v) for v in vals)


def _memo_tasks(f: Formula, ddf: Any) -> dict[str, Any]:
    """Lazy Dask values of what the transforms must learn from the whole table."""
    tasks: dict[str, Any] = {}
    factors = [fa for t in f.terms for fa in t.factors]
    factors += [fa for g in f.groups for t in g.terms for fa in t.factors]
    for fa in factors:
        interpret(fa, _Learn(fa, ddf, f.text, tasks), tuple(TRANSFORMS))
    (gcols,) = {g.factor for g in f.groups}
    if len(gcols) == 1:
        tasks["group:" + gcols[0]] = ddf[gcols[0]].unique()
    else:
        tasks["group:" + ":".join(gcols)] = ddf[list(gcols)].drop_duplicates()
    return tasks


class _Learn:
    """The backend of :func:`hbr.design.interpret.interpret` that walks a factor to collect
    the lazy Dask values the transforms must learn from the whole table (levels of the
    categoricals, moments of ``center``/``scale``/``standardize``) into ``tasks``. A value
    is ``"levels"`` (categorical) or a flag: whether the expression holds a stateful
    transform already (out of core its argument cannot)."""

    def __init__(self, fa: Factor, ddf: Any, text: str, tasks: dict[str, Any]) -> None:
        self.fa, self.ddf, self.text, self.tasks = fa, ddf, text, tasks

    def fail(self, message: str) -> DataError:  # as the pandas backend, which reads the rows
        a, b = self.fa.span
        return DataError(caret_message(message, self.text, a, b - a))

    def column(self, ident: str, column: str) -> str | bool:
        if column in self.ddf.dtypes.index and is_categorical(
                pd.Series([], dtype=self.ddf.dtypes[column])):
            return self.categorical(ident, column)
        return False

    def categorical(self, ident: str, column: str) -> str:
        self.tasks[f"levels:{ident}"] = self.ddf[column].unique()
        return "levels"

    def is_categorical(self, value: Any) -> bool:
        return value == "levels"

    def constant(self, value: float) -> bool:
        return False

    def negate(self, value: bool) -> bool:
        return value

    def binop(self, op: str, left: bool, right: bool) -> bool:
        return left or right

    def transform(self, fn: str, nested: bool, key: str, arg: ast.expr) -> bool:
        if not TRANSFORMS[fn].stateful:
            return nested
        if nested:
            raise DataError(f"{fn}({ast.unparse(arg)}): out of core, the argument of "
                            "center()/scale() cannot itself be centred or scaled; compute it "
                            "as a column first")
        if isinstance(arg, ast.Name):
            col = self.fa.column_names.get(arg.id, arg.id)
            self.tasks[key] = (self.ddf[col].astype("float64").mean(),
                               self.ddf[col].astype("float64").std(ddof=1))
        else:  # an expression (log(x), x * w): its moments per partition, combined
            sub = Factor(ast.unparse(arg), self.fa.span, arg, self.fa.column_names)
            self.tasks[key] = self.ddf.map_partitions(
                _arg_moments, sub, self.text, meta={"n": "f8", "mean": "f8", "m2": "f8"})
        return True

    def basis(self, fn: str, nested: bool, key: str, degree: int, raw: bool) -> bool:
        if not raw:
            arg = self.fa.tree.args[0]
            self.tasks[key] = _PolyTask(Factor(ast.unparse(arg), self.fa.span, arg,
                                               self.fa.column_names), degree, self.text)
        return True


class _PolyTask:
    """What ``poly(x, degree)`` must learn: one pass over the partitions a degree, each
    summing the recurrence's two sums (:func:`hbr.design.poly.learn`)."""

    def __init__(self, arg: Factor, degree: int, text: str) -> None:
        self.arg, self.degree, self.text = arg, degree, text

    def learn(self, ddf: Any, memo: dict[str, Any], key: str) -> poly.Coefs:
        import dask

        def sums(alpha: tuple[float, ...], norm2: tuple[float, ...], j: int
                 ) -> tuple[float, float]:
            parts = dask.compute(*[dask.delayed(_poly_sums)(d, self.arg, self.text, memo,
                                                            alpha, norm2, j)
                                   for d in ddf.to_delayed()])
            return float(sum(p[0] for p in parts)), float(sum(p[1] for p in parts))
        coefs = poly.learn(self.degree, sums)
        if poly.too_few_values(coefs) is not None:
            a, b = self.arg.span
            raise DataError(caret_message(poly_too_few(key, self.degree, None), self.text, a,
                                          b - a))
        return coefs


def _poly_sums(part: pd.DataFrame, arg: Factor, text: str, memo: dict[str, Any],
               alpha: tuple[float, ...], norm2: tuple[float, ...], j: int
               ) -> tuple[float, float]:
    if len(part) == 0:
        return 0.0, 0.0
    x = np.asarray(evaluate(arg, part, text, {**memo, NEW_DATA: True}), dtype=float)
    z = poly.recurrence(x, alpha, norm2, j, lambda v, a, zz, c, pr: (v - a) * zz - c * pr,
                        lambda v, a: v - a)[-1] if j else np.ones_like(x)
    return float(np.dot(z, z)), float(np.dot(x, z * z))


def _finish_memo(raw: dict[str, Any], f: Formula) -> dict[str, Any]:
    memo: dict[str, Any] = {}
    for key, v in raw.items():
        if isinstance(v, _PolyTask):
            continue  # learnt after the others (its argument may be centred)
        if key.startswith("levels:"):
            memo[key] = _levels(v)
        elif key.startswith("group:"):
            if isinstance(v, pd.DataFrame):  # joined factor a:b, as design.group_codes
                text = v.iloc[:, 0].astype(str)
                for c in v.columns[1:]:
                    text = text + ":" + v[c].astype(str)
                memo[key] = tuple(sorted(set(text)))
            else:
                memo[key] = _levels(v)
        elif isinstance(v, pd.DataFrame):  # per-partition (n, mean, M2) of an expression
            parts = v.to_numpy()[:, :, None]
            mom = parts[0]
            for other in parts[1:]:
                mom = _combine(mom, other)
            memo[key] = stateful_memo(key.split(":", 1)[0], float(mom[1, 0]),
                                      float(np.sqrt(mom[2, 0] / max(mom[0, 0] - 1, 1.0))))
        else:
            memo[key] = stateful_memo(key.split(":", 1)[0], *(float(x) for x in v))
    return memo


def _template(f: Formula, memo: dict[str, Any], sample: pd.DataFrame) -> Design:
    """A design with no rows that codes partitions as the whole table is coded."""
    cols, slices = code_terms(list(f.terms), f.intercept, sample, f.text, dict(memo),
                              new_data=True)
    (gcols,) = {g.factor for g in f.groups}
    levels = memo["group:" + ":".join(gcols)]
    groups = []
    for gt in f.groups:
        zc, zs = code_terms([t for t in gt.terms if t.factors],
                            any(not t.factors for t in gt.terms), sample, f.text, dict(memo),
                            new_data=True)
        coefs = []
        for s in zs:
            nm = "1" if s.name == "Intercept" else s.name
            coefs.extend([nm] if s.labels is None else [f"{nm}[{lab}]" for lab in s.labels])
        groups.append(GroupBlock(":".join(gcols), levels, np.zeros(0, dtype=np.int64),
                                 np.zeros((0, len(zc))), tuple(coefs), gt.correlated))
    return Design(f, f.response.expr, np.zeros(0), np.zeros((0, len(cols))), tuple(slices),
                  tuple(groups), memo=dict(memo))


def _arg_moments(part: pd.DataFrame, sub: Factor, text: str) -> np.ndarray:
    v = evaluate(sub, part, text, {})
    if not isinstance(v, np.ndarray):
        raise DataError(f"{sub.expr!r} is categorical; center()/scale() need numbers")
    return pd.DataFrame(_moments(np.asarray(v, dtype=float)[:, None]).T,
                        columns=["n", "mean", "m2"])


def _moments(a: np.ndarray) -> np.ndarray:
    """(n, mean, M2) per column of ``a`` (n, c): combined across partitions by Chan et al."""
    n = a.shape[0]
    mean = a.mean(axis=0) if n else np.zeros(a.shape[1])
    return np.stack([np.full(a.shape[1], float(n)), mean, ((a - mean) ** 2).sum(axis=0)])


def _combine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = x[0] + y[0]
    safe = np.where(n > 0, n, 1.0)
    d = y[1] - x[1]
    return np.stack([n, x[1] + d * y[0] / safe, x[2] + y[2] + d**2 * x[0] * y[0] / safe])


def _partial(part: pd.DataFrame, template: Design, used: list[str], dropna: bool
             ) -> tuple[SuffStats, np.ndarray]:
    from hbr.design.newdata import new_rows

    f = template.formula
    if dropna:
        part = part.dropna(subset=used)
    J = template.groups[0].n_levels
    p = template.X.shape[1]
    K = sum(b.k for b in template.groups)
    if len(part) == 0:
        z = np.zeros
        return (SuffStats(z(J), z((K, K, J)), z((K, p, J)), z((K, J)), z((p, p)), z(p),
                          np.asarray(0.0), np.asarray(0.0)), _moments(np.zeros((0, 1 + p + K))))
    rows = new_rows(template, part)
    y = evaluate(f.response, part, f.text, dict(template.memo))
    if not isinstance(y, np.ndarray):
        raise DataError(f"the response {f.response.expr!r} is not numeric")
    Z = np.concatenate(rows.Z, axis=1)
    return (suffstats(y, rows.X, Z, rows.index[0], J),
            _moments(np.column_stack([y, rows.X, Z])))


def dask_statistics(formula: str | Formula, ddf: Any, dropna: bool = False) -> Any:
    """:class:`hbr.sources.tablestats.TableStats` of ``formula`` over a Dask DataFrame."""
    import dask

    f = parse_formula(formula) if isinstance(formula, str) else formula
    used = used_columns(f)
    missing = [c for c in used if c not in ddf.columns]
    if missing:
        raise DataError(f"unknown column {missing[0]!r} (the table has: "
                        f"{', '.join(map(str, list(ddf.columns)[:12]))})")
    src = ddf.dropna(subset=used) if dropna else ddf
    tasks = _memo_tasks(f, src)
    (raw,) = dask.compute(tasks)
    memo = _finish_memo(raw, f)
    for key, task in raw.items():
        if isinstance(task, _PolyTask):
            memo[key] = task.learn(src, memo, key)
    sample = src.head(1, npartitions=-1)
    if len(sample) == 0:
        raise DataError("the table is empty (0 rows); nothing to fit")
    template = _template(f, memo, sample)
    parts = dask.compute(*[dask.delayed(_partial)(d, template, used, dropna)
                           for d in ddf.to_delayed()])
    st = parts[0][0]
    mom = parts[0][1]
    for s, m in parts[1:]:
        st = SuffStats(*(a + b for a, b in zip(st, s)))
        mom = _combine(mom, m)
    n = mom[0, 0]
    sd = np.sqrt(mom[2] / max(n - 1, 1.0))
    p = template.X.shape[1]
    blk = template.groups[0]
    if blk.n_levels < 2:
        raise DataError(f"the grouping factor {blk.factor!r} has only one level")
    return TableStats(f.response.expr, tuple(template.fixed_names), blk.factor, blk.levels,
                      tuple(c for b in template.groups for c in b.coefs), st,
                      float(mom[1, 0]), float(sd[0]), mom[1, 1:1 + p], sd[1:1 + p],
                      dict(memo), template.terms, tuple(b.k for b in template.groups),
                      sd[1 + p:], "dask", source=ddf)
