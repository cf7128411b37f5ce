"""The one interpreter of a formula factor (``floor``, ``C(county)``, ``log(x) * w``,
``center(age)``), over any backend: NumPy on a pandas table (:mod:`hbr.design.transforms`),
SQL for DuckDB (:mod:`hbr.sources.duckdb`), and the statistics a Dask table must learn first
(:mod:`hbr.sources.dask`).

The grammar is walked here once, against a whitelist (never ``eval``): columns, numbers,
unary ``+ -``, ``+ - * / **``, ``C(column)``, ``I(expr)``, the functions of
:data:`hbr.design.transforms.TRANSFORMS` (one argument each) and ``poly(expr, degree)``
(R's orthogonal polynomials, :mod:`hbr.design.poly`; ``raw=True`` for plain powers), whose
value is a :class:`Basis` of ``degree`` columns. A backend says what each of
these means for its values; what is allowed, and the message for what is not, are the same
for all of them. This module never imports JAX.
"""

from __future__ import annotations

import ast
import difflib
from typing import Any, Protocol

from hbr.formula import Factor

__all__ = ["Backend", "Basis", "interpret", "BINOPS", "unknown_function", "BASES"]

BASES = ("poly",)  # calls whose value is several numeric columns


class Basis:
    """A factor worth several numeric columns (``poly(x, 2)``): their values in a backend's
    terms (arrays, SQL expressions) and their labels (``"1"``, ``"2"``: the coefficients
    are ``poly(x,2)[1]``, ``poly(x,2)[2]``, R's ``poly(x, 2)1``, ``poly(x, 2)2``)."""

    def __init__(self, columns: list[Any], labels: list[str]) -> None:
        self.columns, self.labels = columns, labels

# the operators of the grammar, by the name a backend receives
BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


class Backend(Protocol):
    """What a factor's pieces mean to one reader of tables.

    ``ident`` is the name as written in the formula and ``column`` the table's column it
    names (they differ for a backticked name). ``key`` is the memo key of a stateful
    transform, ``"{fn}:{argument as written}"``, the same in every backend.
    """

    def column(self, ident: str, column: str) -> Any: ...
    def categorical(self, ident: str, column: str) -> Any: ...
    def is_categorical(self, value: Any) -> bool: ...
    def constant(self, value: float) -> Any: ...
    def negate(self, value: Any) -> Any: ...
    def binop(self, op: str, left: Any, right: Any) -> Any: ...
    def transform(self, fn: str, value: Any, key: str, arg: ast.expr) -> Any: ...
    def basis(self, fn: str, value: Any, key: str, degree: int, raw: bool) -> Basis: ...
    def fail(self, message: str) -> Exception: ...


def interpret(factor: Factor, backend: Backend, functions: tuple[str, ...]) -> Any:
    """The value of ``factor`` in ``backend``'s terms; ``functions`` are the transform names
    allowed besides ``C`` and ``I`` (the keys of ``TRANSFORMS``).

    Raises ``backend.fail(message)`` for arithmetic on a categorical value, ``C()`` of
    anything but a column, and any construct outside the grammar.
    """
    names = factor.column_names

    def num(node: ast.expr) -> Any:
        value = ev(node)
        if backend.is_categorical(value) or isinstance(value, Basis):
            what = "categorical" if backend.is_categorical(value) else "several columns"
            raise backend.fail(f"{ast.unparse(node)!r} is {what} and cannot be used in "
                               "arithmetic")
        return value

    def ev(node: ast.expr) -> Any:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in BASES:
            if node is not factor.tree:
                raise backend.fail(f"{node.func.id}() is a term of its own (several columns); "
                                   "it cannot sit inside another expression")
            arg, degree, raw = _poly_arguments(node, backend)
            key = f"{node.func.id}:{ast.unparse(arg)}:{degree}"
            return backend.basis(node.func.id, num(arg), key, degree, raw)
        if isinstance(node, ast.Name):
            return backend.column(node.id, names.get(node.id, node.id))
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return backend.constant(float(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = num(node.operand)
            return backend.negate(value) if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            return backend.binop(BINOPS[type(node.op)], num(node.left), num(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                len(node.args) == 1 and not node.keywords:
            fn, arg = node.func.id, node.args[0]
            if fn == "C":
                if not isinstance(arg, ast.Name):
                    raise backend.fail("C() takes a column name")
                return backend.categorical(arg.id, names.get(arg.id, arg.id))
            if fn == "I":
                return num(arg)
            if fn in functions:
                return backend.transform(fn, num(arg), f"{fn}:{ast.unparse(arg)}", arg)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id not in (*functions, *BASES, "C", "I"):
            raise backend.fail(unknown_function(node.func.id, functions))
        raise backend.fail(
            f"cannot evaluate {ast.unparse(node)!r}: only columns, numbers, + - * / ** and "
            f"the functions {', '.join(sorted([*functions, 'C', 'I']))} (one argument each) "
            "and poly(x, degree) are allowed")

    return ev(factor.tree)


def unknown_function(fn: str, functions: tuple[str, ...] | list[str]) -> str:
    """The message for a call of ``fn``, which is not among ``functions`` (nor C, I)."""
    known = sorted({*functions, *BASES, "C", "I"})
    close = difflib.get_close_matches(fn, known, n=1)
    hint = f"; did you mean {close[0]}()?" if close else ""
    return f"unknown function {fn!r} in the formula{hint} (known: {', '.join(known)})"


def _poly_arguments(node: ast.Call, backend: Backend) -> tuple[ast.expr, int, bool]:
    """``poly(x, degree)`` or ``poly(x, degree, raw=True)``: the argument, the degree (a
    whole number of at least 1) and whether the powers are raw."""
    form = "write poly(x, 2) (orthogonal) or poly(x, 2, raw=True) (x and x**2)"
    kw = {k.arg: k.value for k in node.keywords}
    if len(node.args) == 1 and "degree" in kw:
        node = ast.Call(node.func, [node.args[0], kw.pop("degree")], [])
    if len(node.args) != 2 or set(kw) - {"raw"}:
        raise backend.fail(f"poly() takes a column or expression and a degree: {form}")
    d = node.args[1]
    if not (isinstance(d, ast.Constant) and isinstance(d.value, (int, float))
            and not isinstance(d.value, bool) and float(d.value).is_integer() and d.value >= 1):
        raise backend.fail(f"the degree of poly() must be a whole number of at least 1, not "
                           f"{ast.unparse(d)!r}: {form}")
    raw = kw.get("raw", ast.Constant(False))
    if not (isinstance(raw, ast.Constant) and isinstance(raw.value, bool)):
        raise backend.fail(f"poly(..., raw=) takes True or False, not {ast.unparse(raw)!r}")
    return node.args[0], int(d.value), raw.value
