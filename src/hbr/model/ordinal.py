r"""brms's ordinal ``cumulative`` family in NumPy: the probability of each category, the
expected category, draws, and the start of a fit (slopes and thresholds). The log likelihood
is in :mod:`hbr.density.likelihoods`; the family's row in :mod:`hbr.model.families`.

With thresholds :math:`\tau_1 < \dots < \tau_{K-1}` and the latent noise's distribution
function F (logistic for the logit link, normal for the probit),
:math:`P(y \le k \mid \eta) = F(\tau_k - \eta)`."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ordinal_probabilities", "ordinal_mean", "ordinal_draws", "ordinal_start",
           "ordinal_thresholds"]


def _cdf(link: str, x: np.ndarray) -> np.ndarray:
    """The latent noise's distribution function of an ordinal family: logistic (logit) or
    standard normal (probit)."""
    from scipy.special import expit, ndtr

    return expit(x) if link == "logit" else ndtr(x)


def ordinal_probabilities(link: str, eta: np.ndarray, tau: np.ndarray) -> np.ndarray:
    r""":math:`P(y = k) = F(\tau_k - \eta) - F(\tau_{k-1} - \eta)`, k = 1, ..., K
    (:math:`\tau_0 = -\infty`, :math:`\tau_K = \infty`), along a new last axis; ``tau``
    (..., K - 1) broadcasts against ``eta[..., None]``."""
    cum = _cdf(link, np.asarray(tau) - np.asarray(eta)[..., None])
    shape = cum.shape[:-1] + (1,)
    return np.diff(np.concatenate([np.zeros(shape), cum, np.ones(shape)], axis=-1), axis=-1)


def ordinal_mean(link: str, eta: np.ndarray, tau: np.ndarray) -> np.ndarray:
    r""":math:`E[y] = \sum_k k P(y = k) = 1 + \sum_{k<K} (1 - F(\tau_k - \eta))`."""
    cum = _cdf(link, np.asarray(tau) - np.asarray(eta)[..., None])
    return 1.0 + np.sum(1.0 - cum, axis=-1)


def ordinal_draws(link: str, eta: np.ndarray, tau: np.ndarray, rng: np.random.Generator
                  ) -> np.ndarray:
    """Categories 1, ..., K drawn given the linear predictor and thresholds: one uniform per
    row against the cumulative probabilities."""
    eta = np.asarray(eta, dtype=float)
    cum = _cdf(link, np.asarray(tau) - eta[..., None])
    u = rng.random(np.broadcast_shapes(eta.shape, cum.shape[:-1]))
    return 1.0 + np.sum(u[..., None] > cum, axis=-1).astype(float)


def ordinal_start(spec: Any) -> tuple[np.ndarray, np.ndarray, float]:
    r"""A start for an ordinal family's slopes: least squares of the category numbers on the
    centred predictors, rescaled from the residual sd to the latent noise's (logistic
    :math:`\pi/\sqrt3`, normal 1), as the latent :math:`y^* = \eta + \epsilon` suggests;
    their standard errors likewise, and 1.0 in place of a residual sd."""
    X, y = spec.design.X, spec.design.y
    if not X.shape[1]:
        return np.zeros(0), np.zeros(0), 1.0
    w = spec.design.weights if spec.design.weights is not None else np.ones_like(y)
    sw = np.sqrt(w / np.sum(w))
    Xc = (X - w @ X / np.sum(w)) * sw[:, None]
    yc = (y - w @ y / np.sum(w)) * sw
    b, *_ = np.linalg.lstsq(Xc, yc, rcond=None)
    r = yc - Xc @ b
    rsd = float(np.sqrt(r @ r)) or 1.0
    scale = (np.pi / np.sqrt(3.0) if spec.link == "logit" else 1.0) / rsd
    n_eff = max(float(np.sum(w)) - X.shape[1] - 1, 1.0)
    cov = np.linalg.pinv(Xc.T @ Xc) * rsd**2 / n_eff
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    return b * scale, np.where(se > 0, se * scale, 1.0), 1.0


def ordinal_thresholds(link: str, design: Any, beta: np.ndarray) -> np.ndarray:
    r"""Start thresholds: :math:`\tau_k = F^{-1}(\hat P(y \le k)) + \bar\eta` at the
    slopes ``beta``, from the (weighted) share of rows at or below each category, kept inside
    (0.5/n, 1 - 0.5/n)."""
    from scipy.special import logit, ndtri

    y, eta, K = design.y, design.X @ beta, int(np.max(design.y))
    w = np.ones_like(y) if design.weights is None else design.weights
    share = np.array([w @ (y <= k) for k in range(1, K)]) / np.sum(w)
    lo = 0.5 / max(float(np.sum(w)), 1.0)
    share = np.clip(share, lo, 1 - lo)
    q = logit(share) if link == "logit" else ndtri(share)
    return np.maximum.accumulate(q + np.linspace(0, 1e-3, K - 1)) + float(w @ eta / np.sum(w))
