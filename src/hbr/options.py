"""Every setting of a fit, validated once at the boundary into a frozen :class:`FitOptions`
(lme4's ``lmerControl()``); below it the pipeline passes this value, not keywords or dicts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from hbr.errors import OptionError, check_int
from hbr.inference import INITS, METHODS, RunOptions
from hbr.model.families import resolve_family
from hbr.model.integrated import PARAMETERIZATION_NAMES
from hbr.priors import Prior

__all__ = ["FitOptions", "ENGINES", "EFFECT_DRAWS"]

ENGINES = ("auto", "pandas", "duckdb")
EFFECT_DRAWS = ("auto", "keep", "drop")


@dataclass(frozen=True)
class FitOptions:
    """The settings of :func:`hbr.fit`, checked once (:meth:`of`).

    ``seed`` is always an int here (drawn at random when the user gave none), ``link`` and
    ``parameterization`` are resolved to the family's defaults.

    Attributes
    ----------
    chains, draws : int
        Number of chains, kept draws per chain.
    tune : int, optional
        Warm-up iterations per chain (discarded). Default (None): 500 for NUTS when the
        Laplace pilot whitened the model (every group factor integrated out, or none), whose
        adaptation then only refines a mass matrix near the posterior's, else 1000
        (:func:`hbr.inference.table.default_tune`).
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
        "gaussian" (default), "lognormal", "student_t", "bernoulli", "binomial"
        (``y | trials(n) ~``), "poisson", "negative_binomial", "gamma", "exponential",
        "weibull", "beta", "zero_inflated_poisson", "zero_inflated_negbinomial",
        "hurdle_poisson" or "hurdle_negbinomial"; see :mod:`hbr.model.families`. Families other than the
        Gaussian and lognormal cannot have their effects integrated out and default to
        "auto".
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
    progress : bool or callable, optional
        True: a progress bar on stderr; a function: ``progress(done, total, phase)``
        called during sampling; False or None: nothing.
    effect_draws : {"auto", "keep", "drop"}
        Whether the draws of every group effect are kept. "drop": the posterior keeps the
        fixed effects and hyperparameters only, and each group effect is summarised by its
        Rao-Blackwellised mean and sd (averages of its exact conditional moments over the
        draws, :mod:`hbr.posterior.rao_blackwell`), computed batch by batch without holding
        the draws; predictions, plots and LOO then need a refit with "keep". "auto": "drop"
        when the effects' draws would take more than
        :data:`~hbr.posterior.rao_blackwell.EFFECT_DRAWS_AUTO_BYTES` (256 MiB: 10^4 levels
        of two coefficients, 4 x 1000 draws, are 640 MB), "keep" otherwise.
    """

    chains: int = 4
    draws: int = 1000
    tune: int | None = None
    seed: int = 0
    priors: Mapping[str, Prior | str] | None = None
    parameterization: str = "marginal"
    marginalize: str | None = None
    parameterization_given: bool = False  # asked for by name (else the family's default)
    target_accept: float = 0.9
    method: str = "nuts"
    init: str | None = None
    thin: int = 1
    vi_steps: int = 10_000
    family: str = "gaussian"
    link: str = "identity"
    dropna: bool = False
    log_likelihood: bool | None = None
    engine: str = "auto"
    progress: Callable[[int, int, str], None] | bool | None = None
    effect_draws: str = "auto"

    @classmethod
    def of(cls, **kw: Any) -> "FitOptions":
        """Validate keyword settings (those of :func:`hbr.fit`) into a FitOptions; errors
        name the option, the bad value, the choices and the fix."""
        o = {**{f: getattr(cls, f) for f in cls.__dataclass_fields__}, **kw}
        for name, low in (("chains", 1), ("draws", 1), ("tune", 0), ("thin", 1),
                          ("vi_steps", 1)):
            if name != "tune" or o[name] is not None:
                o[name] = check_int(name, o[name], low)
        _check_method(o["method"], o["init"])
        o["seed"] = check_int("seed", secrets.randbits(31) if kw.get("seed") is None
                              else o["seed"], 0)
        ta = o["target_accept"]
        if isinstance(ta, bool) or not isinstance(ta, (int, float)) or not 0 < ta < 1:
            raise OptionError(f"target_accept must be a number between 0 and 1 (e.g. 0.8 or "
                              f"0.95), got {ta!r}")
        o["target_accept"] = float(ta)
        fam, o["link"] = resolve_family(o["family"], kw.get("link"))
        o["family"] = fam.name  # brms's "negbinomial", Bambi's "t": hbr's name from here on
        o["parameterization"] = _parameterization(kw.get("parameterization"), fam.marginal,
                                                  o["marginalize"])
        o["parameterization_given"] = kw.get("parameterization") is not None
        pr = o["progress"]
        if pr is False:
            o["progress"] = None
        elif pr is not None and pr is not True and not callable(pr):
            raise OptionError(f"progress must be True (a bar on stderr), False or a function "
                              f"progress(done, total, phase), got {pr!r}")
        if o["engine"] not in ENGINES:
            raise OptionError(f"engine={o['engine']!r} is not available; choose 'auto', "
                              "'pandas' or 'duckdb'")
        if o["effect_draws"] not in EFFECT_DRAWS:
            raise OptionError(f"effect_draws={o['effect_draws']!r} is not available; choose "
                              "'auto', 'keep' (every group effect's draws) or 'drop' (their "
                              "Rao-Blackwellised means and sds only)")
        return cls(**o)

    @property
    def run(self) -> RunOptions:
        """What the engine reads."""
        return RunOptions(self.chains, self.draws, self.tune, self.thin, self.vi_steps,
                          self.target_accept, self.init, self.progress)


def _check_method(method: str, init: str | None) -> None:
    if method not in METHODS:
        raise OptionError(f"method={method!r} is not available; choose one of "
                          f"{', '.join(METHODS)}")
    if init is not None and (method != "nuts" or init not in INITS):
        raise OptionError(f"init={init!r} is not available with method={method!r}; init is "
                          f"for method='nuts' and one of {', '.join(INITS)}")


def _parameterization(requested: str | None, marginal_ok: bool, marginalize: str | None
                      ) -> str:
    p = requested if requested is not None else ("marginal" if marginal_ok else "auto")
    if p not in PARAMETERIZATION_NAMES:
        raise OptionError(f"parameterization={p!r} is not available; choose one "
                          f"of {', '.join(PARAMETERIZATION_NAMES)}")
    if marginalize is not None and p != "marginal":
        raise OptionError(f"marginalize={marginalize!r} only applies with "
                          f"parameterization='marginal', not {p!r}")
    return p
