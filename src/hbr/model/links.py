r"""Link functions as one table whose rows carry their NumPy maths (bambi's ``LINKS``;
DESIGN.md style rule 3): the inverse link for predictions and simulation, and the pieces of
the penalised IRLS fit that starts the sampler for a non-identity link
(:func:`hbr.density.parts.glm_start`). The JAX log likelihood of each family and link is
:data:`hbr.density.likelihoods.LOGLIK` (a test checks that every pair has one).

For the IRLS start, each row gives :math:`\eta` from the data (:math:`\mu = y + 1/2`, as
``glm()``), the mean :math:`\mu(\eta)` kept inside the support, the working weights and
response :math:`(w, z)` at :math:`\eta`, and the log likelihood the fit maximises (Poisson for
the log link, binomial for logit and probit).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

__all__ = ["Link", "LINKS"]

Array = np.ndarray


class Link(NamedTuple):
    r"""One link :math:`g`, :math:`\eta = g(\mu)`.

    Attributes
    ----------
    inverse : callable
        :math:`\mu = g^{-1}(\eta)`.
    mean : callable
        :math:`g^{-1}(\eta)` kept inside the support (IRLS).
    start : callable
        ``start(y, n)``: :math:`\eta` of the data, :math:`\mu = y + 1/2` (IRLS).
    working : callable
        ``working(eta, mu, y, n, offset) -> (w, z)``: IRLS weights and working response.
    loglik : callable
        ``loglik(y, n, eta, w=1)``: the log likelihood IRLS maximises, up to a constant, each
        row's term times its weight ``w`` (``y | weights(w)``).
    location : callable
        ``location(y, offset, mean_y, sd_y, w=None) -> (centre, scale)`` (``w``: the rows'
        weights) of the linear predictor that
        the default priors are built on: the mean and sd of y for the identity link; 0 and 1
        for logit and probit (so slopes get Normal(0, 2.5 / s_x), as rstanarm); the log of
        the mean rate and 1 for the log link.
    """

    inverse: Callable[[Array], Array]
    mean: Callable[[Array], Array]
    start: Callable[[Array, Array], Array]
    working: Callable[[Array, Array, Array, Array, Array], tuple[Array, Array]]
    loglik: Callable[[Array, Array, Array], float]
    location: Callable[..., tuple[float, float]]


def _unsupported(*args: object) -> None:
    raise NotImplementedError("the identity link starts from least squares, not IRLS")


def _binomial_working(density: Callable[[Array, Array], Array]
                      ) -> Callable[[Array, Array, Array, Array, Array], tuple[Array, Array]]:
    def working(eta: Array, mu: Array, y: Array, n: Array, off: Array) -> tuple[Array, Array]:
        dens = np.maximum(density(eta, mu), 1e-12)
        return n * dens**2 / (mu * (1 - mu)), eta - off + (y - n * mu) / (n * dens)
    return working


def _log_rate(y: Array, offset: Array | None, my: float, sy: float,
              w: Array | None = None) -> tuple[float, float]:
    expo = np.exp(offset) if offset is not None else np.ones_like(y)
    if w is not None:  # rows weighted as if repeated w times
        y, expo = w * y, w * expo
    return float(np.log(max(np.sum(y), 0.5) / np.sum(expo))), 1.0


def _p0(y: Array, n: Array) -> Array:
    return (y + 0.5) / (n + 1.0)


def _special(name: str) -> Callable[..., Array]:
    """``scipy.special.<name>``, imported when first called: a Gaussian fit never needs
    SciPy (0.13 s to import), and the table is built when the model is."""
    def call(*args: Array) -> Array:
        import scipy.special

        return getattr(scipy.special, name)(*args)
    return call


expit, ndtr, erfinv, log_ndtr = (_special(n) for n in ("expit", "ndtr", "erfinv", "log_ndtr"))


LINKS: dict[str, Link] = {
    "identity": Link(lambda eta: eta, lambda eta: eta, _unsupported, _unsupported,
                     _unsupported, lambda y, offset, my, sy, w=None: (my, sy)),
    "log": Link(
        np.exp, lambda eta: np.exp(np.clip(eta, -700, 700)),
        lambda y, n: np.log(y + 0.5),
        lambda eta, mu, y, n, off: (mu, eta - off + (y - mu) / mu),
        lambda y, n, eta, w=1.0: np.sum(w * (y * eta - np.exp(np.clip(eta, -700, 700)))),
        _log_rate),
    "logit": Link(
        lambda eta: 1.0 / (1.0 + np.exp(-eta)),
        lambda eta: np.clip(expit(eta), 1e-12, 1 - 1e-12),
        lambda y, n: np.log(_p0(y, n) / (1 - _p0(y, n))),
        _binomial_working(lambda eta, mu: mu * (1 - mu)),
        lambda y, n, eta, w=1.0: np.sum(w * (y * eta - n * np.logaddexp(0.0, eta))),
        lambda y, offset, my, sy, w=None: (0.0, 1.0)),
    "probit": Link(
        ndtr, lambda eta: np.clip(ndtr(eta), 1e-12, 1 - 1e-12),
        lambda y, n: np.sqrt(2) * erfinv(2 * _p0(y, n) - 1),
        _binomial_working(lambda eta, mu: np.exp(-0.5 * eta**2) / np.sqrt(2 * np.pi)),
        lambda y, n, eta, w=1.0: np.sum(w * (y * log_ndtr(eta) + (n - y) * log_ndtr(-eta))),
        lambda y, offset, my, sy, w=None: (0.0, 1.0)),
}
