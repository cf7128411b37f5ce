"""Fit.to_netcdf writes the draws with h5netcdf directly (hbr.posterior.netcdf, issue 17):
``arviz.from_netcdf`` reads back, group by group, exactly what ArviZ's own
``InferenceData.to_netcdf`` writes (values, dtypes, dims, coords, attrs), for models with
and without correlations, labelled fixed effects, a second formula, a pointwise log
likelihood, and rows out of core (no observed data); and hbr.load_fit reads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hbr
from hbr.posterior.netcdf import write_draws

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
    fit.idata.to_netcdf(str(tmp_path / "arviz.nc"))
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
    fit.idata.to_netcdf(str(tmp_path / "arviz.nc"))
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
