r"""Group-effect summaries without the group-effect draws (``effect_draws="drop"``).

Given a draw :math:`\theta^{(s)}` of the fixed effects and hyperparameters, an integrated-out
effect :math:`b_{jc}` is Gaussian with the exact conditional mean :math:`m^{(s)}_{jc}` and
variance :math:`v^{(s)}_{jc}` of :func:`hbr.density.marginal.conditional_moments` (a sampled
effect: its drawn value and 0). By the laws of total expectation and variance

.. math::
    E[b_{jc} \mid y] \approx \bar m_{jc} = \frac1S \sum_s m^{(s)}_{jc}, \qquad
    \operatorname{Var}[b_{jc} \mid y] \approx \frac1S \sum_s v^{(s)}_{jc}
        + \frac1S \sum_s \bigl(m^{(s)}_{jc} - \bar m_{jc}\bigr)^2,

the Rao-Blackwellised estimates, whose Monte Carlo error is never larger than that of the
same averages over drawn effects (the draw's own noise is averaged exactly). The readout
returns, per chain, the sums of :math:`m`, :math:`m^2` and :math:`v`
(:func:`hbr._pipeline.read_draws`), so no (draws x levels) array is ever held.

The R-hat column is Gelman & Rubin's (not split, not rank-normalised) of the conditional
means over the chains: chains that disagree about :math:`\theta` disagree about
:math:`m`. The HDI, the ESS and the MCSE need the draws' order or quantiles, which the sums
do not keep: those columns are NaN for these rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hbr.errors import OptionError

__all__ = ["EFFECT_DRAWS_AUTO_BYTES", "rao_blackwell", "keeps_effect_draws", "SUMMARY_GROUP",
           "SUMMARY_STORED", "variable_labels", "variable_rows", "stored_summary",
           "no_effect_draws"]

EFFECT_DRAWS_AUTO_BYTES = 256 * 2**20
SUMMARY_GROUP = "effect_summary"  # the netCDF group that holds these rows
SUMMARY_STORED = ("mean", "sd", "r_hat")  # its variables: the columns these rows fill


def keeps_effect_draws(choice: str, n_effects: int, chains: int, draws: int) -> bool:
    """``effect_draws`` ("auto", "keep", "drop") for ``n_effects`` group effects: whether
    their draws are kept (8-byte numbers, ``chains x draws`` of each)."""
    if choice == "auto":
        return 8 * n_effects * chains * draws <= EFFECT_DRAWS_AUTO_BYTES
    return choice == "keep"


def rao_blackwell(sums: dict[str, dict[str, np.ndarray]], draws: int,
                  dims: dict[str, list[str]], coords: dict[str, Any],
                  columns: list[str]) -> pd.DataFrame:
    """The summary rows (``columns``, :data:`hbr.posterior.draws.SUMMARY_COLUMNS`) of every
    group effect from the per-chain sums ``{"m": {name: (chains, ...)}, "m2": .., "v": ..}``
    of ``draws`` draws per chain; rows labelled ``name[level]`` as the summary of draws."""
    frames = []
    for name, s_m in sums["m"].items():
        s_m = np.asarray(s_m, dtype=float)
        c = s_m.shape[0]
        chain_mean = s_m / draws
        mean = chain_mean.mean(axis=0)
        e_m2 = np.asarray(sums["m2"][name]).sum(axis=0) / (c * draws)
        e_v = np.asarray(sums["v"][name]).sum(axis=0) / (c * draws)
        var = np.maximum(e_v + e_m2 - mean**2, 0.0)
        frame = pd.DataFrame(np.nan, index=variable_labels(name, mean.shape, dims, coords),
                             columns=columns)
        frame["mean"] = mean.ravel()
        frame["sd"] = np.sqrt(var).ravel()
        frame["r_hat"] = _rhat(chain_mean, np.asarray(sums["m2"][name]) / draws, draws).ravel()
        frames.append(frame)
    return pd.concat(frames) if frames else pd.DataFrame(columns=columns)


def _rhat(chain_mean: np.ndarray, chain_m2: np.ndarray, n: int) -> np.ndarray:
    r"""Gelman-Rubin :math:`\hat R = \sqrt{((n-1)/n\, W + B/n) / W}` of the conditional means:
    W the mean within-chain variance, B/n the variance of the chain means."""
    c = chain_mean.shape[0]
    if c < 2 or n < 2:
        return np.full(chain_mean.shape[1:], np.nan)
    within = np.maximum(chain_m2 - chain_mean**2, 0.0) * n / (n - 1)
    W = within.mean(axis=0)
    B_n = chain_mean.var(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sqrt(((n - 1) / n * W + B_n) / W)
    return np.where(W > 0, r, np.nan)


def variable_labels(name: str, shape: tuple[int, ...], dims: dict[str, list[str]],
                    coords: dict[str, Any]) -> list[str]:
    """ArviZ-style labels of the scalars of variable ``name`` (its shape without chain and
    draw): ``name``, or ``name[level]``, ``name[a, b]`` by its coordinates."""
    if not shape:
        return [name]
    axes = [np.asarray(coords[d]) if d in coords else np.arange(n)
            for d, n in zip(dims.get(name) or [""] * len(shape), shape)]
    grids = np.meshgrid(*axes, indexing="ij")
    return [f"{name}[{', '.join(str(c) for c in combo)}]"
            for combo in zip(*[g.ravel() for g in grids])]


def variable_rows(summary: pd.DataFrame, names: str | list[str]) -> pd.DataFrame:
    """The rows of ``summary`` that belong to the variable(s) ``names`` (labels
    ``name[...]``), in the order :func:`variable_labels` gives them (the variable's levels)."""
    names = [names] if isinstance(names, str) else names
    return summary[summary.index.str.startswith(tuple(f"{n}[" for n in names))]


def stored_summary(group: Any, columns: list[str]) -> pd.DataFrame:
    """The rows of :func:`rao_blackwell` from their netCDF group (an xarray Dataset)."""
    frame = pd.DataFrame(np.nan, index=[str(x) for x in group["effect"].values],
                         columns=columns)
    for c in SUMMARY_STORED:
        frame[c] = np.asarray(group[c].values, dtype=float)
    return frame


def no_effect_draws(name: str, what: str) -> OptionError:
    """The error for ``what`` (a prediction, a plot) that needs the draws of group effect
    ``name`` from a fit that kept only their summaries."""
    return OptionError(
        f"{what} needs the draws of the group effects ({name!r}), and this fit kept only "
        "their Rao-Blackwellised means and sds (effect_draws='drop'; 'auto' drops them "
        "when they would exceed 256 MiB): refit with effect_draws='keep' (command line: "
        "--effect-draws keep), or with fewer draws; fit.summary() and fit.ranef() give the "
        "effects' means and sds")
