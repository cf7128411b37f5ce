"""Formula parsing: every supported syntax, and errors that point at the problem."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hbr.errors import FormulaError
from hbr.formula import parse_formula

# formula -> (intercept, fixed term names, [(group label, correlated)])
CASES = {
    "y ~ x": (True, ["x"], []),
    "y ~ 1": (True, [], []),
    "y ~ 0 + x": (False, ["x"], []),
    "y ~ x - 1": (False, ["x"], []),
    "y ~ -1 + x": (False, ["x"], []),
    "y ~ x + z": (True, ["x", "z"], []),
    "y ~ C(county)": (True, ["C(county)"], []),
    "y ~ 0 + C(county) + C(county):floor": (False, ["C(county)", "C(county):floor"], []),
    "y ~ a:b": (True, ["a:b"], []),
    "y ~ a*b": (True, ["a", "b", "a:b"], []),
    "y ~ a*b*c": (True, ["a", "b", "a:b", "c", "a:c", "b:c", "a:b:c"], []),
    "y ~ a/b": (True, ["a", "a:b"], []),
    "y ~ (a + b):c": (True, ["a:c", "b:c"], []),
    "y ~ a + a": (True, ["a"], []),
    "y ~ a:b + b:a": (True, ["a:b"], []),
    "y ~ log(x) + I(x ** 2)": (True, ["log(x)", "I(x**2)"], []),
    "log(y) ~ x": (True, ["x"], []),
    "y ~ `my col` + x": (True, ["my col", "x"], []),
    "y ~ (1 | g)": (True, [], [("1 | g", True)]),
    "y ~ x + (x | g)": (True, ["x"], [("1 + x | g", True)]),
    "y ~ x + (1 + x | g)": (True, ["x"], [("1 + x | g", True)]),
    "y ~ x + (0 + x | g)": (True, ["x"], [("0 + x | g", True)]),
    "y ~ x + (x - 1 | g)": (True, ["x"], [("0 + x | g", True)]),
    "y ~ x + (x || g)": (True, ["x"], [("1 | g", False), ("0 + x | g", False)]),
    "y ~ x + (1 + x + z || g)": (True, ["x"], [("1 | g", False), ("0 + x | g", False),
                                                ("0 + z | g", False)]),
    "y ~ (1 | g1) + (1 | g2)": (True, [], [("1 | g1", True), ("1 | g2", True)]),
    "y ~ (1 | state/county)": (True, [], [("1 | state", True), ("1 | state:county", True)]),
    "y ~ (1 | a/b/c)": (True, [], [("1 | a", True), ("1 | a:b", True), ("1 | a:b:c", True)]),
    "y ~ (1 | a:b)": (True, [], [("1 | a:b", True)]),
    "y ~ floor + (floor | county) + (1 | state)": (
        True, ["floor"], [("1 + floor | county", True), ("1 | state", True)]),
    "y~x+(x|g)": (True, ["x"], [("1 + x | g", True)]),
}


@pytest.mark.parametrize("text", list(CASES))
def test_parse_table(text: str) -> None:
    intercept, terms, groups = CASES[text]
    f = parse_formula(text)
    assert f.intercept is intercept
    assert [t.name for t in f.terms] == terms
    assert [(g.label, g.correlated) for g in f.groups] == groups


# formula -> (message fragment, caret column)
ERRORS = {
    "y ~ x +": ("ends where a term was expected", 7),
    "y x": ("expected '~'", 2),
    "y": ("needs '~'", 1),
    "~ x": ("response is missing", 0),
    "y ~": ("no terms after '~'", 2),
    "y ~ (x | g": ("never closed", 4),
    "y ~ x)": ("unmatched ')'", 5),
    "y ~ x | g": ("belongs inside parentheses", 6),
    "y ~ 2 + x": ("the number 2 is not a term", 4),
    "y ~ log(x": ("unclosed '('", 7),
    "y ~ x + $": ("unexpected character '$'", 8),
    "y ~ x + (1|g) + (1|g)": ("varies by 'g' twice", 16),
    "y ~ y + x": ("also appears on the right-hand side", 4),
    "y ~ x:(1|g)": ("cannot be part of an interaction", 6),
    "y ~ (1 | log(g))": ("grouping factor must be a column name", 9),
    "y ~ (1 | g + h)": ("after '|' write the grouping factor", 11),
    "y ~ 0": ("no terms left", 2),
    "y | wt(w) ~ 1": ("unknown response addition 'wt'", 4),
    "y | s ~ 1": ("expected se", 4),
    "y ~ x + offset(a):b": ("offset() cannot be part of an interaction", 8),
    "y ~ log(x +)": ("invalid expression", 11),
    "y ~ `x": ("unclosed backtick", 4),
}


@pytest.mark.parametrize("text", list(ERRORS))
def test_parse_errors_point_at_problem(text: str) -> None:
    fragment, column = ERRORS[text]
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    err = info.value
    assert fragment in str(err)
    assert err.position == column
    lines = str(err).splitlines()
    assert lines[1] == "  " + text  # the formula is repeated
    assert lines[2].index("^") == column + 2  # with a caret under the problem


_names = st.sampled_from(["x", "z", "floor", "C(c)", "log(u)", "`a b`"])
_groups = st.sampled_from(["g", "h", "a/b", "a:b"])


@st.composite
def _formulas(draw: st.DrawFn) -> str:
    terms = draw(st.lists(_names, min_size=1, max_size=3))
    op = draw(st.sampled_from([" + ", ":", "*"]))
    rhs = op.join(terms)
    if draw(st.booleans()):
        rhs = "0 + " + rhs
    for _ in range(draw(st.integers(0, 2))):
        inner = draw(st.sampled_from(["1", "x", "1 + x", "0 + z"]))
        bar = draw(st.sampled_from(["|", "||"]))
        rhs += f" + ({inner} {bar} {draw(_groups)})"
    return "y ~ " + rhs


@settings(max_examples=200, deadline=None)
@given(_formulas())
def test_random_valid_formulas_parse(text: str) -> None:
    try:
        f = parse_formula(text)
    except FormulaError as exc:  # only duplicate group coefficients may be rejected
        assert "twice" in str(exc)
        return
    assert f.response.expr == "y"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="yx~+-*:/|()01 gC`$,.", max_size=20))
def test_random_text_parses_or_gives_formula_error(text: str) -> None:
    try:
        parse_formula(text)
    except FormulaError as exc:
        assert 0 <= exc.position <= len(text)
