"""``hbr.load_fit``: a saved fit (``posterior.nc``) and its data back into a :class:`Fit`.

The netCDF file holds the draws and, in its attributes, everything that built the model
(formulas, family, link, the priors as given, dropna, the parameterisation). The design is
rebuilt from the data, which must be the table the fit was made from: the response is
checked against the stored ``observed_data``. Predictions, plots and the report then work
as on the original fit.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hbr.datasets import load_example
from hbr.design.build import build_design
from hbr.design.types import Design
from hbr.errors import DataError, OptionError
from hbr.io import finish_set, read_table
from hbr.model.spec import build_model
from hbr.posterior.draws import SUMMARY_COLUMNS, Draws, as_draws, load_arviz
from hbr.posterior.choice import ParameterizationChoice
from hbr.posterior.fit import Fit
from hbr.posterior.netcdf import decode_names
from hbr.posterior.record import RunRecord
from hbr.posterior.rao_blackwell import SUMMARY_GROUP, stored_summary
from hbr.sources import is_dask, stats_design

__all__ = ["load_fit"]


def load_fit(path: str | os.PathLike[str], data: pd.DataFrame | str | os.PathLike[str] | None
             = None) -> Fit:
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
        The file is not an hbr fit, an attribute does not parse, or the data are not those
        it was fitted to.
    """
    nc, idata = _read_idata(path)
    record = RunRecord.from_attrs(idata.posterior.attrs, repr(str(nc)))
    design, observed, table = _design_again(record, idata, nc, data)
    spec = build_model(design, dict(record.user_priors), record.family, record.link)
    _check_variables(spec, idata, nc)
    fractions = {name: pd.Series(w, name=name).rename_axis(None)
                 for name, w in record.centered_fraction.items()}
    choice = ParameterizationChoice(record.parameterization, record.marginalized_factor,
                                    fractions)
    return Fit(_draws_of(idata, design, observed), spec, choice, record.seed,
               dict(record.timings), record.interrupted, {},
               call={"data": table} if table is not None else {})  # for plot_predictions


def _check_variables(spec: Any, idata: Any, nc: Path) -> None:
    """A DataError when the model the attrs describe has parameters the posterior lacks
    (the formula, family or priors attributes were edited)."""
    names = [p.name for p in spec.params]
    if SUMMARY_GROUP not in idata.groups():  # else the effects' summary rows, not draws
        names += [n for g in spec.groups for n in g.block.names]
    missing = [n for n in names if n not in idata.posterior.data_vars]
    if missing:
        raise DataError(f"the model that the attributes of {str(nc)!r} describe (formula "
                        f"{spec.design.formula.text!r}, family {spec.family!r}) has "
                        f"parameter(s) {', '.join(map(repr, missing[:5]))} that its posterior "
                        "lacks; the attributes were edited or damaged: restore them or refit")


def _read_idata(path: str | os.PathLike[str]) -> tuple[Path, Any]:
    p = Path(path)
    nc = p / "posterior.nc" if p.is_dir() else p
    finish_set(nc.parent)  # a set of outputs whose writer was killed mid-commit: complete it
    if not nc.exists():
        raise DataError(f"no fit at {str(nc)!r}; give the posterior.nc written by "
                        "Fit.to_netcdf or the directory of 'hbr fit --out DIR'")
    az = load_arviz()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nc, decode_names(az.from_netcdf(str(nc)))
    except Exception as exc:  # not netCDF, or not ArviZ's layout
        raise DataError(f"{str(nc)!r} is not an ArviZ netCDF file ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None


def _design_again(record: RunRecord, idata: Any, nc: Path, data: Any
                  ) -> tuple[Design, np.ndarray | None, pd.DataFrame | None]:
    """The design of the fitted model from its data, checked against what was stored; and
    the table (None when the rows stayed out of memory)."""
    if record.engine in ("duckdb", "dask"):  # the rows stayed out: recompute
        return _stats_design(record, nc, data), None, None
    if data is None:
        data = _recorded_source(record, nc)
    elif isinstance(data, (str, os.PathLike)):
        data = read_table(data)
    design = build_design(record.formula, data, dropna=record.dropna,
                          dpars=record.dpar_formulas)
    observed = idata.observed_data[design.response].values
    if observed.shape != design.y.shape or not np.allclose(
            observed, design.y, rtol=1e-12, atol=0, equal_nan=True):
        raise DataError(f"the data differ from those {str(nc)!r} was fitted to "
                        f"(response {design.response!r}: {design.n_obs} rows against "
                        f"{observed.size} stored, or other values); pass the original "
                        "table")
    return design, observed, data


def _draws_of(idata: Any, design: Design, observed: np.ndarray | None) -> Draws:
    base = as_draws(idata)  # posterior, sample_stats, observed_data, dims, coords
    dims, coords = dict(base.dims), dict(base.coords)
    if observed is not None:
        dims[design.response] = ["__obs__"]
        coords["__obs__"] = np.arange(design.n_obs)
    log_lik = (np.asarray(idata.log_likelihood[design.response].values, dtype=np.float64)
               if "log_likelihood" in idata.groups() else None)  # float32 on disk
    attrs = {k: v for k, v in dict(idata.posterior.attrs).items()
             if k not in ("created_at", "arviz_version")}
    rb = (stored_summary(idata[SUMMARY_GROUP], SUMMARY_COLUMNS)
          if SUMMARY_GROUP in idata.groups() else None)
    return replace(base, log_lik=log_lik, dims=dims, coords=coords, attrs=attrs,
                   effect_summary=rb)


def _stats_design(record: RunRecord, nc: Path, data: Any) -> Design:
    """A DuckDB fit: its statistics again, from the recorded files (or ``data``, a path),
    checked against the number of rows and the sum of squares the fit stored."""
    src = data if is_dask(data) else (os.fspath(data) if data is not None
                                      else str(record.data_source or ""))
    if not is_dask(src) and not src:
        raise OptionError(f"{str(nc)!r} was fitted out of core; pass its files or its Dask "
                          "DataFrame (load_fit(path, data=...))")
    design = stats_design(record.formula, src, family=record.family, dropna=record.dropna)
    n, yty = (record.data_check or "0:0").split(":")
    if design.n_obs != int(n) or not np.isclose(float(design.table_stats.stats.yty),
                                                float(yty), rtol=1e-9, atol=0):
        raise DataError(f"the data ({'Dask' if is_dask(src) else repr(src)}) differ from those "
                        f"{str(nc)!r} was fitted to "
                        f"({design.n_obs} rows against {n}, or other values)")
    return design


def _recorded_source(record: RunRecord, nc: Path) -> pd.DataFrame:
    src = record.data_source or ""
    if src.startswith("example:"):
        return load_example(src.split(":", 1)[1])
    if src:
        if not Path(src).exists():
            raise DataError(f"the data file the fit was made from, {src!r}, is gone; pass "
                            "the table (load_fit(path, data=...), CLI: --data FILE)")
        return read_table(src)
    raise OptionError(f"{str(nc)!r} does not record where its data came from; pass the table "
                      "(load_fit(path, data=...), CLI: --data FILE)")
