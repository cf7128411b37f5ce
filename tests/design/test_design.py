"""Design building: coding and names, and every kind of bad input with a clear error."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.errors import DataError, FormulaError, HbrWarning, OptionError, PriorError
from hbr.model.spec import build_model


def small() -> pd.DataFrame:
    return pd.DataFrame({"y": [1.0, 2.0, 0.5, 3.0, 2.2, 1.1],
                         "x": [0.0, 1.0, 0.0, 1.0, 2.0, 1.0],
                         "c": ["a", "b", "c", "a", "b", "c"],
                         "g": ["u", "u", "v", "v", "w", "w"]})


def test_radon_design_matches_seed(mn: pd.DataFrame) -> None:
    d = build_design("log_radon ~ floor + (floor | county)", mn)
    assert d.X.shape == (919, 2) and d.fixed_names == ("Intercept", "floor")
    (blk,) = d.groups
    assert blk.factor == "county" and blk.n_levels == 85 and blk.coefs == ("1", "floor")
    assert blk.names == ("1|county", "floor|county")
    np.testing.assert_array_equal(blk.Z[:, 1], mn.floor.to_numpy())
    levels = np.array(blk.levels)
    assert (levels[blk.index] == mn.county.to_numpy()).all()


def test_treatment_and_full_coding(mn: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbrWarning)  # counties without floor=1 homes
        unpooled = build_design("log_radon ~ 0 + C(county) + C(county):floor", mn)
    assert unpooled.X.shape == (919, 170)
    assert unpooled.terms[0].labels[0] == "AITKIN"
    pooled = build_design("log_radon ~ C(county)", mn)
    assert pooled.X.shape == (919, 85)  # intercept + 84 contrasts
    # each row has exactly one county indicator in the unpooled intercepts
    np.testing.assert_array_equal(unpooled.X[:, :85].sum(axis=1), 1.0)


def test_interactions_and_transforms() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=40), "x": rng.uniform(0, 3, 40),
                       "c": rng.choice(list("abc"), 40)})
    d = build_design("y ~ x * c + I(x ** 2) + log1p(x)", df)
    assert d.fixed_names == ("Intercept", "x", "c[b]", "c[c]", "x:c[b]", "x:c[c]",
                             "I(x**2)", "log1p(x)")
    x = df.x.to_numpy()
    names = list(d.fixed_names)
    np.testing.assert_allclose(d.X[:, names.index("I(x**2)")], x**2)
    np.testing.assert_allclose(d.X[:, names.index("log1p(x)")], np.log1p(x))
    np.testing.assert_allclose(d.X[:, names.index("x:c[b]")], x * (df.c == "b"))
    s = build_design("y ~ scale(x)", df).X
    np.testing.assert_allclose(s[:, 1], (x - x.mean()) / x.std(ddof=1))
    c = build_design("y ~ center(x)", df).X
    np.testing.assert_allclose(c[:, 1], x - x.mean())


def test_nested_and_crossed_factors() -> None:
    df = pd.DataFrame({"y": np.arange(8.0), "s": list("AABBAABB"), "c": list("pqpqpqpq"),
                       "h": list("mmmmnnnn")})
    d = build_design("y ~ (1 | s/c) + (1 | h)", df)
    assert [g.factor for g in d.groups] == ["s", "s:c", "h"]
    assert d.groups[1].levels == ("A:p", "A:q", "B:p", "B:q")


def test_uncorrelated_terms_are_separate_blocks() -> None:
    d = build_design("y ~ x + (x || g)", small())
    assert [(g.coefs, g.correlated) for g in d.groups] == [(("1",), False), (("x",), False)]


# --- bad input: each gives a named error with the column, the value and the fix ---------
def test_unknown_column_points_at_it() -> None:
    with pytest.raises(DataError) as info:
        build_design("y ~ xx + (1 | g)", small())
    msg = str(info.value)
    assert "unknown column 'xx'" in msg and "did you mean 'x'" in msg
    assert msg.splitlines()[-1].index("^") == 2 + 4


def test_unknown_group_column() -> None:
    with pytest.raises(DataError, match="unknown column 'county'"):
        build_design("y ~ x + (1 | county)", small())


def test_missing_values_error_and_dropna() -> None:
    df = small()
    df.loc[2, "x"] = np.nan
    with pytest.raises(DataError, match=r"column 'x' has 1 missing value\(s\) \(rows 2\).*dropna=True"):
        build_design("y ~ x", df)
    with pytest.warns(HbrWarning, match="dropped 1 of 6 rows"):
        d = build_design("y ~ x", df, dropna=True)
    assert d.n_obs == 5 and d.n_dropped == 1


def test_non_numeric_response() -> None:
    with pytest.raises(DataError, match="response column 'c' is not numeric.*'a' in row 0"):
        build_design("c ~ x", small())


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_non_finite_values(bad: float) -> None:
    df = small()
    df.loc[3, "x"] = bad
    with pytest.raises(DataError, match=r"'x' has 1 non-finite value\(s\).*row 3"):
        build_design("y ~ x", df)


def test_non_finite_response() -> None:
    df = small()
    df.loc[1, "y"] = np.inf
    with pytest.raises(DataError, match="non-finite"):
        build_design("y ~ x", df)


def test_transform_out_of_domain() -> None:
    with pytest.raises(DataError, match=r"log\(\) needs positive values, but x = 0 in row 0"):
        build_design("y ~ log(x)", small())


def test_unknown_function() -> None:
    with pytest.raises(DataError, match="unknown function 'lgo'.*did you mean log"):
        build_design("y ~ lgo(x)", small())


def test_empty_table() -> None:
    with pytest.raises(DataError, match="empty"):
        build_design("y ~ x", small().iloc[:0])


def test_group_factor_with_one_level() -> None:
    with pytest.raises(DataError, match="'g' has only one level \\('u'\\)"):
        build_design("y ~ x + (1 | g)", small().assign(g="u"))


def test_constant_predictor() -> None:
    with pytest.raises(DataError, match="'k' is constant.*drop it"):
        build_design("y ~ x + k", small().assign(k=3.0))


def test_collinear_predictors() -> None:
    with pytest.raises(DataError, match=r"'I\(2\*x\)' is a linear combination of earlier columns \(Intercept, x\)"):
        build_design("y ~ x + I(2 * x)", small())


def test_constant_response() -> None:
    with pytest.raises(DataError, match="the response 'y' is constant \\(3 in every row\\)"):
        build_model(build_design("y ~ x + (1 | g)", small().assign(y=3.0)))
    # counts that are all 0 (rare events) are data, not a mistake
    spec = build_model(build_design("y ~ x + (1 | g)", small().assign(y=0.0)), family="poisson")
    assert spec.family == "poisson"


def test_integer_response_is_accepted() -> None:
    n = len(small())
    d = build_design("y ~ x", small().assign(y=np.arange(n)))  # int64 counts of a Gaussian
    np.testing.assert_array_equal(d.y, np.arange(n, dtype=float))


def test_categorical_with_many_levels_warns_and_refuses_a_huge_design() -> None:
    """A categorical fixed effect gets one unpooled column per level: 150 levels warn and
    suggest a group term; 10^5 levels over 2 x 10^5 rows (149 GiB dense) are refused before
    anything is allocated."""
    rng = np.random.default_rng(0)
    mid = pd.DataFrame({"y": rng.normal(size=600), "c": [f"l{i % 150}" for i in range(600)]})
    with pytest.warns(HbrWarning, match=r"'c' has 150 levels.*\(1 \| c\) pools the levels"):
        d = build_design("y ~ c", mid)
    assert d.X.shape == (600, 150)
    n = 200_000
    huge = pd.DataFrame({"y": rng.normal(size=n), "c": (np.arange(n) % 100_000).astype(str)})
    with pytest.raises(DataError, match=r"'c' has 100000 levels: .* \(149 GiB\); a group term "
                                        r"such as \(1 \| c\)"):
        build_design("y ~ c", huge)


def test_duplicate_column_names() -> None:
    df = pd.concat([small(), small()[["x"]]], axis=1)
    with pytest.raises(DataError, match="two columns named 'x'"):
        build_design("y ~ x", df)


def test_not_a_dataframe() -> None:
    with pytest.raises(DataError, match="pandas DataFrame"):
        build_design("y ~ x", {"y": [1, 2]})  # type: ignore[arg-type]


def test_files_that_do_not_exist_or_do_not_parse(tmp_path) -> None:
    with pytest.raises(DataError, match="no such file"):
        hbr.read_table(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        hbr.read_table(empty)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match="cannot read .* as CSV"):
        hbr.read_table(ragged)
    fake = tmp_path / "fake.parquet"
    fake.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="Parquet"):
        hbr.read_table(fake)
    with pytest.raises(DataError, match="is a directory"):
        hbr.read_table(tmp_path)


def test_fit_options_are_checked(mn: pd.DataFrame) -> None:
    f = "log_radon ~ floor + (1 | county)"
    with pytest.raises(OptionError, match="chains must be an integer >= 1, got 0"):
        hbr.fit(f, mn, chains=0)
    with pytest.raises(OptionError, match="draws must be an integer"):
        hbr.fit(f, mn, draws=-5)
    with pytest.raises(OptionError, match="target_accept"):
        hbr.fit(f, mn, target_accept=1.5)
    with pytest.raises(OptionError, match="parameterization='sideways'.*noncentered"):
        hbr.fit(f, mn, parameterization="sideways")
    with pytest.raises(OptionError, match="family='poison'.*did you mean 'poisson'"):
        hbr.fit(f, mn, family="poison")
    with pytest.raises(OptionError, match="link='log' is not available.*'logit' or 'probit'"):
        hbr.fit(f, mn, family="bernoulli", link="log")
    with pytest.raises(DataError, match="needs 'log_radon' to hold counts.*0.83"):
        hbr.fit(f, mn, family="poisson")
    with pytest.raises(OptionError, match="marginal.*gaussian.*'auto'"):
        hbr.fit("floor ~ 1 + (1 | county)", mn, family="bernoulli",
                parameterization="marginal")
    with pytest.raises(FormulaError):
        hbr.fit("log_radon ~ floor +", mn)


# --- priors -----------------------------------------------------------------------------
def test_prior_names_follow_bambi(mn: pd.DataFrame) -> None:
    spec = build_model(build_design("log_radon ~ floor + (floor | county)", mn))
    assert list(spec.priors) == ["Intercept", "floor", "sigma", "1|county_sigma",
                                 "floor|county_sigma", "county_corr"]
    sy = mn.log_radon.std()
    assert spec.priors["sigma"] == hbr.priors.Exponential(1 / sy)
    assert spec.priors["floor"].kwargs["sigma"] == pytest.approx(2.5 * sy / mn.floor.std())
    assert spec.priors["county_corr"] == hbr.priors.LKJ(2.0)


def test_prior_overrides_strings_and_objects(mn: pd.DataFrame) -> None:
    spec = build_model(build_design("log_radon ~ floor + (floor | county)", mn),
                       {"sigma": "HalfNormal(1)", "1|county_sigma": "HalfCauchy(5)",
                        "Intercept": hbr.priors.Normal(0, 10), "county_corr": "LKJ(eta=4)"})
    assert spec.priors["sigma"] == hbr.priors.HalfNormal(1)
    assert spec.priors["1|county_sigma"] == hbr.priors.HalfCauchy(5)
    assert spec.priors["Intercept"] == hbr.priors.Normal(0, 10)
    assert spec.priors["county_corr"] == hbr.priors.LKJ(4)


@pytest.mark.parametrize("text, family", [
    ("Normal(0, 10)", "Normal"), ("HalfNormal(1)", "HalfNormal"), ("HalfCauchy(5)", "HalfCauchy"),
    ("Exponential(2)", "Exponential"), ("StudentT(3, 0, 2.5)", "StudentT"),
    ("HalfStudentT(3, 1)", "HalfStudentT"), ("Uniform(0, 10)", "Uniform"), ("LKJ(2)", "LKJ"),
    ("Gamma(2, 1)", "Gamma"), ("LogNormal(0, 1)", "LogNormal"), ("Cauchy(0, 1)", "Cauchy")])
def test_prior_families_parse(text: str, family: str) -> None:
    assert hbr.priors.parse_prior(text).family == family


def test_prior_errors(mn: pd.DataFrame) -> None:
    design = build_design("log_radon ~ floor + (floor | county)", mn)
    with pytest.raises(PriorError, match="no parameter named 'sigm'.*Did you mean 'sigma'.*"
                                         "Parameters with priors: Intercept, floor, sigma"):
        build_model(design, {"sigm": "HalfNormal(1)"})
    with pytest.raises(PriorError, match="'sigma' is a positive number; use HalfNormal"):
        build_model(design, {"sigma": "Normal(0, 1)"})
    with pytest.raises(PriorError, match="correlation matrix; use LKJ"):
        build_model(design, {"county_corr": "HalfNormal(1)"})
    with pytest.raises(PriorError, match="unknown distribution 'HalfNorml'.*HalfNormal"):
        build_model(design, {"sigma": "HalfNorml(1)"})
    with pytest.raises(PriorError, match="sigma must be positive"):
        build_model(design, {"sigma": "HalfNormal(-1)"})
    with pytest.raises(PriorError, match="Uniform\\(0, upper\\)"):
        build_model(design, {"sigma": "Uniform(-1, 1)"})


def test_codes_with_leading_zeros_stay_as_written(tmp_path) -> None:
    """Issue 24: a CSV column of codes such as "01", "1", "02" is read as text (pandas would
    read 1, 1, 2 and merge "01" with "1"); a column of plain integers stays numeric."""
    import hbr

    p = tmp_path / "codes.csv"
    p.write_text("y,g,x\n1.0,01,1\n2.0,1,2\n3.0,02,3\n4.0,2,4\n1.5,01,5\n")
    t = hbr.read_table(p)
    assert t["g"].tolist() == ["01", "1", "02", "2", "01"]
    assert t["x"].dtype.kind == "i"
    d = build_design("y ~ x + (1 | g)", t)
    assert d.groups[0].levels == ("01", "02", "1", "2")
