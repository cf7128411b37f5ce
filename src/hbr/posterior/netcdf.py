"""Write a fit's :class:`~hbr.posterior.draws.Draws` as the netCDF file ArviZ writes, without
ArviZ or xarray (issue 17).

``InferenceData.to_netcdf`` needs ArviZ imported (1.1 s on this machine), an InferenceData
built (0.3-0.5 s on Minnesota radon) and, by default, zlib on every variable: 1.2 s for
radon's 31 MB against 0.2 s uncompressed, for files 13% smaller (posterior draws are
random digits; they hardly compress). :func:`write_draws` writes the same groups, variables,
dimensions, coordinates and attributes uncompressed, with h5py directly in the layout
h5netcdf writes (:class:`_File`), in ~0.1 s; ``arviz.from_netcdf`` reads back what
``InferenceData.to_netcdf`` would have written (tests/posterior/test_netcdf.py compares the
two, group by group, and this writer with h5netcdf's, attribute by attribute).

On disk the pointwise log likelihood and the predictive draws (groups
:data:`COMPACT_GROUPS`) are float32, half the bytes: they are N numbers a draw, the bulk of
a file (seed 002: 290 MB of 9.3k rows), and float32's 7 digits exceed what they are used
for (a log likelihood of -3.2 to 1e-6 moves elpd_loo by N 1e-6, far inside its se;
predictive draws feed plots and intervals). They are read back as float64, so LOO and the
checks compute in float64. The posterior draws, sample statistics and observed data stay
float64: they are the fit itself, and a loaded fit must give the same numbers, draw for draw,
as the fit that wrote it (same seed, same draws).

The layout is ArviZ's: groups ``posterior``, ``log_likelihood`` (when kept),
``sample_stats`` and ``observed_data``; dimensions ``chain`` and ``draw`` then the variable's
own (``dims``, or ``<name>_dim_<i>``), each with its coordinate variable; xarray's encodings
(``_FillValue = NaN`` on floats, booleans as int8 with ``dtype = "bool"``); ``attrs`` on the
root and on posterior, sample_stats and observed_data, with ``created_at`` and
``arviz_version`` on every group. A fit with ``effect_draws="drop"`` adds a group
``effect_summary`` (dimension ``effect``, the row labels; variables ``mean``, ``sd`` and
``r_hat``), which ArviZ reads as one more group. A name with "/" (a
backticked column ``a/b``) is written with U+2215 instead, mapped back on load
(:data:`NAMES_ATTR`).
"""

from __future__ import annotations

import datetime
import json
import os
from importlib import metadata
from typing import Any

import numpy as np

from hbr.posterior.draws import Draws
from hbr.posterior.rao_blackwell import SUMMARY_GROUP, SUMMARY_STORED

__all__ = ["write_draws", "encoded_names", "decode_names", "compact", "NAMES_ATTR",
           "COMPACT_GROUPS"]

COMPACT_GROUPS = ("log_likelihood", "posterior_predictive", "prior_predictive")

# netCDF (HDF5) reads "/" in a name as a path: a variable "a/b" would be written as a
# variable "b" in a group "a", and be lost to every reader. Such names are written with
# U+2215 (DIVISION SLASH) instead, and this attribute maps them back (hbr.load_fit does).
NAMES_ATTR = "netcdf_names"
_SLASH = "\u2215"


def encoded_names(draws: Draws) -> dict[str, str]:
    """``{written name: name}`` for every variable or dimension name of ``draws`` that
    netCDF cannot hold as it is (empty for most fits)."""
    names = {*draws.posterior, *draws.stats, *draws.observed, *draws.coords}
    names |= {d for ds in draws.dims.values() for d in ds}
    return {n.replace("/", _SLASH): n for n in sorted(names) if "/" in n}


def decode_names(idata: Any) -> Any:
    """``idata`` (read by ``arviz.from_netcdf``) with the names :func:`write_draws` encoded
    given back."""
    groups = idata.groups()
    attrs = idata.posterior.attrs if "posterior" in groups else {}
    if NAMES_ATTR not in attrs:
        return idata
    return idata.rename(json.loads(str(attrs[NAMES_ATTR])))


def _encode(values: dict[str, Any], back: dict[str, str]) -> dict[str, Any]:
    """``values`` keyed by their written names (``back``: name -> written name)."""
    return {back.get(k, k): v for k, v in values.items()}


def compact(idata: Any) -> Any:
    """``idata`` with the floating-point variables of :data:`COMPACT_GROUPS` as float32 (a
    new InferenceData sharing the other groups; ``idata`` itself is unchanged)."""
    import arviz as az

    def f32(ds: Any) -> Any:
        return ds.map(lambda v: v.astype(np.float32) if v.dtype.kind == "f" else v,
                      keep_attrs=True)
    groups = {g: (f32(idata[g]) if g in COMPACT_GROUPS else idata[g]) for g in idata.groups()}
    out = az.InferenceData(attrs=dict(getattr(idata, "attrs", {}) or {}), **groups)
    for g in out.groups():  # the groups' attributes (created_at, arviz_version) as they were
        out[g].attrs.update(idata[g].attrs)
    return out


def _arviz_version() -> str:
    try:
        return metadata.version("arviz")
    except metadata.PackageNotFoundError:  # pragma: no cover - arviz is a dependency
        return ""


class _File:
    """An HDF5 file written as netCDF-4, the layout h5netcdf 1.8 writes (the netCDF-C
    library and xarray read it): creation order tracked, every dimension a coordinate
    variable that is an HDF5 dimension scale with a file-wide ``_Netcdf4Dimid``, variables
    with their scales attached and ``_Netcdf4Coordinates``. With h5py directly: h5netcdf
    looked up groups and scales ~900 times for radon's 39 datasets, 0.12 of its 0.19 s,
    while the summary waited for the interpreter (tests/posterior/test_netcdf.py compares
    the two writers attribute by attribute)."""

    def __init__(self, path: str) -> None:
        import h5py

        self.h5py = h5py
        self.f = h5py.File(path, "w", track_order=True)
        self.dimid = -1

    @staticmethod
    def attrs(obj: Any, attrs: dict[str, Any]) -> None:
        for k, v in attrs.items():  # h5netcdf's encoding: numbers as 1-element arrays
            dtype = np.asarray(v).dtype
            obj.attrs[k] = np.atleast_1d(v) if np.isscalar(v) and dtype.kind not in "SU" \
                else v

    def close(self) -> None:
        from hbr import __version__

        h5py = self.h5py
        props = (f"version=2,hbr={__version__},hdf5={h5py.version.hdf5_version},"
                 f"h5py={h5py.__version__}")
        self.f.attrs["_NCProperties"] = np.array(
            props, dtype=h5py.string_dtype(encoding="ascii", length=len(props)))
        self.f.close()

    def group(self, name: str, values: dict[str, np.ndarray], dims: dict[str, list[str]],
              coords: dict[str, Any], attrs: dict[str, Any], sampled: bool) -> None:
        g = self.f.create_group(name, track_order=True)
        self.attrs(g, attrs)
        lead = ["chain", "draw"] if sampled else []
        var_dims: dict[str, list[str]] = {}
        for var, a in values.items():
            own = dims.get(var) or [f"{var}_dim_{i}" for i in range(a.ndim - len(lead))]
            var_dims[var] = lead + list(own)
        sizes: dict[str, int] = {}
        for var, a in values.items():
            sizes.update(zip(var_dims[var], a.shape))
        scales, ids = {}, {}
        for dim, n in sizes.items():  # each dimension with its coordinate variable
            self.dimid += 1
            c = np.asarray(coords[dim]) if dim in coords else np.arange(n)
            if c.dtype.kind in "OUS":
                ds = g.create_dataset(dim, (n,), dtype=self.h5py.string_dtype(),
                                      data=c.astype(str).astype(object), track_order=True)
            else:
                ds = g.create_dataset(dim, data=c, track_order=True)
            ds.attrs["_Netcdf4Dimid"] = np.array(self.dimid, dtype=np.int32)
            ds.make_scale(dim)
            ds.attrs["_Netcdf4Coordinates"] = np.array([self.dimid], dtype=np.int32)
            scales[dim], ids[dim] = ds, self.dimid
        for var, a in values.items():
            a = np.asarray(a)
            fill, boolean = None, a.dtype == bool
            if boolean:  # netCDF has no booleans: xarray's encoding, decoded on read
                a = a.astype(np.int8)
            elif a.dtype.kind == "f":
                fill = a.dtype.type(np.nan)
            ds = g.create_dataset(var, data=a, fillvalue=fill, track_order=True)
            for i, dim in enumerate(var_dims[var]):
                ds.dims[i].attach_scale(scales[dim])
            ds.attrs["_Netcdf4Coordinates"] = np.array([ids[d] for d in var_dims[var]],
                                                       dtype=np.int32)
            ds.attrs["_Netcdf4Dimid"] = np.array(ids[var_dims[var][0]], dtype=np.int32)
            if fill is not None:
                ds.attrs["_FillValue"] = np.atleast_1d(fill)
            if boolean:
                ds.attrs["dtype"] = "bool"


def write_draws(draws: Draws, path: str | os.PathLike[str]) -> None:
    """Write ``draws`` to ``path`` (a new file) in ArviZ's netCDF layout; see the module
    docstring. Open it with ``arviz.from_netcdf`` or :func:`hbr.load_fit`."""
    _write(draws, _File(os.fspath(path)))


def _write(draws: Draws, f: Any) -> None:
    """The groups of ``draws`` through ``f`` (a :class:`_File`, or in the tests h5netcdf's
    writer with the same three methods), which is closed at the end."""
    stamp = {"created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
             "arviz_version": _arviz_version()}
    mapping = encoded_names(draws)
    attrs = {**draws.attrs, **({NAMES_ATTR: json.dumps(mapping)} if mapping else {})}
    full = {**stamp, **attrs}
    back = {v: k for k, v in mapping.items()}
    dims = {back.get(k, k): [back.get(d, d) for d in v] for k, v in draws.dims.items()}
    coords = _encode(draws.coords, back)
    observed = _encode(draws.observed, back)
    try:
        f.attrs(f.f, attrs)
        f.group("posterior", _encode(draws.posterior, back), dims, coords, full, True)
        if draws.log_lik is not None:
            f.group("log_likelihood", {next(iter(observed)):
                                       np.asarray(draws.log_lik, dtype=np.float32)},
                    dims, coords, stamp, True)
        f.group("sample_stats", _encode(draws.stats, back), dims, coords, full, True)
        if observed:
            f.group("observed_data", observed, dims, coords, full, False)
        rb = draws.effect_summary
        if rb is not None:  # effect_draws="drop": the group effects' summary rows
            f.group(SUMMARY_GROUP, {c: rb[c].to_numpy() for c in SUMMARY_STORED},
                    {c: ["effect"] for c in SUMMARY_STORED},
                    {"effect": rb.index.to_numpy()}, stamp, False)
    finally:
        f.close()
