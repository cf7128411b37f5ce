r"""Group-level tables, as lme4's and brms's ``ranef()`` and ``coef()`` give them.

For a term ``(x | g)`` the model has, per level :math:`j` of ``g``, a deviation
:math:`b_{xj}` from the population coefficient :math:`\beta_x`:

* ``ranef`` summarises the deviations :math:`b_{xj}` (lme4's conditional modes; here their
  posterior);
* ``coef`` summarises the group's own coefficients :math:`\beta_x + b_{xj}`, draw by draw,
  so the interval carries the uncertainty of both. A group term without a population
  counterpart (``(0 + x | g)`` with no ``x`` in the formula) is its deviation alone, as in
  brms.

``fixef`` summarises the population coefficients :math:`\beta` and ``varcorr`` the group
standard deviations and correlations with the residual sd (lme4's ``VarCorr``).

``ranef`` and ``coef`` are tidy tables, one row per factor, level and coefficient: ``factor``, ``level``,
``coefficient`` (named as the population coefficients are: ``Intercept``, ``Days``,
``C(t)[b]``, ``sigma_Intercept`` for a term of ``sigma ~ ...``, whose scale is
:math:`\log\sigma`), ``mean``, ``sd`` and the highest-density interval of ``prob``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hbr.errors import OptionError
from hbr.posterior.mcmcstats import _hdi
from hbr.posterior.rao_blackwell import no_effect_draws, variable_rows

if TYPE_CHECKING:
    from hbr.posterior.fit import Fit

__all__ = ["ranef", "coef", "fixef", "varcorr", "interval_columns", "mean_sd_hdi"]

_CHUNK = 4096  # levels summarised at a time: one sort of (draws, chunk) numbers


def interval_columns(prob: float) -> tuple[str, str]:
    """The interval's column names for ``prob``: ``hdi_3%``, ``hdi_97%`` for 0.94."""
    lo = 100 * (1 - prob) / 2
    return f"hdi_{lo:g}%", f"hdi_{100 - lo:g}%"


def mean_sd_hdi(x: np.ndarray, prob: float) -> dict[str, np.ndarray]:
    """Mean, sd (ddof 1) and highest-density interval of ``prob`` of each column of ``x``
    (S, P): the narrowest window of floor(prob * S) + 1 sorted draws; P in chunks."""
    S = x.shape[0]
    k = int(np.floor(prob * S))
    out: dict[str, list[np.ndarray]] = {"mean": [], "sd": [], "lo": [], "hi": []}
    for a in range(0, x.shape[1], _CHUNK):
        srt = np.sort(x[:, a:a + _CHUNK], axis=0)
        out["mean"].append(srt.mean(axis=0))
        out["sd"].append(srt.std(axis=0, ddof=1) if S > 1 else np.full(srt.shape[1], np.nan))
        if 0 < k < S:
            lo, hi = _hdi(srt.T, prob)  # the summary's own HDI
            out["lo"].append(lo)
            out["hi"].append(hi)
        else:  # too few draws for an interval
            out["lo"].append(np.full(srt.shape[1], np.nan))
            out["hi"].append(np.full(srt.shape[1], np.nan))
    return {key: np.concatenate(v) for key, v in out.items()}


def _population(fit: Fit) -> dict[str, np.ndarray]:
    """Every scalar population coefficient's draws (chains * draws,), by its name."""
    out = {}
    for p in (*fit.spec.thresholds, *fit.spec.fixed, *fit.spec.dpar_fixed):
        vals = np.asarray(fit.draws.posterior[p.name])
        flat = vals.reshape(vals.shape[0] * vals.shape[1], -1)
        if p.labels is None and flat.shape[1] == 1:
            out[p.name] = flat[:, 0]
        else:
            for i, label in enumerate(p.labels or range(flat.shape[1])):
                out[f"{p.name}[{label}]"] = flat[:, i]
    return out


def _coefficient_name(coef: str, dpar: str) -> str:
    base = "Intercept" if coef == "1" else coef
    return f"{dpar}_{base}" if dpar else base


def _table(fit: Fit, prob: float, add_population: bool) -> pd.DataFrame:
    _check_prob(prob)
    if not fit.spec.factor_groups:
        raise OptionError(f"{fit.formula!r} has no group terms, so there are no group-level "
                          "effects; add a term such as (1 | g)")
    lo_name, hi_name = interval_columns(prob)
    population = _population(fit) if add_population else {}
    parts = []
    for g in fit.spec.factor_groups:
        blk = g.block
        for coef, var in zip(blk.coefs, blk.names):
            name = _coefficient_name(coef, blk.dpar)
            if var not in fit.draws.posterior:  # effect_draws="drop": the summary's rows
                st = _summary_rows(fit, var, add_population)
            else:
                vals = np.asarray(fit.draws.posterior[var])
                draws = vals.reshape(vals.shape[0] * vals.shape[1], vals.shape[2])
                if name in population:
                    draws = draws + population[name][:, None]
                st = mean_sd_hdi(draws, prob)
            parts.append(pd.DataFrame({
                "factor": blk.factor, "level": list(blk.levels), "coefficient": name,
                "mean": st["mean"], "sd": st["sd"], lo_name: st["lo"], hi_name: st["hi"]}))
    return pd.concat(parts, ignore_index=True)


def _summary_rows(fit: Fit, var: str, add_population: bool) -> dict:
    """Mean and sd of effect ``var`` by level from a fit without its draws (the
    Rao-Blackwellised rows; no HDI: NaN)."""
    if add_population:
        raise no_effect_draws(var, "fit.coef() (population plus deviation, draw by draw)")
    rb = variable_rows(fit.draws.effect_summary, var)
    nan = np.full(len(rb), np.nan)
    return {"mean": rb["mean"].to_numpy(), "sd": rb["sd"].to_numpy(), "lo": nan, "hi": nan}


def ranef(fit: Fit, prob: float = 0.94) -> pd.DataFrame:
    r"""The group-level deviations :math:`b_{xj}` (brms ``ranef``, lme4 ``ranef``), one row
    per factor, level and coefficient, with posterior mean, sd and ``prob`` HDI."""
    return _table(fit, prob, add_population=False)


def coef(fit: Fit, prob: float = 0.94) -> pd.DataFrame:
    r"""Each group's coefficients :math:`\beta_x + b_{xj}`, summed draw by draw (brms and
    lme4 ``coef``); a group term with no population counterpart is its deviation alone."""
    return _table(fit, prob, add_population=True)


def _check_prob(prob: float) -> tuple[str, str]:
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise OptionError(f"prob must be between 0 and 1 (e.g. 0.94), got {prob!r}")
    return interval_columns(prob)


def _frame(index: list, draws: np.ndarray, prob: float, names: tuple[str, str]
           ) -> pd.DataFrame:
    st = mean_sd_hdi(draws, prob)
    return pd.DataFrame({"mean": st["mean"], "sd": st["sd"], names[0]: st["lo"],
                         names[1]: st["hi"]}, index=index)


def fixef(fit: Fit, prob: float = 0.94) -> pd.DataFrame:
    """The population coefficients (brms and lme4 ``fixef``): one row per coefficient
    (``Intercept``, ``Days``, ``C(t)[b]``, ``sigma_Intercept`` ...), mean, sd and HDI."""
    names = _check_prob(prob)
    population = _population(fit)
    if not population:
        raise OptionError(f"{fit.formula!r} has no population coefficients (it was fitted "
                          "with '0 +' and group terms only)")
    return _frame(list(population), np.stack(list(population.values()), axis=1), prob,
                  names)


def varcorr(fit: Fit, prob: float = 0.94) -> pd.DataFrame:
    """Group standard deviations and correlations, and the residual sd, as lme4's
    ``VarCorr`` lists them: a row per (factor, term), terms ``sd(Intercept)``,
    ``cor(Intercept,Days)``, and (``Residual``, ``sd``) for a family with one sigma."""
    names = _check_prob(prob)
    post = fit.draws.posterior
    index, cols = [], []

    def add(factor: str, term: str, vals: np.ndarray) -> None:
        index.append((factor, term))
        cols.append(np.asarray(vals).reshape(-1))

    for g in fit.spec.factor_groups:
        blk = g.block
        labels = [_coefficient_name(c, blk.dpar) for c in blk.coefs]
        for label, sd in zip(labels, g.sds):
            add(blk.factor, f"sd({label})", post[sd.name])
        if g.corr is not None:  # a pair correlated across formulas: both terms' labels
            R = np.asarray(post[g.corr.name])
            blocks = g.corr_members(fit.spec.groups)[2]
            both = [_coefficient_name(c, b.dpar) for b in blocks for c in b.coefs]
            for a in range(len(both)):
                for b in range(a + 1, len(both)):
                    add(blk.factor, f"cor({both[a]},{both[b]})", R[..., a, b])
    if "sigma" in post:  # one residual sd (not modelled by a sigma ~ formula)
        add("Residual", "sd", post["sigma"])
    if not index:
        raise OptionError(f"{fit.formula!r} has no group terms and no residual sd")
    table = _frame(list(range(len(index))), np.stack(cols, axis=1), prob, names)
    table.index = pd.MultiIndex.from_tuples(index, names=["factor", "term"])
    return table
