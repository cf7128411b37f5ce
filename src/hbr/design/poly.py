r"""Orthogonal polynomials, as R's ``poly(x, degree)``, for every reader of tables.

R's ``poly`` centres ``x`` and orthogonalises its powers against the rows: column :math:`j`
is the monic polynomial :math:`Z_j(x)` of degree :math:`j` orthogonal to all lower ones over
the fitted rows, divided by its norm. The monic polynomials follow the three-term
recurrence (Stieltjes)

.. math::

    Z_0 = 1,\quad Z_{j+1}(x) = (x - \alpha_j)\, Z_j(x) - \frac{N_j}{N_{j-1}}\, Z_{j-1}(x),
    \qquad \alpha_j = \frac{\sum_i x_i Z_j(x_i)^2}{N_j},\quad N_j = \sum_i Z_j(x_i)^2,

with :math:`Z_{-1} = 0` and :math:`N_{-1} = 1`; the basis is :math:`Z_j / \sqrt{N_j}`,
:math:`j = 1 \dots d`. The coefficients :math:`\alpha_0..\alpha_{d-1}` and
:math:`(1, N_0, \dots, N_d)` are exactly R's ``attr(, "coefs")`` (``alpha``, ``norm2``):
they are learnt once from the fitted rows and remembered, so new rows (prediction) get the
columns the fit was made with, as ``predict(poly(x, d), newdata)`` does in R.

The recurrence is written once (:func:`recurrence`) over any kind of value: NumPy arrays in
memory, SQL expressions for DuckDB; :func:`learn` asks a reader for the two sums of each
step. ``poly(x, d, raw=True)`` is the plain powers :math:`x, x^2, \dots, x^d`. This module
never imports JAX.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["learn", "recurrence", "fit", "columns", "too_few_values", "Coefs"]

Coefs = tuple[tuple[float, ...], tuple[float, ...]]  # (alpha, norm2), R's names


def recurrence(x: Any, alpha: tuple[float, ...], norm2: tuple[float, ...], upto: int,
               step: Callable[[Any, float, Any, float, Any], Any], first: Callable[[Any, float], Any]
               ) -> list[Any]:
    """The monic polynomials :math:`Z_1 .. Z_{upto}` at ``x`` (unnormalised).

    ``first(x, a)`` is :math:`x - a` and ``step(x, a, z, c, z_prev)`` is
    :math:`(x - a) z - c\\, z_{prev}` in the caller's kind of value; ``norm2`` holds
    :math:`(1, N_0, N_1, \\dots)` as far as ``upto`` needs.
    """
    out = [first(x, alpha[0])] if upto >= 1 else []
    prev: Any = None
    for i in range(1, upto):
        z = out[-1]
        c = norm2[i + 1] / norm2[i]
        out.append(step(x, alpha[i], z, c, prev if prev is not None else 1.0))
        prev = z
    return out


def learn(degree: int, sums: Callable[[tuple[float, ...], tuple[float, ...], int],
                                       tuple[float, float]]) -> Coefs:
    """R's ``(alpha, norm2)`` of ``poly(x, degree)``: ``sums(alpha, norm2, j)`` returns
    :math:`(N_j, \\sum_i x_i Z_j(x_i)^2)` over the fitted rows, for :math:`Z_j` built from the
    coefficients learnt so far (``sums(.., 0)`` is :math:`(n, \\sum x)`)."""
    alpha: list[float] = []
    norm2: list[float] = [1.0]
    for j in range(degree + 1):
        n2, sx = sums(tuple(alpha), tuple(norm2), j)
        norm2.append(float(n2))
        if j < degree:
            alpha.append(float(sx) / float(n2) if n2 > 0 else 0.0)
    return tuple(alpha), tuple(norm2)


def too_few_values(coefs: Coefs) -> int | None:
    r"""The first degree whose polynomial vanishes on the rows (``x`` takes fewer distinct
    values than ``degree + 1``), or None. :math:`N_j` is then rounding noise: below
    :math:`n (10^{-10} s^j)^2` with :math:`s^2 = N_1 / n` the variance of ``x``."""
    _, norm2 = coefs
    n = norm2[1]
    s2 = norm2[2] / n if len(norm2) > 2 and n > 0 else 0.0
    for j in range(1, len(norm2) - 1):
        if not norm2[j + 1] > n * 1e-20 * s2 ** j:
            return j
    return None


def _np_first(x: np.ndarray, a: float) -> np.ndarray:
    return x - a


def _np_step(x: np.ndarray, a: float, z: np.ndarray, c: float, prev: Any) -> np.ndarray:
    return (x - a) * z - c * prev


def fit(x: np.ndarray, degree: int) -> Coefs:
    """The coefficients of ``poly(x, degree)`` learnt from the rows ``x``, as R's."""
    x = np.asarray(x, dtype=np.float64)

    def sums(alpha: tuple[float, ...], norm2: tuple[float, ...], j: int) -> tuple[float, float]:
        z = recurrence(x, alpha, norm2, j, _np_step, _np_first)[-1] if j else np.ones_like(x)
        return float(np.dot(z, z)), float(np.dot(x, z * z))
    return learn(degree, sums)


def columns(x: np.ndarray, degree: int, coefs: Coefs) -> np.ndarray:
    """The basis (n, degree) at ``x`` from the fitted rows' coefficients (on those rows,
    R's ``poly(x, degree)``; on new rows, R's ``predict``)."""
    alpha, norm2 = coefs
    zs = recurrence(np.asarray(x, dtype=np.float64), alpha, norm2, degree, _np_step, _np_first)
    return np.column_stack([z / np.sqrt(norm2[j + 2]) for j, z in enumerate(zs)])
