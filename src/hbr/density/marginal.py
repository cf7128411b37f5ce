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

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.scipy.linalg import solve_triangular


__all__ = ["marginal_loglik", "integrated_sum", "conditional_effects", "conditional_moments",
           "group_marginal_terms", "group_logdet_quad",
           "effects_logdet"]

_LOG_2PI = math.log(2 * math.pi)
ELEMENTWISE_K = 4  # the most coefficients whose M is written out entry by entry (_m_u)


def _m_u(Zr: jax.Array, ZtZ: jax.Array, L: jax.Array, s2: jax.Array
         ) -> tuple[Any, jax.Array]:
    r""":math:`M_j = I + L^\top Z_j^\top Z_j L / \sigma^2` and :math:`u_j = L^\top Z_j^\top r_j`
    (k, J). Up to :data:`ELEMENTWISE_K` coefficients, M as a k x k nested list of (J,)
    arrays, each entry a sum of elementwise products (the closed forms read them, and XLA
    fuses them into one pass over many groups); beyond, as a (J, k, k) array from two
    contractions. Written out elementwise for every k, M took :math:`O(k^3)` operations in
    the traced program: a smooth's eight coefficients made 3,500 of its 6,700 (284 now),
    and compiling ``y ~ s(x) + (1 | g)``'s six programs took 5 minutes (27 s now)."""
    k = L.shape[0]
    if k > ELEMENTWISE_K:
        M = jnp.einsum("ca,cbj->jab", L, jnp.einsum("acj,cb->abj", ZtZ, L)) / s2
        return M + jnp.eye(k, dtype=M.dtype), L.T @ Zr
    # A L, column by column, then L' (A L): k^3 elementwise products of (J,) vectors
    AL = [[sum(ZtZ[a, c] * L[c, b] for c in range(b, k)) for b in range(k)] for a in range(k)]
    M = [[(sum(L[c, a] * AL[c][b] for c in range(a, k)) / s2 + (1.0 if a == b else 0.0))
          for b in range(k)] for a in range(k)]
    u = jnp.stack([sum(L[c, a] * Zr[c] for c in range(a, k)) for a in range(k)])
    return M, u


def _batched(M: Any) -> jax.Array:
    """:func:`_m_u`'s M as a (J, k, k) array."""
    if isinstance(M, list):
        return jnp.moveaxis(jnp.stack([jnp.stack(row) for row in M]), -1, 0)
    return M


def _chol(M: list) -> list:
    """The lower Cholesky factor of every group's M, entry by entry: a nested list of (J,)
    arrays (Cholesky-Banachiewicz). A batched ``jnp.linalg.cholesky`` of (J, 3, 3) runs one
    small LAPACK call per group: value and gradient of the radon-sized sum took 5-8x as
    long for k = 3 and 2.6-8.5x for k = 4 (J = 96 to 5000)."""
    k = len(M)
    C = [[None] * k for _ in range(k)]
    for j in range(k):
        C[j][j] = jnp.sqrt(M[j][j] - sum(C[j][c] ** 2 for c in range(j)))
        for i in range(j + 1, k):
            C[i][j] = (M[i][j] - sum(C[i][c] * C[j][c] for c in range(j))) / C[j][j]
    return C


def _forward(C: list, u: Any) -> list:
    """Solve :math:`C w = u` (C lower triangular, from :func:`_chol`), group by group."""
    w: list = []
    for i in range(len(C)):
        w.append((u[i] - sum(C[i][c] * w[c] for c in range(i))) / C[i][i])
    return w


def _backward(C: list, x: Any) -> list:
    """Solve :math:`C^\top v = x`, group by group."""
    k = len(C)
    v: list = [None] * k
    for i in reversed(range(k)):
        v[i] = (x[i] - sum(C[c][i] * v[c] for c in range(i + 1, k))) / C[i][i]
    return v


def group_logdet_quad(M: Any, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Per group, :math:`\log|M_j|` and :math:`u_j^\top M_j^{-1} u_j` (J,); closed form for
    k <= 2, the Cholesky factor entry by entry up to :data:`ELEMENTWISE_K`, batched beyond."""
    k = u.shape[0]
    if k == 1:
        m = M[0][0]
        return jnp.log(m), u[0] ** 2 / m
    if k == 2:
        a, b, d = M[0][0], M[0][1], M[1][1]
        det = a * d - b * b
        return jnp.log(det), (d * u[0] ** 2 - 2 * b * u[0] * u[1] + a * u[1] ** 2) / det
    if isinstance(M, list):  # up to ELEMENTWISE_K
        C = _chol(M)
        return 2 * sum(jnp.log(C[i][i]) for i in range(k)), sum(w * w for w in _forward(C, u))
    C = jnp.linalg.cholesky(M)  # (J, k, k)
    w = jax.vmap(lambda c, v: solve_triangular(c, v, lower=True))(C, u.T)
    return 2 * jnp.sum(jnp.log(jnp.diagonal(C, axis1=-2, axis2=-1)), axis=-1), \
        jnp.sum(w**2, axis=-1)


def group_marginal_terms(Zr: jax.Array, ZtZ: jax.Array, L: jax.Array,
                         s2: jax.Array | float = 1.0) -> jax.Array:
    r"""Per group j, the part of :math:`\log p(y_j \mid \theta)` that the integrated
    effects add, :math:`-\tfrac12\log|M_j| + u_j^\top M_j^{-1} u_j / (2\sigma^4)` (J,):
    the rest, :math:`-\tfrac12(n_j\log 2\pi\sigma^2 + r_j^\top r_j/\sigma^2)`, is a sum
    over the rows. With noise that varies by row, pass statistics weighted by the inverse
    variances (:math:`Z_j^\top D_j^{-1} Z_j`, :math:`Z_j^\top D_j^{-1} r_j`) and ``s2 = 1``:
    the same algebra (Woodbury, determinant lemma) then gives the heteroscedastic case,
    which leave-one-group-out needs (:func:`hbr.checks.compare.group_marginal_loglik`)."""
    M, u = _m_u(Zr, ZtZ, L, s2)
    logdet, quad = group_logdet_quad(M, u)
    return -0.5 * logdet + 0.5 * quad / s2**2


def effects_logdet(Zr: jax.Array, ZtZ: jax.Array, L: jax.Array, sigma: jax.Array
                   ) -> jax.Array:
    r"""Per group, :math:`\log|M_j|` (J,): minus twice the log density of the group's
    whitened effects :math:`c_j = L^{-1} b_j` at their conditional mode, less
    :math:`k \log 2\pi` (their conditional covariance is :math:`M_j^{-1}`)."""
    M, u = _m_u(Zr, ZtZ, L, sigma**2)
    return group_logdet_quad(M, u)[0]


def _sum_and_gradients(Zr: jax.Array, ZtZ: jax.Array, L: jax.Array, s2: jax.Array,
                       want_A: bool, grads: bool = True) -> Any:
    r"""For k <= 2, :math:`F = \sum_j f_j`, :math:`f_j = -\tfrac12 \log|M_j| +
    \tfrac12 u_j^\top M_j^{-1} u_j / \sigma^4` (what the integrated effects add; see
    :func:`group_marginal_terms`), and its gradients, with :math:`W_j = M_j^{-1}`,
    :math:`w_j = W_j u_j`, :math:`c = \sigma^{-4}` and
    :math:`G_j = \partial f_j / \partial M_j = -\tfrac12 (W_j + c\, w_j w_j^\top)`:

    .. math::
        \nabla_L F = \sum_j \big(2 A_j L G_j / \sigma^2 + c\, z_j w_j^\top\big),\quad
        \partial_{\sigma^2} F = -\sum_j \big(\operatorname{tr}(G_j (M_j - I))
            + c\, u_j^\top w_j\big) / \sigma^2,

    :math:`\nabla_{z_j} F = c L w_j` and :math:`\nabla_{A_j} F = L G_j L^\top / \sigma^2`
    (:math:`A_j = Z_j^\top Z_j`, :math:`z_j = Z_j^\top r_j`; from
    :math:`dM = (dL^\top A L + L^\top A\, dL + L^\top dA\, L)/\sigma^2 - (M - I)\,
    d\sigma^2/\sigma^2` and :math:`du = dL^\top z + L^\top dz`). Only L's lower triangle
    is read, so the gradient's upper triangle is 0; ``dF/dZtZ`` is the symmetric gradient
    (every Z'Z is symmetric, so any tangent of it is). The value and the sums over groups
    come from one stacked reduction, where reverse-mode autodiff of the same algebra makes
    a reduction for each coefficient: Minnesota radon ``(floor | county)``, the log
    density's gradient 165 -> 111 fusions and 12.8 -> 8.0 us (in one process, the
    fastest of 15 rounds of 2000 gradients each). Returns ``(F, dF/dZr (k, J),
    dF/dZtZ (k, k, J) or None, dF/dL (k, k), dF/ds2)``, or F alone without ``grads``."""
    k = Zr.shape[0]
    M, u = _m_u(Zr, ZtZ, L, s2)
    c = 1.0 / (s2 * s2)
    if k == 1:
        m = M[0][0]
        W = [[1.0 / m]]
        logdet = jnp.log(m)
    else:
        a, b, d = M[0][0], M[0][1], M[1][1]
        det = a * d - b * b
        W = [[d / det, -b / det], [-b / det, a / det]]
        logdet = jnp.log(det)
    w = [sum(W[p][q] * u[q] for q in range(k)) for p in range(k)]
    quad = sum(u[p] * w[p] for p in range(k))
    value = -0.5 * logdet + 0.5 * c * quad
    if not grads:
        return jnp.sum(value)
    G = [[-0.5 * (W[p][q] + c * w[p] * w[q]) for q in range(k)] for p in range(k)]
    A = [[ZtZ[p, q] for q in range(k)] for p in range(k)]
    AL = [[sum(A[p][r] * L[r, q] for r in range(q, k)) for q in range(k)] for p in range(k)]
    lower = [(p, q) for p in range(k) for q in range(p + 1)]
    gL = [2.0 / s2 * sum(AL[p][r] * G[r][q] for r in range(k)) + c * Zr[p] * w[q]
          for p, q in lower]
    trace = sum(G[p][q] * (M[q][p] - (1.0 if p == q else 0.0))
                for p in range(k) for q in range(k))
    gs2 = -(trace + c * quad) / s2
    sums = jnp.sum(jnp.stack([value, gs2] + gL), axis=1)  # one reduction over the groups
    dL = jnp.zeros((k, k), sums.dtype)
    for i, (p, q) in enumerate(lower):
        dL = dL.at[p, q].set(sums[2 + i])
    dZr = c * jnp.stack([sum(L[p, q] * w[q] for q in range(p + 1)) for p in range(k)])
    dA = None
    if want_A:  # L G L' / s2: only where Z'Z depends on the parameters (noise by row)
        LG = [[sum(L[p, r] * G[r][q] for r in range(p + 1)) for q in range(k)]
              for p in range(k)]
        dA = jnp.stack([jnp.stack([sum(LG[p][t] * L[q, t] for t in range(q + 1)) / s2
                                   for q in range(k)]) for p in range(k)])
    return sums[0], dZr, dA, dL, sums[1]


@jax.custom_jvp
def integrated_sum(Zr: jax.Array, ZtZ: jax.Array, L: jax.Array, s2: jax.Array) -> jax.Array:
    r""":math:`\sum_j \big(-\tfrac12 \log|M_j| + \tfrac12 u_j^\top M_j^{-1} u_j /
    \sigma^4\big)` for k <= 2, with the derivatives of :func:`_sum_and_gradients` (exact;
    ``tests/density/test_marginal.py`` checks them against autodiff of
    :func:`group_marginal_terms`, first and second order)."""
    return _sum_and_gradients(Zr, ZtZ, L, s2, False, grads=False)


@functools.partial(integrated_sum.defjvp, symbolic_zeros=True)
def _integrated_sum_jvp(primals: tuple, tangents: tuple) -> tuple:
    Zr, ZtZ, L, s2 = primals
    tZr, tA, tL, ts2 = tangents
    zero = lambda t: type(t) is SymbolicZero  # noqa: E731
    value, dZr, dA, dL, ds2 = _sum_and_gradients(Zr, ZtZ, L, s2, not zero(tA))
    out = jnp.zeros_like(value)
    for g, t in ((dZr, tZr), (dA, tA), (dL, tL), (ds2, ts2)):
        if not zero(t):
            out = out + jnp.sum(g * t)
    return value, out


def marginal_loglik(rr: jax.Array, Zr: jax.Array, ZtZ: jax.Array, L: jax.Array,
                    sigma: jax.Array, N: jax.Array) -> jax.Array:
    r"""Log marginal likelihood of the residuals with the group effects integrated out.

    Parameters
    ----------
    rr : scalar
        :math:`\sum_i r_i^2`.
    Zr : (k, J)
        :math:`Z_j^\top r_j` as columns.
    ZtZ : (k, k, J)
    L : (k, k)
        Lower Cholesky factor of the group covariance (``diag(s) @ L_corr``).
    sigma : scalar
        Residual standard deviation.
    N : scalar
        Number of observations.
    """
    s2 = sigma**2
    if Zr.shape[0] <= 2:  # closed form, with its own derivatives (integrated_sum)
        return (-0.5 * N * _LOG_2PI - N * jnp.log(sigma) - 0.5 / s2 * rr
                + integrated_sum(Zr, ZtZ, L, s2))
    M, u = _m_u(Zr, ZtZ, L, s2)
    logdet, quad = (jnp.sum(t) for t in group_logdet_quad(M, u))
    return (-0.5 * N * _LOG_2PI - N * jnp.log(sigma) - 0.5 * logdet
            - 0.5 / s2 * (rr - quad / s2))


def conditional_effects(key: jax.Array, Zr: jax.Array, ZtZ: jax.Array, L: jax.Array,
                        sigma: jax.Array, noise: jax.Array | float = 1.0) -> jax.Array:
    r"""One exact draw of the group effects b (J, k) from :math:`p(b \mid \theta, y)`;
    ``Zr`` (k, J) and ``ZtZ`` (k, k, J) as in :func:`marginal_loglik`. ``noise = 0`` gives
    the conditional mean (= mode) instead of a draw."""
    s2 = sigma**2
    M, u = _m_u(Zr, ZtZ, L, s2)
    k = u.shape[0]
    eps = noise * jax.random.normal(key, (u.shape[1], k), dtype=u.dtype)
    if k == 1:  # c = u / (m s2) + eps / sqrt(m)
        m = M[0][0]
        c = (u[0] / (m * s2) + eps[:, 0] / jnp.sqrt(m))[:, None]
        return c @ L.T
    if k == 2:  # closed-form Cholesky M = C C' and solves, elementwise over groups
        a, b, d = M[0][0], M[0][1], M[1][1]
        det = a * d - b * b
        mean0 = (d * u[0] - b * u[1]) / det / s2
        mean1 = (a * u[1] - b * u[0]) / det / s2
        c11 = jnp.sqrt(a)
        c21 = b / c11
        c22 = jnp.sqrt(d - c21 * c21)
        x1 = eps[:, 1] / c22  # solve C' x = eps (C' upper triangular)
        x0 = (eps[:, 0] - c21 * x1) / c11
        return jnp.stack([mean0 + x0, mean1 + x1], axis=1) @ L.T
    if isinstance(M, list):  # up to ELEMENTWISE_K: mean M^-1 u / s2, noise C'^-1 eps
        C = _chol(M)
        mean = _backward(C, _forward(C, u))
        x = _backward(C, [eps[:, i] for i in range(k)])
        return jnp.stack([m / s2 + e for m, e in zip(mean, x)], axis=1) @ L.T
    C = jnp.linalg.cholesky(M)  # (J, k, k)
    mean = jax.vmap(lambda c, v: jax.scipy.linalg.cho_solve((c, True), v))(C, u.T) / s2
    noise = jax.vmap(lambda c, e: solve_triangular(c, e, lower=True, trans=1))(C, eps)
    return (mean + noise) @ L.T


def conditional_moments(Zr: jax.Array, ZtZ: jax.Array, L: jax.Array, sigma: jax.Array,
                        noise: jax.Array | float = 1.0) -> tuple[jax.Array, jax.Array]:
    r"""The mean and the variances of :math:`p(b \mid \theta, y)`, each (J, k): the
    distribution :func:`conditional_effects` draws from. With :math:`b_j = L c_j`,
    :math:`c_j \sim N(M_j^{-1} u_j / \sigma^2, M_j^{-1})`, so

    .. math::
        E[b_j] = L M_j^{-1} u_j / \sigma^2, \qquad
        \operatorname{diag} \operatorname{Cov}[b_j] = \operatorname{diag}(L M_j^{-1} L^\top)
        \cdot \text{noise}^2.

    Averaged over posterior draws of :math:`\theta` these give the Rao-Blackwellised mean
    and variance of each effect (:mod:`hbr.posterior.rao_blackwell`)."""
    s2 = sigma**2
    M, u = _m_u(Zr, ZtZ, L, s2)
    k = u.shape[0]
    if k == 1:
        m = M[0][0]
        return (u[0] / (m * s2))[:, None] * L[0, 0], (L[0, 0] ** 2 / m * noise**2)[:, None]
    if k == 2:  # M^-1 = [[d, -b], [-b, a]] / det
        a, b, d = M[0][0], M[0][1], M[1][1]
        det = a * d - b * b
        mean = jnp.stack([d * u[0] - b * u[1], a * u[1] - b * u[0]], axis=1) \
            / (det * s2)[:, None]
        Minv = jnp.stack([jnp.stack([d, -b], -1), jnp.stack([-b, a], -1)], -2) / det[:, None, None]
    else:
        if isinstance(M, list):  # up to ELEMENTWISE_K: column b of M^-1 solves M x = e_b
            C = _chol(M)
            cols = [_backward(C, _forward(C, [float(a == b) for a in range(k)]))
                    for b in range(k)]
            Minv = jnp.stack([jnp.stack(col, -1) for col in cols], -1)  # (J, k, k)
        else:
            Minv = jnp.linalg.inv(M)  # (J, k, k)
        mean = jnp.einsum("jab,bj->ja", Minv, u) / s2
    var = jnp.einsum("ab,jbc,ac->ja", L, Minv, L) * noise**2
    return mean @ L.T, var
