"""What lme4 and brms users type: R's spellings give the canonical formula, the same design
and the same coefficient names; brms's and Bambi's family names resolve to hbr's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.errors import OptionError
from hbr.model.families import ALIASES, FAMILIES, canonical_family, resolve_family
from hbr.options import FitOptions

SPELLINGS = [  # (R's habit, hbr's canonical spelling)
    ("y ~ factor(t) + x + (1 | g)", "y ~ C(t) + x + (1 | g)"),
    ("y ~ as.factor(t) * x + (1 | g)", "y ~ C(t) * x + (1 | g)"),
    ("y ~ factor (t) + (factor(t) | g)", "y ~ C(t) + (C(t) | g)"),
    ("y ~ x + I(x^2) + (1 | g)", "y ~ x + I(x**2) + (1 | g)"),
    ("y ~ I(x^2 - x^3) + I(log(w)^2) + (1 | g)",
     "y ~ I(x**2 - x**3) + I(log(w)**2) + (1 | g)"),
    ("y ~ x + (1 |p| g) + (0 + x |p| g)", "y ~ x + (1 + x | g)"),  # brms's ids
    ("y ~ x + (0 + x |p| g) + (1 |p| g) + (1 |q| w)", "y ~ x + (1 + x | g) + (1 | w)"),
    ("y ~ x + (x |p| g)", "y ~ x + (x | g)"),
    ("y ~ x + (x | gr(g))", "y ~ x + (x | g)"),
    ("y ~ x + (x | gr(g, cor = FALSE))", "y ~ x + (x || g)"),
]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "w": rng.uniform(1, 2, n), "t": rng.choice([1, 2, 3], n),
                         "g": rng.choice(list("abcd"), n)})


@pytest.mark.parametrize("text, match", [
    ("y ~ (1 | gr(g, by = t))", "gr\\(g, by = ...\\) .* is not available"),
    ("y ~ (1 | gr(g, 2))", "gr\\(\\) takes one grouping column"),
    ("y ~ (1 | gr(g, cor = 2))", "takes TRUE or FALSE"),
    ("y ~ (1 |p| g) + (0 + x |p| t)", "joins group terms of one grouping factor"),
    ("y ~ (1 |p| g) + (1 |p| g)", "varies by 'g' twice"),
])
def test_brms_group_spellings_misused_are_caret_errors(text: str, match: str) -> None:
    with pytest.raises(hbr.errors.FormulaError, match=match) as err:
        hbr.parse_formula(text)
    assert "^" in str(err.value)


def test_an_id_across_formulas_correlates_the_two_terms(table: pd.DataFrame) -> None:
    """brms's id shared by the mean's and sigma's formulas: one correlation over both
    terms (tests/density/test_joint_formulas.py fits it); another id keeps them apart."""
    joint = build_design("y ~ x + (x |p| g)", table, dpars=("sigma ~ 1 + (1 |p| g)",))
    assert joint.joint == ((0, 1),)
    ok = build_design("y ~ x + (x |p| g)", table, dpars=("sigma ~ 1 + (1 |q| g)",))
    assert [b.coefs for b in ok.groups] == [("1", "x"), ("1",)] and ok.joint == ()


@pytest.mark.parametrize("habit, canonical", SPELLINGS)
def test_r_spellings_parse_and_design_as_the_canonical(habit: str, canonical: str,
                                                       table: pd.DataFrame) -> None:
    a, b = hbr.parse_formula(habit), hbr.parse_formula(canonical)
    assert [t.name for t in a.terms] == [t.name for t in b.terms]
    assert [g.label for g in a.groups] == [g.label for g in b.groups]
    da, db = build_design(habit, table), build_design(canonical, table)
    assert da.fixed_names == db.fixed_names
    np.testing.assert_array_equal(da.X, db.X)
    for ga, gb in zip(da.groups, db.groups):
        assert ga.coefs == gb.coefs
        np.testing.assert_array_equal(ga.Z, gb.Z)


def test_a_column_named_like_a_function_is_left_alone(table: pd.DataFrame) -> None:
    t = table.rename(columns={"x": "my.factor"})
    d = build_design("y ~ `my.factor` + I(`my.factor`^2)", t)
    np.testing.assert_allclose(d.X[:, -1], t["my.factor"] ** 2)


@pytest.mark.parametrize("alias, name", [
    ("negbinomial", "negative_binomial"), ("negativebinomial", "negative_binomial"),
    ("Negative-Binomial", "negative_binomial"), ("student", "student_t"), ("t", "student_t"),
    ("Student_t", "student_t"), ("normal", "gaussian"), ("Gaussian", "gaussian"),
    ("Poisson", "poisson"), ("BERNOULLI", "bernoulli")])
def test_family_aliases(alias: str, name: str) -> None:
    assert canonical_family(alias) == name
    assert resolve_family(alias)[0] is FAMILIES[name]
    assert FitOptions.of(family=alias).family == name
    assert set(ALIASES.values()) == set(FAMILIES)


def test_unknown_family_message_is_sentences() -> None:
    with pytest.raises(OptionError) as e:
        resolve_family("tweedie")
    text = str(e.value)
    assert text.startswith("family='tweedie' is not available. Choose one of gaussian, ")
    assert text.endswith("'negbinomial' work too).")
    with pytest.raises(OptionError, match=r"family='negbinomal' is not available; did you "
                                          r"mean 'negative_binomial'\? Choose one of"):
        resolve_family("negbinomal")


def test_cbind_fits_equal_trials_fits_draw_for_draw() -> None:
    rng = np.random.default_rng(0)
    n = 200
    d = pd.DataFrame({"n": rng.integers(1, 20, n), "x": rng.normal(size=n),
                      "g": rng.choice(list("abcdef"), n)})
    d["k"] = rng.binomial(d.n, 1 / (1 + np.exp(-0.5 * d.x)))
    d["fail"] = d.n - d.k
    kw = dict(family="binomial", seed=4, chains=2, draws=200, tune=200)
    ref = hbr.fit("k | trials(n) ~ x + (1 | g)", d, **kw)
    for habit in ("cbind(k, n - k) ~ x + (1 | g)", "cbind(k, fail) ~ x + (1 | g)"):
        got = hbr.fit(habit, d, **kw)
        assert got.spec.design.response == "k"
        np.testing.assert_array_equal(got.spec.design.trials, d.n)
        for name, vals in ref.draws.posterior.items():
            np.testing.assert_array_equal(got.draws.posterior[name], vals, err_msg=name)


@pytest.mark.parametrize("text, match", [
    ("cbind(k) ~ x", "cbind\\(\\) takes two columns, successes and failures"),
    ("cbind(k, f) | trials(n) ~ x", "already gives the trials"),
])
def test_cbind_misuse_is_a_caret_error(text: str, match: str) -> None:
    with pytest.raises(hbr.FormulaError, match=match) as e:
        hbr.parse_formula(text)
    assert "^" in str(e.value)


def test_cbind_with_a_gaussian_family_says_binomial() -> None:
    d = pd.DataFrame({"k": [1, 2, 3, 1], "n": [4, 4, 5, 3], "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(hbr.DataError, match="belongs to family='binomial' \\(as does "
                                            "lme4's cbind.*pass family='binomial'"):
        hbr.fit("cbind(k, n - k) ~ x", d, chains=1, draws=10, tune=10)


def test_integer_codes_entering_as_slopes_are_named() -> None:
    from hbr.design.checks import integer_code_note

    rng = np.random.default_rng(0)
    n = 90
    d = pd.DataFrame({"y": rng.normal(size=n), "treatment": rng.choice([1, 2, 3], n),
                      "Days": rng.integers(0, 10, n), "dose": rng.choice([0.5, 1.0, 2.0], n),
                      "floor": rng.integers(0, 2, n), "g": rng.choice([1, 2, 3, 4], n)})
    note = integer_code_note(hbr.parse_formula("y ~ treatment + Days + dose + floor"), d)
    assert note == ("'treatment' holds 3 whole numbers (1, 2, 3) and is named like a label, "
                    "but enters as a numeric slope; if they are categories write "
                    "C(treatment) (R's factor(treatment))")
    note = integer_code_note(hbr.parse_formula("y ~ g + (1 | g)"), d)
    assert note is not None and "'g' holds 4 whole numbers" in note and "grouping factor" in note
    # a count of days, a dose, a 0/1 indicator and C(treatment) itself: no note
    assert integer_code_note(hbr.parse_formula("y ~ Days + dose + floor + C(treatment)"),
                             d) is None
    with pytest.warns(hbr.HbrWarning, match="'treatment' holds 3 whole numbers") as rec:
        hbr.fit("y ~ treatment", d, chains=1, draws=20, tune=20, seed=1)
    assert any(r.filename == __file__ for r in rec)  # at the user's line
