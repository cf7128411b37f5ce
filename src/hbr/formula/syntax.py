"""Formula syntax: tokens and the recursive-descent grammar of :mod:`hbr.formula`.

The grammar (lowest precedence first)::

    sum   := ['+'|'-'] product (('+' | '-') product)*
    product := nest ('*' nest)*
    nest  := inter ('/' inter)*
    inter := atom (':' atom)*
    atom  := NAME | CALL | '0' | '1' | '(' sum [('|' | '||') sum] ')'

A CALL is a name followed by balanced parentheses, kept as text for :mod:`hbr.formula` to
parse as a Python expression. Errors are :class:`~hbr.errors.FormulaError` with a caret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from hbr.errors import FormulaError

__all__ = ["Tok", "tokenize", "Parser"]

_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"\d+(\.\d*)?")
_OPS = ("||", "~", "+", "-", "*", ":", "/", "|", "(", ")")


@dataclass(frozen=True)
class Tok:
    kind: str  # "name", "call", "num", "op", "end"
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise FormulaError("unclosed backtick", text, i)
            if j == i + 1:
                raise FormulaError("empty column name between backticks", text, i, 2)
            toks.append(Tok("name", text[i + 1 : j], i, j + 1))
            i = j + 1
            continue
        m = _NAME.match(text, i)
        if m:
            k = m.end()
            while k < n and text[k].isspace():
                k += 1
            if k < n and text[k] == "(":
                end = _matching_paren(text, k)
                toks.append(Tok("call", text[i:end], i, end))
                i = end
            else:
                toks.append(Tok("name", m.group(), i, m.end()))
                i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            toks.append(Tok("num", m.group(), i, m.end()))
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                toks.append(Tok("op", op, i, i + len(op)))
                i += len(op)
                break
        else:
            raise FormulaError(f"unexpected character {c!r}", text, i)
    toks.append(Tok("end", "", n, n))
    return toks


def _matching_paren(text: str, open_at: int) -> int:
    depth, i, quote = 0, open_at, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise FormulaError("unclosed '(' in this call", text, open_at)


class Parser:
    """Recursive descent: sum > product (``*``) > nesting (``/``) > interaction (``:``).

    Nodes are tuples: ``("factor", value, start)`` (``value`` made by ``make_factor`` from a
    name or call token, so a malformed call is reported where the parser meets it),
    ``("num", text, start)``, ``("empty", start)``, ``("bin", op, left, right, start)`` and
    ``("group", lhs, bar, rhs, start, end, id)`` (``id`` the ``p`` of brms's ``(x |p| g)``,
    else "").
    """

    def __init__(self, text: str, make_factor: Callable[[Tok, str], Any]) -> None:
        self.text = text
        self.make_factor = make_factor
        self.toks = tokenize(text)
        self.pos = 0

    def peek(self) -> Tok:
        return self.toks[self.pos]

    def take(self) -> Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def error(self, msg: str, tok: Tok) -> FormulaError:
        return FormulaError(msg, self.text, tok.start, max(1, tok.end - tok.start))

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in ops

    def chain(self, ops: tuple[str, ...], operand: Callable[[], tuple],
              node: tuple | None = None) -> tuple:
        """Left-associative ``operand (op operand)*`` for the operators ``ops``."""
        node = operand() if node is None else node
        while self.is_op(*ops):
            op = self.take()
            node = ("bin", op.text, node, operand(), op.start)
        return node

    def sum(self) -> tuple:
        node = None
        if self.is_op("-", "+"):  # leading sign: "y ~ -1 + x"
            op = self.take()
            node = ("bin", op.text, ("empty", op.start), self.product(), op.start)
        return self.chain(("+", "-"), self.product, node)

    def product(self) -> tuple:
        return self.chain(("*",), self.nest)

    def nest(self) -> tuple:
        return self.chain(("/",), self.inter)

    def inter(self) -> tuple:
        return self.chain((":",), self.atom)

    def atom(self) -> tuple:
        tok = self.take()
        if tok.kind in ("name", "call"):
            return ("factor", self.make_factor(tok, self.text), tok.start)
        if tok.kind == "num":
            if tok.text not in ("0", "1"):
                raise self.error(
                    f"the number {tok.text} is not a term: only 0 (no intercept) and 1 "
                    "(intercept) are; for a constant transform write I(...)",
                    tok,
                )
            return ("num", tok.text, tok.start)
        if tok.kind == "op" and tok.text == "(":
            inner = self.sum()
            if self.is_op("|", "||"):
                bar, gid = self.take(), ""
                nxt = self.toks[self.pos:self.pos + 2]
                if bar.text == "|" and len(nxt) == 2 and nxt[0].kind == "name" and \
                        nxt[1].kind == "op" and nxt[1].text == "|":  # brms's (x |p| g)
                    gid = self.take().text
                    self.take()
                rhs = self.sum()
                self.expect_close(tok)
                return ("group", inner, bar.text, rhs, tok.start, self.toks[self.pos - 1].end,
                        gid)
            self.expect_close(tok)
            return inner
        if tok.kind == "end":
            raise self.error("the formula ends where a term was expected", tok)
        raise self.error(f"expected a term, found {tok.text!r}", tok)

    def expect_close(self, opener: Tok) -> None:
        tok = self.peek()
        if tok.kind == "op" and tok.text == ")":
            self.take()
            return
        if tok.kind == "end":
            raise self.error("this '(' is never closed", opener)
        raise self.error(f"expected ')' here, found {tok.text!r}", tok)
