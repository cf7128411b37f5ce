r"""The marginal likelihood of an intercept-only factor summed by level size (issue 22).

For ``(1 | g)`` integrated out with one residual sd, level j enters the log marginal
likelihood (:mod:`hbr.density.marginal`) only through its row count :math:`n_j` and its
residual sum :math:`Z_j^\top r_j = Z_j^\top y_j - Z_j^\top X_j\beta`:

.. math::

    m_j = 1 + \tau^2 n_j / \sigma^2, \qquad
    \log|M_j| = \log m_j, \qquad u_j^\top M_j^{-1} u_j = \tau^2 (Z_j^\top r_j)^2 / m_j.

Levels of equal size share :math:`m_j`, so over the levels of size class c

.. math::

    \sum_{j \in c} (Z_j^\top r_j)^2 = A_c - 2 B_c^\top\beta + \beta^\top C_c \beta,
    \quad A_c = \sum_{j \in c} (Z_j^\top y_j)^2,\;
    B_c = \sum_{j \in c} (Z_j^\top y_j) X_j^\top Z_j,\;
    C_c = \sum_{j \in c} X_j^\top Z_j Z_j^\top X_j,

and a gradient costs :math:`O(D p^2)` for D distinct sizes instead of :math:`O(J p)`: 10^5
one-row levels are one class. The same numbers up to rounding; the effects are still drawn
level by level from the per-level statistics.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["size_classes", "class_data", "class_loglik"]

MAX_FRACTION = 1 / 8  # used when the distinct sizes are at most this fraction of the levels


def size_classes(spec: Any, noise: str, use_stats: bool, marg: Any) -> int:
    """The number of distinct level sizes when the log density sums the integrated factor
    by size class: the statistics path, one residual sd, one integrated intercept-only
    factor, and few distinct sizes (:data:`MAX_FRACTION` of the levels); else 0."""
    if not use_stats or noise != "scalar" or len(marg) != 1:
        return 0
    g = spec.groups[min(marg)]
    if g.block.k != 1 or not g.block.names[0].startswith("1|"):
        return 0
    from hbr.density.split import _level_counts

    counts = _level_counts(spec, g)
    if counts is None:
        return 0
    d = np.unique(counts).size
    return d if d <= MAX_FRACTION * counts.size else 0


def class_data(ZtZ: np.ndarray, Zty: np.ndarray, ZtX: np.ndarray) -> dict[str, np.ndarray]:
    """Per size class (padding levels, of size 0, form one that adds nothing): the size
    ``n``, the number of levels ``count``, and ``A`` (D,), ``B`` (D, p), ``C`` (D, p, p)."""
    n = ZtZ[0, 0]
    sizes, which = np.unique(n, return_inverse=True)
    D, p = sizes.size, ZtX.shape[1]
    zy, zx = Zty[0], ZtX[0].T  # (J,), (J, p)
    A = np.bincount(which, weights=zy * zy, minlength=D)
    B = np.stack([np.bincount(which, weights=zy * zx[:, c], minlength=D) for c in range(p)],
                 axis=1) if p else np.zeros((D, 0))
    C = np.zeros((D, p, p))
    np.add.at(C, which, zx[:, :, None] * zx[:, None, :])
    return {"n": sizes.astype(np.float64), "count": np.bincount(which, minlength=D).astype(
        np.float64), "A": A, "B": B, "C": C}


def class_loglik(cls: dict, rr: jax.Array, beta: jax.Array, tau: jax.Array,
                 sigma: jax.Array, N: jax.Array) -> jax.Array:
    """The log marginal likelihood of :func:`hbr.density.marginal.marginal_loglik`, from
    the size classes; ``rr`` is :math:`\\sum_i r_i^2`."""
    s2, t2 = sigma ** 2, tau ** 2
    zr2 = cls["A"] - 2 * cls["B"] @ beta + jnp.einsum("dab,a,b->d", cls["C"], beta, beta)
    m = 1.0 + t2 * cls["n"] / s2
    logdet = jnp.sum(cls["count"] * jnp.log(m))
    quad = jnp.sum(t2 * zr2 / m)
    return (-0.5 * N * np.log(2 * np.pi) - N * jnp.log(sigma) - 0.5 * logdet
            - 0.5 / s2 * (rr - quad / s2))
