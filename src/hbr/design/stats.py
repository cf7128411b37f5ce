r"""Sufficient statistics of one grouping factor (NumPy), computed from rows
(:func:`suffstats`), by DuckDB or by Dask (:mod:`hbr.sources`); the exact marginal
likelihood of :mod:`hbr.density.marginal` needs nothing else.

Per group j: :math:`Z_j^\top Z_j`, :math:`Z_j^\top X_j`, :math:`Z_j^\top y_j`, the row
count; globally :math:`X^\top X`, :math:`X^\top y`, :math:`y^\top y`, N.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SuffStats", "suffstats", "pad_stats"]


class SuffStats(NamedTuple):
    """Per-group and global sufficient statistics of one grouping factor, stored as
    contiguous per-group columns (group index last), which halves the gradient cost.

    ``n`` (J,), ``ZtZ`` (k, k, J), ``ZtX`` (k, p, J), ``Zty`` (k, J), ``XtX`` (p, p),
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
    """Compute :class:`SuffStats` in NumPy (float64) from row-level arrays; ``J`` may exceed
    the number of levels (padding groups are empty)."""
    k, p = Z.shape[1], X.shape[1]
    n = np.bincount(index, minlength=J).astype(np.float64)
    ZtZ = np.stack([np.stack([np.bincount(index, Z[:, a] * Z[:, b], minlength=J)
                              for b in range(k)]) for a in range(k)])
    ZtX = np.stack([np.stack([np.bincount(index, Z[:, a] * X[:, c], minlength=J)
                              for c in range(p)]) if p else np.zeros((0, J))
                    for a in range(k)])
    Zty = np.stack([np.bincount(index, Z[:, a] * y, minlength=J) for a in range(k)])
    return SuffStats(n, ZtZ, ZtX, Zty, X.T @ X, X.T @ y, np.asarray(y @ y),
                     np.asarray(float(y.size)))


def pad_stats(st: SuffStats, J: int) -> SuffStats:
    """``st`` with empty groups appended up to ``J`` (they add nothing)."""
    def pad(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        return np.concatenate([a, np.zeros(a.shape[:-1] + (J - a.shape[-1],))], axis=-1)
    return st._replace(n=pad(st.n), ZtZ=pad(st.ZtZ), ZtX=pad(st.ZtX), Zty=pad(st.Zty))


