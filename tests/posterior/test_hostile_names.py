"""Hostile names and level values through fit -> write -> load -> predict (issue 23).

Random column names (unicode, ``/``, quotes, spaces, leading digits) and random level values
(integers, the same integers as floats, text with spaces) either go all the way, with the
loaded fit predicting exactly what the fit predicted, or stop at a named
:class:`~hbr.errors.HbrError`: never an internal error. A grouping column whose codes come back
as floats (27001.0, as pandas reads an integer column with a missing value) or as text
("27001") predicts as the integers it was fitted with; a numeric predictor given as text is
read as numbers or refused by name.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hbr
from hbr.errors import DataError, HbrError

KW = dict(chains=1, draws=40, tune=40, seed=3)

_names = st.text(st.characters(codec="utf-8", exclude_characters="`\x00\r\n",
                               exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
_levels = st.sampled_from(["int", "float", "text", "spaced"])


def _table(kind: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = rng.choice([27001, 27003, 27005, 27007], 48)
    g = {"int": codes, "float": codes.astype(float), "text": codes.astype(str),
         "spaced": np.array([f" c {c} " for c in codes])}[kind]
    eff = pd.Series(codes).map({27001: 0.5, 27003: -0.5, 27005: 0.0, 27007: 0.3}).to_numpy()
    x = rng.normal(size=48)
    return pd.DataFrame({"y": x + eff + rng.normal(0, 0.3, 48), "x": x, "g": g})


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(xname=_names, gname=_names, kind=_levels)
@example(xname="ppm/l", gname="zip/code", kind="float")  # netCDF forbids "/" in names
@example(xname="2 'quoted' \"x\"", gname="1st level", kind="spaced")
def test_any_names_and_levels_round_trip_or_fail_by_name(xname: str, gname: str, kind: str,
                                                          tmp_path: Path) -> None:
    d = _table(kind).rename(columns={"x": xname, "g": gname})
    if len(set(d.columns)) < 3:
        return
    formula = f"y ~ `{xname}` + (1 | `{gname}`)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = hbr.fit(formula, d, **KW)
            path = tmp_path / f"{abs(hash((xname, gname, kind)))}.nc"
            fit.to_netcdf(path, overwrite=True)
            back = hbr.load_fit(path, data=d)
            new = d.head(6)
            np.testing.assert_array_equal(back.predict(new, seed=1), fit.predict(new, seed=1))
            assert back.summary().equals(fit.summary())
    except HbrError:
        pass  # a named error is an answer; anything else fails the test


@pytest.mark.parametrize("fitted,asked", [("int", "float"), ("float", "int"), ("int", "text"),
                                          ("text", "float")])
def test_integer_codes_match_by_value(fitted: str, asked: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hbr.fit("y ~ x + (1 | g)", _table(fitted), **KW)
    new = _table(asked).head(8)
    same = _table(fitted).head(8)
    np.testing.assert_allclose(fit.predict(new, new_groups="mean", seed=1),
                               fit.predict(same, new_groups="mean", seed=1))


def test_codes_with_leading_zeros_are_not_whole_numbers() -> None:
    d = _table("text")
    d["g"] = "0" + d["g"]  # "027001": a code, not the number 27001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hbr.fit("y ~ x + (1 | g)", d, **KW)
    as_numbers = d.head(8).assign(g=d["g"].head(8).astype(int))
    mean_level = fit.predict(d.head(8).assign(g="unseen"), new_groups="mean", seed=1)
    np.testing.assert_allclose(fit.predict(as_numbers, new_groups="mean", seed=1), mean_level)


def test_a_numeric_predictor_given_as_text() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hbr.fit("y ~ x + (1 | g)", _table("int"), **KW)
    new = _table("int").head(4)
    as_text = new.assign(x=[f"{v!r}" for v in new["x"]])
    np.testing.assert_allclose(fit.predict(as_text, seed=1), fit.predict(new, seed=1))
    with pytest.raises(DataError, match=r"column 'x' was numeric.*'0.5ppm'"):
        fit.predict(new.assign(x=["0.5ppm", "1", "2", "3"]))


def test_a_prior_number_that_overflows_is_a_prior_error() -> None:
    from hbr.errors import PriorError

    for prior in ("HalfNormal(1e400)", "Normal(0, 1e400)", "Normal(-1e400, 1)"):
        with pytest.raises(PriorError, match="must be finite"):
            hbr.fit("y ~ x + (1 | g)", _table("int"), priors={
                "sigma" if prior.startswith("Half") else "x": prior}, **KW)
