r"""Parse lme4/brms-style model formulas into a :class:`Formula` value.

Supported syntax (``y ~ rhs``):

===========================  ==============================================================
``y ~ x``                    intercept plus slope (the intercept is implied)
``y ~ 0 + x``, ``y ~ x - 1`` no intercept
``C(x)``                     ``x`` as categorical (text columns are categorical anyway)
``a:b``, ``a*b``, ``a/b``    interaction; ``a + b + a:b``; ``a + a:b``
``log(x)``, ``I(x**2)``...   transforms (see :mod:`hbr.design` for the list)
``(1 | g)``                  varying intercept by ``g``
``(x | g)``, ``(1 + x | g)`` correlated varying intercept and slope (LKJ prior)
``(x || g)``                 uncorrelated: ``(1 | g) + (0 + x | g)``
``(1 | g1) + (1 | g2)``      crossed factors
``(1 | a/b)``                nested: ``(1 | a) + (1 | a:b)``; the inner factor is named ``a:b``
``\`odd name\```             a column whose name is not an identifier
``offset(log(t))``           a term with coefficient fixed at 1 (exposure of a rate)
``y | se(s) ~ ...``          known measurement error ``s`` (``se(s, sigma=True)`` adds the
                             residual sigma), family gaussian
``y | trials(n) ~ ...``      successes out of ``n`` trials (a column or a number), binomial
``sigma ~ 1 + (1 | g)``      a second formula for the residual sd: log sigma varies by ``g``
                             (pass ``[formula, "sigma ~ ..."]`` to :func:`hbr.fit`)
===========================  ==============================================================

Errors are :class:`~hbr.errors.FormulaError` with the formula repeated and a caret under the
problem. This module does not look at data and never imports JAX.

Examples
--------
>>> f = parse_formula("log_radon ~ floor + (floor | county)")
>>> f.response.expr, [t.name for t in f.terms], [g.label for g in f.groups]
('log_radon', ['floor'], ['1 + floor | county'])
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from hbr._formula_syntax import Parser, Tok
from hbr.errors import FormulaError

__all__ = ["Factor", "Term", "GroupTerm", "Formula", "parse_formula"]


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
    into one uncorrelated term per coefficient.
    """

    terms: tuple[Term, ...]
    factor: tuple[str, ...]
    correlated: bool
    span: tuple[int, int] = field(compare=False)

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
class Formula:
    """A parsed formula: response, fixed terms, intercept flag and group terms."""

    text: str
    response: Factor
    intercept: bool
    terms: tuple[Term, ...]
    groups: tuple[GroupTerm, ...]
    additions: tuple[tuple[str, Factor], ...] = ()  # ("se" | "trials", argument)
    se_sigma: bool = False  # se(s, sigma=True): also estimate the residual sigma
    offsets: tuple[Factor, ...] = ()  # arguments of offset() terms

    def addition(self, name: str) -> Factor | None:
        """The argument of the response addition ``name`` ("se", "trials"), or None."""
        return next((f for n, f in self.additions if n == name), None)

    def __str__(self) -> str:
        return self.text


def _make_factor(tok: Tok, text: str) -> Factor:
    if tok.kind == "name":
        return Factor(tok.text, (tok.start, tok.end), ast.Name(id=tok.text), {tok.text: tok.text})
    # A call: replace `odd names` with placeholders, then parse as a Python expression.
    src, names = tok.text, {}

    def repl(m: re.Match[str]) -> str:
        key = f"__col{len(names)}__"
        names[key] = m.group(1)
        return key

    src = re.sub(r"`([^`]+)`", repl, src)
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as exc:
        off = tok.start + max(0, (exc.offset or 1) - 1)
        raise FormulaError(f"invalid expression in {tok.text!r}", text, off) from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names:
            names[node.id] = node.id
    canonical = re.sub(r"\s+", "", tok.text) if "`" not in tok.text else tok.text
    return Factor(canonical, (tok.start, tok.end), tree, names)


def parse_formula(text: str) -> Formula:
    """Parse ``text`` into a :class:`Formula`.

    Parameters
    ----------
    text : str
        A formula such as ``"log_radon ~ floor + (floor | county)"``.

    Raises
    ------
    FormulaError
        With the formula repeated and a caret under the problem.
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}", "", 0)
    if not text.strip():
        raise FormulaError("the formula is empty; write e.g. 'y ~ x + (1 | g)'", text, 0)
    p = Parser(text, _make_factor)
    lhs_tok = p.peek()
    if lhs_tok.kind == "op" and lhs_tok.text == "~":
        raise p.error("the response is missing before '~'", lhs_tok)
    if lhs_tok.kind not in ("name", "call"):
        raise p.error("the formula must start with the response column, e.g. 'y ~ x'", lhs_tok)
    p.take()
    response = _make_factor(lhs_tok, text)
    tok = p.peek()
    additions: list[tuple[str, Factor]] = []
    se_sigma = False
    if tok.kind == "op" and tok.text in ("|", "||"):
        additions, se_sigma = _additions(p, text)
        tok = p.peek()
    if not (tok.kind == "op" and tok.text == "~"):
        if tok.kind == "end":
            raise p.error(
                "a formula needs '~' between the response and the terms, e.g. 'y ~ x'", tok
            )
        raise p.error(f"expected '~' after the response, found {tok.text!r}", tok)
    tilde = p.take()
    if p.peek().kind == "end":
        raise p.error("no terms after '~'; write 'y ~ 1' for an intercept-only model", tilde)
    node = p.sum()
    end = p.peek()
    if end.kind != "end":
        if end.kind == "op" and end.text in ("|", "||"):
            raise p.error(
                f"'{end.text}' belongs inside parentheses: write '(... {end.text} group)'", end
            )
        if end.kind == "op" and end.text == ")":
            raise p.error("unmatched ')'", end)
        raise p.error(f"unexpected {end.text!r}; join terms with '+'", end)
    ev = _Evaluator(text)
    terms, no_icpt, groups = ev.eval(node, top=True)
    intercept = not no_icpt
    terms, offsets = _split_offsets(terms, text)
    fixed = tuple(t for t in terms if t.factors)
    if any(not t.factors for t in terms) and no_icpt:
        intercept = False
    if not fixed and not intercept and not groups:
        raise FormulaError("the formula has no terms left after removing the intercept",
                           text, tilde.start)
    for f in [fa for t in fixed for fa in t.factors] + list(offsets):
        if f.expr == response.expr:
            raise FormulaError(
                f"the response {response.expr!r} also appears on the right-hand side",
                text, f.span[0], f.span[1] - f.span[0])
    return Formula(text, response, intercept, fixed, tuple(_dedupe_groups(groups, text)),
                   tuple(additions), se_sigma, tuple(offsets))


_ADDITIONS = ("se", "trials")


def _argument(call: Factor, arg: ast.expr, text: str) -> Factor:
    """The factor of one argument of a call (``s`` in ``se(s)``, ``log(t)`` in
    ``offset(log(t))``); columns keep the call's backtick names."""
    names = {k: v for k, v in call.column_names.items()
             if any(isinstance(n, ast.Name) and n.id == k for n in ast.walk(arg))}
    expr = ast.unparse(arg)
    for key, col in names.items():
        expr = expr.replace(key, f"`{col}`" if key != col else col)
    return Factor(expr, call.span, arg, names)


def _additions(p: Parser, text: str) -> tuple[list[tuple[str, Factor]], bool]:
    """Parse ``| se(s)``, ``| trials(n)`` (joined by '+') after the response."""
    bar = p.take()
    if bar.text == "||":
        raise p.error("use a single '|' before response additions: 'y | se(s) ~ ...'", bar)
    out: list[tuple[str, Factor]] = []
    se_sigma = False
    while True:
        tok = p.peek()
        if tok.kind != "call":
            raise p.error("expected se(...) or trials(...) after '|', e.g. 'y | se(s) ~ x'",
                          tok)
        p.take()
        call = _make_factor(tok, text)
        fn = call.tree.func.id if isinstance(call.tree.func, ast.Name) else ""
        if fn not in _ADDITIONS:
            raise FormulaError(f"unknown response addition {fn or tok.text!r}; hbr knows "
                               "se(s) (known standard errors) and trials(n) (binomial)",
                               text, tok.start, len(fn) or 1)
        if any(n == fn for n, _ in out):
            raise FormulaError(f"{fn}() is given twice", text, tok.start, len(fn))
        kw = {k.arg: k.value for k in call.tree.keywords}
        if len(call.tree.args) != 1 or set(kw) - ({"sigma"} if fn == "se" else set()):
            form = "se(s) or se(s, sigma=True)" if fn == "se" else "trials(n)"
            raise FormulaError(f"{fn}() takes one column or number: write {form}", text,
                               tok.start, tok.end - tok.start)
        if "sigma" in kw:
            v = kw["sigma"]
            if not (isinstance(v, ast.Constant) and isinstance(v.value, bool)) and not (
                    isinstance(v, ast.Name) and v.id in ("TRUE", "FALSE")):
                raise FormulaError("se(..., sigma=) takes True or False", text, tok.start,
                                   tok.end - tok.start)
            se_sigma = bool(v.value) if isinstance(v, ast.Constant) else v.id == "TRUE"
        out.append((fn, _argument(call, call.tree.args[0], text)))
        nxt = p.peek()
        if nxt.kind == "op" and nxt.text == "+":
            p.take()
            continue
        return out, se_sigma


def _split_offsets(terms: list[Term], text: str) -> tuple[list[Term], list[Factor]]:
    """Move ``offset(...)`` terms out of the fixed terms."""
    kept, offsets = [], []
    for t in terms:
        calls = [f for f in t.factors if f.is_call and isinstance(f.tree.func, ast.Name)
                 and f.tree.func.id == "offset"]
        if not calls:
            kept.append(t)
            continue
        f = calls[0]
        if len(t.factors) > 1:
            raise FormulaError("offset() cannot be part of an interaction", text, f.span[0],
                               f.span[1] - f.span[0])
        if len(f.tree.args) != 1 or f.tree.keywords:
            raise FormulaError("offset() takes one column or expression, e.g. "
                               "offset(log(exposure))", text, f.span[0], f.span[1] - f.span[0])
        offsets.append(_argument(f, f.tree.args[0], text))
    return kept, offsets


def _dedupe_groups(groups: list[GroupTerm], text: str) -> list[GroupTerm]:
    seen: dict[tuple[str, frozenset[str]], GroupTerm] = {}
    for g in groups:
        for t in g.terms:
            key = (g.factor_name, t.key())
            if key in seen:
                raise FormulaError(
                    f"the coefficient '{t.name}' varies by '{g.factor_name}' twice", text,
                    g.span[0], g.span[1] - g.span[0])
            seen[key] = g
    return groups


class _Evaluator:
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
        _, lhs, bar, rhs, start, end = node
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
        factors = self.group_factors(rhs)
        out: list[GroupTerm] = []
        for fac in factors:
            if bar == "|":
                out.append(GroupTerm(tuple(terms), fac, True, (start, end)))
            else:  # '||': one uncorrelated term per coefficient
                out.extend(GroupTerm((t,), fac, False, (start, end)) for t in terms)
        return out

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
