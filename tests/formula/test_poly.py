"""``poly(x, d)``: R's orthogonal polynomials, their recurrence remembered for new rows, read
the same by pandas, DuckDB and Dask. The numbers are R 4.x's (``poly``, ``predict.poly``),
written here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.design.newdata import new_rows
from hbr.errors import DataError

X_TRAIN = [1.5, 2, 3.7, 4, 5.5, 8, 9.1, 10]
X_NEW = [0, 2.5, 12]
# R: p <- poly(x, 3); unclass(p)
R_POLY = [[-0.464618421959843486, 0.48119271398474195, -0.337784994927826765],
          [-0.406175853159863265, 0.26582931129801113, 0.018167760773838474],
          [-0.207471119239930113, -0.26591679450397782, 0.377295057011759027],
          [-0.172405577959941936, -0.32759025756001381, 0.340010101604523884],
          [0.002922128439999058, -0.49121919022018840, -0.073331694120011739],
          [0.295134972439900722, -0.22786599420934758, -0.574059837959410624],
          [0.423708623799857409, 0.10029237321143036, -0.236751998496145782],
          [0.528905247639821940, 0.46527783799934369, 0.486455606113273764]]
# R: predict(p, c(0, 2.5, 12))
R_PREDICT = [[-0.63994612835978459, 1.288103347178274571, -2.35387793677681989],
             [-0.34773328435988293, 0.077269312800170173, 0.24598280668050487],
             [0.76267552283974338, 1.587276137230273276, 4.08962314240059488]]
# R: attr(p, "coefs")
R_ALPHA = (5.4749999999999996, 6.0599272491290392, 5.1784255024131927)
R_NORM2 = (1.0, 8.0, 73.194999999999979, 347.984658487601564, 1747.579345858468514)


def _table() -> pd.DataFrame:
    return pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 4.8, 6.3, 7.1, 7.7], "x": X_TRAIN,
                         "g": list("abababab")})


def test_poly_columns_and_coefficients_are_rs() -> None:
    d = build_design("y ~ poly(x, 3)", _table())
    assert d.fixed_names == ("Intercept", "poly(x,3)[1]", "poly(x,3)[2]", "poly(x,3)[3]")
    np.testing.assert_allclose(d.X[:, 1:], R_POLY, rtol=0, atol=1e-13)
    alpha, norm2 = d.memo["poly:x:3"]
    np.testing.assert_allclose(alpha, R_ALPHA, rtol=1e-13)
    np.testing.assert_allclose(norm2, R_NORM2, rtol=1e-13)


def test_poly_on_new_rows_is_rs_predict() -> None:
    d = build_design("y ~ poly(x, 3) + (poly(x, 3) | g)", _table())
    rows = new_rows(d, pd.DataFrame({"x": X_NEW, "g": ["a", "b", "a"]}))
    np.testing.assert_allclose(rows.X[:, 1:], R_PREDICT, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rows.Z[0][:, 1:], R_PREDICT, rtol=0, atol=1e-12)


def test_raw_poly_is_the_powers_and_r_spellings_parse() -> None:
    t = _table()
    a = build_design("y ~ poly(x, 2, raw = TRUE)", t)
    b = build_design("y ~ x + I(x^2)", t)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.fixed_names == ("Intercept", "poly(x,2,raw=True)[1]", "poly(x,2,raw=True)[2]")
    c = build_design("y ~ poly(x, degree = 2)", t)
    np.testing.assert_array_equal(c.X, build_design("y ~ poly(x, 2)", t).X)


def test_poly_interacts_with_a_categorical() -> None:
    t = _table()
    d = build_design("y ~ C(g) + C(g):poly(x, 2)", t)
    basis = build_design("y ~ poly(x, 2)", t).X[:, 1:]
    ga = (t["g"] == "a").to_numpy()
    j = d.fixed_names.index("C(g):poly(x,2)[a, 2]")
    np.testing.assert_allclose(d.X[:, j], basis[:, 1] * ga)


@pytest.mark.filterwarnings("ignore::hbr.errors.DiagnosticsWarning")  # algebra: 8 rows
def test_a_fit_predicts_new_rows_with_rs_basis() -> None:
    """The whole path: fit, then predict new x; the linear predictor is the draws' own
    coefficients times R's predict() basis."""
    t = _table()
    fit = hbr.fit("y ~ poly(x, 3)", t, chains=2, draws=300, tune=500, seed=3, progress=False)
    eta = fit.predict(pd.DataFrame({"x": X_NEW}), kind="link")
    post = fit.posterior
    assert list(post["poly(x,3)"].coords["poly(x,3)_dim"].values) == ["1", "2", "3"]
    b = np.concatenate([post["Intercept"].values[..., None], post["poly(x,3)"].values], axis=-1)
    want = np.einsum("cdk,nk->cdn", b, np.column_stack([np.ones(3), R_PREDICT]))
    np.testing.assert_allclose(eta.reshape(want.shape), want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("text, match", [
    ("y ~ poly(x)", "takes a column or expression and a degree"),
    ("y ~ poly(x, 0)", "whole number of at least 1"),
    ("y ~ poly(x, 2.5)", "whole number of at least 1"),
    ("y ~ poly(x, k)", "whole number of at least 1"),
    ("y ~ poly(x, 2, raw=3)", "takes True or False"),
    ("y ~ I(poly(x, 2))", "a term of its own"),
    ("y ~ log(poly(x, 2))", "a term of its own"),
    ("y ~ poly(g, 2)", "categorical"),
    ("y ~ poly(k, 2)", r"poly\(k, 2\) needs at least 3 distinct values of k, but it takes 2"),
    ("y ~ pol(x, 2)", "did you mean poly"),
])
def test_poly_misuse_is_a_caret_error(text: str, match: str) -> None:
    t = _table().assign(k=[1.0, 2.0] * 4)
    with pytest.raises(DataError, match=match) as err:
        build_design(text, t)
    assert "^" in str(err.value)


def test_out_of_core_readers_learn_the_same_poly(tmp_path) -> None:
    """DuckDB (one query a degree) and Dask (one pass a degree) code poly as pandas does."""
    dd = pytest.importorskip("dask.dataframe")
    from hbr.sources.dask import dask_statistics
    from hbr.sources.duckdb import duckdb_statistics

    rng = np.random.default_rng(0)
    n = 300
    t = pd.DataFrame({"y": rng.normal(size=n), "x": rng.uniform(1, 10, n),
                      "g": rng.choice(list("abcd"), n)})
    path = tmp_path / "t.csv"
    t.to_csv(path, index=False)
    f = "y ~ poly(x, 3) + C(g):poly(log(x), 2, raw=TRUE) + (poly(center(x), 2) | g)"
    des = build_design(f, t)
    for ts in (duckdb_statistics(f, path), dask_statistics(f, dd.from_pandas(t, npartitions=3))):
        assert ts.fixed_names == tuple(des.fixed_names)
        for key in ("poly:x:3", "poly:center(x):2"):
            np.testing.assert_allclose(np.concatenate(ts.memo[key]),
                                       np.concatenate(des.memo[key]), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ts.x_mean, des.X.mean(axis=0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ts.x_sd, des.X.std(axis=0, ddof=1), rtol=1e-9)
