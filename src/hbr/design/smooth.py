r"""Smooth terms ``s(x)``: the thin plate regression spline of mgcv, in mixed-model form.

brms fits ``s(x)`` as mgcv's ``smoothCon(s(x), absorb.cons = TRUE, diagonal.penalty =
TRUE)`` turned into a random effect by ``smooth2random(type = 2)``. This module builds the
same two pieces from a column:

* ``Xf`` (N, M - 1): the unpenalised part, the linear trend for the default order
  ``m = 2`` (brms's fixed effect ``sx_1``),
* ``Xr`` (N, k - M): the penalised part, whose coefficients are a priori independent
  ``N(0, sds^2)`` (brms's ``s_sx_1`` with standard deviation ``sds_sx_1``).

The construction (Wood 2003, "Thin plate regression splines", JRSS B 65:95-114), for one
covariate with the penalty of the second derivative (``m = 2``, null space ``M = 2``:
``1, x``), after centring x at its mean:

1. ``E_ij = eta(|x_i - x_j|)`` over the distinct values (the knots), with
   ``eta(r) = r^3 / 12``, and ``T = [1, x]``;
2. the ``k`` eigenvalues of ``E`` of largest magnitude, ``E U_k = U_k diag(v)``, ordered
   from the largest down (with exactly ``k`` distinct values, mgcv's "pure knot" case:
   ``U_k = I`` and ``E`` in place of ``diag(v)``);
3. the constraint ``T'U_k delta = 0`` absorbed by Householder reflections ``Q``
   (``T'U_k Q = [0, B]``): the basis ``X = [U_k diag(v) Z, T]`` with ``Z`` the first
   ``k - M`` columns of ``Q`` and the penalty ``S = Z' diag(v) Z`` (zero on ``T``);
4. every column of ``X`` scaled to a root mean square of 1, and ``S`` with it;
5. the penalty scaled by ``maS = ||S||_1 / ||X||_inf^2`` (mgcv's ``scale.penalty``);
6. the sum-to-zero constraint ``1'X beta = 0`` absorbed (the smooth carries no intercept);
7. the natural parameterisation: the eigenvectors of the penalty, the penalised columns
   divided by the root of their eigenvalue (penalty = identity), the unpenalised column
   scaled to the mean squared norm of those; the penalised columns in the order mgcv's
   ``smooth2random`` returns them (the largest eigenvalue's, then the rest from the
   smallest up), each signed to be positive at the smallest knot.

Steps 1-5 follow mgcv's C code and R code in their conventions (the order of the
eigenvalues, the Householder reflections of ``QT``, the norms), because the scale of the
penalty (step 5) depends on that representation and sets the meaning of ``sds``; steps 6-7
depend only on the spanned space. The result agrees with mgcv 1.8 to rounding error
(tests/design/test_smooth_basis.py, against matrices printed by R): ``Xr`` column by column up to
sign (LAPACK's choice in R), ``Xf`` up to sign (hbr makes its slope on x positive).

Departure: with more than 2000 distinct values mgcv draws 2000 knots at random (R's
generator, seed 1); hbr takes 2000 values evenly spaced in rank, deterministic and
reproducible without R.

New data: every column is a linear map of ``[eta(|x - knot_j|)_j, 1, x]`` (the matrix
:attr:`SmoothBasis.coef`), so predictions at new x evaluate the same functions.

This module never imports JAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hbr.design.transforms import evaluate_numeric
from hbr.design.types import GroupBlock, TermSlice
from hbr.errors import DataError, caret_message
from hbr.formula import Formula, Smooth

__all__ = ["SmoothBasis", "fit_tprs", "tprs_columns", "MAX_KNOTS", "smooth_design",
           "smooth_rows"]

MAX_KNOTS = 2000  # mgcv's max.knots for the "tp" basis
_M = 2  # the null space of the second-derivative penalty in one dimension: 1, x


@dataclass(frozen=True, eq=False)
class SmoothBasis:
    """What a fitted ``s(x)`` needs to evaluate its columns at any x: the centre ``shift``,
    the ``knots`` (centred) and ``coef`` ((n_knots + 2), k - 1): the map from
    ``[eta(|x - knot_j|)_j, 1, x]`` to ``[Xr, Xf]``; ``k`` the basis dimension."""

    shift: float
    knots: np.ndarray
    coef: np.ndarray
    k: int

    @property
    def n_random(self) -> int:
        """Penalised columns (``k - 2``)."""
        return self.k - _M


def _eta(r: np.ndarray) -> np.ndarray:
    """The thin plate spline's radial function for d = 1, m = 2: r^3 / 12."""
    return np.abs(r) ** 3 / 12.0


def _features(xc: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``[eta(|x - knot_j|)_j, 1, x]`` for centred x, shape (n, n_knots + 2)."""
    return np.column_stack([_eta(xc[:, None] - knots[None, :]), np.ones_like(xc), xc])


def _householder_qt(A: np.ndarray) -> list[np.ndarray]:
    """mgcv's ``QT``: reflections ``H_i = I - u_i u_i'`` with ``A H_0 H_1 ... = [0, B]``
    (row i of A rotated into its element ``k - 1 - i``), as the vectors ``u_i``."""
    A = A.copy()
    rows, k = A.shape
    us = []
    for i in range(rows):
        n = k - i
        p = A[i, :n].copy()
        p /= np.abs(p).max()
        lsq = np.sqrt(p @ p) * (-1.0 if p[-1] < 0 else 1.0)
        p[-1] += lsq
        g = 1.0 / (lsq * p[-1])
        for j in range(i + 1, rows):
            A[j, :n] -= g * (p @ A[j, :n]) * p
        u = np.zeros(k)
        u[:n] = p * np.sqrt(g)
        us.append(u)
    return us


def _apply_q(C: np.ndarray, us: list[np.ndarray]) -> np.ndarray:
    """``C H_0 H_1 ...`` (mgcv's ``HQmult(C, U, 0, 0)``)."""
    for u in us:
        C = C - np.outer(C @ u, u)
    return C


def _select_knots(xu: np.ndarray) -> np.ndarray:
    """The distinct values, or :data:`MAX_KNOTS` of them evenly spaced in rank."""
    if xu.size <= MAX_KNOTS:
        return xu
    return xu[np.unique(np.round(np.linspace(0, xu.size - 1, MAX_KNOTS)).astype(int))]


def fit_tprs(x: np.ndarray, k: int = 10) -> SmoothBasis:
    """The basis of ``s(x, k = k)`` learnt from the column ``x`` (finite values).

    Parameters
    ----------
    x : ndarray, shape (N,)
        The covariate, finite.
    k : int
        The basis dimension before the sum-to-zero constraint (mgcv's ``k``; brms's default
        10): ``k - 2`` penalised columns and one linear column result.

    Raises
    ------
    ValueError
        When x has fewer than ``k`` distinct values or ``k < 3``.
    """
    x = np.asarray(x, dtype=float)
    if k < _M + 1:
        raise ValueError(f"k = {k} is too small: a thin plate spline needs k >= 3")
    shift = float(x.mean())
    xc = x - shift
    xu = np.unique(xc)
    if xu.size < k:
        raise ValueError(f"{xu.size} distinct values, fewer than the basis dimension k = {k}")
    knots = _select_knots(xu)
    E = _eta(knots[:, None] - knots[None, :])
    T = np.column_stack([np.ones_like(knots), knots])
    if knots.size == k:  # mgcv's "pure knot" case: the full basis, no eigen step
        U, core = np.eye(k), E
    else:
        w, V = np.linalg.eigh(E)
        top = np.argsort(-np.abs(w))[:k]
        top = top[np.argsort(-w[top])]  # mgcv orders them from the largest down
        U, core = V[:, top], np.diag(w[top])
    us = _householder_qt(T.T @ U)
    q = k - _M
    UZ = np.zeros((knots.size + _M, k))  # [eta, 1, x] -> the k columns of step 3
    UZ[: knots.size, :q] = _apply_q(U, us)[:, :q]
    UZ[knots.size:, q:] = np.eye(_M)
    S = np.zeros((k, k))
    S[:q, :q] = _apply_q(_apply_q(core, us).T, us).T[:q, :q]
    X = _features(xc, knots) @ UZ
    rms = np.sqrt((X ** 2).mean(axis=0))
    X, UZ, S = X / rms, UZ / rms, S / np.outer(rms, rms)
    S = S * (np.abs(X).sum(axis=1).max() ** 2 / np.abs(S).sum(axis=0).max())
    Qc = np.linalg.qr(X.mean(axis=0)[:, None], mode="complete")[0][:, 1:]  # null(1'X)
    lam, P = np.linalg.eigh(Qc.T @ S @ Qc)
    order = np.argsort(-lam)
    lam, P = lam[order], P[:, order]
    Xr = X @ Qc @ P[:, :q] / np.sqrt(lam[:q])
    xf = X @ Qc @ P[:, q:]
    scale = np.sqrt((xf ** 2).sum(axis=0) / (Xr ** 2).sum(axis=0).mean())
    fixed_dir = P[:, q:] / scale
    fixed_dir *= np.sign((xf / scale)[:, 0] @ xc)  # a positive slope on x
    order = [0, *range(q - 1, 0, -1)]  # the order of mgcv's smooth2random output
    coef = UZ @ Qc @ np.column_stack([P[:, order] / np.sqrt(lam[order]), fixed_dir])
    first = _features(knots[:1], knots) @ coef  # each column positive at the smallest knot
    coef[:, :q] *= np.where(first[0, :q] < 0, -1.0, 1.0)
    return SmoothBasis(shift, knots, coef, k)


def tprs_columns(x: np.ndarray, basis: SmoothBasis) -> tuple[np.ndarray, np.ndarray]:
    """The penalised columns ``Xr`` (N, k - 2) and the linear column ``Xf`` (N, 1) of
    ``basis`` at ``x`` (the fitted rows or new ones)."""
    cols = _features(np.asarray(x, dtype=float) - basis.shift, basis.knots) @ basis.coef
    return cols[:, : basis.n_random], cols[:, basis.n_random:]


def _memo_key(sm: Smooth) -> str:
    return f"smooth:{sm.label}"


def _columns(sm: Smooth, data: pd.DataFrame, text: str, memo: dict) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """``Xr`` and ``Xf`` of smooth ``sm`` on ``data``, learning its basis into ``memo`` on
    the fitted rows (the key is there already for new rows)."""
    x = np.asarray(evaluate_numeric(sm.arg, data, text, sm.label, memo), dtype=float)
    key = _memo_key(sm)
    if key not in memo:
        try:
            memo[key] = fit_tprs(x, sm.k)
        except ValueError as e:
            raise DataError(caret_message(
                f"{sm.label}: {sm.arg.expr!r} has {e}; lower k (s({sm.arg.expr}, k = "
                f"{max(3, min(sm.k - 1, np.unique(x).size))})) or use {sm.arg.expr} as a "
                "linear term", text, sm.span[0], sm.span[1] - sm.span[0])) from None
    return tprs_columns(x, memo[key])


def smooth_design(f: Formula, data: pd.DataFrame, X: np.ndarray, terms: tuple[TermSlice, ...],
                  memo: dict) -> tuple[np.ndarray, tuple[TermSlice, ...], tuple[GroupBlock, ...]]:
    """The smooths of ``f`` on the fitted rows: each one's linear column appended to ``X``
    as the fixed term ``sx_1``, and its penalised columns as a :class:`GroupBlock` with
    ``smooth=True`` (one level)."""
    cols, terms, blocks = [X], list(terms), []
    at = X.shape[1]
    for sm in f.smooths:
        Xr, Xf = _columns(sm, data, f.text, memo)
        cols.append(Xf)
        terms.append(TermSlice(sm.name, at, at + Xf.shape[1], None))
        at += Xf.shape[1]
        blocks.append(GroupBlock(sm.name, ("1",), np.zeros(len(data), dtype=np.int64), Xr,
                                 tuple(str(j) for j in range(1, Xr.shape[1] + 1)), False,
                                 smooth=True))
    return np.concatenate(cols, axis=1), tuple(terms), tuple(blocks)


def smooth_rows(f: Formula, data: pd.DataFrame, memo: dict
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The linear columns (for ``X``) and the penalised columns (each smooth block's ``Z``)
    of the smooths of ``f`` on new rows, with the bases learnt on the fitted rows."""
    out = [_columns(sm, data, f.text, memo) for sm in f.smooths]
    return [xf for _, xf in out], [xr for xr, _ in out]
