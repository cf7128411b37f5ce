"""Fit.to_netcdf writes the draws with h5netcdf directly (hbr.posterior.netcdf, issue 17):
``arviz.from_netcdf`` reads back, group by group, exactly what ArviZ's own
``InferenceData.to_netcdf`` writes (values, dtypes, dims, coords, attrs), for models with
and without correlations, labelled fixed effects, a second formula, a pointwise log
likelihood, and rows out of core (no observed data); and hbr.load_fit reads it. The
reference is ArviZ's writing of the same InferenceData with the log likelihood and the
predictive draws as float32 (hbr's documented encoding); the posterior stays float64."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hbr
from hbr.posterior.netcdf import write_draws


def _arviz_reference(fit, path) -> None:
    """ArviZ's own to_netcdf of the fit's InferenceData, with the groups hbr writes as
    float32 cast by xarray here (not by hbr's helper)."""
    idata = fit.idata
    groups = {g: idata[g] for g in idata.groups()}
    for g in ("log_likelihood", "posterior_predictive"):
        if g in groups:
            groups[g] = groups[g].astype(np.float32, keep_attrs=True)
    az.InferenceData(attrs=dict(idata.attrs), **groups).to_netcdf(str(path))

az = pytest.importorskip("arviz")


def _data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, J = 240, 12
    g = rng.integers(0, J, n)
    x = rng.normal(size=n)
    c = rng.choice(["lo", "mid", "hi"], n)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.7, J)[g] + (c == "hi") + rng.normal(0, 1.0, n)
    return pd.DataFrame({"y": y, "x": x, "c": c, "g": [f"g{j:02d}" for j in g],
                         "b": (y > 1.2).astype(int)})


CASES = [
    ("y ~ x + (x | g)", {}),
    ("y ~ C(c) + x + (1 | g)", {"log_likelihood": True}),
    (["y ~ x + (1 | g)", "sigma ~ x"], {}),
    ("b ~ x + (1 | g)", {"family": "bernoulli", "log_likelihood": True}),
]


def _same(a_path, b_path) -> None:
    a, b = az.from_netcdf(a_path), az.from_netcdf(b_path)
    assert a.groups() == b.groups()
    for g in a.groups():
        da, db = a[g], b[g]
        assert "created_at" in db.attrs and db.attrs["arviz_version"] == az.__version__
        for ds in (da, db):
            ds.attrs.pop("created_at", None)
        xr.testing.assert_identical(da, db)
    assert dict(a.attrs) == dict(b.attrs) if hasattr(a, "attrs") else True


@pytest.mark.parametrize("formula, kwargs", CASES)
def test_direct_netcdf_reads_back_as_arviz_writes_it(formula, kwargs, tmp_path) -> None:
    data = _data()
    fit = hbr.fit(formula, data, seed=4, chains=2, draws=40, tune=80, **kwargs)
    fit.to_netcdf(tmp_path / "direct.nc")
    assert "idata" not in fit.__dict__  # written without building the InferenceData
    _arviz_reference(fit, tmp_path / "arviz.nc")
    _same(tmp_path / "arviz.nc", tmp_path / "direct.nc")
    back = hbr.load_fit(tmp_path / "direct.nc", data=data)
    np.testing.assert_array_equal(back.draws.posterior["1|g"], fit.draws.posterior["1|g"])
    assert back.summary().equals(fit.summary())


def test_a_fit_out_of_core_has_no_observed_data_and_reads_back_the_same(tmp_path) -> None:
    d = _data(1)
    d.to_parquet(tmp_path / "t.parquet")
    fit = hbr.fit("y ~ x + (1 | g)", tmp_path / "t.parquet", engine="duckdb", seed=2,
                  chains=2, draws=40, tune=80, log_likelihood=False)
    write_draws(fit.draws, tmp_path / "direct.nc")
    _arviz_reference(fit, tmp_path / "arviz.nc")
    _same(tmp_path / "arviz.nc", tmp_path / "direct.nc")
    assert "observed_data" not in az.from_netcdf(tmp_path / "direct.nc").groups()


def test_names_with_a_slash_survive_the_file(tmp_path) -> None:
    """netCDF reads "/" as a path, so ``a/b`` would land in a group "a" and vanish from the
    posterior; it is written with U+2215 and hbr.load_fit gives the name back (issue 23)."""
    d = _data(2).rename(columns={"x": "a/b", "g": "g/h"})
    fit = hbr.fit("y ~ `a/b` + (1 | `g/h`)", d, seed=3, chains=2, draws=30, tune=60)
    assert "a/b" in fit.draws.posterior and "1|g/h" in fit.draws.posterior
    fit.idata  # built: the file is still written from the draws, whose names need encoding
    fit.to_netcdf(tmp_path / "f.nc")
    raw = az.from_netcdf(tmp_path / "f.nc")
    assert "a\u2215b" in raw.posterior and "1|g\u2215h" in raw.posterior
    back = hbr.load_fit(tmp_path / "f.nc", data=d)
    assert set(back.draws.posterior) == set(fit.draws.posterior)
    np.testing.assert_array_equal(back.draws.posterior["a/b"], fit.draws.posterior["a/b"])
    np.testing.assert_array_equal(back.draws.posterior["1|g/h"], fit.draws.posterior["1|g/h"])
    assert back.summary().equals(fit.summary())


def test_log_likelihood_and_predictive_draws_are_float32_on_disk(tmp_path) -> None:
    """Half the bytes for the N-numbers-a-draw groups; the posterior stays float64 (a loaded
    fit's draws are the fit's, bit for bit) and LOO of the loaded fit agrees with the
    original's to float32 rounding, far inside its se."""
    data = _data(3)
    fit = hbr.fit("y ~ x + (1 | g)", data, seed=5, chains=2, draws=200, tune=200,
                  log_likelihood=True)
    fit.sample_posterior_predictive(seed=1)  # builds idata with a posterior_predictive group
    fit.to_netcdf(tmp_path / "a.nc")
    write_draws(fit.draws, tmp_path / "b.nc")  # the other writer: no predictive group
    raw = az.from_netcdf(tmp_path / "a.nc")
    assert raw.log_likelihood["y"].dtype == np.float32
    assert raw.posterior_predictive["y"].dtype == np.float32
    assert raw.posterior["x"].dtype == np.float64 and raw.observed_data["y"].dtype == np.float64
    assert az.from_netcdf(tmp_path / "b.nc").log_likelihood["y"].dtype == np.float32
    assert fit.idata.log_likelihood["y"].dtype == np.float64  # in memory: unchanged
    back = hbr.load_fit(tmp_path / "a.nc", data=data)
    assert back.draws.log_lik.dtype == np.float64
    np.testing.assert_array_equal(back.draws.posterior["x"], fit.draws.posterior["x"])
    np.testing.assert_allclose(back.draws.log_lik, fit.draws.log_lik, rtol=2e-7, atol=1e-6)
    a, b = fit.loo(), back.loo()
    assert abs(a.elpd - b.elpd) < 1e-3 * a.se
