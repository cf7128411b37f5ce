"""Smooth terms of a formula: ``s(x)`` and ``s(x, k = 5)`` taken out of the fixed terms into
:class:`~hbr.formula.types.Smooth` values (brms's and mgcv's syntax; the thin plate basis
``bs = "tp"`` only)."""

from __future__ import annotations

import ast

from hbr.errors import FormulaError
from hbr.formula.types import Factor, Smooth, Term, argument

__all__ = ["split_smooths"]


def _is_smooth(f: Factor) -> bool:
    return f.is_call and isinstance(f.tree.func, ast.Name) and f.tree.func.id == "s"


def _fail(msg: str, f: Factor, text: str) -> FormulaError:
    return FormulaError(msg, text, f.span[0], f.span[1] - f.span[0])


def _smooth(f: Factor, text: str) -> Smooth:
    """The :class:`Smooth` of the call ``f`` (``s(...)``), or a FormulaError with the fix."""
    call = f.tree
    if len(call.args) != 1:
        raise _fail("s() takes one covariate here, e.g. s(x) or s(x, k = 5); smooths of "
                    "several covariates (s(x, z), te(), t2()) are not supported yet", f, text)
    k = 10
    for kw in call.keywords:
        if kw.arg == "k":
            if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, int)
                    and not isinstance(kw.value.value, bool) and kw.value.value >= 3):
                raise _fail("s(x, k = ...) takes a whole number of 3 or more (the basis "
                            "dimension; brms's default is 10)", f, text)
            k = kw.value.value
        elif kw.arg == "bs":
            if not (isinstance(kw.value, ast.Constant) and kw.value.value == "tp"):
                raise _fail("only the thin plate basis is supported: drop bs = ... (the "
                            "default, bs = \"tp\")", f, text)
        else:
            raise _fail(f"s() does not take {kw.arg} = ... here; it takes k (the basis "
                        "dimension) and bs = \"tp\"" + (
                            " (smooths by a factor's levels are not supported yet)"
                            if kw.arg == "by" else ""), f, text)
    return Smooth(argument(f, call.args[0], text), k, f.span)


def split_smooths(terms: list[Term], text: str) -> tuple[list[Term], list[Smooth]]:
    """Move the ``s(...)`` terms out of the fixed terms; a smooth in an interaction, or the
    same smooth twice, is an error."""
    kept: list[Term] = []
    smooths: list[Smooth] = []
    for t in terms:
        calls = [f for f in t.factors if _is_smooth(f)]
        if not calls:
            kept.append(t)
            continue
        if len(t.factors) > 1:
            raise _fail("s() cannot be part of an interaction; write s(x) + z", calls[0], text)
        sm = _smooth(calls[0], text)
        if any(m.label == sm.label for m in smooths):
            raise _fail(f"{sm.label} appears twice; keep one", calls[0], text)
        smooths.append(sm)
    return kept, smooths
