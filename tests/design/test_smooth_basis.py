"""s(x): the thin plate regression spline basis against mgcv's (the matrices brms fits,
printed by tests/design/mgcv/make.R), the formula syntax and the design."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hbr.design.build import build_design
from hbr.design.newdata import new_rows
from hbr.design.smooth import fit_tprs, tprs_columns
from hbr.errors import DataError, FormulaError
from hbr.formula import parse_formula

REF = Path(__file__).parent / "mgcv"


def _read(name: str) -> np.ndarray:
    return pd.read_csv(REF / name).to_numpy(dtype=float)


@pytest.mark.parametrize("tag,k", [("50", 10), ("300", 7), ("pure", 10)])
def test_basis_is_mgcvs(tag: str, k: int) -> None:
    """Column by column (up to sign, LAPACK's choice in R) the penalised part, and exactly
    the linear part: the penalty's scale (mgcv's scale.penalty, which sets what sds means)
    and the order of the columns are mgcv's, not only the spanned space."""
    x = _read(f"x{tag}.csv")[:, 0]
    Xr_R, Xf_R = _read(f"Xr{tag}.csv"), _read(f"Xf{tag}.csv")
    Xr, Xf = tprs_columns(x, fit_tprs(x, k))
    assert Xr.shape == Xr_R.shape == (x.size, k - 2) and Xf.shape == (x.size, 1)
    signs = np.sign(np.sum(Xr * Xr_R, axis=0))
    np.testing.assert_allclose(Xr * signs, Xr_R, atol=1e-9 * np.abs(Xr_R).max())
    np.testing.assert_allclose(Xf, Xf_R, atol=1e-9 * np.abs(Xf_R).max())
    # the prior covariance of f = Xr b, b ~ N(0, I), whatever the rotation
    np.testing.assert_allclose(Xr @ Xr.T, Xr_R @ Xr_R.T, atol=1e-9)


def test_new_x_are_mgcvs_prediction_matrix() -> None:
    """At new x (inside and outside the fitted range) the columns are the same functions as
    mgcv's PredictMat: one linear map takes hbr's columns at the fitted rows to mgcv's, and
    the same map does so at the new x (to rounding error)."""
    x = _read("x300.csv")[:, 0]
    new = np.array([-1.0, 2.05, 5.0, 11.3])
    P = _read("P300.csv")
    basis = fit_tprs(x, 7)
    A = np.column_stack(tprs_columns(np.concatenate([x, new]), basis))
    C = np.linalg.lstsq(A[: x.size], P[: x.size], rcond=None)[0]
    np.testing.assert_allclose(A[: x.size] @ C, P[: x.size], atol=1e-10)
    np.testing.assert_allclose(A[x.size:] @ C, P[x.size:], atol=1e-10)


def test_basis_properties() -> None:
    """Sum to zero over the rows (the intercept stays the model's), the linear column is
    x - mean(x) up to a positive scale, shifting x shifts nothing, and past 2000 distinct
    values the knots are 2000 deterministic ones."""
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 3.0, 400)
    Xr, Xf = tprs_columns(x, fit_tprs(x))
    np.testing.assert_allclose(np.column_stack([Xr, Xf]).sum(axis=0), 0.0, atol=1e-8)
    slope = np.polyfit(x - x.mean(), Xf[:, 0], 1)
    assert slope[0] > 0 and np.allclose(Xf[:, 0], slope[0] * (x - x.mean()), atol=1e-9)
    Xr2, Xf2 = tprs_columns(x + 100.0, fit_tprs(x + 100.0))
    np.testing.assert_allclose(Xr2, Xr, atol=1e-7)
    np.testing.assert_allclose(Xf2, Xf, atol=1e-9)
    big = rng.normal(size=2500)
    b1, b2 = fit_tprs(big), fit_tprs(big[::-1])
    assert b1.knots.size == 2000 and np.allclose(b1.knots, b2.knots, atol=1e-12)


def test_formula_syntax() -> None:
    f = parse_formula("y ~ x + s(z) + s(log(w), k = 5) + (1 | g)")
    assert [(m.label, m.name, m.k) for m in f.smooths] == [("s(z)", "sz_1", 10),
                                                           ("s(log(w))", "slogw_1", 5)]
    assert [t.name for t in f.terms] == ["x"]
    for bad, says in [("y ~ s(z):x", "interaction"), ("y ~ s(z, by = g)", "by = "),
                      ("y ~ s(z, k = 2)", "3 or more"), ('y ~ s(z, bs = "cr")', "thin plate"),
                      ("y ~ s(z, w)", "one covariate"), ("y ~ s(z) + s(z, k = 5)", "twice")]:
        with pytest.raises(FormulaError, match=says):
            parse_formula(bad)


def _table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x": rng.uniform(0, 10, n), "g": rng.choice(list("abcd"), n)})
    d["y"] = np.sin(d.x) + rng.normal(0, 0.3, n)
    return d


def test_design_and_new_rows() -> None:
    """The linear part is the fixed effect sx_1, the penalised part a one-level block with
    one sd; new rows at the fitted x reproduce the fitted columns."""
    d = _table()
    des = build_design("y ~ s(x) + (1 | g)", d)
    assert des.fixed_names == ("Intercept", "sx_1")
    blk = des.groups[-1]
    assert blk.smooth and blk.names == ("s_sx_1",) and blk.sd_names == ("sds_sx_1",) * 8
    assert blk.n_levels == 1 and blk.Z.shape == (len(d), 8)
    rows = new_rows(des, d.drop(columns="y").iloc[:7])
    np.testing.assert_allclose(rows.X, des.X[:7], atol=1e-12)
    np.testing.assert_allclose(rows.Z[-1], blk.Z[:7], atol=1e-12)
    assert rows.new_levels[-1] == ()


def test_errors_name_the_column_and_the_fix() -> None:
    d = _table(40)
    d["few"] = np.arange(40) % 6
    with pytest.raises(DataError, match=r"'few' has 6 distinct values.*s\(few, k = 6\)"):
        build_design("y ~ s(few)", d)
    with pytest.raises(DataError, match="unknown column 'z'"):
        build_design("y ~ s(z)", d)
    with pytest.raises(DataError, match="s\\(\\) \\(a smooth of a family parameter"):
        build_design("y ~ x", d, dpars=("sigma ~ s(x)",))
