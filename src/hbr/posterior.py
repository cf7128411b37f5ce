"""Draws -> ``arviz.InferenceData`` with Bambi's names, dims and coordinates; summaries.

Groups written: ``posterior``, ``sample_stats``, ``observed_data`` and ``log_likelihood``
(pointwise, computed after sampling in batches of draws). Dimensions: a categorical fixed term
``t`` has ``t_dim``; group effects of factor ``g`` have ``g__factor_dim`` (coordinates: level
names); a correlation ``g_corr`` has ``g_corr_dim_0`` and ``g_corr_dim_1`` (coefficient names);
observations are ``__obs__``. Every ArviZ call of hbr lives here, in ``diagnostics`` or in
``plots``.
"""

from __future__ import annotations

import json
from typing import Any

import warnings

with warnings.catch_warnings():  # ArviZ 0.23 announces its 1.x refactor at import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az
import numpy as np
import pandas as pd

from hbr.model import ModelSpec

__all__ = ["to_inference_data", "summarize", "SUMMARY_COLUMNS", "hyper_names"]

SUMMARY_COLUMNS = ["mean", "sd", "hdi_3%", "hdi_97%", "mcse_mean", "ess_bulk", "ess_tail",
                   "r_hat"]


def _dims_coords(spec: ModelSpec) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    dims: dict[str, list[str]] = {}
    coords: dict[str, list[str]] = {}
    for p in spec.fixed:
        if p.labels is not None:
            dims[p.name] = [f"{p.name}_dim"]
            coords[f"{p.name}_dim"] = list(p.labels)
    for g in spec.groups:
        dim = f"{g.block.factor}__factor_dim"
        coords[dim] = list(g.block.levels)
        for name in g.block.names:
            dims[name] = [dim]
        if g.corr is not None:
            d0, d1 = f"{g.corr.name}_dim_0", f"{g.corr.name}_dim_1"
            dims[g.corr.name] = [d0, d1]
            coords[d0] = coords[d1] = list(g.block.coefs)
    dims[spec.design.response] = ["__obs__"]
    coords["__obs__"] = list(range(spec.design.n_obs))
    return dims, coords


def hyper_names(spec: ModelSpec) -> list[str]:
    """Names of the fixed effects and hyperparameters (everything but group effects)."""
    return [p.name for p in spec.params]


def to_inference_data(spec: ModelSpec, draws: dict[str, np.ndarray],
                      stats: dict[str, np.ndarray], log_lik: np.ndarray | None,
                      attrs: dict[str, Any]) -> az.InferenceData:
    """Assemble the InferenceData of a fit.

    Parameters
    ----------
    draws : dict of ndarray (chains, draws, ...)
        Constrained values by user-facing name.
    stats : dict of ndarray (chains, draws)
    log_lik : ndarray (chains, draws, N) or None
    attrs : dict
        Stored as attributes of every group (strings and numbers; others become JSON).
    """
    dims, coords = _dims_coords(spec)
    clean = {k: (v if isinstance(v, (str, int, float)) else json.dumps(v, default=str))
             for k, v in attrs.items()}
    order = [p.name for p in spec.params if p.domain != "corr"]
    order += [g.corr.name for g in spec.groups if g.corr is not None]
    order += [n for g in spec.groups for n in g.block.names]
    posterior = {k: np.asarray(draws[k]) for k in order}
    resp = spec.design.response
    kwargs: dict[str, Any] = dict(
        posterior=posterior, sample_stats=stats,
        observed_data={resp: np.asarray(spec.design.y)}, coords=coords, dims=dims,
        attrs=clean, posterior_attrs=clean, sample_stats_attrs=clean)
    if log_lik is not None:
        kwargs["log_likelihood"] = {resp: log_lik}
    return az.from_dict(**kwargs)


def summarize(idata: az.InferenceData, var_names: list[str] | None = None,
              spec: ModelSpec | None = None) -> pd.DataFrame:
    """``az.summary`` with hbr's columns: mean, sd, hdi_3%, hdi_97%, mcse_mean, ess_bulk,
    ess_tail, r_hat (94% HDI). With ``spec``, a correlation matrix is shown by its lower
    triangle only (the diagonal is 1 and the matrix symmetric)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # the constant diagonal of a correlation matrix has no R-hat: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        df = az.summary(idata, var_names=var_names, hdi_prob=0.94, kind="all",
                        round_to="none")
    df = df[SUMMARY_COLUMNS]
    if spec is not None:
        drop = []
        for g in spec.groups:
            if g.corr is None:
                continue
            pos = {c: i for i, c in enumerate(g.block.coefs)}
            for a in g.block.coefs:
                for b in g.block.coefs:
                    if pos[a] <= pos[b]:
                        drop.append(f"{g.corr.name}[{a}, {b}]")
        df = df.drop(index=[d for d in drop if d in df.index])
    return df
