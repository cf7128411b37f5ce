"""``hbr.fit``: formula + table -> :class:`Fit` (posterior as ArviZ InferenceData).

The front door reads as the pipeline: options validated once (:class:`~hbr.options.FitOptions`)
-> design (in memory, or statistics from DuckDB/Dask) -> model -> sample
(:func:`hbr._pipeline.sample`) -> the :class:`Fit` with its :class:`RunRecord`.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from hbr._pipeline import Run, sample
from hbr._runtime.progressbar import interactive
from hbr.design.build import build_design
from hbr.design.types import Design
from hbr.density.split import one_row_note
from hbr.design.checks import integer_code_note
from hbr.errors import DiagnosticsWarning, HbrWarning, OptionError
from hbr.inference import METHODS
from hbr.io import read_table
from hbr.model.spec import ModelSpec, build_model
from hbr.options import FitOptions
from hbr.posterior.draws import make_draws
from hbr.posterior.rao_blackwell import keeps_effect_draws
from hbr.posterior.fit import Fit
from hbr.posterior.record import RunRecord
from hbr.priors import Prior
from hbr.sources import design_for, is_dask

__all__ = ["fit", "fit_with", "update", "Fit"]

LOGLIK_AUTO_MAX = 50_000_000
LOGLIK_MAX = 250_000_000
STATS_PER_DRAW = 8  # the sampler's statistics kept per draw (lp, divergences, tree depth, ...)


def fit(formula: str | Sequence[str], data: pd.DataFrame | str | os.PathLike[str], *,
        chains: int = 4, draws: int = 1000, tune: int | None = None, seed: int | None = None,
        priors: Mapping[str, Prior | str] | None = None,
        parameterization: str | None = None, marginalize: str | None = None,
        target_accept: float = 0.9, method: str = "nuts", init: str | None = None,
        thin: int = 1, vi_steps: int = 10_000,
        family: str = "gaussian", link: str | None = None, dropna: bool = False,
        log_likelihood: bool | None = None, engine: str = "auto",
        progress: Callable[[int, int, str], None] | bool | None = None,
        effect_draws: str = "auto") -> Fit:
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
        Dask DataFrame, whose statistics Dask computes partition by partition.
    chains, draws, tune, seed, priors, parameterization, marginalize, target_accept, method,\
    init, thin, vi_steps, family, link, dropna, log_likelihood, engine, progress, effect_draws
        The settings, each described in :class:`hbr.options.FitOptions` (validated there):
        chains run vectorised; the same ``seed`` gives identical draws (drawn at random and
        kept in ``fit.seed`` when omitted); ``priors`` by parameter name, e.g.
        ``{"sigma": "HalfNormal(1)"}``; ``parameterization`` "marginal" (Gaussian default:
        one factor integrated out exactly), "auto", "noncentered" or "centered";
        ``method`` one of :data:`hbr.inference.METHODS`; ``family`` "gaussian",
        "lognormal", "student_t", "bernoulli", "binomial", "poisson", "negative_binomial",
        "gamma", "exponential", "weibull", "beta", "zero_inflated_poisson",
        "zero_inflated_negbinomial", "hurdle_poisson" or "hurdle_negbinomial";
        ``progress``: None (default) shows a bar on stderr when it is a terminal or in a
        Jupyter kernel, True always, False never; a function ``progress(done, total,
        phase)`` is called during sampling instead; ``effect_draws`` "drop" keeps each
        group effect's Rao-Blackwellised mean and sd instead of its draws ("auto": when
        they would exceed 256 MiB).

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
    settings = dict(chains=chains, draws=draws, tune=tune, seed=seed, priors=priors,
                    parameterization=parameterization, marginalize=marginalize,
                    target_accept=target_accept, method=method, init=init, thin=thin,
                    vi_steps=vi_steps, family=family, link=link, dropna=dropna,
                    log_likelihood=log_likelihood, engine=engine, progress=progress,
                    effect_draws=effect_draws)
    return _fit(formula, data, settings, frames=2)


def _fit(formula: Any, data: Any, settings: dict[str, Any], frames: int) -> Fit:
    """:func:`fit` with its keyword arguments as a dict; the fit remembers them (and the
    formula and the table, by reference) for :func:`update`."""
    opts = FitOptions.of(**{**settings, "progress": interactive() if settings["progress"]
                            is None else settings["progress"]})
    result = fit_with(formula, data, opts, settings["priors"], frames=frames + 1)
    result = dataclasses.replace(result, call={"formula": formula, "data": data,
                                               "settings": {**settings, "seed": opts.seed}})
    warn_verdict(result, frames=frames + 1)
    return result


def update(previous: Fit, formula: Any = None, data: Any = None, frames: int = 1,
           **changes: Any) -> Fit:
    """Fit again with a changed formula, table or setting (brms's ``update``): what is not
    given is the previous fit's (its formula, its table, its settings and seed). Programs
    are reused when the model's structure is unchanged (same compiled shapes), so new data
    of the same size recompiles nothing."""
    if "settings" not in previous.call:
        raise OptionError("this fit was not made by hbr.fit in this session (it was loaded "
                          "from a file): call hbr.fit(formula, data, ...) instead")
    settings = dict(previous.call["settings"])
    unknown = sorted(set(changes) - set(settings))
    if unknown:
        raise OptionError(f"update() does not know {', '.join(map(repr, unknown))}; it takes "
                          f"formula, data and the settings of hbr.fit: {', '.join(settings)}")
    settings.update(changes)
    return _fit(previous.call["formula"] if formula is None else formula,
                previous.call["data"] if data is None else data, settings, frames + 1)


def warn_verdict(result: Fit, frames: int = 1) -> None:
    """A :class:`~hbr.errors.DiagnosticsWarning` with the verdict when it is not OK (the
    command line prints the verdict itself). The verdict's summary is the one
    ``fit.summary()`` returns (computed once, kept)."""
    diag = result.diagnostics()
    if not diag.ok:
        warnings.warn(f"the fit of {result.formula!r} may not be reliable: {diag}\n"
                      "(the same verdict: fit.diagnostics())", DiagnosticsWarning,
                      stacklevel=1 + frames)


def fit_with(formula: str | Sequence[str], data: Any, opts: FitOptions,
             priors: Mapping[str, str | Prior] | None = None,
             before_sampling: Callable[[ModelSpec, FitOptions, bool], None] | None = None,
             frames: int = 1) -> Fit:
    """:func:`fit` with validated options; ``before_sampling(spec, opts, log_likelihood)``
    is called once the model is built, before anything is compiled or sampled (the command
    line checks there that its outputs will fit on the disk). Warnings are attributed to the
    code ``frames`` calls above this one (2 from :func:`fit`)."""
    t_start = time.perf_counter()
    design, keep_loglik = _design(_formulas(formula, data), data, opts, frames)
    if design.limited and opts.parameterization == "marginal" and not (
            opts.parameterization_given):  # censored or truncated rows: effects sampled
        opts = dataclasses.replace(opts, parameterization="auto")
    spec = build_model(design, priors, opts.family, opts.link)
    check_draw_memory(spec, opts, keep_loglik)
    for note in (one_row_note(spec), integer_code_note(design.formula, data)
                 if isinstance(data, pd.DataFrame) else None):
        if note:
            warnings.warn(note, HbrWarning, stacklevel=1 + frames)
    if before_sampling is not None:
        before_sampling(spec, opts, keep_loglik)
    keep = keep_effect_draws(spec, opts)
    if opts.progress is True:  # a bar on stderr, as the command line shows
        from hbr._runtime.progressbar import progress_bar

        bar, update = progress_bar()
        with bar:
            run = sample(spec, dataclasses.replace(opts, progress=update), keep_loglik, keep)
    else:
        run = sample(spec, opts, keep_loglik, keep)
    if run.result.interrupted:
        warnings.warn(f"sampling was interrupted after {run.result.positions.shape[1]} of "
                      f"{opts.draws} draws per chain; the draws done so far are kept and "
                      "marked partial (posterior attrs 'interrupted' = 1)", HbrWarning,
                      stacklevel=1 + frames)
    record = run_record(spec, opts, run, time.perf_counter() - t_start)
    return Fit(make_draws(spec, run.values, run.result.stats, run.log_lik, record.to_attrs(),
                          run.moments),
               spec, run.prepared.choice, opts.seed, dict(record.timings),
               run.result.interrupted, run.info)


def _formulas(formula: str | Sequence[str], data: Any = None) -> list[str]:
    """The formulas as a list, a ``.`` term expanded to the table's other columns
    (:mod:`hbr.formula.dot`)."""
    formulas = [formula] if isinstance(formula, str) else list(formula)
    if not formulas:
        raise OptionError("formula is empty: give a formula such as 'y ~ x + (1 | g)'")
    from hbr.formula.dot import expand_dot, has_dot

    if any(isinstance(f, str) and has_dot(f) for f in formulas):
        if isinstance(data, (str, os.PathLike)):
            from hbr.sources.duckdb import column_names

            columns = column_names(data)
        else:
            columns = [str(c) for c in getattr(data, "columns", [])]
        formulas = [expand_dot(f, columns) if isinstance(f, str) else f for f in formulas]
    return formulas


def _design(formulas: list[str], data: Any, opts: FitOptions, frames: int
            ) -> tuple[Design, bool]:
    """The design (rows in memory, or statistics when the rows stay in files or on a Dask
    cluster) and whether to keep the pointwise log likelihood."""
    design = None
    if isinstance(data, (str, os.PathLike)) or is_dask(data):
        design = design_for(formulas, data, opts.family, opts.parameterization, opts.engine,
                            opts.dropna)
        if design is None:
            data = read_table(data)
    if design is None:
        design = build_design(formulas[0], data, dropna=opts.dropna,
                              dpars=tuple(formulas[1:]))
        return design, _want_log_likelihood(opts.log_likelihood,
                                            design.n_obs * opts.chains * opts.draws, frames)
    if opts.log_likelihood:
        design.require_rows("log_likelihood=True")
    if opts.log_likelihood is None:
        warnings.warn(f"the {design.n_obs} rows stayed out of memory ("
                      f"{design.engine}): the fit keeps no pointwise log "
                      "likelihood; fit.loo() reads the rows again in chunks (a sample of "
                      "rows for large tables), fit.predict works on new rows "
                      "(log_likelihood=False silences this)", HbrWarning,
                      stacklevel=2 + frames)
    return design, False


def _available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (None where it cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def keep_effect_draws(spec: ModelSpec, opts: FitOptions) -> bool:
    """Whether the fit keeps every group effect's draws (``opts.effect_draws``)."""
    return keeps_effect_draws(opts.effect_draws, _n_effects(spec), opts.chains, opts.draws)


def _n_effects(spec: ModelSpec) -> int:
    return sum(g.block.n_levels * g.block.k for g in spec.groups)


def written_bytes(spec: ModelSpec, opts: FitOptions, log_likelihood: bool) -> int:
    """About the size of the fit's ``posterior.nc``: per draw of each chain, the parameters,
    the group effects, the sampler's statistics and (when kept) the pointwise log
    likelihood, plus the observed data: 8-byte numbers but the log likelihood, which is
    written as float32 (``posterior.netcdf``)."""
    keep = keep_effect_draws(spec, opts)
    per_draw = 8 * (sum(p.size for p in spec.params) + STATS_PER_DRAW
                    + (_n_effects(spec) if keep else 0))
    if log_likelihood:
        per_draw += 4 * spec.design.n_obs
    summary = 0 if keep else 24 * _n_effects(spec)  # the effect summary's columns
    return opts.chains * opts.draws * per_draw + 16 * spec.design.n_obs + summary


def check_draw_memory(spec: ModelSpec, opts: FitOptions, log_likelihood: bool,
                      available: int | None = None) -> None:
    """Before sampling: an OptionError when the draws would not fit in memory. They take
    ``chains x draws`` times 8-byte numbers: the sampler's positions (the parameters and the
    group effects it samples; integrated-out effects are not among them), the values read
    back (parameters and every group effect) and the pointwise log likelihood when kept.
    The summary works in batches of parameters and the written file from these arrays, so
    the fit is refused when half as much again exceeds the memory available (``available``
    bytes; default: MemAvailable). Measured: 10^8 rows, 2 x 10^5 integrated effects,
    4 x 1000 draws, peak 7.0 GiB against 6.5 GiB of draws (``bench/scale.py``)."""
    from hbr.model.integrated import integrated_ids, marginal_factor

    params = sum(p.size for p in spec.params)
    effects = [g.block.n_levels * g.block.k for g in spec.groups]
    integrated: set[int] = set()
    if opts.parameterization == "marginal" and spec.groups:
        try:
            integrated = set(integrated_ids(spec, marginal_factor(spec, opts.marginalize)))
        except OptionError:  # reported where it belongs, with its own message
            integrated = set()
    per_draw = (params + sum(e for i, e in enumerate(effects) if i not in integrated)
                + params + (sum(effects) if keep_effect_draws(spec, opts) else 0)
                + STATS_PER_DRAW)
    if log_likelihood:
        per_draw += spec.design.n_obs
    need = 8 * opts.chains * opts.draws * per_draw
    avail = _available_bytes() if available is None else available
    if avail is not None and 1.5 * need > avail:
        fit_draws = max(1, int(avail / 1.5 / 8 / opts.chains / per_draw))
        raise OptionError(f"{opts.chains} chains x {opts.draws} draws of this model hold "
                          f"{need / 2**30:.1f} GiB of numbers, and with the summary and the "
                          f"written file about half as much again, but only "
                          f"{avail / 2**30:.1f} GiB of memory is available; ask for at most "
                          f"about {fit_draws} draws per chain (--draws), or fewer chains")


def _want_log_likelihood(requested: bool | None, size: int, frames: int = 1) -> bool:
    if requested is False:
        return False
    if requested is None:
        if size <= LOGLIK_AUTO_MAX:
            return True
        warnings.warn(f"the pointwise log likelihood would hold {size:.3g} numbers "
                      f"({size * 8 / 2**30:.1f} GiB), so it was not stored and LOO is not "
                      "available; pass log_likelihood=True with fewer draws to keep it",
                      HbrWarning, stacklevel=3 + frames)
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


def run_record(spec: ModelSpec, opts: FitOptions, run: Run, total_s: float) -> RunRecord:
    """What the fit records about itself (the netCDF attrs; :func:`hbr.load_fit` reads it)."""
    design, prep, res = spec.design, run.prepared, run.result
    timings = dict(res.timings)
    if prep.pilot_s is not None:
        timings["pilot_s"] = prep.pilot_s
    timings["total_s"] = total_s
    elbo = float(np.mean(run.info["elbo"][-100:])) if "elbo" in run.info else None
    return RunRecord(
        formula=design.formula.text, family=opts.family, link=opts.link, method=opts.method,
        seed=opts.seed, chains=opts.chains, draws=opts.draws, tune=run.tune,
        target_accept=opts.target_accept, parameterization=opts.parameterization,
        user_priors={k: _prior_text(v) for k, v in (opts.priors or {}).items()},
        priors={k: str(v) for k, v in spec.priors.items()},
        dpar_formulas=tuple(d.formula.text for d in design.dpars), init=opts.init,
        thin=opts.thin, vi_steps=opts.vi_steps if "advi" in opts.method else 0,
        method_settings=METHODS[opts.method].settings(opts.run),
        marginalized_factor=prep.choice.marginalized,
        centered_fraction=prep.choice.rounded_fractions(), dropna=opts.dropna,
        n_obs=design.n_obs, rows_dropped=design.n_dropped, interrupted=res.interrupted,
        engine=design.engine,
        data_check=("" if design.has_rows else
                    f"{design.n_obs}:{float(design.table_stats.stats.yty):.17g}"),
        laplace_preconditioning=prep.preconditioned, timings=timings, elbo_final=elbo,
        collapsed_rows=prep.density.collapsed_rows)
