"""Evaluate the parse tree of a formula's right-hand side into terms and group terms
(expanding ``*``, ``/``, ``||`` and nested factors); used by :mod:`hbr.formula`."""

from __future__ import annotations

import ast

from hbr.formula.types import Factor, GroupTerm, Term
from hbr.errors import FormulaError

__all__ = ["Evaluator"]


class Evaluator:
    """Turn the parse tree into (terms, no_intercept, group terms)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def err(self, msg: str, pos: int, length: int = 1) -> FormulaError:
        return FormulaError(msg, self.text, pos, length)

    def eval(self, node: tuple, top: bool) -> tuple[list[Term], bool, list[GroupTerm]]:
        kind = node[0]
        if kind == "empty":
            return [], False, []
        if kind == "factor":
            return [Term((node[1],))], False, []
        if kind == "num":
            return ([Term()], False, []) if node[1] == "1" else ([], True, [])
        if kind == "group":
            if not top:
                raise self.err("a group term '( | )' cannot be part of an interaction; "
                               "add it with '+'", node[4], node[5] - node[4])
            return [], False, self.group(node)
        op, left, right, pos = node[1], node[2], node[3], node[4]
        if op in ("+", "-"):
            lt, lz, lg = self.eval(left, top)
            rt, rz, rg = self.eval(right, top)
            if op == "+":
                return _union(lt, rt), lz or rz, lg + rg
            if rg:
                raise self.err("a group term cannot be subtracted", pos)
            removed = {t.key() for t in rt}
            no_icpt = lz or (frozenset() in removed)
            return [t for t in lt if t.key() not in removed], no_icpt, lg
        lt, lz, lg = self.eval(left, False)
        rt, rz, rg = self.eval(right, False)
        if lz or rz:
            raise self.err(f"0 cannot be used with '{op}'", pos)
        if op == ":":
            return _product(lt, rt), False, []
        if op == "*":
            return _union(_union(lt, rt), _product(lt, rt)), False, []
        # a/b == a + a:b  (b nested in a)
        whole = Term(tuple(f for t in lt for f in t.factors))
        return _union(lt, _product([whole], rt)), False, []

    def group(self, node: tuple) -> list[GroupTerm]:
        _, lhs, bar, rhs, start, end, gid = node
        terms, no_icpt, inner = self.eval(lhs, top=False)
        if inner:
            raise self.err("group terms cannot be nested inside each other", start, end - start)
        if not no_icpt and not any(not t.factors for t in terms):
            terms = [Term()] + terms
        terms = [t for t in terms if not (no_icpt and not t.factors)]
        for f in (f for t in terms for f in t.factors):
            if f.is_call and isinstance(f.tree.func, ast.Name) and f.tree.func.id == "offset":
                raise self.err("offset() belongs outside group terms: 'y ~ x + offset(o) + "
                               "(1 | g)'", f.span[0], f.span[1] - f.span[0])
        if not terms:
            raise self.err("this group term has no coefficients", start, end - start)
        rhs, correlated = self.gr(rhs, bar == "|")
        factors = self.group_factors(rhs)
        out: list[GroupTerm] = []
        for fac in factors:
            if correlated:
                out.append(GroupTerm(tuple(terms), fac, True, (start, end), gid))
            else:  # '||': one uncorrelated term per coefficient
                out.extend(GroupTerm((t,), fac, False, (start, end)) for t in terms)
        return out

    def gr(self, node: tuple, correlated: bool) -> tuple[tuple, bool]:
        """brms's ``gr(g)`` (and ``gr(g, cor = FALSE)``, the same as ``||``) as the plain
        grouping factor ``g``; other nodes unchanged."""
        f = node[1] if node[0] == "factor" else None
        if f is None or not (f.is_call and isinstance(f.tree.func, ast.Name)
                             and f.tree.func.id == "gr"):
            return node, correlated
        span = (f.span[0], f.span[1] - f.span[0])
        kw = {k.arg: k.value for k in f.tree.keywords}
        if "by" in kw:
            raise self.err("gr(g, by = ...) (a separate covariance matrix per level of 'by') "
                           "is not available; write (... | g) for one covariance, or "
                           "(... | g:by) for effects per level of both", *span)
        if len(f.tree.args) != 1 or not isinstance(f.tree.args[0], ast.Name) or \
                set(kw) - {"cor"}:
            raise self.err("gr() takes one grouping column (and cor = FALSE): write "
                           "(1 | gr(g)) or (1 | g)", *span)
        if "cor" in kw:
            c = kw["cor"]
            if not (isinstance(c, ast.Constant) and isinstance(c.value, bool)):
                raise self.err("gr(g, cor = ...) takes TRUE or FALSE", *span)
            correlated = correlated and c.value
        name = f.tree.args[0].id
        col = f.column_names.get(name, name)
        return ("factor", Factor(col, f.span, ast.Name(id=col), {col: col}), node[2]), \
            correlated

    def group_factors(self, node: tuple) -> list[tuple[str, ...]]:
        kind = node[0]
        if kind == "factor":
            f: Factor = node[1]
            if f.is_call:
                raise self.err("a grouping factor must be a column name", f.span[0],
                               f.span[1] - f.span[0])
            return [(f.expr,)]
        if kind == "bin" and node[1] in (":", "/"):
            left = self.group_factors(node[2])
            right = self.group_factors(node[3])
            if node[1] == ":":
                return [a + b for a in left for b in right]
            outer = left[-1]
            return left + [outer + b for b in right]
        pos = node[4] if kind == "bin" else node[-1] if kind in ("num", "empty") else 0
        raise self.err("after '|' write the grouping factor: g, a/b (nested) or a:b",
                       pos if isinstance(pos, int) else 0)


def _union(a: list[Term], b: list[Term]) -> list[Term]:
    keys = {t.key() for t in a}
    out = list(a)
    for t in b:
        if t.key() not in keys:
            keys.add(t.key())
            out.append(t)
    return out


def _product(a: list[Term], b: list[Term]) -> list[Term]:
    out: list[Term] = []
    for ta in a:
        for tb in b:
            fs = list(ta.factors)
            for f in tb.factors:
                if f not in fs:
                    fs.append(f)
            out = _union(out, [Term(tuple(fs))])
    return out
