"""``hbr.fit``: formula + table -> :class:`Fit` (posterior as ArviZ InferenceData)."""

from __future__ import annotations

import os
import secrets
import time
import warnings
from typing import Callable, Mapping, Sequence

import jax
import numpy as np
import pandas as pd

from hbr._version import __version__
from hbr._runtime.cache import enable_compilation_cache
from hbr.design.build import build_design
from hbr.errors import HbrWarning, OptionError
from hbr.model.families import resolve_family
from hbr._runtime.compile import apply_draws
from hbr.sources import design_for, is_dask
from hbr.io import read_table
from hbr.model.integrated import PARAMETERIZATION_NAMES, marginal_factor
from hbr.inference.methods import INITS, METHODS, method_settings
from hbr._pipeline import prepare_target, run_method
from hbr.model.spec import build_model
from hbr.posterior.draws import make_draws
from hbr.posterior.fit import Fit
from hbr.errors import check_int as _check_int
from hbr.priors import Prior

__all__ = ["fit", "Fit"]


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


def _prior_text(p: Prior | str) -> str:
    """A prior as text that parses back to the same prior (full precision)."""
    if isinstance(p, str) or any(np.ndim(v) for _, v in p.params):
        return str(p)
    return f"{p.family}({', '.join(f'{k}={float(v)!r}' for k, v in p.params)})"


def fit(formula: str | Sequence[str], data: pd.DataFrame | str | os.PathLike[str], *, chains: int = 4,
        draws: int = 1000, tune: int = 1000, seed: int | None = None,
        priors: Mapping[str, Prior | str] | None = None,
        parameterization: str | None = None, marginalize: str | None = None,
        target_accept: float = 0.9, method: str = "nuts", init: str | None = None,
        thin: int = 1, vi_steps: int = 10_000,
        family: str = "gaussian", link: str | None = None, dropna: bool = False,
        log_likelihood: bool | None = None, engine: str = "auto",
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
    data : pandas.DataFrame, path or dask.dataframe.DataFrame
        The table, or a CSV/Parquet file or glob (``"part-*.parquet"``; see ``engine``), or a
        Dask DataFrame, whose statistics Dask computes partition by partition (on the
        ``dask.distributed`` cluster when a Client exists); the same models as DuckDB.
    chains, draws, tune : int
        Number of chains (run vectorised), kept draws per chain, warm-up iterations.
    seed : int, optional
        Seed of every random choice; the same seed gives identical draws. Drawn at random
        (and recorded in ``fit.seed``) when omitted.
    priors : dict, optional
        Prior by parameter name, e.g. ``{"sigma": "HalfNormal(1)"}``.
    parameterization : {"marginal", "auto", "noncentered", "centered"}, optional
        How group effects are handled (see :mod:`hbr.density.build`). Default "marginal" for
        Gaussian models: one factor's effects are integrated out exactly and drawn back
        afterwards, so there is no funnel to fall into; the effects of other factors are
        partially centred as in "auto". "auto" samples every effect with a centred
        fraction per group chosen by a pilot fit (:mod:`hbr.density.auto`), recorded in
        ``fit.parameterization.centered_fraction``.
    marginalize : str, optional
        With "marginal": which grouping factor to integrate out (default: most levels).
    target_accept : float
        NUTS target acceptance rate in (0, 1). The default 0.9 (not 0.8) gave 0 divergences
        and higher ESS per second on Minnesota radon; raise it (0.95) if there are divergences.
    method : {"nuts", "metropolis", "advi", "fullrank_advi", "pathfinder", "map", "laplace"}
        The engine (:mod:`hbr.inference.methods`). All leave the same InferenceData layout; the
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
        "poisson" or "negative_binomial"; see :mod:`hbr.model.families`. Families other than the
        Gaussian cannot have their effects integrated out and default to "auto".
    link : str, optional
        The family's link: "logit" (default) or "probit" for bernoulli and binomial.
    dropna : bool
        Drop rows with missing values in the used columns instead of raising.
    log_likelihood : bool, optional
        Store the pointwise log likelihood (for LOO), an N x chains x draws array. By default
        it is stored when that has at most 5 x 10^7 numbers (400 MB) and skipped with a
        warning otherwise; True insists (an error above 2.5 x 10^8), False skips.
    engine : {"auto", "pandas", "duckdb"}
        How files are read. "duckdb": DuckDB computes the model's sufficient statistics in
        SQL, out of core, and the rows never enter Python (:mod:`hbr.sources.duckdb`): for
        Gaussian models with group terms on one factor, integrated out; no pointwise log
        likelihood is stored then (``fit.loo()`` streams the rows again). "pandas": read the
        table into memory. "auto": DuckDB for globs and files of 256 MB or more when the
        model allows it, pandas otherwise.
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
    formulas = [formula] if isinstance(formula, str) else list(formula)
    if not formulas:
        raise OptionError("formula is empty: give a formula such as 'y ~ x + (1 | g)'")
    design = None
    if isinstance(data, (str, os.PathLike)) or is_dask(data):
        design = design_for(formulas, data, family, parameterization, engine, dropna)
        if design is None:
            data = read_table(data)
    if design is None:
        design = build_design(formulas[0], data, dropna=dropna, dpars=tuple(formulas[1:]))
    elif log_likelihood:
        raise OptionError("log_likelihood=True needs the rows, which stayed out of memory "
                          "(DuckDB or Dask statistics); read the table with pandas to get it")
    else:
        if log_likelihood is None:
            warnings.warn(f"the {design.n_obs} rows stayed out of memory ("
                          f"{design.table_stats.engine}): the fit keeps no pointwise log "
                          "likelihood; fit.loo() reads the rows again in chunks (a sample of "
                          "rows for large tables), fit.predict works on new rows "
                          "(log_likelihood=False silences this)", HbrWarning, stacklevel=2)
        log_likelihood = False
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
        # what rebuilds the model from the data (hbr.load_fit): the priors as given
        "user_priors": {k: _prior_text(v) for k, v in (priors or {}).items()},
        "dropna": int(dropna),
        "n_obs": design.n_obs, "rows_dropped": design.n_dropped,
        "interrupted": int(res.interrupted),
        "engine": "pandas" if design.has_rows else design.table_stats.engine,
        "data_check": ("" if design.has_rows else
                       f"{design.n_obs}:{float(design.table_stats.stats.yty):.17g}"),
        "laplace_preconditioning": int(preconditioned),
        **{k: round(v, 4) for k, v in timings.items()},
    }
    if "elbo" in info:
        attrs["elbo_final"] = float(np.mean(info["elbo"][-100:]))
    return Fit(make_draws(spec, values, res.stats, ll, attrs), spec, choice, seed, timings,
               res.interrupted, info)
