r"""``y ~ .``: the dot stands for every column of the table that the formula does not use
otherwise, as in R, less the columns R users do not mean by it: the response, the grouping
factors, and the columns of ``se()``, ``trials()``, ``cbind()`` and ``offset()``. Columns
already written as fixed terms are not repeated. ``y ~ . + (1 | g)`` on a table of y, a, b,
g is ``y ~ a + b + (1 | g)``; the expanded text is the formula the fit reports.
"""

from __future__ import annotations

import ast
import re
from typing import Sequence

from hbr.errors import FormulaError
from hbr.formula import parse_formula
from hbr.formula.types import Factor, Formula

__all__ = ["expand_dot", "has_dot"]

_DOT = re.compile(r"(?<![\w.`])\.(?![\w.`])")


def has_dot(text: str) -> bool:
    """Whether ``text`` has a ``.`` term (outside backticks)."""
    return any(_DOT.search(p) for p in re.split(r"`[^`]*`", text)) and "~" in text


def _columns(f: Factor) -> set[str]:
    return {f.column_names.get(n.id, n.id) for n in ast.walk(f.tree) if isinstance(n, ast.Name)}


def _used(f: Formula) -> tuple[set[str], set[str]]:
    """(columns of fixed terms, columns the dot must leave out)."""
    fixed = {c for t in f.terms for fa in t.factors if fa.expr != "." for c in _columns(fa)}
    out = _columns(f.response) | {c for g in f.groups for c in g.factor}
    out |= {c for g in f.groups for t in g.terms for fa in t.factors for c in _columns(fa)}
    out |= {c for _, fa in f.additions for c in _columns(fa)}
    out |= {c for fa in f.offsets for c in _columns(fa)}
    return fixed, out


def expand_dot(text: str, columns: Sequence[str]) -> str:
    """``text`` with its ``.`` term replaced by the columns it stands for, joined by '+'
    (names that are not identifiers in backticks); ``text`` itself when it has none."""
    if not has_dot(text):
        return text
    f = parse_formula(text)
    for t in f.terms:
        if len(t.factors) > 1 and any(fa.expr == "." for fa in t.factors):
            fa = next(fa for fa in t.factors if fa.expr == ".")
            raise FormulaError("'.' (every other column) is a term of its own here; it "
                               "cannot be part of an interaction", text, fa.span[0], 1)
    fixed, leave_out = _used(f)
    names = [str(c) for c in columns if str(c) not in fixed | leave_out]
    dot = next(fa for t in f.terms for fa in t.factors if fa.expr == ".")
    if not names:
        raise FormulaError("'.' stands for every column the formula does not use otherwise, "
                           "and the table has none left", text, dot.span[0], 1)
    joined = " + ".join(n if n.isidentifier() else f"`{n}`" for n in names)
    start = dot.span[0]
    return text[:start] + joined + text[start + 1:]
