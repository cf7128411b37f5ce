r"""Response families and links: one small table (DESIGN.md style rule 4).

=====================  ==================  ==================  ===========================
family                 links (default 1st)  extra parameters    response
=====================  ==================  ==================  ===========================
``gaussian``           identity             ``sigma``           real numbers
``lognormal``          identity             ``sigma``           positive amounts (log y Gaussian)
``student_t``          identity             ``sigma``, ``nu``   real numbers
``bernoulli``          logit, probit        (none)              0 or 1 (or True/False)
``binomial``           logit, probit        (none)              successes 0..n, with
                                                                ``y | trials(n) ~ ...``
``poisson``            log                  (none)              counts 0, 1, 2, ...
``negative_binomial``  log                  ``phi``             counts 0, 1, 2, ...
``gamma``              log                  ``shape``           positive amounts
``exponential``        log                  (none)              positive amounts, times
``weibull``            log                  ``shape``           positive amounts, times
``beta``               logit                ``phi``             proportions in (0, 1)
``zero_inflated_        log                  ``zi``              counts with extra zeros
poisson``
``zero_inflated_        log                  ``phi``, ``zi``     counts with extra zeros
negbinomial``
``hurdle_poisson``     log                  ``hu``              counts, zeros apart
``hurdle_negbinomial`` log                  ``phi``, ``hu``     counts, zeros apart
=====================  ==================  ==================  ===========================

With linear predictor :math:`\eta_i` (fixed and group effects plus any ``offset()``) and
:math:`\mu_i = g^{-1}(\eta_i)`:

* gaussian: :math:`y_i \sim N(\mu_i, \sigma^2)`; with ``y | se(s)`` the known standard error
  replaces :math:`\sigma` (``se(s, sigma=True)``: :math:`N(\mu_i, \sigma^2 + s_i^2)`).
* lognormal: :math:`\log y_i \sim N(\mu_i, \sigma^2)`, mean :math:`e^{\mu_i + \sigma^2/2}`;
  the log density is the Gaussian one of :math:`\log y` less :math:`\sum_i \log y_i`, so
  its group effects are integrated out exactly as the Gaussian family's.
* student_t: :math:`y_i \sim t_\nu(\mu_i, \sigma)` (robust regression).
* bernoulli: :math:`P(y_i = 1) = \mu_i`; binomial: :math:`y_i \sim \mathrm{Bin}(n_i, \mu_i)`.
* poisson: :math:`y_i \sim \mathrm{Poisson}(\mu_i)`; ``offset(log(exposure))`` for rates.
* negative_binomial: mean :math:`\mu_i`, variance :math:`\mu_i + \mu_i^2 / \phi`
  (:math:`\phi \to \infty` is Poisson).
* gamma: :math:`y_i \sim \mathrm{Gamma}(\alpha, \alpha / \mu_i)` (shape, rate): mean
  :math:`\mu_i`, variance :math:`\mu_i^2 / \alpha` (brms's and Bambi's parameterisation).
* exponential: :math:`y_i \sim \mathrm{Exponential}(1 / \mu_i)`, mean :math:`\mu_i`.
* weibull: shape :math:`k` and scale :math:`\lambda_i = \mu_i / \Gamma(1 + 1/k)`, so that
  :math:`\mu_i` is the mean (brms's parameterisation).
* beta: :math:`y_i \sim \mathrm{Beta}(\mu_i\phi, (1 - \mu_i)\phi)`: mean :math:`\mu_i`,
  variance :math:`\mu_i(1 - \mu_i) / (1 + \phi)` (Ferrari & Cribari-Neto 2004; brms's).
* zero-inflated (brms's ``zero_inflated_poisson``, ``zero_inflated_negbinomial``): a zero
  from a separate process with probability :math:`\pi` (``zi``), else a count of the base
  family, :math:`p(y) = \pi [y = 0] + (1 - \pi) f(y \mid \mu)`; mean :math:`(1 - \pi)\mu`.
* hurdle (``hurdle_poisson``, ``hurdle_negbinomial``): zero with probability :math:`h`
  (``hu``), else a count of the base family truncated at zero,
  :math:`p(y) = (1 - h) f(y \mid \mu) / (1 - f(0 \mid \mu))` for :math:`y > 0`; mean
  :math:`(1 - h)\mu / (1 - f(0 \mid \mu))`. :math:`\mu` is the base family's mean, as in brms.

Default priors of the extra parameters (overridable by name, like every prior):
``sigma`` :math:`\mathrm{Exponential}(1/s_y)`, ``nu`` :math:`\mathrm{Gamma}(2, 0.1)` (as brms),
``phi`` :math:`\mathrm{Exponential}(0.1)` (mean 10; P(phi < 1) = 0.1), ``shape``
:math:`\mathrm{Gamma}(0.01, 0.01)` (as brms: nearly flat on the log scale), ``zi`` and ``hu``
:math:`\mathrm{Beta}(1, 1)` (uniform, as brms).
Only the Gaussian and lognormal families have their group effects integrated out exactly
("marginal"); the others are sampled with per-group partial centring ("auto", :mod:`hbr.density.auto`).

This module never imports JAX: the log likelihoods are in :mod:`hbr.density.likelihoods`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hbr.errors import OptionError
from hbr.model.links import LINKS
from hbr.priors import Beta, Exponential, Gamma, Prior, StudentT

__all__ = ["Family", "FAMILIES", "AUX_PRIORS", "AUX_DOMAINS", "ALIASES", "CENSORABLE",
           "CONTINUOUS", "canonical_family", "resolve_family", "simulate_response",
           "weibull_scale", "zero_probability", "inverse_link", "dpar_link"]

# default prior of each extra parameter, given the response's scale s_y (identity link)
AUX_PRIORS: dict[str, Callable[[float], Prior]] = {
    "sigma": lambda sy: Exponential(1.0 / sy),
    "nu": lambda sy: Gamma(2.0, 0.1),
    "phi": lambda sy: Exponential(0.1),
    "shape": lambda sy: Gamma(0.01, 0.01),
    "zi": lambda sy: Beta(1.0, 1.0),
    "hu": lambda sy: Beta(1.0, 1.0),
    "Intercept": lambda sy: StudentT(3.0, 0.0, 2.5),  # each ordinal threshold (brms's)
}
# where each extra parameter lives (hbr.model.spec): positive unless named here; the
# thresholds of an ordinal family are an increasing vector ("ordered")
AUX_DOMAINS: dict[str, str] = {"zi": "unit", "hu": "unit", "Intercept": "ordered"}


def dpar_link(name: str) -> str:
    """The link of a family parameter modelled by its own formula (``zi ~ z``): logit for
    the probabilities (zi, hu), log for the positive ones (sigma, nu, phi, shape)."""
    return "logit" if AUX_DOMAINS.get(name) == "unit" else "log"


@dataclass(frozen=True)
class Family:
    r"""One row of the family table.

    Attributes
    ----------
    name : str
    links : tuple of str
        Allowed links, the default first.
    aux : tuple of str
        Extra (scalar, positive) parameters besides the linear predictor.
    response : str
        "real", "binary", "successes" (needs ``trials()``), "count", "positive" (y > 0),
        "unit" (0 < y < 1) or "ordinal" (categories 1, 2, ..., K).
    marginal : bool
        Whether the group effects can be integrated out exactly.
    simulate : callable
        ``simulate(mu, aux, rng, trials, se)``: draws of y given the mean ``mu`` (the
        inverse link of the linear predictor) and the extra parameters ``aux``.
    expected : callable
        ``expected(mu, trials, aux)``: the mean of y (``mu`` times the trials for the
        binomial; :math:`e^{\mu + \sigma^2/2}` for the lognormal, ``aux["sigma"]`` the
        residual sd; :math:`(1 - \pi)\mu` for a zero-inflated family).
    log_response : bool
        The log density is the Gaussian one of :math:`\log y` (the lognormal): the
        statistics, the least-squares start and the default priors are on that scale.
    zeros : str or None
        "inflated" or "hurdle": a mixture with a point mass at zero over the count family
        ``base`` (brms's ``zero_inflated_*`` and ``hurdle_*``).
    base : str or None
        The family whose counts the zero part mixes with.
    ordinal : bool
        brms's ``cumulative``: :math:`P(y \le k) = F(\tau_k - \eta)` with thresholds
        :math:`\tau_1 < \dots < \tau_{K-1}` (``Intercept[1]``, ...) and F the link's
        distribution function (logistic, normal); the linear predictor has no intercept.
        Its draws and mean take :math:`\eta` itself (:func:`hbr.model.ordinal.ordinal_draws`,
        :func:`hbr.model.ordinal.ordinal_mean`), not :math:`g^{-1}(\eta)`.
    """

    name: str
    links: tuple[str, ...]
    aux: tuple[str, ...]
    response: str
    marginal: bool = False
    simulate: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    expected: Callable[..., np.ndarray] = field(
        default=lambda mu, trials, aux: mu, repr=False)
    log_response: bool = False
    zeros: str | None = None
    base: str | None = None
    ordinal: bool = False


def _gaussian(mu: np.ndarray, aux: dict, rng: np.random.Generator, trials: Any, se: Any
              ) -> np.ndarray:
    sd = aux.get("sigma", 0.0) if se is None else np.sqrt(se**2 + aux.get("sigma", 0.0)**2)
    return mu + sd * rng.standard_normal(mu.shape)


def _negative_binomial(mu: np.ndarray, aux: dict, rng: np.random.Generator, trials: Any,
                       se: Any) -> np.ndarray:
    phi = aux["phi"]
    return rng.poisson(rng.gamma(phi, mu / phi)).astype(float)


def weibull_scale(mu: Any, shape: Any) -> Any:
    r""":math:`\lambda = \mu / \Gamma(1 + 1/k)`: the scale whose Weibull has mean ``mu``."""
    from scipy.special import gammaln

    return mu * np.exp(-gammaln(1.0 + 1.0 / np.asarray(shape, dtype=float)))


def _weibull(mu: np.ndarray, aux: dict, rng: np.random.Generator, trials: Any, se: Any
             ) -> np.ndarray:
    k = aux["shape"]
    return weibull_scale(mu, k) * rng.weibull(k, np.shape(mu))


def zero_probability(base: str, mu: Any, aux: dict) -> Any:
    r""":math:`f(0 \mid \mu)` of a count family: :math:`e^{-\mu}` (Poisson),
    :math:`(\phi / (\phi + \mu))^\phi` (negative binomial)."""
    if base == "poisson":
        return np.exp(-mu)
    phi = aux["phi"]
    return np.exp(phi * (np.log(phi) - np.log(phi + mu)))


def _positive_counts(base: str, mu: np.ndarray, aux: dict, rng: np.random.Generator
                     ) -> np.ndarray:
    """Draws of the base count family truncated at zero (y >= 1), exactly, by the inverse
    of its distribution function on (f(0), 1)."""
    from scipy import stats

    mu = np.asarray(mu, dtype=float)
    p0 = zero_probability(base, mu, aux)
    q = p0 + rng.random(mu.shape) * (1.0 - p0)
    if base == "poisson":
        y = stats.poisson.ppf(q, mu)
    else:
        phi = np.broadcast_to(aux["phi"], mu.shape)
        y = stats.nbinom.ppf(q, phi, phi / (phi + mu))
    return np.maximum(y, 1.0)


def _zero_family(name: str, zeros: str, base: str, aux: tuple[str, ...]) -> Family:
    """The row of a zero-inflated (``zeros="inflated"``) or hurdle family over ``base``."""
    p = "zi" if zeros == "inflated" else "hu"

    def simulate(mu: np.ndarray, aux: dict, rng: np.random.Generator, trials: Any, se: Any
                 ) -> np.ndarray:
        zero = rng.random(np.shape(mu)) < aux[p]
        counts = (FAMILIES[base].simulate(mu, aux, rng, trials, se) if zeros == "inflated"
                  else _positive_counts(base, mu, aux, rng))
        return np.where(zero, 0.0, counts)

    def expected(mu: np.ndarray, trials: Any, aux: dict) -> np.ndarray:
        if zeros == "inflated":
            return (1 - aux[p]) * mu
        return (1 - aux[p]) * mu / (1 - zero_probability(base, mu, aux))

    return Family(name, ("log",), aux, "count", simulate=simulate, expected=expected,
                  zeros=zeros, base=base)


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("gaussian", ("identity",), ("sigma",), "real", marginal=True, simulate=_gaussian),
    Family("lognormal", ("identity",), ("sigma",), "positive", marginal=True,
           simulate=lambda mu, aux, rng, trials, se: np.exp(_gaussian(mu, aux, rng, trials, se)),
           expected=lambda mu, trials, aux: np.exp(mu + 0.5 * aux["sigma"]**2),
           log_response=True),
    Family("student_t", ("identity",), ("sigma", "nu"), "real",
           simulate=lambda mu, aux, rng, trials, se:
           mu + aux["sigma"] * rng.standard_t(aux["nu"], mu.shape)),
    Family("bernoulli", ("logit", "probit"), (), "binary",
           simulate=lambda mu, aux, rng, trials, se: (rng.random(mu.shape) < mu).astype(float)),
    Family("binomial", ("logit", "probit"), (), "successes",
           simulate=lambda mu, aux, rng, trials, se:
           rng.binomial(np.asarray(trials, dtype=np.int64), mu).astype(float),
           expected=lambda mu, trials, aux: mu * trials),
    Family("poisson", ("log",), (), "count",
           simulate=lambda mu, aux, rng, trials, se: rng.poisson(mu).astype(float)),
    Family("negative_binomial", ("log",), ("phi",), "count", simulate=_negative_binomial),
    Family("gamma", ("log",), ("shape",), "positive",
           simulate=lambda mu, aux, rng, trials, se:
           rng.gamma(aux["shape"], mu / aux["shape"])),
    Family("exponential", ("log",), (), "positive",
           simulate=lambda mu, aux, rng, trials, se: rng.exponential(mu)),
    Family("weibull", ("log",), ("shape",), "positive", simulate=_weibull),
    Family("beta", ("logit",), ("phi",), "unit",
           simulate=lambda mu, aux, rng, trials, se:
           rng.beta(mu * aux["phi"], (1 - mu) * aux["phi"])),
    _zero_family("zero_inflated_poisson", "inflated", "poisson", ("zi",)),
    _zero_family("zero_inflated_negbinomial", "inflated", "negative_binomial", ("phi", "zi")),
    _zero_family("hurdle_poisson", "hurdle", "poisson", ("hu",)),
    _zero_family("hurdle_negbinomial", "hurdle", "negative_binomial", ("phi", "hu")),
    Family("cumulative", ("logit", "probit"), ("Intercept",), "ordinal", ordinal=True),
)}

# the response's support, for the messages of hbr.model.response_checks
CONTINUOUS = ("real", "positive", "unit")
# the families whose rows may be censored, y | cens(c) (their log CDFs are in
# hbr.density.likelihoods.LOG_CDF)
CENSORABLE = ("gaussian", "lognormal", "exponential", "weibull", "gamma")


# other spellings of the families: brms's (student, negbinomial), Bambi's (t,
# negativebinomial), R's (normal), matched after lower-casing and dropping "_", "-", " "
ALIASES = {
    "gaussian": "gaussian", "normal": "gaussian",
    "studentt": "student_t", "student": "student_t", "t": "student_t",
    "bernoulli": "bernoulli", "binomial": "binomial", "poisson": "poisson",
    "negativebinomial": "negative_binomial", "negbinomial": "negative_binomial",
    "negbin": "negative_binomial", "nb": "negative_binomial",
    "gamma": "gamma", "exponential": "exponential", "weibull": "weibull", "beta": "beta",
    "lognormal": "lognormal",
    "zeroinflatedpoisson": "zero_inflated_poisson", "zip": "zero_inflated_poisson",
    "zeroinflatednegbinomial": "zero_inflated_negbinomial",
    "zeroinflatednegativebinomial": "zero_inflated_negbinomial",
    "zinb": "zero_inflated_negbinomial",
    "hurdlepoisson": "hurdle_poisson", "hurdlenegbinomial": "hurdle_negbinomial",
    "hurdlenegativebinomial": "hurdle_negbinomial",
    "cumulative": "cumulative", "ordinal": "cumulative",
}


def canonical_family(family: object) -> str | None:
    """hbr's name of ``family`` given in any spelling of :data:`ALIASES`, else None."""
    if not isinstance(family, str):
        return None
    key = family.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
    return ALIASES.get(key)


def resolve_family(family: str, link: str | None = None) -> tuple[Family, str]:
    """The :class:`Family` called ``family`` (or an alias of :data:`ALIASES`, e.g. brms's
    ``negbinomial``) and the link to use (its default when None).

    Raises
    ------
    OptionError
        Unknown family, or a link the family does not have (the message lists both).
    """
    name = canonical_family(family)
    if name is None:
        import difflib
        close = difflib.get_close_matches(str(family).lower(), list(ALIASES), n=1)
        hint = f"; did you mean {ALIASES[close[0]]!r}?" if close else "."
        raise OptionError(f"family={family!r} is not available{hint} Choose one of "
                          f"{', '.join(FAMILIES)} (brms's and Bambi's spellings such as "
                          "'student', 't' and 'negbinomial' work too).")
    family = name
    fam = FAMILIES[family]
    if link is None:
        return fam, fam.links[0]
    if link not in fam.links:
        raise OptionError(f"link={link!r} is not available for family={family!r}; choose "
                          f"{' or '.join(repr(x) for x in fam.links)}")
    return fam, link


def inverse_link(link: str, eta: np.ndarray) -> np.ndarray:
    """:math:`g^{-1}(\\eta)` in NumPy (:data:`hbr.model.links.LINKS`)."""
    return LINKS[link].inverse(eta)


def simulate_response(family: str, link: str, eta: np.ndarray, aux: dict[str, float],
                      rng: np.random.Generator, trials: np.ndarray | None = None,
                      se: np.ndarray | None = None) -> np.ndarray:
    r"""Draw :math:`y_i` given the linear predictor ``eta`` and the extra parameters ``aux``
    (``{"sigma": ..., "nu": ..., "phi": ...}``) from ``family`` with ``link``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = simulate_response("poisson", "log", np.zeros(1000), {}, rng)
    >>> bool(abs(y.mean() - 1.0) < 0.1)
    True
    """
    if family not in FAMILIES:
        raise OptionError(f"family={family!r} is not available; choose one of "
                          f"{', '.join(FAMILIES)}")
    if FAMILIES[family].ordinal:
        from hbr.model.ordinal import ordinal_draws

        return ordinal_draws(link, eta, aux["Intercept"], rng)
    mu = LINKS[link].inverse(np.asarray(eta, dtype=float))
    return FAMILIES[family].simulate(mu, aux, rng, trials, se)
