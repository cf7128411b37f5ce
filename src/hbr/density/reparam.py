r"""Parameterisations of sampled group effects: transforms of the model, not flags inside it.

Group effects of one term are :math:`b_j \sim N(0, \Sigma)`, :math:`j = 1..J`, with
:math:`\Sigma = \mathrm{diag}(s)\, R\, \mathrm{diag}(s)` and :math:`R = L_R L_R^\top`. The
sampler moves a raw block ``raw`` of shape (J, k); a :class:`Parameterization` says how ``b``
is built from it and what density ``raw`` has (DESIGN.md style rule 2, as numpyro's
``LocScaleReparam``):

``noncentered``  :math:`b_j = \mathrm{diag}(s) L_R z_j`, :math:`z_j \sim N(0, I)`. No funnel
                 when a group has little data (its likelihood is flat in :math:`z_j`).
``centered``     :math:`b_j` itself, with density :math:`N(b_j; 0, \Sigma)`. Better when a
                 group has so much data that :math:`b_j` is pinned down whatever :math:`s` is.
``partial``      per group and coefficient a centred fraction :math:`w_{jc} \in [0, 1]`
                 (Papaspiliopoulos, Roberts & Sköld 2007; Gorinova, Moore & Hoffman 2020),
                 on the location and the scale, with the correlation always whitened:

                 .. math::
                     \zeta_j \sim N\bigl(w_j \odot m,\ \mathrm{diag}(s^{2 w_j})\bigr),
                     \qquad b_j = \mathrm{diag}(s)\, L_R\, \bigl(s^{-w_j} \odot
                     (\zeta_j - w_j \odot m)\bigr),

                 where :math:`m_c` is the fixed effect of the same column (the
                 ``Intercept`` for ``1|g``, ``x`` for ``x|g``; 0 if there is none). Every
                 ``w`` gives :math:`b_j \sim N(0, \Sigma)`: ``w = 0`` is the non-centred
                 form, ``w = 1`` the centred one, :math:`\zeta_j = m + b_j` (for uncorrelated
                 effects; with a correlation :math:`\zeta_j = m + D L_R D^{-1} b_j`).
                 Centring the location matters as much as the scale: with well-informed
                 groups :math:`m + b_j` is pinned by the data, and a sampler that moves
                 :math:`m` with :math:`b_j` held fixed must move all J effects at once.
                 Whitening matters too: leaving :math:`\zeta_j \sim N(0, R)` correlated put
                 the correlation into the geometry and cut the min ESS on Minnesota
                 ``(floor | county)`` from 746 to 285 even at ``w = 0``.

The centred fraction that makes the posterior of :math:`\zeta_{jc}` least dependent on
:math:`s_c` is, for a Gaussian-like likelihood carrying information :math:`I_{jc}` (data
precision) about :math:`b_{jc}`,

.. math::
    w_{jc} = \frac{s_c^2 I_{jc}}{s_c^2 I_{jc} + 1}
    \quad\bigl(= \frac{n_j \tau^2}{n_j \tau^2 + \sigma^2} \text{ for a Gaussian intercept}\bigr),

see :func:`centered_fraction`. Centring is the dangerous side: a centred effect whose
:math:`s` wanders towards 0 is a funnel again, while a non-centred one only mixes more slowly.
So :math:`w` is evaluated not at the pilot's :math:`\hat s` but at the smallest :math:`s` the
data leave plausible (:func:`plausible_low_sd`); where that is 0 the term stays non-centred.
On Minnesota ``(floor | county)`` the pilot's :math:`\hat s` alone centred the floor slopes
(up to w = 0.8) and gave 1-96 divergences per run; the plausible lower bound keeps them
non-centred. For a correlated term every coefficient of a group gets the group's smallest
fraction (:func:`hbr.density.auto.auto_centering`): through :math:`L_R` a centred intercept otherwise
leaks into a non-centred slope. The weights are data (a jit argument), so refitting with other
weights reuses the compiled code.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

__all__ = ["Parameterization", "REPARAMS", "centered_fraction", "plausible_low_sd"]

_LOG_2PI = math.log(2 * math.pi)

# (raw (J, k), s (k,), L_R (k, k), w (J, k) or None, m (k,)) -> value
RawFn = Callable[[jax.Array, jax.Array, jax.Array, "jax.Array | None", jax.Array], jax.Array]


class Parameterization(NamedTuple):
    r"""How group effects ``b`` (J, k) are built from the raw block ``raw`` (J, k).

    ``effects(raw, s, L_R, w, m) -> b`` and ``log_prior(raw, s, L_R, w, m)``: the log
    density of ``raw`` implied by :math:`b_j \sim N(0, \Sigma)`; ``m`` (k,) are the matching
    fixed effects (used by ``partial`` only). ``init_scale(sd, w)`` is the typical
    size of a raw coordinate when the effect has standard deviation ``sd``.
    ``log_jacobian(L, w, J)``: :math:`\sum_j \log|\det \partial b_j / \partial raw_j|`
    with ``L = diag(s) L_R`` (used by the pilot's Laplace correction).
    """

    name: str
    effects: RawFn
    log_prior: RawFn
    init_scale: Callable[[np.ndarray, np.ndarray], np.ndarray]
    log_jacobian: Callable[[jax.Array, Any, int], jax.Array]


def _mvn_log_prior(u: jax.Array, Lr: jax.Array, logdet_scale: jax.Array) -> jax.Array:
    """log N(u_j; 0, D R D) summed over rows, given u_j / diag(D) = ``u`` and log|D| total."""
    J, k = u.shape
    e = solve_triangular(Lr, u.T, lower=True)
    return (-0.5 * jnp.sum(e**2) - logdet_scale - J * jnp.sum(jnp.log(jnp.diagonal(Lr)))
            - 0.5 * J * k * _LOG_2PI)


def _nc_effects(raw: jax.Array, s: jax.Array, Lr: jax.Array, w: Any, m: jax.Array
                ) -> jax.Array:
    return (raw @ Lr.T) * s


def _nc_log_prior(raw: jax.Array, s: jax.Array, Lr: jax.Array, w: Any, m: jax.Array
                  ) -> jax.Array:
    return -0.5 * jnp.sum(raw**2) - 0.5 * raw.size * _LOG_2PI


def _c_log_prior(raw: jax.Array, s: jax.Array, Lr: jax.Array, w: Any, m: jax.Array
                 ) -> jax.Array:
    return _mvn_log_prior(raw / s, Lr, raw.shape[0] * jnp.sum(jnp.log(s)))


def _partial_effects(raw: jax.Array, s: jax.Array, Lr: jax.Array, w: Any, m: jax.Array
                     ) -> jax.Array:
    return (((raw - w * m) * jnp.exp(-w * jnp.log(s))) @ Lr.T) * s


def _partial_log_prior(raw: jax.Array, s: jax.Array, Lr: jax.Array, w: Any, m: jax.Array
                       ) -> jax.Array:
    wl = w * jnp.log(s)
    return (-0.5 * jnp.sum(((raw - w * m) * jnp.exp(-wl)) ** 2) - jnp.sum(wl)
            - 0.5 * raw.size * _LOG_2PI)


def _logdet_l(L: jax.Array) -> jax.Array:
    return jnp.sum(jnp.log(jnp.diagonal(L)))


def _partial_log_jacobian(L: jax.Array, w: Any, J: int) -> jax.Array:
    # b_j = diag(s) L_R diag(s^-w_j) (zeta_j - w_j m): log|det| = log|L| - sum_c w_jc log s_c
    s = jnp.sqrt(jnp.sum(L**2, axis=1))
    return J * _logdet_l(L) - jnp.sum(w * jnp.log(s))


REPARAMS: dict[str, Parameterization] = {
    "noncentered": Parameterization("noncentered", _nc_effects, _nc_log_prior,
                                    lambda sd, w: np.ones_like(sd * w),
                                    lambda L, w, J: J * _logdet_l(L)),
    "centered": Parameterization("centered", lambda raw, s, Lr, w, m: raw, _c_log_prior,
                                 lambda sd, w: sd * np.ones_like(w),
                                 lambda L, w, J: jnp.zeros((), L.dtype)),
    "partial": Parameterization("partial", _partial_effects, _partial_log_prior,
                                lambda sd, w: sd**w, _partial_log_jacobian),
}


def centered_fraction(sd: np.ndarray, information: np.ndarray) -> np.ndarray:
    r"""The centred fraction :math:`w = s^2 I / (s^2 I + 1)` of each effect.

    Parameters
    ----------
    sd : (k,)
        Group standard deviations :math:`s_c` (from a pilot fit).
    information : (J, k)
        Data precision :math:`I_{jc}` about each effect: for a Gaussian likelihood
        :math:`\sum_{i \in j} z_{ic}^2 / \sigma^2`, for other families the same sum weighted
        by the curvature :math:`-\partial^2 \log p(y_i \mid \mu_i) / \partial \mu_i^2`.

    Returns
    -------
    (J, k) array in [0, 1]: 0 for a group with no data, towards 1 for a well-informed one.

    Examples
    --------
    >>> centered_fraction(np.array([1.0]), np.array([[0.0], [1.0], [99.0]])).ravel().tolist()
    [0.0, 0.5, 0.99]
    """
    # a mixture's rows (a zero-inflated count at 0) can curve the wrong way: no information
    info = np.maximum(np.asarray(information, dtype=float), 0.0)
    v = np.square(np.asarray(sd, dtype=float))[None, :] * info
    with np.errstate(invalid="ignore"):
        w = v / (v + 1.0)
    return np.clip(np.nan_to_num(w, nan=0.0, posinf=1.0), 0.0, 1.0)


def plausible_low_sd(sd: np.ndarray, information: np.ndarray, effects: np.ndarray,
                     drop: float = 2.0, grid: int = 400) -> np.ndarray:
    r"""The smallest group sd :math:`s_c` that the data leave plausible, per coefficient.

    With the pilot's effects :math:`\tilde b_{jc}` (the mode, shrunk by
    :math:`\lambda_{jc} = s_c^2 I_{jc} / (s_c^2 I_{jc} + 1)`), each informed group gives an
    unshrunk estimate :math:`\hat b_{jc} = \tilde b_{jc} / \lambda_{jc}` with variance
    :math:`v_{jc} = 1 / I_{jc}`, and in the normal-normal approximation

    .. math::
        \log L(s) = \sum_j -\tfrac12 \log(s^2 + v_{jc})
                     - \tfrac12 \hat b_{jc}^2 / (s^2 + v_{jc}).

    Returns the smallest :math:`s` on a grid over :math:`[0, 4 \hat s]` with
    :math:`\log L(s) \ge \max \log L - \text{drop}` (0 when even :math:`s = 0` is).

    Parameters
    ----------
    sd : (k,)
    information, effects : (J, k)
    drop : float
        Log-likelihood drop that still counts as plausible (2: about a 95% interval).
    grid : int
        Grid points.
    """
    sd = np.asarray(sd, dtype=float)
    info = np.asarray(information, dtype=float)
    lam = centered_fraction(sd, info)
    out = np.zeros_like(sd)
    for c in range(sd.size):
        ok = (info[:, c] > 0) & (lam[:, c] > 1e-12)
        if not ok.any() or not np.isfinite(sd[c]) or sd[c] <= 0:
            continue
        bhat = np.asarray(effects, dtype=float)[ok, c] / lam[ok, c]
        v = 1.0 / info[ok, c]
        s = np.linspace(0.0, 4.0 * sd[c], grid)
        tot = s[:, None] ** 2 + v[None, :]
        loglik = np.sum(-0.5 * np.log(tot) - 0.5 * bhat[None, :] ** 2 / tot, axis=1)
        out[c] = s[np.argmax(loglik >= loglik.max() - drop)]
    return out
