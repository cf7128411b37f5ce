"""LOO with the rows streamed in chunks (hbr.checks.loo, issue 4).

- Streaming every row reproduces PSIS-LOO of the stored log likelihood exactly, for
  several families and for se()/sigma formulas, whatever the chunk sizes.
- A fit out of core (DuckDB files, Dask) gets LOO by reading its files again; it equals the
  dense computation from the same draws on the pandas table.
- The subsample's difference estimator is unbiased and its standard error calibrated (a
  simulation over 2000 samples of a finite population), and on a real fit it lands within
  its standard error of the full value.
- compare() pairs models on the same rows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hbr
import hbr.sources.stream as hstream
import hbr.checks.loo as hloo
from hbr.design.newdata import new_rows
from hbr.checks.diagnostics import psis_loo
from hbr.errors import DataError, HbrWarning, OptionError
from hbr.checks.loo import elpd_difference, loo, subsample_estimate

FAST = dict(chains=2, draws=300, tune=300, seed=3)


def _table(n: int = 1500, J: int = 25, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, J, n)
    x = rng.normal(size=n)
    c = rng.choice(["a", "b"], n)
    y = (1 + 0.5 * x + 0.3 * (c == "b") + rng.normal(0, 0.5, J)[g]
         + rng.normal(0, 0.3, J)[g] * x + rng.normal(0, 0.8, n))
    return pd.DataFrame({"y": y, "x": x, "c": c, "g": g, "s": rng.uniform(0.2, 0.6, n),
                         "k": rng.poisson(np.exp(0.3 + 0.2 * x)), "h": g % 4})


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 170 rows to read and 5 rows of log likelihood at a time."""
    monkeypatch.setattr(hstream, "SCAN_ROWS", 170)
    monkeypatch.setattr(hloo, "CHUNK_NUMBERS", 5 * 2 * 300)


@pytest.mark.parametrize("formula,kw", [
    ("y ~ x + C(c) + (x | g)", {}),
    (["y | se(s, sigma=True) ~ x + (1 | g) + (1 | h)", ], {}),
    (["y ~ x + (1 | g)", "sigma ~ C(c)"], {}),
    ("k ~ x + (1 | g)", {"family": "poisson"}),
    ("y ~ x + (1 | g)", {"family": "student_t"}),
])
def test_streaming_every_row_equals_psis_of_the_stored_log_likelihood(
        small_chunks, formula, kw) -> None:
    d = _table()
    f = hbr.fit(formula, d, **FAST, **kw)
    r = loo(f, sample="all")
    ref = psis_loo(f.draws.log_lik)
    assert not r.subsampled and r.subsampling_se == 0
    np.testing.assert_allclose(r.pointwise, ref["pointwise"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.pareto_k, ref["pareto_k"], rtol=0, atol=1e-9)
    assert r.elpd == pytest.approx(ref["elpd"], abs=1e-8)
    assert r.se == pytest.approx(ref["se"], rel=1e-9)
    assert r.p_loo == pytest.approx(ref["p_loo"], abs=1e-8)
    # the same through the table (coded again) instead of the stored design
    r2 = loo(f, d, sample="all")
    np.testing.assert_allclose(r2.pointwise, r.pointwise, rtol=0, atol=1e-9)


def test_difference_estimator_is_unbiased_and_its_se_calibrated() -> None:
    """A finite population of N pointwise values e_i with a correlated approximation a_i:
    over 2000 simple random samples of m rows the estimate of sum(e) is unbiased and
    |estimate - truth| <= 1.96 subsampling_se about 95% of the time."""
    rng = np.random.default_rng(0)
    N, m, reps = 20_000, 400, 2000
    a = -1.0 - rng.gamma(2.0, 0.5, N)
    e = a - 0.02 - np.abs(rng.normal(0, 0.05, N)) * (1 - a)  # e_i < a_i, heteroscedastic
    truth = e.sum()
    lpd = e + 0.01
    z = np.empty(reps)
    for r in range(reps):
        i = rng.choice(N, m, replace=False)
        est = subsample_estimate(e[i], a[i], lpd[i], N, a.sum(), (a**2).sum())
        z[r] = (est["elpd"] - truth) / est["subsampling_se"]
    # mean of z: 0 within 4 standard errors of the mean; coverage: 0.95 within 4 binomial sd
    assert abs(z.mean()) < 4 / np.sqrt(reps)
    cover = np.mean(np.abs(z) <= 1.96)
    assert abs(cover - 0.95) < 4 * np.sqrt(0.95 * 0.05 / reps)
    # every row: the plain sum and ArviZ's se
    full = subsample_estimate(e, e, lpd, N, e.sum(), (e**2).sum())
    assert full["elpd"] == pytest.approx(truth) and full["subsampling_se"] == 0
    assert full["se"] == pytest.approx(np.sqrt(N * e.var()))


def test_a_subsample_of_a_real_fit_is_within_its_error(small_chunks) -> None:
    d = _table(n=3000)
    f = hbr.fit("y ~ x + C(c) + (x | g)", d, **FAST)
    g = hbr.fit("y ~ x + C(c)", d, **FAST)
    full_f, full_g = loo(f, sample="all"), loo(g, sample="all")
    sub_f, sub_g = loo(f, sample=300, seed=5), loo(g, sample=300, seed=5)
    assert sub_f.subsampled and len(sub_f.rows) == 300
    assert abs(sub_f.elpd - full_f.elpd) < 4 * sub_f.subsampling_se
    # the plug-in is close to e_i: the error is a small fraction of a plain random
    # sample's, N sqrt((1 - m/N) Var(e) / m) (114 here, against 2.3)
    srs = 3000 * np.sqrt((1 - 0.1) * full_f.pointwise.var() / 300)
    assert sub_f.subsampling_se < 0.1 * srs
    # the same seed: the same rows and the same numbers; paired differences
    again = loo(f, sample=300, seed=5)
    np.testing.assert_array_equal(again.rows, sub_f.rows)
    assert again.elpd == sub_f.elpd
    diff, se, sub = elpd_difference(sub_f, sub_g)
    full_diff, full_se, none = elpd_difference(full_f, full_g)
    assert full_diff == pytest.approx(full_f.elpd - full_g.elpd) and none == 0
    assert diff == pytest.approx(sub_f.elpd - sub_g.elpd)
    assert full_diff > 4 * full_se  # the group effects matter
    assert abs(diff - full_diff) < 4 * sub and 0.5 < se / full_se < 2
    with pytest.raises(OptionError, match="different rows"):
        elpd_difference(sub_f, loo(g, sample=300, seed=6))


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> Path:
    """_table() in three Parquet files."""
    pytest.importorskip("duckdb")
    folder = tmp_path_factory.mktemp("parts")
    d = _table()
    for i, part in enumerate(np.array_split(np.arange(len(d)), 3)):
        d.iloc[part].to_parquet(folder / f"part-{i}.parquet")
    return folder


def test_out_of_core_fits_stream_their_files_again(parts: Path, small_chunks) -> None:
    tmp_path = parts
    d = _table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbrWarning)
        f = hbr.fit("y ~ x + C(c) + (x | g)", str(tmp_path / "part-*.parquet"), **FAST)
    assert f.draws.log_lik is None and not f.spec.design.has_rows
    r = loo(f, sample="all")
    # the dense computation from the same draws on the table read by pandas
    rows = new_rows(f.spec.design, d)
    ll = hloo.row_loglik(f.spec, f.draws.posterior, rows, d.y.to_numpy())
    ref = psis_loo(ll)
    np.testing.assert_allclose(r.pointwise, ref["pointwise"], rtol=0, atol=1e-9)
    assert r.elpd == pytest.approx(ref["elpd"], abs=1e-8)
    assert np.isfinite(r.ppc_rmsd) and 0.5 < r.ppc_rmsd < 1.5
    assert loo(f, d, sample="all").elpd == pytest.approx(r.elpd, abs=1e-8)
    # the wrong table is named as such
    with pytest.raises(DataError, match="1499 rows"):
        loo(f, d.iloc[1:], sample="all")
    with pytest.raises(OptionError, match="sample"):
        loo(f, sample=1)
    # compare() of out-of-core fits: LOO streamed, same rows, paired differences
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbrWarning)
        comp = hbr.checks.compare(str(tmp_path / "part-*.parquet"),
                           {"slopes": "y ~ x + C(c) + (x | g)", "intercepts": "y ~ x + (1 | g)"},
                           **FAST)
    t = comp.table
    assert list(t.index) == ["slopes", "intercepts"] and (t.loo_rows == len(d)).all()
    assert t.elpd_diff.iloc[1] < -2 * t.se_diff.iloc[1]
    with pytest.raises(OptionError, match="logo"):
        hbr.checks.compare(None, list(comp.fits.values()), group="g", cv="logo")
    # in memory without a stored log likelihood: LOO streamed, LOGO refused by name
    mem = hbr.fit("y ~ x + (1 | g)", d, log_likelihood=False, **FAST)
    assert hbr.checks.compare(d, {"m": mem}).table.loo_rows.iloc[0] == len(d)
    with pytest.raises(OptionError, match="log_likelihood=True"):
        hbr.checks.compare(d, {"m": mem}, group="g", cv="logo")


def test_cli_compares_models_of_a_glob(parts: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hbr.cli.console import app

    res = CliRunner().invoke(app, ["compare", str(parts / "part-*.parquet"),
                                   "--model", "y ~ x + C(c) + (x | g)",
                                   "--model", "y ~ x + (1 | g)", "--out", str(tmp_path / "c"),
                                   "--chains", "2", "--draws", "300", "--tune", "300"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "(out of core)" in " ".join(res.output.split())  # rich wraps at any space
    t = pd.read_csv(tmp_path / "c" / "comparison.csv", index_col=0)
    assert t.index[0] == "y ~ x + C(c) + (x | g)" and (t.loo_rows == 1500).all()
    assert (t.subsampling_se == 0).all()
    html = (tmp_path / "c" / "report.html").read_text()
    assert "loo_rows: rows evaluated by PSIS" in html
