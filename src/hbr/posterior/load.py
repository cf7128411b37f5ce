"""``hbr.load_fit``: a saved fit (``posterior.nc``) and its data back into a :class:`Fit`.

The netCDF file holds the draws and, in its attributes, everything that built the model
(formulas, family, link, the priors as given, dropna, the parameterisation). The design is
rebuilt from the data, which must be the table the fit was made from: the response is
checked against the stored ``observed_data``. Predictions, plots and the report then work
as on the original fit.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hbr.errors import DataError, OptionError

__all__ = ["load_fit"]


def load_fit(path: str | os.PathLike[str], data: pd.DataFrame | str | os.PathLike[str] | None
             = None) -> Any:
    """Load a fit written by ``Fit.to_netcdf`` (or ``hbr fit --out DIR``).

    Parameters
    ----------
    path : path
        The netCDF file, or a directory holding ``posterior.nc``.
    data : DataFrame or path, optional
        The table the model was fitted to. Default: the source recorded by ``hbr fit``
        (``data_source`` attribute: a file path or ``example:radon``).

    Raises
    ------
    DataError
        The file is not an hbr fit, or the data are not those it was fitted to.
    """
    import warnings

    from hbr.api import Fit
    from hbr.design.build import build_design
    from hbr.model.spec import build_model
    from hbr.posterior.draws import as_draws, load_arviz
    from hbr.posterior.fit import ParameterizationChoice

    p = Path(path)
    nc = p / "posterior.nc" if p.is_dir() else p
    if not nc.exists():
        raise DataError(f"no fit at {str(nc)!r}; give the posterior.nc written by "
                        "Fit.to_netcdf or the directory of 'hbr fit --out DIR'")
    az = load_arviz()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = az.from_netcdf(str(nc))
    except Exception as exc:  # not netCDF, or not ArviZ's layout
        raise DataError(f"{str(nc)!r} is not an ArviZ netCDF file ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
    attrs = dict(idata.posterior.attrs)
    if attrs.get("inference_library") != "hbr" or "user_priors" not in attrs:
        raise DataError(f"{str(nc)!r} was not written by this version of hbr (no model "
                        "attributes); refit to load it")
    if attrs.get("engine") in ("duckdb", "dask"):  # the rows stayed out: recompute
        design, observed = _stats_design(attrs, nc, data), None
    else:
        if data is None:
            data = _recorded_source(attrs, nc)
        elif isinstance(data, (str, os.PathLike)):
            from hbr.io import read_table

            data = read_table(data)
        dpars = tuple(t for t in str(attrs.get("dpar_formulas", "")).split("; ") if t)
        design = build_design(attrs["formula"], data, dropna=bool(attrs.get("dropna", 0)),
                              dpars=dpars)
        observed = idata.observed_data[design.response].values
        if observed.shape != design.y.shape or not np.allclose(
                observed, design.y, rtol=1e-12, atol=0, equal_nan=True):
            raise DataError(f"the data differ from those {str(nc)!r} was fitted to "
                            f"(response {design.response!r}: {design.n_obs} rows against "
                            f"{observed.size} stored, or other values); pass the original "
                            "table")
    spec = build_model(design, json.loads(attrs["user_priors"]), attrs["family"],
                       attrs["link"])
    base = as_draws(idata)  # posterior, sample_stats, observed_data, dims, coords
    dims, coords = dict(base.dims), dict(base.coords)
    if observed is not None:
        dims[design.response] = ["__obs__"]
        coords["__obs__"] = np.arange(design.n_obs)
    log_lik = (idata.log_likelihood[design.response].values
               if "log_likelihood" in idata.groups() else None)
    draws = replace(base, log_lik=log_lik, dims=dims, coords=coords,
                    attrs={k: v for k, v in attrs.items()
                           if k not in ("created_at", "arviz_version")})
    fractions = {name: pd.Series(w, name=name).rename_axis(None)
                 for name, w in json.loads(attrs.get("centered_fraction", "{}")).items()}
    choice = ParameterizationChoice(attrs["parameterization"],
                                    attrs.get("marginalized_factor") or None, fractions)
    timings = {k: float(attrs[k]) for k in ("compile_s", "warmup_s", "sampling_s", "pilot_s",
                                            "total_s") if k in attrs}
    return Fit(draws, spec, choice, int(attrs["seed"]), timings,
               bool(attrs.get("interrupted", 0)), {})


def _stats_design(attrs: dict[str, Any], nc: Path, data: Any) -> Any:
    """A DuckDB fit: its statistics again, from the recorded files (or ``data``, a path),
    checked against the number of rows and the sum of squares the fit stored."""
    from hbr.sources import stats_design

    from hbr.sources.dask import is_dask

    src = data if is_dask(data) else (os.fspath(data) if data is not None
                                      else str(attrs.get("data_source", "")))
    if not is_dask(src) and not src:
        raise OptionError(f"{str(nc)!r} was fitted out of core; pass its files or its Dask "
                          "DataFrame (load_fit(path, data=...))")
    design = stats_design(attrs["formula"], src, dropna=bool(attrs.get("dropna", 0)))
    n, yty = str(attrs.get("data_check", "0:0")).split(":")
    if design.n_obs != int(n) or not np.isclose(float(design.table_stats.stats.yty),
                                                float(yty), rtol=1e-9, atol=0):
        raise DataError(f"the data ({'Dask' if is_dask(src) else repr(src)}) differ from those "
                        f"{str(nc)!r} was fitted to "
                        f"({design.n_obs} rows against {n}, or other values)")
    return design


def _recorded_source(attrs: dict[str, Any], nc: Path) -> pd.DataFrame:
    src = str(attrs.get("data_source", ""))
    if src.startswith("example:"):
        from hbr.datasets import load_example

        return load_example(src.split(":", 1)[1])
    if src:
        from hbr.io import read_table

        if not Path(src).exists():
            raise DataError(f"the data file the fit was made from, {src!r}, is gone; pass "
                            "the table (load_fit(path, data=...), CLI: --data FILE)")
        return read_table(src)
    raise OptionError(f"{str(nc)!r} does not record where its data came from; pass the table "
                      "(load_fit(path, data=...), CLI: --data FILE)")
