"""Property-based tests (hypothesis) of the formula parser and the design builder: random
valid formulas parse and either build a design or fail with a named DataError; random broken
formulas always give a FormulaError whose position lies inside the formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hbr.design.build import build_design
from hbr.errors import DataError, FormulaError
from hbr.formula import parse_formula

_RNG = np.random.default_rng(0)
DATA = pd.DataFrame({
    "y": _RNG.normal(size=60), "x": _RNG.normal(size=60), "z": _RNG.uniform(1, 2, 60),
    "c": _RNG.choice(list("pqr"), 60), "g": np.repeat(list("abcdef"), 10),
    "h": np.tile(list("uv"), 30), "odd name": _RNG.normal(size=60),
})

atoms = st.sampled_from(["x", "z", "c", "log(z)", "C(h)", "I(x ** 2)", "scale(x)",
                         "`odd name`", "center(z)"])


@st.composite
def terms(draw: st.DrawFn) -> str:
    a = draw(atoms)
    op = draw(st.sampled_from(["", ":", "*"]))
    return a if not op else f"{a}{op}{draw(atoms)}"


@st.composite
def group_terms(draw: st.DrawFn) -> list[str]:
    """Group terms on distinct factors (a coefficient varying twice by one factor is a
    FormulaError of its own, tested in test_formula)."""
    facs = draw(st.one_of(st.just(["g/h"]), st.lists(st.sampled_from(["g", "h", "g:h"]),
                                                       unique=True, max_size=3)))
    out = []
    for fac in facs:
        lhs = draw(st.sampled_from(["1", "x", "1 + x", "0 + x", "z", "x + z"]))
        out.append(f"({lhs} {draw(st.sampled_from(['|', '||']))} {fac})")
    return out


@st.composite
def formulas(draw: st.DrawFn) -> str:
    parts = draw(st.lists(terms(), min_size=0, max_size=3)) + draw(group_terms())
    if not parts:
        parts = ["x"]
    icpt = draw(st.sampled_from(["", "0 + ", "1 + "]))
    space = draw(st.sampled_from([" ", ""]))
    return f"y{space}~{space}{icpt}" + f"{space}+{space}".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas())
def test_valid_formulas_parse_and_build_or_fail_by_name(text: str) -> None:
    f = parse_formula(text)
    assert f.response.expr == "y"
    try:
        d = build_design(f, DATA)
    except DataError as exc:  # e.g. collinear columns: named, never a crash
        assert str(exc)
        return
    assert d.X.shape[0] == len(DATA) and np.all(np.isfinite(d.X))
    for blk in d.groups:
        assert blk.index.min() >= 0 and blk.index.max() < blk.n_levels
        assert blk.Z.shape == (len(DATA), len(blk.coefs))


BREAKERS = ["$", "?", "!", "(", ")", "@"]  # never valid outside backticks


@settings(max_examples=200, deadline=None)
@given(formulas(), st.sampled_from(BREAKERS), st.integers(min_value=0, max_value=200))
def test_broken_formulas_give_a_positioned_formula_error(text: str, junk: str, at: int
                                                         ) -> None:
    at = at % (len(text) + 1)
    broken = text[:at] + junk + text[at:]
    try:
        parse_formula(broken)
    except FormulaError as exc:
        assert 0 <= exc.position <= len(broken), (broken, exc.position)
        assert exc.formula == broken and "^" in str(exc)
        return
    # parsed: only possible inside a backtick-quoted column name
    assert broken[:at].count("`") % 2 == 1, broken


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        parse_formula(text)
    except FormulaError as exc:
        assert 0 <= exc.position <= len(text)
