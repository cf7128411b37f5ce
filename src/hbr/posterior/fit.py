"""The result of :func:`hbr.fit`: :class:`Fit`, the posterior with its model, and what can be
done with it (summary, diagnostics, predictions, predictive checks, report, netCDF).
:class:`ParameterizationChoice` (what the fit chose for its group effects) lives in
:mod:`hbr.posterior.choice`."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hbr.errors import check_int
from hbr.io import write_atomic
from hbr.posterior.netcdf import compact, encoded_names, write_draws
from hbr.model.integrated import integrated_ids
from hbr.model.spec import ModelSpec
from hbr.posterior.draws import Draws, hyper_names, summarize
from hbr.posterior.choice import ParameterizationChoice
from hbr.priors import Prior

if TYPE_CHECKING:
    from hbr.checks.diagnostics import Diagnostics

__all__ = ["Fit", "ParameterizationChoice"]


@dataclass(frozen=True, eq=False)
class Fit:
    """The result of :func:`fit`.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior``, ``sample_stats``, ``observed_data``, ``log_likelihood``; built from
        ``draws`` on first use (so a script that only reads the summary never imports ArviZ).
    draws : hbr.posterior.draws.Draws
        The same draws as plain NumPy arrays.
    spec : ModelSpec
        The model that was fitted (design, priors).
    parameterization : ParameterizationChoice
        Its name ("marginal", ...), the factor integrated out and the centred fractions.
    seed : int
        The seed used (drawn at random and recorded when none was given).
    timings : dict of float
        Seconds: ``compile_s``, ``warmup_s``, ``sampling_s``, ``total_s``.
    interrupted : bool
        True when Ctrl-C stopped sampling; the draws done so far are kept.
    info : dict of ndarray
        Extra outputs of the method: ``elbo`` (ADVI: after each step; Pathfinder: per path).
    """

    draws: Draws
    spec: ModelSpec
    parameterization: ParameterizationChoice
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    info: dict[str, np.ndarray] = field(default_factory=dict)
    call: dict[str, Any] = field(default_factory=dict, repr=False)  # for update()

    @functools.cached_property
    def idata(self) -> Any:  # arviz.InferenceData
        return self.draws.to_inference_data()

    @property
    def formula(self) -> str:
        return self.spec.design.formula.text

    @property
    def posterior(self) -> Any:
        return self.idata.posterior

    @property
    def priors(self) -> dict[str, Prior]:
        return self.spec.priors

    @functools.cached_property
    def _full_summary(self) -> pd.DataFrame:
        return summarize(self.draws, None, self.spec)

    def summary(self, var_names: list[str] | None = None, group_effects: bool = True
                ) -> pd.DataFrame:
        """Posterior summary: mean, sd, hdi_3%, hdi_97%, mcse_mean, ess_bulk, ess_tail, r_hat.

        Parameters
        ----------
        var_names : list of str, optional
            Variables to include; default all.
        group_effects : bool
            Include the group effects (``1|county`` ...); False keeps fixed effects and
            hyperparameters only.
        """
        if var_names is None and not group_effects:
            var_names = hyper_names(self.spec)
        from hbr.posterior.summary_table import SummaryTable

        if var_names is None:
            return SummaryTable(self._full_summary.copy())
        return SummaryTable(summarize(self.draws, var_names, self.spec))

    def update(self, formula: Any = None, data: Any = None, **changes: Any) -> Fit:
        """Fit again with another formula, table or setting, the rest as this fit had them
        (brms's ``update``), e.g. ``fit.update(data=new_table)`` or
        ``fit.update("y ~ x + (x | g)", draws=2000)``; see :func:`hbr.api.update`."""
        from hbr.api import update

        return update(self, formula, data, frames=2, **changes)

    def ranef(self, prob: float = 0.94) -> pd.DataFrame:
        r"""Group-level deviations :math:`b_{xj}`, as brms's and lme4's ``ranef``: a tidy
        table (factor, level, coefficient, mean, sd, HDI of ``prob``); see
        :mod:`hbr.posterior.effects`."""
        from hbr.posterior.effects import ranef

        return ranef(self, prob)

    def coef(self, prob: float = 0.94) -> pd.DataFrame:
        r"""Each group's coefficients :math:`\beta_x + b_{xj}` (population plus deviation,
        draw by draw), as brms's and lme4's ``coef``; same columns as :meth:`ranef`."""
        from hbr.posterior.effects import coef

        return coef(self, prob)

    def bayes_r2(self, kind: str = "residual", summary: bool = True, prob: float = 0.94
                 ) -> pd.DataFrame | np.ndarray:
        r"""Bayesian R² (Gelman, Goodrich, Gabry & Vehtari 2019; brms ``bayes_R2``): per draw,
        :math:`V(\hat y) / (V(\hat y) + V(y - \hat y))` ("residual") or with the family's
        variance in the denominator ("model"); see :mod:`hbr.checks.r2`."""
        from hbr.checks.r2 import bayes_r2

        return bayes_r2(self, kind, summary, prob)

    def loo_r2(self, summary: bool = True, prob: float = 0.94, seed: int | None = None
               ) -> pd.DataFrame | np.ndarray:
        """LOO-adjusted R² (brms ``loo_R2``): leave-one-out expected responses (PSIS) and a
        Bayesian bootstrap over rows; see :mod:`hbr.checks.r2`."""
        from hbr.checks.r2 import loo_r2

        return loo_r2(self, summary, prob, seed)

    def fixef(self, prob: float = 0.94) -> pd.DataFrame:
        """Population coefficients (brms and lme4 ``fixef``): mean, sd, HDI of ``prob``."""
        from hbr.posterior.effects import fixef

        return fixef(self, prob)

    def varcorr(self, prob: float = 0.94) -> pd.DataFrame:
        """Group sds and correlations and the residual sd (lme4 ``VarCorr``), by (factor,
        term): mean, sd, HDI of ``prob``."""
        from hbr.posterior.effects import varcorr

        return varcorr(self, prob)

    def hypothesis(self, hypotheses: str | list[str], alpha: float = 0.05) -> pd.DataFrame:
        """brms's ``hypothesis``: e.g. ``fit.hypothesis("floor < 0")`` or
        ``"Intercept + floor = 1"``: estimate, error, interval, evidence ratio and posterior
        probability per hypothesis (see :mod:`hbr.checks.hypothesis`)."""
        from hbr.checks.hypothesis import hypothesis

        return hypothesis(self, hypotheses, alpha)

    def diagnostics(self) -> Diagnostics:
        """Divergences, R-hat, ESS and E-BFMI, with advice (see :mod:`hbr.checks.diagnostics`)."""
        name = self.parameterization.name
        if name == "marginal" and len(integrated_ids(
                self.spec, self.parameterization.marginalized)) == len(self.spec.groups):
            name = "marginal-exact"  # nothing sampled: advice about the hyperparameters
        from hbr.checks.diagnostics import diagnose

        return diagnose(self.draws, parameterization=name, summary=self._full_summary)

    def map_vs_mean(self) -> pd.DataFrame:
        """Posterior mean and sd next to the modes of the same model: marginal (empirical
        Bayes), joint non-centred and joint centred (which has none); see
        :func:`hbr.checks.modes.map_vs_mean`."""
        from hbr.checks.modes import map_vs_mean

        return map_vs_mean(self)

    def sample_posterior_predictive(self, seed: int | None = None) -> np.ndarray:
        r"""Replicate the response once per posterior draw, for the fitted rows
        (:func:`hbr.posterior.predictive.posterior_predictive`), and add it to ``idata`` as the group
        ``posterior_predictive`` (variable named after the response, dimension ``__obs__``).

        Parameters
        ----------
        seed : int, optional
            Default: the fit's seed, so that repeating the call gives the same draws.

        Returns
        -------
        ndarray (chains, draws, N)
        """
        rep = self._replicates(seed)
        name = self.spec.design.response
        self._replace_groups({"posterior_predictive": {name: rep}}, {name: ["__obs__"]})
        return rep

    def _replicates(self, seed: int | None = None) -> np.ndarray:
        """:meth:`sample_posterior_predictive`'s draws, (chains, draws, N), without adding
        them to ``idata`` (so without building it: the report's predictive check)."""
        from hbr.posterior.predictive import posterior_predictive

        self._needs_rows("replicates of the fitted rows")
        seed = self.seed if seed is None else check_int("seed", seed, 0)
        return posterior_predictive(self.spec, self.draws.posterior, seed)

    def _needs_rows(self, what: str) -> None:
        """Refuse ``what`` when the fitted rows stayed out of memory (DuckDB or Dask)."""
        self.spec.design.require_rows(
            what, instead="hbr.plots.plot_ppc(fit) checks a random sample of the rows, "
            "fit.loo() streams them, fit.predict takes rows you read")

    def predict(self, data: pd.DataFrame, kind: str = "mean", new_groups: str = "sample",
                seed: int | None = None, labelled: bool = False) -> Any:
        r"""Predictive draws (chains, draws, rows) for new rows (or the fitted ones).

        The new table is coded as the training table was (same levels, same means and sds
        for ``center``/``scale``); it needs the predictors and grouping columns, not the
        response. Summarise with :func:`hbr.posterior.predictive.summarize_predictions`.

        Parameters
        ----------
        data : pandas.DataFrame
        kind : {"mean", "response", "link"}
            "mean": the expected response :math:`g^{-1}(\eta)` per draw; "response": a new
            observation (with the noise); "link": the linear predictor :math:`\eta`.
        new_groups : {"sample", "mean"}
            A level not in the training data (a new county) gets an effect drawn from the
            population distribution :math:`N(0, \Sigma)` of each draw ("sample", default),
            or the population mean 0 ("mean"). Both average to the population prediction.
        seed : int, optional
            Default: the fit's seed.
        labelled : bool
            Return an ``xarray.DataArray`` with dimensions ``chain``, ``draw`` and ``row``
            (the table's index), named after the response and ``kind``, instead of the bare
            array.

        Examples
        --------
        >>> new = pd.DataFrame({"floor": [0, 1], "county": ["AITKIN", "NEW COUNTY"]})
        >>> pred = fit.predict(new)  # doctest: +SKIP
        >>> hbr.posterior.predictive.summarize_predictions(pred)  # doctest: +SKIP
        """
        from hbr.posterior.predictive import predict

        seed = self.seed if seed is None else check_int("seed", seed, 0)
        out = predict(self.spec, self.draws.posterior, data, kind, new_groups, seed)
        if not labelled:
            return out
        import xarray as xr

        return xr.DataArray(out, dims=("chain", "draw", "row"),
                            coords={"chain": np.arange(out.shape[0]),
                                    "draw": np.arange(out.shape[1]), "row": data.index},
                            name=f"{self.spec.design.response}_{kind}",
                            attrs={"kind": kind, "new_groups": new_groups, "seed": seed})

    def loo(self, data: Any = None, sample: int | str | None = None, seed: int = 0,
            progress: bool | None = None) -> Any:
        """PSIS leave-one-out, the rows read again in chunks (:func:`hbr.checks.loo.loo`): also
        for tables that stayed out of memory (DuckDB files, Dask), by a subsample of rows
        with the difference estimator when the table has over 50,000 rows. ``progress``: a
        bar of the rows on stderr (None: when a person is watching, a terminal or a
        notebook; False: none).

        Examples
        --------
        >>> fit.loo()  # doctest: +SKIP
        elpd_loo -1038.68 (se 28.66), p_loo 66.05, from 919 rows; Pareto k > 0.7: 2 of 919
        """
        from hbr.checks.loo import loo

        return loo(self, data, sample=sample, seed=check_int("seed", seed, 0),
                   progress=progress)

    def waic(self) -> Any:
        """WAIC (ArviZ's definition, log scale): elpd, se, p_waic; see
        :mod:`hbr.checks.waic`. PSIS-LOO (:meth:`loo`) is the better estimate."""
        from hbr.checks.waic import waic

        return waic(self)

    def sample_prior_predictive(self, draws: int = 500, seed: int | None = None
                                ) -> np.ndarray:
        """Draw the parameters from their priors (group effects from the population) and a
        response for the fitted rows given each; add the groups ``prior`` and
        ``prior_predictive`` to ``idata``.

        Returns
        -------
        ndarray (1, draws, N)
        """
        from hbr.posterior.predictive import prior_draws

        self._needs_rows("the prior predictive of the fitted rows")
        draws = check_int("draws", draws, 1)
        seed = self.seed if seed is None else check_int("seed", seed, 0)
        params, rep = prior_draws(self.spec, draws, seed)
        name = self.spec.design.response
        dims = {k: v for k, v in self.draws.dims.items() if k in params}
        self._replace_groups({"prior": {k: params[k] for k in self.draws.posterior},
                              "prior_predictive": {name: rep}},
                             {**dims, name: ["__obs__"]}, self.draws.coords)
        return rep

    def _replace_groups(self, groups: dict[str, dict[str, np.ndarray]],
                        dims: dict[str, list[str]], coords: dict | None = None) -> None:
        """Add ``groups`` to ``idata``, replacing any of the same name (rows: ``__obs__``)."""
        for group in groups:
            if group in self.idata.groups():
                delattr(self.idata, group)
        self.idata.add_groups(groups, dims=dims, coords={
            **(coords or {}), "__obs__": np.arange(self.spec.design.n_obs)})

    def report(self, path: str | os.PathLike[str], overwrite: bool = False,
               progress: bool | None = None, **kwargs: Any) -> Path:
        """Write the HTML report (:func:`hbr.report.write_report`): model, priors, verdict,
        summary, group effects and figures in one self-contained file. ``progress``: a bar
        of its sections on stderr (None: when a person is watching, a terminal or a
        notebook; False: none)."""
        from hbr.report import write_report

        return write_report(path, self, overwrite=overwrite, progress=progress, **kwargs)

    def to_netcdf(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the fit to a netCDF file atomically (ArviZ's layout, uncompressed); refuse
        to replace an existing file unless ``overwrite=True``. Open it with
        ``arviz.from_netcdf`` or :func:`hbr.load_fit`.

        Written straight from the draws (:func:`hbr.posterior.netcdf.write_draws`, no ArviZ
        import), unless ``fit.idata`` was built already, which is written as it is (it may
        hold groups added since). The pointwise log likelihood and predictive draws are
        float32 on disk, the posterior draws float64 (:mod:`hbr.posterior.netcdf` says
        why)."""
        return write_atomic(path, self.write_netcdf_to, overwrite)

    def write_netcdf_to(self, path: Path) -> None:
        """Write the netCDF file to ``path`` as it is, with no check and no rename (for
        :func:`hbr.io.write_set`; users call :meth:`to_netcdf`)."""
        if "idata" in self.__dict__ and not encoded_names(self.draws) and \
                self.draws.effect_summary is None:
            compact(self.idata).to_netcdf(str(path), compress=False)
        else:
            write_draws(self.draws, path)

    def __str__(self) -> str:
        """What ``print(fit)`` shows, as brms's ``summary``: the model, the verdict, and the
        population-level, group-level and family blocks (group effects by level:
        :meth:`ranef`, :meth:`coef`)."""
        from hbr.posterior.blocks import blocks_text

        d = self.spec.design
        text = "; ".join([self.formula] + [x.formula.text for x in d.dpars])
        head = (f"{text}  ({self.spec.family}, {self.parameterization}, seed "
                f"{self.seed}; {d.n_obs} rows)\n{self.diagnostics()}")
        return f"{head}\n\n{blocks_text(self.spec, self.summary(group_effects=False))}"

    def __repr__(self) -> str:
        d = self.spec.design
        verdict = str(self.diagnostics()).splitlines()[0]
        return f"<hbr.Fit {self.formula!r}: {d.n_obs} rows, {self.parameterization}; {verdict}>"
