"""``hbr.fit``: formula + table -> :class:`Fit` (posterior as ArviZ InferenceData)."""

from __future__ import annotations

import functools
import os
import secrets
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
import pandas as pd

from hbr import __version__
from hbr._cache import enable_compilation_cache
from hbr.design import build_design
from hbr.diagnostics import Diagnostics, diagnose
from hbr.errors import HbrWarning, OptionError
from hbr.families import resolve_family
from hbr.infer import apply_draws
from hbr.io import read_table, write_atomic
from hbr.logdensity import PARAMETERIZATION_NAMES, integrated_ids, marginal_factor
from hbr.methods import INITS, METHODS, method_settings
from hbr._run import ParameterizationChoice, prepare_target, run_method
from hbr.model import ModelSpec, build_model
from hbr.posterior import Draws, hyper_names, make_draws, summarize
from hbr.priors import Prior

__all__ = ["fit", "Fit"]


@dataclass(frozen=True, eq=False)
class Fit:
    """The result of :func:`fit`.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior``, ``sample_stats``, ``observed_data``, ``log_likelihood``; built from
        ``draws`` on first use (so a script that only reads the summary never imports ArviZ).
    draws : hbr.posterior.Draws
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
        if var_names is None:
            return self._full_summary.copy()
        return summarize(self.draws, var_names, self.spec)

    def diagnostics(self) -> Diagnostics:
        """Divergences, R-hat, ESS and E-BFMI, with advice (see :mod:`hbr.diagnostics`)."""
        name = self.parameterization.name
        if name == "marginal" and len(integrated_ids(
                self.spec, self.parameterization.marginalized)) == len(self.spec.groups):
            name = "marginal-exact"  # nothing sampled: advice about the hyperparameters
        return diagnose(self.draws, parameterization=name, summary=self._full_summary)

    def map_vs_mean(self) -> pd.DataFrame:
        """Posterior mean and sd next to the modes of the same model: marginal (empirical
        Bayes), joint non-centred and joint centred (which has none); see
        :func:`hbr.modes.map_vs_mean`."""
        from hbr.modes import map_vs_mean

        return map_vs_mean(self)

    def sample_posterior_predictive(self, seed: int | None = None) -> np.ndarray:
        r"""Replicate the response once per posterior draw, for the fitted rows
        (:func:`hbr.predictive.posterior_predictive`), and add it to ``idata`` as the group
        ``posterior_predictive`` (variable named after the response, dimension ``__obs__``).

        Parameters
        ----------
        seed : int, optional
            Default: the fit's seed, so that repeating the call gives the same draws.

        Returns
        -------
        ndarray (chains, draws, N)
        """
        from hbr.predictive import posterior_predictive

        seed = self.seed if seed is None else _check_int("seed", seed, 0)
        rep = posterior_predictive(self.spec, self.draws.posterior, seed)
        name = self.spec.design.response
        if "posterior_predictive" in self.idata.groups():
            del self.idata.posterior_predictive
        self.idata.add_groups({"posterior_predictive": {name: rep}},
                              dims={name: ["__obs__"]},
                              coords={"__obs__": np.arange(self.spec.design.n_obs)})
        return rep

    def predict(self, data: pd.DataFrame, kind: str = "mean", new_groups: str = "sample",
                seed: int | None = None) -> np.ndarray:
        r"""Predictive draws (chains, draws, rows) for new rows (or the fitted ones).

        The new table is coded as the training table was (same levels, same means and sds
        for ``center``/``scale``); it needs the predictors and grouping columns, not the
        response. Summarise with :func:`hbr.predictive.summarize_predictions`.

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

        Examples
        --------
        >>> new = pd.DataFrame({"floor": [0, 1], "county": ["AITKIN", "NEW COUNTY"]})
        >>> pred = fit.predict(new)  # doctest: +SKIP
        >>> hbr.predictive.summarize_predictions(pred)  # doctest: +SKIP
        """
        from hbr.predictive import predict

        seed = self.seed if seed is None else _check_int("seed", seed, 0)
        return predict(self.spec, self.draws.posterior, data, kind, new_groups, seed)

    def sample_prior_predictive(self, draws: int = 500, seed: int | None = None
                                ) -> np.ndarray:
        """Draw the parameters from their priors (group effects from the population) and a
        response for the fitted rows given each; add the groups ``prior`` and
        ``prior_predictive`` to ``idata``.

        Returns
        -------
        ndarray (1, draws, N)
        """
        from hbr.predictive import prior_draws

        draws = _check_int("draws", draws, 1)
        seed = self.seed if seed is None else _check_int("seed", seed, 0)
        params, rep = prior_draws(self.spec, draws, seed)
        name = self.spec.design.response
        for group in ("prior", "prior_predictive"):
            if group in self.idata.groups():
                delattr(self.idata, group)
        dims = {k: v for k, v in self.draws.dims.items() if k in params}
        self.idata.add_groups({"prior": {k: params[k] for k in self.draws.posterior},
                               "prior_predictive": {name: rep}},
                              dims={**dims, name: ["__obs__"]},
                              coords={**self.draws.coords,
                                      "__obs__": np.arange(self.spec.design.n_obs)})
        return rep

    def to_netcdf(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write ``idata`` to a netCDF file atomically; refuse to replace an existing file
        unless ``overwrite=True``. Open it with ``arviz.from_netcdf``."""
        return write_atomic(path, lambda tmp: self.idata.to_netcdf(str(tmp)), overwrite)

    def __repr__(self) -> str:
        d = self.spec.design
        return (f"<hbr.Fit {self.formula!r}: {d.n_obs} rows, {self.parameterization}, "
                f"{self.draws.chains} chains x {self.draws.n_draws} draws>")


LOGLIK_AUTO_MAX = 50_000_000
LOGLIK_MAX = 250_000_000


def _want_log_likelihood(requested: bool | None, size: int) -> bool:
    if requested is False:
        return False
    if requested is None:
        if size <= LOGLIK_AUTO_MAX:
            return True
        warnings.warn(f"the pointwise log likelihood would hold {size:.3g} numbers "
                      f"({size * 8 / 2**30:.1f} GiB), so it was not stored and LOO is not "
                      "available; pass log_likelihood=True with fewer draws to keep it",
                      HbrWarning, stacklevel=3)
        return False
    if size > LOGLIK_MAX:
        raise OptionError(f"log_likelihood=True needs {size:.3g} numbers "
                          f"({size * 8 / 2**30:.1f} GiB) for N x chains x draws; reduce draws "
                          f"or chains so that the product stays below {LOGLIK_MAX:.1e}, or "
                          "pass log_likelihood=False")
    return True


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OptionError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def fit(formula: str | Sequence[str], data: pd.DataFrame | str | os.PathLike[str], *, chains: int = 4,
        draws: int = 1000, tune: int = 1000, seed: int | None = None,
        priors: Mapping[str, Prior | str] | None = None,
        parameterization: str | None = None, marginalize: str | None = None,
        target_accept: float = 0.9, method: str = "nuts", init: str | None = None,
        thin: int = 1, vi_steps: int = 10_000,
        family: str = "gaussian", link: str | None = None, dropna: bool = False, log_likelihood: bool | None = None,
        progress: Callable[[int, int, str], None] | None = None) -> Fit:
    r"""Fit a Bayesian hierarchical regression (NUTS by default).

    The model for ``y ~ x + (x | g)`` is

    .. math::
        y_i \sim N(\beta_0 + \beta_1 x_i + b_{0,g[i]} + b_{1,g[i]} x_i,\ \sigma^2), \quad
        b_j \sim N(0,\ \mathrm{diag}(s) R\, \mathrm{diag}(s)),

    with the priors of :mod:`hbr.priors` (data-scaled defaults, overridable by name).

    Parameters
    ----------
    formula : str or list of str
        lme4/brms syntax, see :mod:`hbr.formula`. A list adds formulas for parameters of the
        family, brms style: ``["price ~ area + (area | zip)", "sigma ~ 1 + (1 | zip)"]``
        lets log sigma vary by ZIP code (hierarchical prior on the ZIP effects).
    data : pandas.DataFrame or path
        The table, or a CSV/Parquet file.
    chains, draws, tune : int
        Number of chains (run vectorised), kept draws per chain, warm-up iterations.
    seed : int, optional
        Seed of every random choice; the same seed gives identical draws. Drawn at random
        (and recorded in ``fit.seed``) when omitted.
    priors : dict, optional
        Prior by parameter name, e.g. ``{"sigma": "HalfNormal(1)"}``.
    parameterization : {"marginal", "auto", "noncentered", "centered"}, optional
        How group effects are handled (see :mod:`hbr.logdensity`). Default "marginal" for
        Gaussian models: one factor's effects are integrated out exactly and drawn back
        afterwards, so there is no funnel to fall into; the effects of other factors are
        partially centred as in "auto". "auto" samples every effect with a centred
        fraction per group chosen by a pilot fit (:mod:`hbr.pilot`), recorded in
        ``fit.parameterization.centered_fraction``.
    marginalize : str, optional
        With "marginal": which grouping factor to integrate out (default: most levels).
    target_accept : float
        NUTS target acceptance rate in (0, 1). The default 0.9 (not 0.8) gave 0 divergences
        and higher ESS per second on Minnesota radon; raise it (0.95) if there are divergences.
    method : {"nuts", "metropolis", "advi", "fullrank_advi", "pathfinder", "map", "laplace"}
        The engine (:mod:`hbr.methods`). All leave the same InferenceData layout; the
        approximations (ADVI, Pathfinder, Laplace) leave ``chains x draws`` independent draws
        of the approximation and "map" a single draw, the mode; ``fit.diagnostics()`` gives
        their Pareto k. ``fit.info["elbo"]`` holds the ELBO trace of ADVI (after each step)
        and Pathfinder (one per path).
    init : {"map", "advi", "pathfinder"}, optional
        NUTS only: start each chain at a draw of this approximation and start the mass
        matrix at its variances (default: random points in (-2, 2), unit mass matrix).
    thin : int
        Metropolis only: keep every ``thin``-th step (``tune`` and ``draws`` count kept ones).
    vi_steps : int
        ADVI optimisation steps (Adam, learning rate 0.01 decaying to 1e-4).
    family : str
        "gaussian" (default), "student_t", "bernoulli", "binomial" (``y | trials(n) ~``),
        "poisson" or "negative_binomial"; see :mod:`hbr.families`. Families other than the
        Gaussian cannot have their effects integrated out and default to "auto".
    link : str, optional
        The family's link: "logit" (default) or "probit" for bernoulli and binomial.
    dropna : bool
        Drop rows with missing values in the used columns instead of raising.
    log_likelihood : bool, optional
        Store the pointwise log likelihood (for LOO), an N x chains x draws array. By default
        it is stored when that has at most 5 x 10^7 numbers (400 MB) and skipped with a
        warning otherwise; True insists (an error above 2.5 x 10^8), False skips.
    progress : callable, optional
        ``progress(done, total, phase)`` called during sampling.

    Returns
    -------
    Fit

    Examples
    --------
    >>> import hbr
    >>> radon = hbr.load_dataset("radon")
    >>> mn = radon[radon.state == "MN"]
    >>> f = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=1)  # doctest: +SKIP
    >>> f.summary(group_effects=False)  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    chains = _check_int("chains", chains, 1)
    draws = _check_int("draws", draws, 1)
    tune = _check_int("tune", tune, 0)
    thin = _check_int("thin", thin, 1)
    vi_steps = _check_int("vi_steps", vi_steps, 1)
    if method not in METHODS:
        raise OptionError(f"method={method!r} is not available; choose one of "
                          f"{', '.join(METHODS)}")
    if init is not None and (method != "nuts" or init not in INITS):
        raise OptionError(f"init={init!r} is not available with method={method!r}; init is "
                          f"for method='nuts' and one of {', '.join(INITS)}")
    if seed is None:
        seed = secrets.randbits(31)
    seed = _check_int("seed", seed, 0)
    if not isinstance(target_accept, (int, float)) or not 0 < target_accept < 1:
        raise OptionError(f"target_accept must be a number between 0 and 1 (e.g. 0.8 or 0.95), "
                          f"got {target_accept!r}")
    fam, link = resolve_family(family, link)
    if parameterization is None:
        parameterization = "marginal" if fam.marginal else "auto"
    if parameterization not in PARAMETERIZATION_NAMES:
        raise OptionError(f"parameterization={parameterization!r} is not available; choose one "
                          f"of {', '.join(PARAMETERIZATION_NAMES)}")
    if marginalize is not None and parameterization != "marginal":
        raise OptionError(f"marginalize={marginalize!r} only applies with "
                          f"parameterization='marginal', not {parameterization!r}")
    if isinstance(data, (str, os.PathLike)):
        data = read_table(data)
    formulas = [formula] if isinstance(formula, str) else list(formula)
    if not formulas:
        raise OptionError("formula is empty: give a formula such as 'y ~ x + (1 | g)'")
    design = build_design(formulas[0], data, dropna=dropna, dpars=tuple(formulas[1:]))
    log_likelihood = _want_log_likelihood(log_likelihood, design.n_obs * chains * draws)
    spec = build_model(design, priors, family, link)
    mfactor = marginal_factor(spec, marginalize) if parameterization == "marginal" else None
    enable_compilation_cache()
    with jax.enable_x64(True):
        target, choice, pilot_s, preconditioned, imm = prepare_target(
            spec, parameterization, mfactor, seed, mass_matrix=method == "nuts")
        res, info, target = run_method(method, target, jax.random.PRNGKey(seed), imm, init,
                                       dict(chains=chains, draws=draws, tune=tune, thin=thin,
                                            vi_steps=vi_steps,
                                            target_accept=float(target_accept),
                                            progress=progress))
        # group effects integrated out are drawn from their exact conditional, one key per
        # draw; the pointwise log likelihood uses the same keys, hence the same effects
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
        if log_likelihood:  # one pass (one program) for both
            values, ll = apply_draws(
                lambda z, k, dr: (target.constrain(z, k, dr[0]),
                                  target.pointwise_loglik(z, k, *dr)),
                res.positions, key, (target.data, target.rows),
                cache_key=(target.output_signature, "constrain+loglik"))
        else:
            values, ll = apply_draws(target.constrain, res.positions, key, target.data,
                                     cache_key=(target.output_signature, "constrain")), None
    if res.interrupted:
        warnings.warn(f"sampling was interrupted after {res.positions.shape[1]} of {draws} "
                      "draws per chain; the draws done so far are kept and marked partial "
                      "(posterior attrs 'interrupted' = 1)", HbrWarning, stacklevel=2)
    timings = dict(res.timings)
    if pilot_s is not None:
        timings["pilot_s"] = pilot_s
    timings["total_s"] = time.perf_counter() - t_start
    attrs = {
        "inference_library": "hbr", "inference_library_version": __version__,
        "formula": design.formula.text, "family": family, "link": link, "method": method,
        "dpar_formulas": "; ".join(d.formula.text for d in design.dpars),
        "init": init or "", "thin": thin, "vi_steps": vi_steps if "advi" in method else 0,
        "method_settings": method_settings(method, thin=thin, vi_steps=vi_steps,
                                           target_accept=float(target_accept)),
        "parameterization": parameterization, "marginalized_factor": mfactor or "",
        "centered_fraction": choice.to_json(),
        "seed": seed, "chains": chains,
        "draws": draws, "tune": tune, "target_accept": float(target_accept),
        "priors": {k: str(v) for k, v in spec.priors.items()},
        "n_obs": design.n_obs, "rows_dropped": design.n_dropped,
        "interrupted": int(res.interrupted),
        "laplace_preconditioning": int(preconditioned),
        **{k: round(v, 4) for k, v in timings.items()},
    }
    if "elbo" in info:
        attrs["elbo_final"] = float(np.mean(info["elbo"][-100:]))
    return Fit(make_draws(spec, values, res.stats, ll, attrs), spec, choice, seed, timings,
               res.interrupted, info)
