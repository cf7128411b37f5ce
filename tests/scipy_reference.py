"""Log likelihoods of every family by SciPy: the reference the JAX likelihoods and the
posterior predictive are tested against (importable from every test folder: pytest puts
``tests/`` on the path for its conftest)."""

import numpy as np
from scipy import stats

__all__ = ["scipy_loglik"]


def scipy_loglik(family: str, link: str, y, eta, aux, n):
    mu = {"identity": eta, "log": np.exp(eta), "logit": 1 / (1 + np.exp(-eta)),
          "probit": stats.norm.cdf(eta)}[link]
    if family == "cumulative":  # P(y = k) = F(tau_k - eta) - F(tau_{k-1} - eta)
        d = stats.logistic if link == "logit" else stats.norm
        edges = np.concatenate([[-np.inf], aux["Intercept"], [np.inf]])
        k = np.asarray(y, dtype=int)
        return np.log(d.cdf(edges[k] - eta) - d.cdf(edges[k - 1] - eta))
    if family == "gaussian":
        return stats.norm.logpdf(y, mu, aux["sigma"])
    if family == "lognormal":  # log y ~ N(mu, sigma^2)
        return stats.lognorm.logpdf(y, aux["sigma"], scale=np.exp(mu))
    if family == "student_t":
        return stats.t.logpdf(y, aux["nu"], mu, aux["sigma"])
    if family == "bernoulli":
        return stats.bernoulli.logpmf(y, mu)
    if family == "binomial":
        return stats.binom.logpmf(y, n, mu)
    if family == "poisson":
        return stats.poisson.logpmf(y, mu)
    if family == "gamma":  # shape a, rate a / mu
        return stats.gamma.logpdf(y, aux["shape"], scale=mu / aux["shape"])
    if family == "exponential":
        return stats.expon.logpdf(y, scale=mu)
    if family == "weibull":  # mean mu: scale mu / Gamma(1 + 1/k)
        from scipy.special import gamma as gamma_fn
        k = aux["shape"]
        return stats.weibull_min.logpdf(y, k, scale=mu / gamma_fn(1 + 1 / k))
    if family == "beta":
        return stats.beta.logpdf(y, mu * aux["phi"], (1 - mu) * aux["phi"])
    if family.startswith(("zero_inflated_", "hurdle_")):  # a mixture with a point mass at 0
        base = "poisson" if family.endswith("poisson") else "negative_binomial"
        f, f0 = (np.exp(scipy_loglik(base, link, v, eta, aux, n)) for v in (y, 0 * y))
        if family.startswith("zero_inflated_"):
            p = aux["zi"]
            return np.log(np.where(y == 0, p + (1 - p) * f0, (1 - p) * f))
        p = aux["hu"]
        return np.log(np.where(y == 0, p, (1 - p) * f / (1 - f0)))
    phi = aux["phi"]  # NB2 as SciPy's nbinom(n=phi, p=phi / (phi + mu))
    return stats.nbinom.logpmf(y, phi, phi / (phi + mu))
