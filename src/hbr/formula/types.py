"""The values a parsed formula is made of (re-exported by :mod:`hbr.formula`)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

__all__ = ["Factor", "Term", "GroupTerm", "Smooth", "Formula", "argument"]


@dataclass(frozen=True)
class Factor:
    """One variable of a term: a column (``floor``) or a call (``C(county)``, ``log(x)``).

    ``expr`` is the canonical text, used for names and equality; ``tree`` the parsed Python
    expression of a call (columns as ``ast.Name``), ``span`` the (start, end) offsets.
    """

    expr: str
    span: tuple[int, int] = field(compare=False)
    tree: ast.expr = field(compare=False, repr=False)
    column_names: dict[str, str] = field(compare=False, repr=False, default_factory=dict)

    @property
    def is_call(self) -> bool:
        return isinstance(self.tree, ast.Call)


def argument(call: Factor, arg: ast.expr, text: str) -> Factor:
    """The factor of one argument of a call (``s`` in ``se(s)``, ``log(t)`` in
    ``offset(log(t))``); columns keep the call's backtick names."""
    names = {k: v for k, v in call.column_names.items()
             if any(isinstance(n, ast.Name) and n.id == k for n in ast.walk(arg))}
    expr = ast.unparse(arg)
    for key, col in names.items():
        expr = expr.replace(key, f"`{col}`" if key != col else col)
    return Factor(expr, call.span, arg, names)


@dataclass(frozen=True)
class Term:
    """A product of factors (``a:b``); the empty product is the intercept."""

    factors: tuple[Factor, ...] = ()

    @property
    def name(self) -> str:
        return ":".join(f.expr for f in self.factors) if self.factors else "1"

    def key(self) -> frozenset[str]:
        return frozenset(f.expr for f in self.factors)


@dataclass(frozen=True)
class GroupTerm:
    """A group-specific term ``(terms | factor)``.

    ``factor`` holds the grouping columns (two or more for an interaction such as the inner
    level ``a:b`` of a nested term). ``correlated`` is False for ``||`` terms, which are split
    into one uncorrelated term per coefficient. ``id`` is the ``p`` of brms's ``(x |p| g)``:
    the terms of one formula sharing an id and factor are one correlated term; across the
    formulas of a distributional model it asks for correlations hbr does not fit (an error).
    """

    terms: tuple[Term, ...]
    factor: tuple[str, ...]
    correlated: bool
    span: tuple[int, int] = field(compare=False)
    id: str = field(default="", compare=False)

    @property
    def factor_name(self) -> str:
        return ":".join(self.factor)

    @property
    def label(self) -> str:
        lhs = " + ".join(t.name for t in self.terms)
        if not any(not t.factors for t in self.terms):
            lhs = "0 + " + lhs
        return f"{lhs} | {self.factor_name}"


@dataclass(frozen=True)
class Smooth:
    """A smooth term ``s(x)`` or ``s(x, k = 5)``: a thin plate regression spline of the
    covariate ``arg`` with basis dimension ``k`` (:mod:`hbr.design.smooth`). ``label`` is
    mgcv's (``s(x)``) and ``name`` brms's stem: ``sx_1`` names the linear part (a fixed
    effect), ``sds_sx_1`` the sd of the penalised part and ``s_sx_1`` its coefficients."""

    arg: Factor
    k: int
    span: tuple[int, int] = field(compare=False)

    @property
    def label(self) -> str:
        return f"s({self.arg.expr})"

    @property
    def name(self) -> str:
        stem = "".join(ch for ch in self.label if ch.isalnum() or ch in "_.")
        return f"{stem}_1"


@dataclass(frozen=True)
class Formula:
    """A parsed formula: response, fixed terms, intercept flag and group terms."""

    text: str
    response: Factor
    intercept: bool
    terms: tuple[Term, ...]
    groups: tuple[GroupTerm, ...]
    additions: tuple[tuple[str, Factor], ...] = ()  # ("se" | "trials" | "cens" | "cens_y2",
    #                                                   argument)
    se_sigma: bool = False  # se(s, sigma=True): also estimate the residual sigma
    offsets: tuple[Factor, ...] = ()  # arguments of offset() terms
    smooths: tuple[Smooth, ...] = ()  # s(x) terms, in the order written

    def addition(self, name: str) -> Factor | None:
        """The argument of the response addition ``name`` ("se", "trials"), or None."""
        return next((f for n, f in self.additions if n == name), None)

    def __str__(self) -> str:
        return self.text
