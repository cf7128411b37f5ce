"""The one interpreter of a formula factor (``floor``, ``C(county)``, ``log(x) * w``,
``center(age)``), over any backend: NumPy on a pandas table (:mod:`hbr.design.transforms`),
SQL for DuckDB (:mod:`hbr.sources.duckdb`), and the statistics a Dask table must learn first
(:mod:`hbr.sources.dask`).

The grammar is walked here once, against a whitelist (never ``eval``): columns, numbers,
unary ``+ -``, ``+ - * / **``, ``C(column)``, ``I(expr)`` and the functions of
:data:`hbr.design.transforms.TRANSFORMS` (one argument each). A backend says what each of
these means for its values; what is allowed, and the message for what is not, are the same
for all of them. This module never imports JAX.
"""

from __future__ import annotations

import ast
import difflib
from typing import Any, Protocol

from hbr.formula import Factor

__all__ = ["Backend", "interpret", "BINOPS", "unknown_function"]

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
        if backend.is_categorical(value):
            raise backend.fail(f"{ast.unparse(node)!r} is categorical and cannot be used in "
                               "arithmetic")
        return value

    def ev(node: ast.expr) -> Any:
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
                node.func.id not in (*functions, "C", "I"):
            raise backend.fail(unknown_function(node.func.id, functions))
        raise backend.fail(
            f"cannot evaluate {ast.unparse(node)!r}: only columns, numbers, + - * / ** and "
            f"the functions {', '.join(sorted([*functions, 'C', 'I']))} (one argument each) "
            "are allowed")

    return ev(factor.tree)


def unknown_function(fn: str, functions: tuple[str, ...] | list[str]) -> str:
    """The message for a call of ``fn``, which is not among ``functions`` (nor C, I)."""
    known = sorted({*functions, "C", "I"})
    close = difflib.get_close_matches(fn, known, n=1)
    hint = f"; did you mean {close[0]}()?" if close else ""
    return f"unknown function {fn!r} in the formula{hint} (known: {', '.join(known)})"
