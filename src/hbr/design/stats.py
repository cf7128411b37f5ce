r"""Sufficient statistics of one grouping factor (NumPy), computed from rows
(:func:`suffstats`), by DuckDB or by Dask (:mod:`hbr.sources`); the exact marginal
likelihood of :mod:`hbr.density.marginal` needs nothing else.

Per group j: :math:`Z_j^\top Z_j`, :math:`Z_j^\top X_j`, :math:`Z_j^\top y_j`, the row
count; globally :math:`X^\top X`, :math:`X^\top y`, :math:`y^\top y`, N.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SuffStats", "suffstats", "pad_stats", "group_xstats", "Moments", "row_moments", "table_moments",
           "sample_sd"]


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


def suffstats(y: np.ndarray, X: np.ndarray, Z: np.ndarray, index: np.ndarray, J: int,
              w: np.ndarray | None = None) -> SuffStats:
    r"""Compute :class:`SuffStats` in NumPy (float64) from row-level arrays; ``J`` may exceed
    the number of levels (padding groups are empty). With row weights ``w`` (``y |
    weights(w)``) every product is weighted, :math:`Z_j^\top W_j Z_j`, ..., and the counts
    are the sums of the weights: the Gaussian log likelihood :math:`\sum_i w_i \log
    N(y_i \mid \mu_i, \sigma^2)` reads these exactly as the unweighted one reads its own."""
    if w is not None:
        sw = np.sqrt(w)
        st = suffstats(y * sw, X * sw[:, None], Z * sw[:, None], index, J)
        return st._replace(n=np.bincount(index, w, minlength=J).astype(np.float64),
                           N=np.asarray(float(np.sum(w))))
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


def group_xstats(y: np.ndarray, X: np.ndarray, index: np.ndarray, J: int,
                 w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Per group j, :math:`X_j^\top X_j` (p, p, J), :math:`X_j^\top y_j` (p, J) and
    :math:`y_j^\top y_j` (J,): what the residual sum of squares of each group needs when the
    noise variance differs between groups (``sigma ~ (1 | g)`` on the integrated factor);
    weighted by the rows' weights ``w`` when given."""
    if w is not None:
        sw = np.sqrt(w)
        return group_xstats(y * sw, X * sw[:, None], index, J)
    p = X.shape[1]
    XtX = np.zeros((p, p, J))
    for a in range(p):
        for c in range(a, p):
            XtX[a, c] = XtX[c, a] = np.bincount(index, X[:, a] * X[:, c], minlength=J)
    Xty = np.stack([np.bincount(index, X[:, a] * y, minlength=J) for a in range(p)]) \
        if p else np.zeros((0, J))
    return XtX, Xty, np.bincount(index, y * y, minlength=J)


def pad_stats(st: SuffStats, J: int) -> SuffStats:
    """``st`` with empty groups appended up to ``J`` (they add nothing)."""
    def pad(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        return np.concatenate([a, np.zeros(a.shape[:-1] + (J - a.shape[-1],))], axis=-1)
    return st._replace(n=pad(st.n), ZtZ=pad(st.ZtZ), ZtX=pad(st.ZtX), Zty=pad(st.Zty))




class Moments(NamedTuple):
    """The column moments of a design, which every design has, rows or not: what the default
    priors and the start point are scaled by.

    ``y_mean``, ``y_sd``, ``x_mean``, ``x_sd`` and ``z_sd`` (one array per group block) are
    sample moments (ddof=1; a constant column has sd 1). ``start_y_sd`` and ``start_z_sd``
    are the scales of the start point: population sds (ddof=0, a constant column 1) of the
    rows, as the start has always used, or the sample sds when only statistics exist (the
    difference moves the start by a factor sqrt(n / (n - 1)), which no draw depends on
    beyond its last bits; keeping it keeps every seed's draws).
    """

    n_obs: int
    y_mean: float
    y_sd: float
    x_mean: np.ndarray
    x_sd: np.ndarray
    z_sd: tuple[np.ndarray, ...]
    start_y_sd: float
    start_z_sd: tuple[np.ndarray, ...]


def sample_sd(v: np.ndarray) -> float:
    """The sd of ``v`` (ddof=1); 1 for a constant or single value."""
    s = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return s if s > 0 else 1.0


def row_moments(y: np.ndarray, X: np.ndarray, Zs: list[np.ndarray],
                w: np.ndarray | None = None) -> Moments:
    r""":class:`Moments` of the rows: ``y`` (N,), ``X`` (N, p) and each block's ``Z``. With
    row weights ``w`` (``y | weights(w)``) the moments are those of the table with each row
    repeated ``w`` times (frequency weights: mean and sds with :math:`\sum w` rows), so a
    weighted fit and the fit of the repeated rows have the same default priors and start."""
    if w is not None:
        return _weighted_moments(y, X, Zs, np.asarray(w, dtype=np.float64))
    z_sd = tuple(np.array([sample_sd(c) if not np.all(c == c[0]) else 1.0 for c in Z.T]) for Z in Zs)
    start_z = tuple(np.array([float(np.std(c)) if np.std(c) > 0 else 1.0 for c in Z.T])
                    for Z in Zs)
    return Moments(int(y.shape[0]), float(np.mean(y)), sample_sd(y), X.mean(axis=0),
                   np.array([sample_sd(c) for c in X.T]), z_sd, float(np.std(y)) or 1.0, start_z)


def _weighted_moments(y: np.ndarray, X: np.ndarray, Zs: list[np.ndarray], w: np.ndarray
                      ) -> Moments:
    W = float(np.sum(w))

    def mean(c: np.ndarray) -> float:
        return float(w @ c / W)

    def sd(c: np.ndarray, ddof: int) -> float:
        ss = float(w @ (c - mean(c)) ** 2)
        v = ss / (W - ddof) if W > ddof else 0.0
        return float(np.sqrt(v)) if v > 0 else 1.0

    z_sd = tuple(np.array([sd(c, 1) for c in Z.T]) for Z in Zs)
    start_z = tuple(np.array([sd(c, 0) for c in Z.T]) for Z in Zs)
    return Moments(int(y.shape[0]), mean(y), sd(y, 1), (w @ X) / W,
                   np.array([sd(c, 1) for c in X.T]), z_sd, sd(y, 0), start_z)


def table_moments(n_obs: int, y_mean: float, y_sd: float, x_mean: np.ndarray,
                  x_sd: np.ndarray, z_sd: np.ndarray, widths: tuple[int, ...]) -> Moments:
    """:class:`Moments` from the sample moments DuckDB or Dask computed (``z_sd`` of all
    group blocks side by side, ``widths`` their columns)."""
    def fix(v: np.ndarray) -> np.ndarray:
        return np.where(v > 0, v, 1.0)
    zs = tuple(fix(np.asarray(z_sd[a:a + w])) for a, w in
               zip(np.cumsum((0, *widths[:-1])), widths))
    sy = float(fix(np.array([y_sd]))[0])
    return Moments(int(n_obs), float(y_mean), sy, np.asarray(x_mean), fix(np.asarray(x_sd)),
                   zs, sy, zs)
