r"""Rows that repeat a covariate pattern, collapsed exactly into one row per pattern.

A Bernoulli, binomial or Poisson likelihood depends on the rows of one pattern (the same
fixed-effect row :math:`x`, the same level and group columns :math:`z` of every group term)
only through sums. With :math:`\eta_p` the linear predictor of pattern :math:`p` and its rows
:math:`i \in p`:

* Bernoulli and binomial: :math:`\sum_{i \in p} [y_i \log\mu_p + (n_i - y_i) \log(1-\mu_p)]
  = k_p \log\mu_p + (n_p - k_p) \log(1-\mu_p)`, with :math:`k_p = \sum y_i`,
  :math:`n_p = \sum n_i` (:math:`n_i = 1` for Bernoulli rows): one binomial row of
  :math:`n_p` trials, up to the constant :math:`\sum_i \log\binom{n_i}{y_i} -
  \log\binom{n_p}{k_p}`. The offset is part of the pattern.
* Poisson with an offset :math:`o_i` (a log exposure): :math:`\sum_{i \in p} [y_i(\eta_p + o_i)
  - e^{\eta_p + o_i} - \log y_i!] = Y_p(\eta_p + O_p) - e^{\eta_p + O_p} - \log Y_p! + c_p`,
  :math:`Y_p = \sum y_i`, :math:`O_p = \log \sum e^{o_i}` (the exposures add up), and the
  constant :math:`c_p = \sum_i (y_i o_i - \log y_i!) - Y_p O_p + \log Y_p!`. The offset is
  not part of the pattern.

:func:`aggregate_rows` returns the collapsed rows and the total constant, so the aggregated
log likelihood equals the row-wise one (to rounding): the posterior, and every draw's log
density, are unchanged. Only the log density reads them; the pointwise log likelihood, the
predictive checks and LOO keep the rows. This module never imports JAX.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["AGGREGATED_FAMILY", "Patterns", "row_patterns", "design_patterns", "aggregate_rows",
           "worth_it", "stored_patterns"]

AGGREGATED_FAMILY = {"bernoulli": "binomial", "binomial": "binomial", "poisson": "poisson"}
"""The family of the collapsed rows, for each family whose rows collapse exactly."""

_MIN_SAVING = 0.9  # collapse when the patterns are at most 90% of the rows


class Patterns(NamedTuple):
    """``index`` (N,): the pattern of each row, numbered by first appearance; ``first`` (P,):
    the first row of each pattern."""

    index: np.ndarray
    first: np.ndarray

    @property
    def n(self) -> int:
        return int(self.first.shape[0])


def _key_columns(rows: dict[str, Any], family: str) -> list[np.ndarray]:
    cols = [np.asarray(rows["X"], dtype=np.float64)]
    for g in rows["groups"]:
        cols.append(np.asarray(g["index"], dtype=np.float64)[:, None])
        cols.append(np.asarray(g["Z"], dtype=np.float64))
    if family != "poisson":  # a Poisson row's exposure adds up; elsewhere it is in eta
        cols.append(np.asarray(rows["offset"], dtype=np.float64)[:, None])
    return cols


def row_patterns(rows: dict[str, Any], family: str) -> Patterns:
    """The covariate patterns of ``rows`` (the row arrays of the log density: ``X``,
    ``offset``, ``groups`` with ``index`` and ``Z``), as ``family`` collapses them."""
    import pandas as pd

    M = np.concatenate(_key_columns(rows, family), axis=1)
    N = M.shape[0]
    if M.shape[1] == 0 or N == 0:
        index = np.zeros(N, dtype=np.int64)
    else:  # hash-based: O(N), rows numbered by first appearance (deterministic)
        M = M + 0.0  # -0.0 and 0.0 are one pattern
        index = (pd.DataFrame(M).groupby(list(range(M.shape[1])), sort=False)
                 .ngroup().to_numpy(dtype=np.int64))
    P = int(index.max()) + 1 if N else 0
    first = np.full(P, N, dtype=np.int64)
    np.minimum.at(first, index, np.arange(N, dtype=np.int64))
    return Patterns(index, first)


def design_patterns(design: Any, family: str) -> Patterns:
    """:func:`row_patterns` of a :class:`~hbr.design.types.Design` with its rows, computed
    once per design and family."""
    key = ("patterns", family)
    if key not in design.derived:
        rows = {"X": design.X,
                "offset": (design.offset if design.offset is not None
                           else np.zeros(design.n_obs)),
                "groups": [{"index": b.index, "Z": b.Z} for b in design.groups]}
        design.derived[key] = row_patterns(rows, family)
    return design.derived[key]


def stored_patterns(design: Any) -> dict[str, Any] | None:
    """The pattern rows DuckDB collapsed a design's rows to (:mod:`hbr.sources.patterns`:
    ``y``, ``X``, ``offset``, ``groups``, ``trials``), or None when the rows are in memory or
    the table gave Gaussian statistics."""
    ts = design.table_stats
    return ts.collapsed["rows"] if ts is not None and ts.collapsed else None


def worth_it(patterns: Patterns, n_rows: int) -> bool:
    """Whether collapsing saves enough rows to be worth a second copy of the data."""
    return patterns.n <= _MIN_SAVING * n_rows


def _lchoose(n: np.ndarray, k: np.ndarray) -> float:
    from scipy.special import gammaln
    return float(np.sum(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)))


def _lfact_sum(y: np.ndarray) -> float:
    from scipy.special import gammaln
    return float(np.sum(gammaln(y + 1)))


def aggregate_rows(rows: dict[str, Any], family: str, patterns: Patterns
                   ) -> tuple[dict[str, Any], float]:
    """One row per pattern of ``rows`` for ``family`` (a key of :data:`AGGREGATED_FAMILY`)
    and the constant that makes the collapsed log likelihood (of family
    ``AGGREGATED_FAMILY[family]``) equal the row-wise one.

    Returns
    -------
    rows : dict
        ``y`` (summed), ``X``, ``offset``, ``groups`` at each pattern's first row; ``trials``
        (summed; the row count for Bernoulli rows) for the binomial, ``offset`` the log of
        the summed exposures for the Poisson.
    const : float
        Row-wise log likelihood minus collapsed log likelihood, whatever the parameters.
    """
    idx, first, P = patterns.index, patterns.first, patterns.n
    y = np.asarray(rows["y"], dtype=np.float64)
    Y = np.bincount(idx, y, minlength=P)
    out: dict[str, Any] = {
        "y": Y, "X": np.asarray(rows["X"], dtype=np.float64)[first],
        "groups": [{"index": np.asarray(g["index"])[first], "Z": np.asarray(g["Z"])[first]}
                   for g in rows["groups"]],
    }
    o = np.asarray(rows["offset"], dtype=np.float64)
    if family == "poisson":
        top = np.full(P, -np.inf)
        np.maximum.at(top, idx, o)
        O = top + np.log(np.bincount(idx, np.exp(o - top[idx]), minlength=P))
        out["offset"] = O
        const = float(y @ o - Y @ O) - _lfact_sum(y) + _lfact_sum(Y)
        return out, const
    out["offset"] = o[first]
    n = (np.asarray(rows["trials"], dtype=np.float64) if "trials" in rows
         else np.ones_like(y))
    out["trials"] = np.bincount(idx, n, minlength=P)
    const = (_lchoose(n, y) if "trials" in rows else 0.0) - _lchoose(out["trials"], Y)
    return out, const
