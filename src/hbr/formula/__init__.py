r"""Parse lme4/brms-style model formulas into a :class:`Formula` value.

Supported syntax (``y ~ rhs``):

===========================  ==============================================================
``y ~ x``                    intercept plus slope (the intercept is implied)
``y ~ 0 + x``, ``y ~ x - 1`` no intercept
``C(x)``                     ``x`` as categorical (text columns are categorical anyway);
                             R's ``factor(x)`` and ``as.factor(x)`` mean the same
``a:b``, ``a*b``, ``a/b``    interaction; ``a + b + a:b``; ``a + a:b``
``log(x)``, ``I(x**2)``...   transforms (see :mod:`hbr.design.build` for the list); R's
                             ``I(x^2)`` is ``I(x**2)``
``poly(x, 2)``               orthogonal polynomials of degree 2, as R's (coefficients
                             ``poly(x,2)[1]``, ``poly(x,2)[2]``; new rows are coded with
                             the fitted rows' recurrence); ``poly(x, 2, raw=TRUE)``: x, x**2
``(1 | g)``                  varying intercept by ``g``
``(x | g)``, ``(1 + x | g)`` correlated varying intercept and slope (LKJ prior)
``(x || g)``                 uncorrelated: ``(1 | g) + (0 + x | g)``
``(1 |p| g) + (0 + x |p| g)`` brms's ids: the terms sharing ``p`` are one correlated term,
                             ``(1 + x | g)``; ``gr(g)`` is ``g`` (``gr(g, cor = FALSE)``: ``||``);
                             an id shared with ``sigma ~ (1 |p| g)`` correlates the two
                             formulas' terms (:class:`hbr.model.spec.GroupSpec`)
``(1 | g1) + (1 | g2)``      crossed factors
``(1 | a/b)``                nested: ``(1 | a) + (1 | a:b)``; the inner factor is named ``a:b``
``\`odd name\```             a column whose name is not an identifier
``y ~ .``                    every other column (expanded against the table by
                             :mod:`hbr.formula.dot` before parsing)
``offset(log(t))``           a term with coefficient fixed at 1 (exposure of a rate)
``y | se(s) ~ ...``          known measurement error ``s`` (``se(s, sigma=True)`` adds the
                             residual sigma), family gaussian
``y | trials(n) ~ ...``      successes out of ``n`` trials (a column or a number), binomial;
                             lme4's ``cbind(y, n - y) ~ ...`` means the same
``y | cens(c) ~ ...``        censored rows (brms): ``c`` is -1 (left: y or less), 0 (y
                             observed), 1 (right: y or more), 2 (interval, with
                             ``cens(c, y2)``: between y and y2)
``y | trunc(lb = 0, ub = 10)``  a response truncated to [lb, ub] (numbers or columns;
                             either bound may be left out)
``y | weights(w) ~ ...``     each row's log likelihood multiplied by ``w`` (brms; not
                             normalised: a weight of 2 counts the row twice)
``s(x)``, ``s(x, k = 5)``    a smooth function of x: a thin plate regression spline in
                             brms's mixed-model form (:mod:`hbr.design.smooth`): a linear
                             fixed effect ``sx_1`` and k - 2 penalised coefficients
                             ``s_sx_1`` with one sd ``sds_sx_1``
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

from hbr.formula.expand import Evaluator
from hbr.formula.syntax import Parser, Tok
from hbr.formula.smooths import split_smooths
from hbr.formula.types import Factor, Formula, GroupTerm, Smooth, Term, argument as _argument
from hbr.errors import FormulaError

__all__ = ["Factor", "Term", "GroupTerm", "Smooth", "Formula", "parse_formula"]


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
    src, canonical = _r_spellings(src), _r_spellings(tok.text)
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as exc:
        off = tok.start + max(0, (exc.offset or 1) - 1)
        raise FormulaError(f"invalid expression in {tok.text!r}", text, off) from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names:
            names[node.id] = node.id
    canonical = re.sub(r"\s+", "", canonical) if "`" not in canonical else canonical
    return Factor(canonical, (tok.start, tok.end), tree, names)


def _r_spellings(src: str) -> str:
    """R's spellings as hbr's, outside backticks: ``factor(x)`` and ``as.factor(x)`` are
    ``C(x)``, ``^`` is the power ``**`` (a factor has no other use for it), so that
    ``I(x^2)`` is ``I(x**2)``: the same factor, the same coefficient names; and ``TRUE``,
    ``FALSE`` (``raw = TRUE``) are Python's ``True``, ``False``."""
    parts = re.split(r"(`[^`]*`)", src)
    for i in range(0, len(parts), 2):  # the even pieces lie outside backticks
        piece = re.sub(r"(?<![\w.])(?:as\.)?factor\s*\(", "C(", parts[i])
        piece = re.sub(r"(?<![\w.])TRUE(?![\w.])", "True", piece.replace("^", "**"))
        parts[i] = re.sub(r"(?<![\w.])FALSE(?![\w.])", "False", piece)
    return "".join(parts)


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
    response, cbind_trials = _cbind(_make_factor(lhs_tok, text), text)
    tok = p.peek()
    additions: list[tuple[str, Factor]] = []
    se_sigma = False
    if tok.kind == "op" and tok.text in ("|", "||"):
        additions, se_sigma = _additions(p, text)
        tok = p.peek()
    if cbind_trials is not None:
        if any(n == "trials" for n, _ in additions):
            raise FormulaError("cbind(successes, failures) already gives the trials: drop "
                               "'| trials(...)'", text, lhs_tok.start, lhs_tok.end - lhs_tok.start)
        additions.append(("trials", cbind_trials))
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
    ev = Evaluator(text)
    terms, no_icpt, groups = ev.eval(node, top=True)
    intercept = not no_icpt
    terms, offsets = _split_offsets(terms, text)
    terms, smooths = split_smooths(terms, text)
    fixed = tuple(t for t in terms if t.factors)
    if any(not t.factors for t in terms) and no_icpt:
        intercept = False
    if not fixed and not intercept and not groups and not smooths:
        raise FormulaError("the formula has no terms left after removing the intercept",
                           text, tilde.start)
    for f in [fa for t in fixed for fa in t.factors] + list(offsets) + [m.arg for m in smooths]:
        if f.expr == response.expr:
            raise FormulaError(
                f"the response {response.expr!r} also appears on the right-hand side",
                text, f.span[0], f.span[1] - f.span[0])
    groups = _join_ids(groups, text)
    return Formula(text, response, intercept, fixed, tuple(_dedupe_groups(groups, text)),
                   tuple(additions), se_sigma, tuple(offsets), tuple(smooths))


_ADDITIONS = ("se", "trials", "cens", "trunc", "weights")


def _cbind(response: Factor, text: str) -> tuple[Factor, Factor | None]:
    """lme4's binomial response ``cbind(k, n - k)`` (successes, failures) as hbr's
    ``k | trials(k + (n - k))``: the response and the trials' factor; others unchanged."""
    tree = response.tree
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)
            and tree.func.id == "cbind"):
        return response, None
    if len(tree.args) != 2 or tree.keywords:
        raise FormulaError("cbind() takes two columns, successes and failures: "
                           "cbind(k, n - k) ~ ... (or k | trials(n) ~ ...)", text,
                           response.span[0], response.span[1] - response.span[0])
    total = ast.fix_missing_locations(ast.BinOp(left=tree.args[0], op=ast.Add(),
                                                right=tree.args[1]))
    return _argument(response, tree.args[0], text), _argument(response, total, text)


def _additions(p: Parser, text: str) -> tuple[list[tuple[str, Factor]], bool]:
    """Parse ``| se(s)``, ``| trials(n)``, ``| cens(c)`` or ``| cens(c, y2)`` (joined by
    '+') after the response; ``cens(c, y2)`` adds ("cens_y2", y2)."""
    bar = p.take()
    if bar.text == "||":
        raise p.error("use a single '|' before response additions: 'y | se(s) ~ ...'", bar)
    out: list[tuple[str, Factor]] = []
    se_sigma = False
    while True:
        tok = p.peek()
        if tok.kind != "call":
            raise p.error("expected se(...), trials(...), cens(...), trunc(...) or weights(...) "
                          "after '|', e.g. 'y | se(s) ~ x'", tok)
        p.take()
        call = _make_factor(tok, text)
        fn = call.tree.func.id if isinstance(call.tree.func, ast.Name) else ""
        if fn not in _ADDITIONS:
            raise FormulaError(f"unknown response addition {fn or tok.text!r}; hbr knows "
                               "se(s) (known standard errors), trials(n) (binomial), "
                               "cens(c) or cens(c, y2) (censored rows), trunc(lb, ub) "
                               "(a truncated response) and weights(w) (each row's log "
                               "likelihood times w)",
                               text, tok.start, len(fn) or 1)
        if any(n == fn for n, _ in out):
            raise FormulaError(f"{fn}() is given twice", text, tok.start, len(fn))
        kw = {k.arg: k.value for k in call.tree.keywords}
        if fn == "cens":
            out += _cens(call, text, tok)
        elif fn == "trunc":
            out += _trunc(call, text, tok)
        elif len(call.tree.args) != 1 or set(kw) - ({"sigma"} if fn == "se" else set()):
            form = {"se": "se(s) or se(s, sigma=True)", "trials": "trials(n)"}.get(fn, f"{fn}(w)")
            raise FormulaError(f"{fn}() takes one column or number: write {form}", text,
                               tok.start, tok.end - tok.start)
        if "sigma" in kw:
            v = kw["sigma"]
            if not (isinstance(v, ast.Constant) and isinstance(v.value, bool)) and not (
                    isinstance(v, ast.Name) and v.id in ("TRUE", "FALSE")):
                raise FormulaError("se(..., sigma=) takes True or False", text, tok.start,
                                   tok.end - tok.start)
            se_sigma = bool(v.value) if isinstance(v, ast.Constant) else v.id == "TRUE"
        if fn not in ("cens", "trunc"):
            out.append((fn, _argument(call, call.tree.args[0], text)))
        nxt = p.peek()
        if nxt.kind == "op" and nxt.text == "+":
            p.take()
            continue
        return out, se_sigma


def _cens(call: Factor, text: str, tok: Tok) -> list[tuple[str, Factor]]:
    """``cens(c)`` or ``cens(c, y2)`` (brms's; ``y2`` is the upper end of the interval-censored
    rows): ("cens", c) and, with two arguments, ("cens_y2", y2)."""
    args = list(call.tree.args)
    if call.tree.keywords or len(args) not in (1, 2):
        raise FormulaError("cens() takes the censoring column and, for interval censoring, the "
                           "upper end: write cens(c) or cens(c, y2), with c -1 (left), 0 (none), "
                           "1 (right) or 2 (interval)", text, tok.start, tok.end - tok.start)
    out = [("cens", _argument(call, args[0], text))]
    if len(args) == 2:
        out.append(("cens_y2", _argument(call, args[1], text)))
    return out


def _trunc(call: Factor, text: str, tok: Tok) -> list[tuple[str, Factor]]:
    """``trunc(lb = a, ub = b)`` (brms's; positional ``trunc(a, b)`` too, either bound may be
    left out): ("trunc_lb", a) and ("trunc_ub", b)."""
    args = dict(zip(("lb", "ub"), call.tree.args))
    kw = {k.arg: k.value for k in call.tree.keywords}
    if len(call.tree.args) > 2 or set(kw) - {"lb", "ub"} or set(kw) & set(args) or not (
            args or kw):
        raise FormulaError("trunc() takes the bounds of the response: write trunc(lb = 0), "
                           "trunc(ub = 10) or trunc(lb = 0, ub = 10) (numbers or columns)",
                           text, tok.start, tok.end - tok.start)
    return [(f"trunc_{k}", _argument(call, v, text)) for k, v in {**args, **kw}.items()]


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


def _join_ids(groups: list[GroupTerm], text: str) -> list[GroupTerm]:
    """brms's ``(1 |p| g) + (0 + x |p| g)``: the terms sharing an id are one correlated term,
    ``(1 + x | g)``; an id names one grouping factor."""
    out: list[GroupTerm] = []
    first: dict[str, int] = {}
    for g in groups:
        if not g.id:
            out.append(g)
            continue
        if g.id not in first:
            first[g.id] = len(out)
            out.append(g)
            continue
        k = first[g.id]
        if out[k].factor != g.factor:
            raise FormulaError(f"the id '|{g.id}|' joins group terms of one grouping factor, "
                               f"but it is used with {out[k].factor_name!r} and "
                               f"{g.factor_name!r}; give each factor its own id", text,
                               g.span[0], g.span[1] - g.span[0])
        terms = list(out[k].terms) + [t for t in g.terms if t.factors or
                                      all(u.factors for u in out[k].terms)]
        if sum(not t.factors for t in g.terms) and any(not t.factors for t in out[k].terms):
            terms.append(Term())  # a second intercept: _dedupe_groups names it
        terms.sort(key=lambda t: bool(t.factors))  # the intercept first, as in (1 + x | g)
        out[k] = GroupTerm(tuple(terms), g.factor, True, (out[k].span[0], g.span[1]), g.id)
    return out


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
