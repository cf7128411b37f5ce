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


class _H5netcdfFile:
    """The reference: the same groups written through h5netcdf (hbr's writer before issue
    17's last step), with :class:`hbr.posterior.netcdf._File`'s three methods."""

    def __init__(self, path) -> None:
        import h5netcdf

        self.f = h5netcdf.File(str(path), "w")

    @staticmethod
    def attrs(obj, attrs) -> None:
        obj.attrs.update(attrs)

    def close(self) -> None:
        self.f.close()

    def group(self, name, values, dims, coords, attrs, sampled) -> None:
        import h5py

        g = self.f.create_group(name)
        g.attrs.update(attrs)
        lead = ["chain", "draw"] if sampled else []
        var_dims = {v: lead + list(dims.get(v) or [f"{v}_dim_{i}" for i in
                                                    range(a.ndim - len(lead))])
                    for v, a in values.items()}
        sizes = {}
        for var, a in values.items():
            sizes.update(zip(var_dims[var], a.shape))
        for dim, n in sizes.items():
            g.dimensions[dim] = n
            c = np.asarray(coords[dim]) if dim in coords else np.arange(n)
            if c.dtype.kind in "OUS":
                g.create_variable(dim, (dim,), dtype=h5py.string_dtype())[...] = \
                    c.astype(str).astype(object)
            else:
                g.create_variable(dim, (dim,), data=c)
        for var, a in values.items():
            a = np.asarray(a)
            if a.dtype == bool:
                g.create_variable(var, var_dims[var], data=a.astype(np.int8)).attrs["dtype"] = \
                    "bool"
            elif a.dtype.kind == "f":
                g.create_variable(var, var_dims[var], data=a, fillvalue=np.nan)
            else:
                g.create_variable(var, var_dims[var], data=a)


def _plain(x):
    """Nested lists with NaN as a string (NaN != NaN would fail equal layouts)."""
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return "NaN" if isinstance(x, float) and x != x else x


def _layout(path) -> dict:
    """Every group, dataset and attribute of an HDF5 file, with dimension-scale references
    resolved to names; values as lists (``created_at`` and ``_NCProperties`` left out)."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        def attrs(obj):
            got = {}
            for k in obj.attrs:
                v = obj.attrs[k]
                if k == "DIMENSION_LIST":
                    v = [[f[r].name for r in refs] for refs in v]
                elif k == "REFERENCE_LIST":
                    v = sorted((f[r].name, int(i)) for r, i in v)
                elif k in ("created_at", "_NCProperties"):
                    continue
                got[k] = (np.asarray(v).dtype.str, _plain(np.asarray(v, dtype=object).tolist()))
            return got

        out["/"] = ("root", attrs(f))

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.shape, obj.dtype.str, repr(obj.fillvalue), obj.chunks,
                             obj.maxshape, _plain(np.asarray(obj[()], dtype=object).tolist()),
                             attrs(obj))
            else:
                out[name] = ("group", attrs(obj), list(obj))
        f.visititems(visit)
    return out


@pytest.mark.parametrize("formula, kwargs", CASES + [
    ("y ~ x + (1 | g)", {"effect_draws": "drop", "log_likelihood": True})])
def test_the_h5py_writer_writes_what_h5netcdf_wrote(formula, kwargs, tmp_path) -> None:
    """Two implementations of one layout: every group, dataset (shape, dtype, fill value,
    chunks, values) and attribute (dimension ids, scales and their references, encodings)
    is the same, and netCDF-C (the netCDF4 package) reads the file."""
    import netCDF4

    from hbr.posterior.netcdf import _File, _write

    fit = hbr.fit(formula, _data(), seed=4, chains=2, draws=30, tune=60, **kwargs)
    _write(fit.draws, _File(str(tmp_path / "h5py.nc")))
    _write(fit.draws, _H5netcdfFile(tmp_path / "h5netcdf.nc"))
    mine, ref = _layout(tmp_path / "h5py.nc"), _layout(tmp_path / "h5netcdf.nc")
    assert list(mine) == list(ref)  # the same objects in the same (creation) order
    for name in ref:
        assert mine[name] == ref[name], name
    with netCDF4.Dataset(tmp_path / "h5py.nc") as nc:
        post = nc.groups["posterior"]
        assert post.dimensions["chain"].size == 2 and post.dimensions["draw"].size == 30
        np.testing.assert_array_equal(post.variables["Intercept"][:].data,
                                      fit.draws.posterior["Intercept"])
        assert set(nc.groups) == set(ref_groups(tmp_path / "h5netcdf.nc"))


def ref_groups(path) -> list[str]:
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        return list(nc.groups)


def test_a_layout_difference_is_caught(tmp_path) -> None:
    """Negative control: a writer that forgets one dimension id is told apart."""
    from hbr.posterior.netcdf import _File, _write

    class Forgetful(_File):
        def group(self, *a, **k) -> None:
            super().group(*a, **k)
            g = self.f[a[0]]
            del g[next(iter(g))].attrs["_Netcdf4Coordinates"]

    fit = hbr.fit("y ~ x + (1 | g)", _data(), seed=4, chains=2, draws=30, tune=60)
    _write(fit.draws, Forgetful(str(tmp_path / "a.nc")))
    _write(fit.draws, _File(str(tmp_path / "b.nc")))
    assert _layout(tmp_path / "a.nc") != _layout(tmp_path / "b.nc")
