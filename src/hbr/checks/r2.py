r"""Bayesian R² and LOO-adjusted R² (Gelman, Goodrich, Gabry & Vehtari 2019), as brms's
``bayes_R2`` and ``loo_R2`` compute them.

**Bayesian R²**, one value per posterior draw :math:`s`: with :math:`\hat y^{(s)}_i =
E[y_i \mid \theta^{(s)}]` (the expected response of row :math:`i`, group effects included)
and :math:`V` the variance over the rows,

.. math::
    R^2_s = \frac{V_i(\hat y^{(s)}_i)}{V_i(\hat y^{(s)}_i) + V_i(y_i - \hat y^{(s)}_i)}
    \quad (\text{``residual''}), \qquad
    R^2_s = \frac{V_i(\hat y^{(s)}_i)}{V_i(\hat y^{(s)}_i)
             + \overline{\mathrm{Var}}(y_i \mid \theta^{(s)})} \quad (\text{``model''}),

the second with the family's own variance averaged over the rows (Gaussian
:math:`\sigma^2`, Student-t :math:`\sigma^2\nu/(\nu-2)`, Bernoulli :math:`\mu(1-\mu)`,
binomial :math:`n\mu(1-\mu)`, Poisson :math:`\mu`, negative binomial
:math:`\mu+\mu^2/\phi`, lognormal :math:`E[y]^2(e^{\sigma^2}-1)`, gamma :math:`\mu^2/\alpha`, exponential :math:`\mu^2`, Weibull
:math:`\mu^2(\Gamma(1+2/k)/\Gamma(1+1/k)^2-1)`, beta :math:`\mu(1-\mu)/(1+\phi)`). "residual" is brms's and rstanarm's default; "model" is the form
the paper prefers. Both lie in [0, 1] by construction.

**LOO R²**: the expected responses are replaced by their leave-one-out means
:math:`\hat y_{-i} = \sum_s w_i^{(s)} \hat y^{(s)}_i` (Pareto-smoothed importance weights
of :math:`-\log p(y_i \mid \theta^{(s)})`), and the uncertainty comes from the Bayesian
bootstrap over rows: for Dirichlet(1, ..., 1) weights :math:`\omega`,
:math:`R^2 = 1 - V_\omega(y - \hat y_{-\cdot}) / V_\omega(y)` (it can be negative for a model
that predicts worse than the mean).

Rows are read in chunks (:func:`hbr.checks.loo.row_chunks`), so only a few million
draws x rows are held at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import gammaln

from hbr.design.newdata import Rows, training_rows
from hbr.errors import OptionError, check_int
from hbr.model.families import FAMILIES, inverse_link, zero_probability
from hbr.model.ordinal import ordinal_probabilities
from hbr.posterior.predictive import expected_response, family_aux, linear_predictor, noise_sd
from hbr.checks.loo import psis_log_weights, row_chunks, row_loglik

if TYPE_CHECKING:
    from hbr.model.spec import ModelSpec
    from hbr.posterior.fit import Fit

__all__ = ["bayes_r2", "loo_r2", "KINDS"]

KINDS = ("residual", "model")
CHUNK_NUMBERS = 4_000_000  # bootstrap weights x rows held at once


def _family_variance(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows,
                     mean: np.ndarray, mu: np.ndarray) -> np.ndarray:
    r""":math:`\mathrm{Var}(y_i \mid \theta^{(s)})`, broadcastable to (chains, draws, n),
    from the mean :math:`E[y_i]` and the inverse link :math:`\mu_i`. A zero part over a
    count family of mean :math:`\mu` and variance :math:`V` has second moment
    :math:`(1 - \pi)(V + \mu^2)` (zero-inflated) or :math:`(1 - h)(V + \mu^2) / (1 - f(0))`
    (hurdle), less the squared mean."""
    fam = FAMILIES[spec.family]
    if spec.design.trunc_lb is not None or spec.design.trunc_ub is not None:
        raise OptionError("kind='model' needs the variance of a truncated family, which hbr "
                          "does not compute; use kind='residual' (the default)")
    if fam.ordinal:  # categories 1..K as scores: sum_k k^2 P(y = k) - E[y]^2 (mu is eta)
        probs = ordinal_probabilities(spec.link, mu, family_aux(spec, post, rows)["Intercept"])
        k = np.arange(1, probs.shape[-1] + 1)
        return probs @ (k * k) - mean**2
    if fam.zeros is None:
        return _base_variance(fam.name, spec, post, rows, mean)
    aux = family_aux(spec, post, rows)
    p = aux["zi" if fam.zeros == "inflated" else "hu"]
    second = (1 - p) * (_base_variance(fam.base, spec, post, rows, mu) + mu**2)
    if fam.zeros == "hurdle":
        second = second / (1 - zero_probability(fam.base, mu, aux))
    return second - mean**2


def _base_variance(fam: str, spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows,
                   mean: np.ndarray) -> np.ndarray:
    """The variance of family ``fam`` (one without a zero part) whose mean is ``mean``."""
    if fam in ("gaussian", "student_t"):
        var = noise_sd(spec, post, rows) ** 2
        if fam == "student_t":
            nu = post["nu"][..., None]
            with np.errstate(divide="ignore", invalid="ignore"):
                var = np.where(nu > 2, var * nu / (nu - 2), np.inf)
        return var
    if fam == "bernoulli":
        return mean * (1 - mean)
    if fam == "binomial":
        return mean * (1 - mean / rows.trials)
    if fam == "poisson":
        return mean
    if fam == "negative_binomial":
        return mean + mean**2 / post["phi"][..., None]
    if fam == "lognormal":  # Var = E[y]^2 (e^{sigma^2} - 1)
        return mean**2 * np.expm1(noise_sd(spec, post, rows) ** 2)
    if fam == "gamma":
        return mean**2 / post["shape"][..., None]
    if fam == "exponential":
        return mean**2
    if fam == "weibull":  # mean mu = lambda G(1 + 1/k): Var = mu^2 (G(1+2/k) / G(1+1/k)^2 - 1)
        k = post["shape"][..., None]
        return mean**2 * np.expm1(gammaln(1 + 2 / k) - 2 * gammaln(1 + 1 / k))
    if fam == "beta":
        return mean * (1 - mean) / (1 + post["phi"][..., None])
    raise OptionError(f"kind='model' is not defined for the {fam} family; use 'residual'")


def _rows(fit: Fit) -> tuple[Rows, np.ndarray, int]:
    """The fitted rows, their response and the number of draws."""
    fit._needs_rows("R-squared (the fitted rows)")
    return (training_rows(fit.spec.design), np.asarray(fit.spec.design.y, dtype=float),
            fit.draws.chains * fit.draws.n_draws)


def _summary(values: np.ndarray, prob: float) -> pd.DataFrame:
    from hbr.posterior.effects import interval_columns, mean_sd_hdi

    st = mean_sd_hdi(values.reshape(-1, 1), prob)
    lo, hi = interval_columns(prob)
    return pd.DataFrame({"mean": st["mean"], "sd": st["sd"], lo: st["lo"], hi: st["hi"]},
                        index=["R2"])


def bayes_r2(fit: Fit, kind: str = "residual", summary: bool = True, prob: float = 0.94
             ) -> pd.DataFrame | np.ndarray:
    """Bayesian R² of ``fit``: a one-row table (mean, sd, HDI of ``prob``) or, with
    ``summary=False``, the (chains, draws) values; ``kind`` "residual" or "model"."""
    if kind not in KINDS:
        raise OptionError(f"kind={kind!r} is not available; choose 'residual' (brms's "
                          "bayes_R2) or 'model' (the family's variance)")
    rows, y, S = _rows(fit)
    post, n = fit.draws.posterior, rows.n
    shift = float(y.mean())  # sums of squares about a shift near the mean: no cancellation
    sums = np.zeros((4, fit.draws.chains, fit.draws.n_draws))  # yhat, yhat^2, e|var, e^2
    for at, part in row_chunks(rows, S):
        eta = linear_predictor(fit.spec, post, part)
        yhat = expected_response(fit.spec, post, part, eta)
        sums[0] += (yhat - shift).sum(axis=-1)
        sums[1] += ((yhat - shift) ** 2).sum(axis=-1)
        if kind == "residual":
            e = y[at] - yhat
            sums[2] += e.sum(axis=-1)
            sums[3] += (e**2).sum(axis=-1)
        else:
            # an ordinal family's distribution reads the linear predictor itself
            mu = eta if FAMILIES[fit.spec.family].ordinal else inverse_link(fit.spec.link, eta)
            var = _family_variance(fit.spec, post, part, yhat, mu)
            sums[2] += np.broadcast_to(var, yhat.shape).sum(axis=-1)
    var_fit = (sums[1] - sums[0] ** 2 / n) / (n - 1)
    var_res = ((sums[3] - sums[2] ** 2 / n) / (n - 1) if kind == "residual"
               else sums[2] / n)  # the family's variance, averaged over the rows
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = var_fit / (var_fit + var_res)
    return _summary(r2, prob) if summary else r2


def loo_r2(fit: Fit, summary: bool = True, prob: float = 0.94, seed: int | None = None,
           replicates: int | None = None) -> pd.DataFrame | np.ndarray:
    """LOO-adjusted R²: a one-row table or, with ``summary=False``, the ``replicates``
    Bayesian-bootstrap values (default: as many as posterior draws, as brms); the bootstrap
    weights come from ``seed`` (default: the fit's)."""
    rows, y, S = _rows(fit)
    post, n = fit.draws.posterior, rows.n
    seed = fit.seed if seed is None else check_int("seed", seed, 0)
    B = S if replicates is None else check_int("replicates", replicates, 1)
    yloo = np.empty(n)
    for at, part in row_chunks(rows, S):
        ll = row_loglik(fit.spec, post, part, y[at]).reshape(S, -1).T  # (n, S)
        lw, _ = psis_log_weights(ll)  # a high Pareto k shows in fit.loo(), not here
        yhat = expected_response(fit.spec, post, part).reshape(S, -1).T
        yloo[at] = np.sum(np.exp(lw) * yhat, axis=1)
    err, yc = yloo - y, y - y.mean()
    rng = np.random.default_rng(seed)
    sums = np.zeros((5, B))  # weight, w y, w y^2, w e, w e^2 (Dirichlet = normalised Exp(1))
    rstep = max(1, CHUNK_NUMBERS // B)
    for s in range(0, n, rstep):
        w = rng.standard_exponential((B, min(rstep, n - s)))
        yy, ee = yc[s:s + rstep], err[s:s + rstep]
        sums += np.stack([w.sum(axis=1), w @ yy, w @ yy**2, w @ ee, w @ ee**2])
    m = sums / sums[0]
    var_y = (m[2] - m[1] ** 2) * n / (n - 1)
    var_e = (m[4] - m[3] ** 2) * n / (n - 1)
    r2 = 1 - var_e / var_y
    return _summary(r2, prob) if summary else r2
