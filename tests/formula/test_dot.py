"""``y ~ .``: every column the formula does not use otherwise, less the grouping factors and
the response-addition and offset columns; through pandas, files and the fit's formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.errors import FormulaError
from hbr.formula.dot import expand_dot

COLS = ["y", "a", "b c", "g", "n", "k", "t", "x"]


@pytest.mark.parametrize("text, want", [
    ("y ~ .", "y ~ a + `b c` + g + n + k + t + x"),
    ("y ~ . + (1 | g)", "y ~ a + `b c` + n + k + t + x + (1 | g)"),
    ("k | trials(n) ~ . + (x | g)", "k | trials(n) ~ y + a + `b c` + t + (x | g)"),
    ("cbind(k, n - k) ~ . + (1 | g)", "cbind(k, n - k) ~ y + a + `b c` + t + x + (1 | g)"),
    ("y ~ x + . + offset(log(t))", "y ~ x + a + `b c` + g + n + k + offset(log(t))"),
    ("y ~ 0.5 * x + `a.b`", "y ~ 0.5 * x + `a.b`"),  # no dot term: unchanged
])
def test_expansion(text: str, want: str) -> None:
    assert expand_dot(text, COLS) == want


@pytest.mark.parametrize("text, cols, match", [
    ("y ~ .:x", COLS, "cannot be part of an interaction"),
    ("y ~ . + (1 | g)", ["y", "g"], "the table has none left"),
])
def test_misuse_is_a_caret_error(text: str, cols: list[str], match: str) -> None:
    with pytest.raises(FormulaError, match=match) as e:
        expand_dot(text, cols)
    assert "^" in str(e.value)


def test_fit_with_a_dot_equals_the_written_out_formula(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 120
    d = pd.DataFrame({"y": rng.normal(size=n), "x1": rng.normal(size=n),
                      "x2": rng.normal(size=n), "g": rng.choice(list("abcd"), n)})
    kw = dict(seed=3, chains=1, draws=60, tune=60)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hbr.HbrWarning)
        dot = hbr.fit("y ~ . + (1 | g)", d, **kw)
        ref = hbr.fit("y ~ x1 + x2 + (1 | g)", d, **kw)
        d.to_csv(tmp_path / "d.csv", index=False)
        from_file = hbr.fit("y ~ . + (1 | g)", tmp_path / "d.csv", engine="duckdb", **kw)
    assert dot.formula == "y ~ x1 + x2 + (1 | g)" == from_file.formula
    for name, vals in ref.draws.posterior.items():
        np.testing.assert_array_equal(dot.draws.posterior[name], vals, err_msg=name)
    np.testing.assert_array_equal(build_design(dot.formula, d).X,
                                  build_design("y ~ x1 + x2 + (1 | g)", d).X)
