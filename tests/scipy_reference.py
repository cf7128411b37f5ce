"""Log likelihoods of every family by SciPy: the reference the JAX likelihoods and the
posterior predictive are tested against (importable from every test folder: pytest puts
``tests/`` on the path for its conftest)."""

import numpy as np
from scipy import stats

__all__ = ["scipy_loglik"]


def scipy_loglik(family: str, link: str, y, eta, aux, n):
    mu = {"identity": eta, "log": np.exp(eta), "logit": 1 / (1 + np.exp(-eta)),
          "probit": stats.norm.cdf(eta)}[link]
    if family == "gaussian":
        return stats.norm.logpdf(y, mu, aux["sigma"])
    if family == "student_t":
        return stats.t.logpdf(y, aux["nu"], mu, aux["sigma"])
    if family == "bernoulli":
        return stats.bernoulli.logpmf(y, mu)
    if family == "binomial":
        return stats.binom.logpmf(y, n, mu)
    if family == "poisson":
        return stats.poisson.logpmf(y, mu)
    phi = aux["phi"]  # NB2 as SciPy's nbinom(n=phi, p=phi / (phi + mu))
    return stats.nbinom.logpmf(y, phi, phi / (phi + mu))
