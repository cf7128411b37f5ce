r"""Exact marginalisation of Gaussian group effects (the "no funnel by construction" core).

For one grouping factor with J levels and k varying coefficients,
:math:`y_j = X_j\beta + o_j + Z_j b_j + e_j`, :math:`b_j \sim N(0, LL^\top)`,
:math:`e_j \sim N(0, \sigma^2 I)` (``o`` collects any other terms that are sampled). With
residuals :math:`r_j = y_j - X_j\beta - o_j`, the Woodbury identity and the matrix determinant
lemma give, with :math:`M_j = I_k + L^\top Z_j^\top Z_j L / \sigma^2` and
:math:`u_j = L^\top Z_j^\top r_j`,

.. math::
    \log p(y \mid \theta) = -\tfrac N2 \log 2\pi - N \log\sigma - \tfrac12 \sum_j \log|M_j|
    - \frac{1}{2\sigma^2}\Big(\sum_j r_j^\top r_j - \frac{1}{\sigma^2}
      \sum_j u_j^\top M_j^{-1} u_j\Big).

Only :math:`Z_j^\top Z_j` (k x k), :math:`Z_j^\top r_j` (k) and :math:`\sum r^\top r` are
needed; without other sampled terms they come from sufficient statistics
(:math:`Z_j^\top y_j`, :math:`Z_j^\top X_j`, :math:`X^\top X`, :math:`X^\top y`, :math:`y^\top y`)
at a cost independent of N. The form in L (not :math:`\Sigma^{-1}`) stays finite as a group
standard deviation goes to 0. An empty group (padding) has :math:`Z_j^\top Z_j = 0`, so
:math:`M_j = I` and it adds nothing.

Given :math:`\theta`, the effects are drawn exactly: :math:`b_j = L c_j`,
:math:`c_j \sim N(M_j^{-1} u_j / \sigma^2,\ M_j^{-1})`.

References: Lai, Domke & Sheldon (NeurIPS 2024), "Hamiltonian Monte Carlo on marginalised
linear mixed models"; Gelman & Hill (2007), ch. 13.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

__all__ = ["SuffStats", "suffstats", "marginal_loglik", "conditional_effects"]

_LOG_2PI = math.log(2 * math.pi)


class SuffStats(NamedTuple):
    """Per-group and global sufficient statistics of one grouping factor.

    ``n`` (J,), ``ZtZ`` (J, k, k), ``ZtX`` (J, k, p), ``Zty`` (J, k), ``XtX`` (p, p),
    ``Xty`` (p,), ``yty`` and ``N`` scalars.
    """

    n: np.ndarray
    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: np.ndarray
    N: np.ndarray


def suffstats(y: np.ndarray, X: np.ndarray, Z: np.ndarray, index: np.ndarray, J: int
              ) -> SuffStats:
    """Compute :class:`SuffStats` in NumPy (float64) from row-level arrays."""
    k, p = Z.shape[1], X.shape[1]
    n = np.bincount(index, minlength=J).astype(np.float64)
    ZtZ = np.zeros((J, k, k))
    np.add.at(ZtZ, index, Z[:, :, None] * Z[:, None, :])
    ZtX = np.zeros((J, k, p))
    np.add.at(ZtX, index, Z[:, :, None] * X[:, None, :])
    Zty = np.zeros((J, k))
    np.add.at(Zty, index, Z * y[:, None])
    return SuffStats(n, ZtZ, ZtX, Zty, X.T @ X, X.T @ y, np.asarray(y @ y),
                     np.asarray(float(y.size)))


def _m_parts(ZtZ: jax.Array, L: jax.Array, s2: jax.Array) -> jax.Array:
    """:math:`M_j = I + L^\\top Z_j^\\top Z_j L / \\sigma^2`, shape (J, k, k)."""
    k = L.shape[0]
    return jnp.eye(k) + jnp.einsum("ba,jbc,cd->jad", L, ZtZ, L) / s2


def _logdet_and_quad(M: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Sum over groups of log|M_j| and of u_j' M_j^{-1} u_j, closed form for k <= 2."""
    k = M.shape[-1]
    if k == 1:
        m = M[:, 0, 0]
        return jnp.sum(jnp.log(m)), jnp.sum(u[:, 0] ** 2 / m)
    if k == 2:
        a, b, d = M[:, 0, 0], M[:, 0, 1], M[:, 1, 1]
        det = a * d - b * b
        quad = (d * u[:, 0] ** 2 - 2 * b * u[:, 0] * u[:, 1] + a * u[:, 1] ** 2) / det
        return jnp.sum(jnp.log(det)), jnp.sum(quad)
    C = jnp.linalg.cholesky(M)
    w = jax.vmap(lambda c, v: solve_triangular(c, v, lower=True))(C, u)
    logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(C, axis1=-2, axis2=-1)))
    return logdet, jnp.sum(w**2)


def marginal_loglik(rr: jax.Array, Zr: jax.Array, ZtZ: jax.Array, L: jax.Array,
                    sigma: jax.Array, N: jax.Array) -> jax.Array:
    """Log marginal likelihood of the residuals with the group effects integrated out.

    Parameters
    ----------
    rr : scalar
        :math:`\\sum_i r_i^2`.
    Zr : (J, k)
        :math:`Z_j^\\top r_j`.
    ZtZ : (J, k, k)
    L : (k, k)
        Lower Cholesky factor of the group covariance (``diag(s) @ L_corr``).
    sigma : scalar
        Residual standard deviation.
    N : scalar
        Number of observations.
    """
    s2 = sigma**2
    M = _m_parts(ZtZ, L, s2)
    u = Zr @ L
    logdet, quad = _logdet_and_quad(M, u)
    return (-0.5 * N * _LOG_2PI - N * jnp.log(sigma) - 0.5 * logdet
            - 0.5 / s2 * (rr - quad / s2))


def conditional_effects(key: jax.Array, Zr: jax.Array, ZtZ: jax.Array, L: jax.Array,
                        sigma: jax.Array) -> jax.Array:
    """One exact draw of the group effects b (J, k) from :math:`p(b \\mid \\theta, y)`."""
    s2 = sigma**2
    M = _m_parts(ZtZ, L, s2)
    u = Zr @ L
    C = jnp.linalg.cholesky(M)
    mean = jax.vmap(lambda c, v: jax.scipy.linalg.cho_solve((c, True), v))(C, u) / s2
    eps = jax.random.normal(key, u.shape, dtype=u.dtype)
    noise = jax.vmap(lambda c, e: solve_triangular(c, e, lower=True, trans=1))(C, eps)
    return (mean + noise) @ L.T
