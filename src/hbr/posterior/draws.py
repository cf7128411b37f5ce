"""Draws -> ``arviz.InferenceData`` with Bambi's names, dims and coordinates; summaries.

Groups written: ``posterior``, ``sample_stats``, ``observed_data`` and ``log_likelihood``
(pointwise, computed after sampling in batches of draws). Dimensions: a categorical fixed term
``t`` has ``t_dim``; group effects of factor ``g`` have ``g__factor_dim`` (coordinates: level
names); a correlation ``g_corr`` has ``g_corr_dim_0`` and ``g_corr_dim_1`` (coefficient names);
observations are ``__obs__``.

A fit keeps its arrays in a :class:`Draws` and builds the InferenceData only when asked: the
summary and the diagnostics read the arrays directly, so a script that fits and prints a
summary never imports ArviZ (1.0 s of a 3-4 s cold run). Every ArviZ call of hbr lives here
or in ``plots``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hbr.posterior.mcmcstats import summary_arrays
from hbr.posterior.rao_blackwell import (SUMMARY_GROUP, SUMMARY_STORED, rao_blackwell,
                                         variable_labels, variable_rows)
from hbr.model.spec import ModelSpec

if TYPE_CHECKING:
    import arviz as az

__all__ = ["Draws", "as_draws", "make_draws", "summarize", "SUMMARY_COLUMNS",
           "hyper_names", "load_arviz"]

SUMMARY_COLUMNS = ["mean", "sd", "hdi_3%", "hdi_97%", "mcse_mean", "ess_bulk", "ess_tail",
                   "r_hat"]


def load_arviz() -> Any:
    """ArviZ, imported on first use (it loads SciPy stats and matplotlib: about 1 s)."""
    import warnings

    from hbr._runtime.home import redirect_unwritable_homes

    redirect_unwritable_homes()  # ArviZ writes to ~/.cache/arviz when imported
    with warnings.catch_warnings():  # ArviZ 0.23 announces its 1.x refactor at import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


@dataclass(frozen=True, eq=False)
class Draws:
    """A posterior as plain arrays: what :class:`InferenceData` is built from.

    Attributes
    ----------
    posterior : dict of ndarray (chains, draws, ...)
        Constrained values by user-facing name, in display order.
    stats : dict of ndarray (chains, draws)
        Sampler statistics (``diverging``, ``energy``, ``tree_depth``, ...).
    observed : dict of ndarray
    log_lik : ndarray (chains, draws, N) or None
    attrs : dict
        Strings and numbers only.
    dims : dict of list of str
        Extra dimensions of each posterior variable (besides chain and draw).
    coords : dict of ndarray
    effect_summary : pandas.DataFrame, optional
        With ``effect_draws="drop"``: the group effects' summary rows (Rao-Blackwellised,
        :mod:`hbr.posterior.rao_blackwell`), whose draws ``posterior`` then lacks.
    """

    posterior: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]
    log_lik: np.ndarray | None
    attrs: dict[str, Any]
    dims: dict[str, list[str]]
    coords: dict[str, Any]
    effect_summary: pd.DataFrame | None = None

    @property
    def chains(self) -> int:
        return next(iter(self.posterior.values())).shape[0]

    @property
    def n_draws(self) -> int:
        return next(iter(self.posterior.values())).shape[1]

    def to_inference_data(self) -> az.InferenceData:
        """The ArviZ InferenceData (imports ArviZ)."""
        kwargs: dict[str, Any] = dict(
            posterior=self.posterior, sample_stats=self.stats, observed_data=self.observed,
            coords=self.coords, dims=self.dims, attrs=self.attrs,
            posterior_attrs=self.attrs, sample_stats_attrs=self.attrs)
        if self.log_lik is not None:
            kwargs["log_likelihood"] = {next(iter(self.observed)): self.log_lik}
        idata = load_arviz().from_dict(**kwargs)
        if self.effect_summary is not None:  # effect_draws="drop": the rows, as on disk
            import xarray as xr

            rb = self.effect_summary
            idata.add_groups({SUMMARY_GROUP: xr.Dataset(
                {c: ("effect", rb[c].to_numpy()) for c in SUMMARY_STORED},
                coords={"effect": rb.index.to_numpy()})})
        return idata


def as_draws(source: Draws | az.InferenceData) -> Draws:
    """``source`` as :class:`Draws` (arrays are views of the InferenceData's, not copies)."""
    if isinstance(source, Draws):
        return source
    post = source.posterior
    dims = {k: [d for d in v.dims if d not in ("chain", "draw")] for k, v in post.items()}
    coords = {d: post.coords[d].values for ds in dims.values() for d in ds if d in post.coords}
    stats = ({k: v.values for k, v in source.sample_stats.items()}
             if "sample_stats" in source.groups() else {})
    observed = ({k: v.values for k, v in source.observed_data.items()}
                if "observed_data" in source.groups() else {})
    return Draws({k: v.values for k, v in post.items()}, stats, observed, None,
                 dict(post.attrs), dims, coords)


def _dims_coords(spec: ModelSpec) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Dims and coords; coordinates are NumPy arrays, since ArviZ deep-copies them once per
    variable (a Python list of 10^6 observation numbers took 19 s)."""
    dims: dict[str, list[str]] = {}
    coords: dict[str, Any] = {}
    for p in spec.fixed + spec.aux:  # aux: an ordinal family's thresholds
        if p.labels is not None:
            dims[p.name] = [f"{p.name}_dim"]
            coords[f"{p.name}_dim"] = np.asarray(p.labels)
    for g in spec.groups:
        if g.block.smooth:  # s_sx_1: one value per basis column
            dims[g.block.names[0]] = [f"{g.block.names[0]}_dim"]
            coords[f"{g.block.names[0]}_dim"] = np.asarray(g.block.coefs)
            continue
        dim = f"{g.block.factor}__factor_dim"
        coords[dim] = np.asarray(g.block.levels)
        for name in g.block.names:
            dims[name] = [dim]
        if g.corr is not None:
            d0, d1 = f"{g.corr.name}_dim_0", f"{g.corr.name}_dim_1"
            dims[g.corr.name] = [d0, d1]
            coords[d0] = coords[d1] = np.asarray(g.corr.labels)  # a pair's: both terms
    if spec.design.has_rows:  # rows that stayed in the files (DuckDB) are not observed data
        dims[spec.design.response] = ["__obs__"]
        coords["__obs__"] = np.arange(spec.design.n_obs)
    return dims, coords


def hyper_names(spec: ModelSpec) -> list[str]:
    """Names of the fixed effects and hyperparameters (everything but group effects)."""
    return [p.name for p in spec.params]


def make_draws(spec: ModelSpec, draws: dict[str, np.ndarray], stats: dict[str, np.ndarray],
               log_lik: np.ndarray | None, attrs: dict[str, Any],
               effect_moments: dict | None = None) -> Draws:
    """Assemble the :class:`Draws` of a fit.

    Parameters
    ----------
    draws : dict of ndarray (chains, draws, ...)
        Constrained values by user-facing name.
    stats : dict of ndarray (chains, draws)
    log_lik : ndarray (chains, draws, N) or None
    attrs : dict
        Stored as attributes of every group (strings and numbers; others become JSON).
    effect_moments : dict, optional
        The group effects' per-chain sums of conditional moments, in place of their draws
        (:func:`hbr.posterior.rao_blackwell.rao_blackwell`).
    """
    dims, coords = _dims_coords(spec)
    clean = {k: (v if isinstance(v, (str, int, float)) else json.dumps(v, default=str))
             for k, v in attrs.items()}
    order = [p.name for p in spec.params if p.domain != "corr"]
    order += [g.corr.name for g in spec.groups if g.corr is not None]
    rb = None
    if effect_moments is None:
        order += [n for g in spec.groups for n in g.block.names]
    else:
        rb = rao_blackwell(effect_moments, next(iter(draws.values())).shape[1], dims, coords,
                           SUMMARY_COLUMNS)
    posterior = {k: np.asarray(draws[k]) for k in order}
    observed = ({spec.design.response: np.asarray(spec.design.y)} if spec.design.has_rows
                else {})
    return Draws(posterior, dict(stats), observed, log_lik, clean, dims, coords, rb)


def _flat_draws(source: Draws, var_names: list[str]) -> tuple[list[np.ndarray], list[str]]:
    """Every scalar of ``var_names`` as (chains, draws, P_v) blocks, one per variable (views,
    not copies), with ArviZ-style labels."""
    blocks, labels = [], []
    for name in var_names:
        vals = source.posterior[name]
        blocks.append(vals.reshape(vals.shape[0], vals.shape[1], -1))
        labels += variable_labels(name, vals.shape[2:], source.dims, source.coords)
    return blocks, labels


def summarize(idata: Draws | az.InferenceData, var_names: list[str] | None = None,
              spec: ModelSpec | None = None) -> pd.DataFrame:
    """Posterior summary with hbr's columns: mean, sd, hdi_3%, hdi_97%, mcse_mean, ess_bulk,
    ess_tail, r_hat (94% HDI).

    The statistics are ArviZ's (rank-normalised split R-hat, bulk and tail ESS), computed by
    the vectorised :mod:`hbr.posterior.mcmcstats`, which takes seconds for 10^4 groups where
    ``az.summary`` takes a minute; they agree to rounding error. With ``spec``, a correlation
    matrix is shown by its lower triangle only (the diagonal is 1, the matrix symmetric).
    """
    source = as_draws(idata)
    names = list(source.posterior) if var_names is None else list(var_names)
    rb = source.effect_summary
    if rb is not None:  # effects without draws: their Rao-Blackwellised rows
        rb = rb if var_names is None else variable_rows(rb, names)
        names = [n for n in names if n in source.posterior]
        if not names:
            return rb.copy()
    draws, labels = _flat_draws(source, names)
    st = summary_arrays(draws, hdi_prob=0.94)
    df = pd.DataFrame({"mean": st["mean"], "sd": st["sd"], "hdi_3%": st["hdi_lo"],
                       "hdi_97%": st["hdi_hi"], "mcse_mean": st["mcse_mean"],
                       "ess_bulk": st["ess_bulk"], "ess_tail": st["ess_tail"],
                       "r_hat": st["r_hat"]}, index=labels)
    if spec is not None:
        drop = []
        for g in spec.groups:
            if g.corr is None:
                continue
            pos = {c: i for i, c in enumerate(g.corr.labels)}
            for a in g.corr.labels:
                for b in g.corr.labels:
                    if pos[a] <= pos[b]:
                        drop.append(f"{g.corr.name}[{a}, {b}]")
        df = df.drop(index=[d for d in drop if d in df.index])
    return df if rb is None or rb.empty else pd.concat([df, rb[df.columns]])
