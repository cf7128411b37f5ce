"""One interpreter of formula factors (hbr.design.interpret) behind pandas, DuckDB and Dask.

Each expression of the grammar gives the same columns through all three readers (X'X and
X'y agree to rounding), and each construct outside the grammar gets the same message from
each, so a function added to TRANSFORMS, or a rule, reaches every reader at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hbr.design import build_design
from hbr.errors import HbrError
from hbr.sources.dask import dask_statistics
from hbr.sources.duckdb import duckdb_statistics

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(11)
    n = 400
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.uniform(0.5, 3.0, n),
                      "w": rng.normal(size=n), "k": rng.integers(1, 4, n),
                      "g": rng.choice(list("abcdef"), n)})
    path = tmp_path_factory.mktemp("interp") / "t.parquet"
    d.to_parquet(path)
    return d, str(path)


EXPRESSIONS = ["log(x) * w", "I(-x + 2)", "I(+w)", "I(x ** 2)", "center(log(x))",
               "scale(I(x * w))", "standardize(w) + exp(I(w / 4))", "C(k)", "I(x / w - 3 * x)",
               "sqrt(abs(w))", "C(k):x"]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_each_expression_gives_the_same_columns_in_every_reader(expr: str, table) -> None:
    d, path = table
    formula = f"y ~ {expr} + (1 | g)"
    des = build_design(formula, d)
    want_xx, want_xy = des.X.T @ des.X, des.X.T @ des.y
    for got in (duckdb_statistics(formula, path),
                dask_statistics(formula, dd.from_pandas(d, npartitions=3))):
        assert got.fixed_names == des.fixed_names
        scale = np.abs(want_xx).max()  # a centred column sums to rounding error
        np.testing.assert_allclose(got.stats.XtX, want_xx, rtol=1e-9, atol=1e-10 * scale)
        np.testing.assert_allclose(got.stats.Xty, want_xy, rtol=1e-9, atol=1e-10 * scale)


@pytest.mark.parametrize("expr, message", [
    ("log(g)", "'g' is categorical and cannot be used in arithmetic"),
    ("C(log(x))", "C() takes a column name"),
    ("sin(x)", "unknown function 'sin' in the formula"),
    ("I(x < 2)", "cannot evaluate 'x < 2'"),
])
def test_each_reader_refuses_the_same_constructs_with_the_same_words(expr, message,
                                                                     table) -> None:
    d, path = table
    formula = f"y ~ {expr} + (1 | g)"
    readers = {"pandas": lambda: build_design(formula, d),
               "duckdb": lambda: duckdb_statistics(formula, path),
               "dask": lambda: dask_statistics(formula, dd.from_pandas(d, npartitions=2))}
    for name, read in readers.items():
        with pytest.raises(HbrError) as info:
            read()
        assert message in str(info.value), (name, str(info.value))
