"""Design.moments is there with rows and without them (issue 16): the moments DuckDB and Dask
compute from a table equal the moments of its rows in pandas, and a feature that needs the
rows says so through one Design.require_rows, naming the feature, where the rows are and
the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design import build_design
from hbr.errors import OptionError
from hbr.sources import stats_design

dd = pytest.importorskip("dask.dataframe")

FORMULA = "y ~ x + log(u) + (1 + x | g)"


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(5)
    n = 500
    d = pd.DataFrame({"y": rng.normal(3.0, 2.0, n), "x": rng.normal(1.0, 0.5, n),
                      "u": rng.uniform(1.0, 9.0, n), "g": rng.choice(list("abcdefgh"), n)})
    path = tmp_path_factory.mktemp("moments") / "t.parquet"
    d.to_parquet(path)
    return d, str(path)


def test_moments_of_statistics_equal_moments_of_rows(table) -> None:
    d, path = table
    rows = build_design(FORMULA, d).moments
    for source in (path, dd.from_pandas(d, npartitions=4)):
        got = stats_design(FORMULA, source).moments
        assert got.n_obs == rows.n_obs == len(d)
        np.testing.assert_allclose([got.y_mean, got.y_sd], [rows.y_mean, rows.y_sd],
                                   rtol=1e-12)
        np.testing.assert_allclose(got.x_mean, rows.x_mean, rtol=1e-12, atol=1e-15)
        # the intercept column is constant: sd 1 by convention on both sides
        np.testing.assert_allclose(got.x_sd, rows.x_sd, rtol=1e-12)
        for a, b in zip(got.z_sd, rows.z_sd, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    # the start scales: population sds of the rows (ddof 0), sqrt((n-1)/n) of the sample sd
    np.testing.assert_allclose(rows.start_y_sd, rows.y_sd * np.sqrt((len(d) - 1) / len(d)),
                               rtol=1e-12)


def test_a_feature_that_needs_rows_names_itself_the_engine_and_the_fix(table) -> None:
    d, path = table
    design = stats_design(FORMULA, path)
    assert not design.has_rows and design.engine == "duckdb"
    with pytest.raises(OptionError, match=r"cv='logo' needs the fitted rows in memory, but "
                       r"they stayed in the files \(duckdb statistics\); use cv='loo'"):
        design.require_rows("cv='logo'", instead="use cv='loo'")
    design = stats_design(FORMULA, dd.from_pandas(d, npartitions=2))
    with pytest.raises(OptionError, match=r"stayed in the Dask DataFrame \(dask statistics\); "
                       r"read the table with pandas"):
        design.require_rows("this model")
    build_design(FORMULA, d).require_rows("anything")  # rows in memory: nothing to refuse
    with pytest.raises(OptionError, match=r"log_likelihood=True needs the fitted rows"):
        hbr.fit("y ~ x + (1 | g)", path, engine="duckdb", log_likelihood=True, draws=10,
                tune=10, chains=1)
