r"""The distributions a ``trunc()`` (and ``cens()``) response reads, in NumPy/SciPy: the
bounds of each row, SciPy's frozen distribution of y given its mean, the truncated mean in
closed form and exact truncated draws (:mod:`hbr.model.families` has the families)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hbr.model.families import weibull_scale

__all__ = ["scipy_distribution", "truncation_bounds", "truncated_mean", "truncated_draws"]


def scipy_distribution(family: str, mu: np.ndarray, aux: dict) -> Any:
    """SciPy's frozen distribution of y given the mean ``mu`` (inverse link) for a family of
    :data:`CENSORABLE`: what truncated draws and means are computed from."""
    from scipy import stats

    if family == "gaussian":
        return stats.norm(mu, aux["sigma"])
    if family == "lognormal":
        return stats.lognorm(aux["sigma"], scale=np.exp(mu))
    if family == "exponential":
        return stats.expon(scale=mu)
    k = np.asarray(aux["shape"], dtype=float)
    if family == "weibull":
        return stats.weibull_min(k, scale=weibull_scale(mu, k))
    return stats.gamma(k, scale=mu / k)


def truncation_bounds(lb: np.ndarray | None, ub: np.ndarray | None, n: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The bounds of ``trunc()`` for ``n`` rows, -inf / +inf on an open side."""
    return (np.full(n, -np.inf) if lb is None else np.asarray(lb, dtype=np.float64),
            np.full(n, np.inf) if ub is None else np.asarray(ub, dtype=np.float64))


def truncated_mean(family: str, mu: np.ndarray, aux: dict, lb: np.ndarray,
                   ub: np.ndarray) -> np.ndarray:
    r""":math:`E[y \mid l < y < u]` in closed form, with :math:`Z = F(u) - F(l)`:
    gaussian :math:`\mu + \sigma(\phi(\alpha) - \phi(\beta)) / Z`; lognormal
    :math:`e^{\mu + \sigma^2/2}(\Phi(\beta - \sigma) - \Phi(\alpha - \sigma)) / Z` (on log
    bounds); gamma :math:`\mu (P(a + 1, u a/\mu) - P(a + 1, l a/\mu)) / Z`; Weibull and
    exponential :math:`\mu (P(1 + 1/k, (u/\lambda)^k) - P(\cdot, (l/\lambda)^k)) / Z`,
    :math:`P` the regularised lower incomplete gamma function."""
    from scipy.special import gammainc
    from scipy.stats import norm

    dist = scipy_distribution(family, mu, aux)
    lo = np.maximum(lb, 0.0) if family != "gaussian" else lb
    Z = dist.cdf(ub) - dist.cdf(lo)
    with np.errstate(divide="ignore"):
        if family == "gaussian":
            s = aux["sigma"]
            a, b = (lo - mu) / s, (ub - mu) / s
            part = mu * Z + s * (norm.pdf(a) - norm.pdf(b))
        elif family == "lognormal":
            s = aux["sigma"]
            a, b = (np.log(lo) - mu) / s, (np.log(ub) - mu) / s
            part = np.exp(mu + s**2 / 2) * (norm.cdf(b - s) - norm.cdf(a - s))
        elif family == "gamma":
            k = aux["shape"]
            part = mu * (gammainc(k + 1, ub * k / mu) - gammainc(k + 1, lo * k / mu))
        else:
            k = aux.get("shape", 1.0) if family == "weibull" else 1.0
            lam = weibull_scale(mu, k)
            part = mu * (gammainc(1 + 1 / np.asarray(k), (ub / lam) ** k)
                         - gammainc(1 + 1 / np.asarray(k), (lo / lam) ** k))
    return part / Z


def truncated_draws(family: str, mu: np.ndarray, aux: dict, rng: np.random.Generator,
                    lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Draws of y from its distribution truncated to (lb, ub), exactly: the quantile function
    at a uniform draw between F(lb) and F(ub)."""
    dist = scipy_distribution(family, mu, aux)
    lo, hi = dist.cdf(lb), dist.cdf(ub)
    u = lo + rng.random(np.broadcast(lo, hi).shape) * (hi - lo)
    return np.clip(dist.ppf(u), lb, ub)
