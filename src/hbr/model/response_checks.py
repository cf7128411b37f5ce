"""The checks of a response against its family, before anything is compiled: each bad
value is a :class:`~hbr.errors.DataError` that names the column, the rows and the fix
(:func:`check_response`: the family's support, ``trials()`` and ``se()``;
:func:`check_censoring`: ``cens()``; :func:`check_truncation`: ``trunc()``). This module
never imports JAX."""

from __future__ import annotations

import numpy as np

from hbr.errors import DataError
from hbr.model.families import CENSORABLE, CONTINUOUS, Family
from hbr.model.truncation import truncation_bounds

__all__ = ["check_response", "check_ordinal", "check_censoring", "check_truncation",
           "CENS_CODES"]

CENS_CODES = {-1: "left", 0: "none", 1: "right", 2: "interval"}


def _rows(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    return ", ".join(map(str, idx[:5])) + (", ..." if idx.size > 5 else "")


def check_response(fam: Family, name: str, y: np.ndarray, trials: np.ndarray | None,
                   se: np.ndarray | None) -> None:
    """Raise a :class:`~hbr.errors.DataError` naming the column, the bad values and the fix
    when ``y`` (and ``trials`` / ``se``) do not fit ``fam``."""
    if fam.response == "successes" and trials is None:
        raise DataError(f"family='binomial' needs the number of trials: write "
                        f"'{name} | trials(n) ~ ...' with n a column or a number")
    if trials is not None and fam.response != "successes":
        raise DataError(f"trials() belongs to family='binomial' (as does lme4's "
                        f"cbind(k, n - k)), not {fam.name!r}: pass family='binomial'")
    if se is not None and fam.name != "gaussian":
        raise DataError(f"se() (known measurement error) needs family='gaussian', not "
                        f"{fam.name!r}")
    if se is not None:
        bad = ~(se > 0)
        if bad.any():
            raise DataError(f"se() must be positive in every row, but it is {se[bad][0]:g} in "
                            f"row(s) {_rows(bad)}; a known standard error of 0 or less is not "
                            "a standard error (drop those rows or fix the column)")
    if fam.response in CONTINUOUS and fam.response != "real":
        _check_support(fam, name, y)
    if fam.response in CONTINUOUS:
        if len(y) > 1 and np.all(y == y[0]) and se is None:
            raise DataError(f"the response {name!r} is constant ({y[0]:g} in every row): there "
                            "is no variation to model; check that it is the right column")
        return
    if fam.response == "binary":
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise DataError(f"family='bernoulli' needs {name!r} to be 0 or 1 (or True/False), "
                            f"but it is {y[bad][0]:g} in row(s) {_rows(bad)}; recode it (e.g. "
                            f"y = (column == 'yes')) or use family='binomial' for counts of "
                            "successes")
        return
    if fam.response == "ordinal":
        check_ordinal(fam, name, y)
        return
    kind = "counts of successes" if fam.response == "successes" else "counts"
    bad = (y < 0) | (y != np.round(y))
    if bad.any():
        raise DataError(f"family={fam.name!r} needs {name!r} to hold {kind} (whole numbers "
                        f">= 0), but it is {y[bad][0]:g} in row(s) {_rows(bad)}; "
                        + ("a negative count is a data error" if y[bad][0] < 0 else
                           "round the column or use family='gaussian' for measurements"))
    if trials is not None:
        badn = (trials < 0) | (trials != np.round(trials))
        if badn.any():
            raise DataError(f"trials() must be whole numbers >= 0, but it is "
                            f"{trials[badn][0]:g} in row(s) {_rows(badn)}")
        over = y > trials
        if over.any():
            i = np.flatnonzero(over)[0]
            raise DataError(f"{name!r} has more successes than trials: {y[i]:g} successes in "
                            f"{trials[i]:g} trials in row(s) {_rows(over)}; check that the "
                            "columns are the right way round ('successes | trials(n) ~ ...')")


def check_ordinal(fam: Family, name: str, y: np.ndarray) -> None:
    """An ordinal response holds the categories 1, 2, ..., K (brms's coding), each of them
    seen: a category never seen leaves its threshold to the prior alone, and is most often a
    coding slip (0-based ratings, a gap in a scale)."""
    bad = y != np.round(y)
    if bad.any():
        raise DataError(f"family={fam.name!r} needs {name!r} to hold categories 1, 2, ..., K "
                        f"(whole numbers), but it is {y[bad][0]:g} in row(s) {_rows(bad)}; "
                        "for a measurement use family='gaussian'")
    low = y < 1
    if low.any():
        shift = 1 - int(y.min())
        raise DataError(f"family={fam.name!r} numbers the categories 1, 2, ..., K (brms's "
                        f"coding), but {name!r} is {y[low][0]:g} in row(s) {_rows(low)}; "
                        f"shift the column by {shift} (e.g. d[{name!r}] += {shift})")
    K = int(y.max())
    if K < 2:
        raise DataError(f"{name!r} has one category only (1): an ordinal model needs two or "
                        "more")
    missing = sorted(set(range(1, K + 1)) - set(np.unique(y).astype(int).tolist()))
    if missing:
        raise DataError(f"{name!r} skips categor{'y' if len(missing) == 1 else 'ies'} "
                        f"{', '.join(map(str, missing[:5]))}{', ...' if len(missing) > 5 else ''} "
                        f"of 1..{K}: no row is in {'it' if len(missing) == 1 else 'them'}, so "
                        "the thresholds around it are not identified by the data; recode the "
                        "categories to 1..K without gaps (e.g. with pandas' "
                        "rank(method='dense')) or merge the empty ones")


def check_censoring(fam: Family, name: str, y: np.ndarray, cens: np.ndarray | None,
                    y2: np.ndarray | None, se: np.ndarray | None) -> None:
    """Raise a :class:`~hbr.errors.DataError` naming the rows and the fix when ``cens()``
    does not fit: a family without a distribution function here, a code other than -1, 0,
    1, 2, interval rows without ``y2`` or with ``y2 <= y``."""
    if cens is None:
        if y2 is not None:  # pragma: no cover - the parser gives y2 only with cens
            raise DataError("cens(c, y2) needs the censoring column c")
        return
    _needs_distribution_function(fam, "cens()", se)
    bad = ~np.isin(cens, list(CENS_CODES))
    if bad.any():
        raise DataError(f"cens() codes must be -1 (left), 0 (none), 1 (right) or 2 (interval), "
                        f"but the censoring column is {cens[bad][0]:g} in row(s) {_rows(bad)}; "
                        "recode it (e.g. an event indicator 'dead' as cens(1 - dead))")
    interval = cens == 2
    if interval.any() and y2 is None:
        raise DataError(f"{int(interval.sum())} row(s) are interval-censored (code 2, row(s) "
                        f"{_rows(interval)}) but cens() has no upper end: write "
                        f"'{name} | cens(c, y2) ~ ...' with y2 the interval's upper end")
    if y2 is not None:
        low = interval & ~(y2 > y)
        if low.any():
            i = np.flatnonzero(low)[0]
            raise DataError(f"an interval-censored row needs y2 above {name!r}, but row {i} has "
                            f"{name} = {y[i]:g} and y2 = {y2[i]:g} ({int(low.sum())} such "
                            f"row(s): {_rows(low)}); check that the columns are the right "
                            "way round")


def _needs_distribution_function(fam: Family, what: str, se: np.ndarray | None) -> None:
    """``cens()`` and ``trunc()`` read the family's distribution function (``LOG_CDF``) and
    cannot be combined with the known-error model of ``se()``."""
    if fam.name not in CENSORABLE:
        raise DataError(f"{what} needs a family whose distribution function hbr has: "
                        f"{', '.join(CENSORABLE)}; not {fam.name!r}")
    if se is not None:
        raise DataError(f"{what} and se() together are not supported: the known-error model "
                        "of se() has no censored or truncated rows")


def check_truncation(fam: Family, name: str, y: np.ndarray, lb: np.ndarray | None,
                     ub: np.ndarray | None, se: np.ndarray | None) -> None:
    """Raise a :class:`~hbr.errors.DataError` naming the rows and the fix when ``trunc()``
    does not fit: a family without a distribution function here, bounds the wrong way
    round, or an observed y outside its bounds."""
    if lb is None and ub is None:
        return
    _needs_distribution_function(fam, "trunc()", se)
    lo, hi = truncation_bounds(lb, ub, y.shape[0])
    order = ~(lo < hi)
    if order.any():
        i = np.flatnonzero(order)[0]
        raise DataError(f"trunc() needs lb below ub, but row {i} has lb = {lo[i]:g} and ub = "
                        f"{hi[i]:g} ({int(order.sum())} such row(s): {_rows(order)})")
    out = (y < lo) | (y > hi)
    if out.any():
        i = np.flatnonzero(out)[0]
        raise DataError(f"{name!r} lies outside its truncation bounds in {int(out.sum())} "
                        f"row(s) ({_rows(out)}; row {i}: {name} = {y[i]:g}, bounds [{lo[i]:g}, "
                        f"{hi[i]:g}]): a truncated response is never observed outside them; "
                        "widen the bounds or check the column")


def _check_support(fam: Family, name: str, y: np.ndarray) -> None:
    """y > 0 for the families of positive amounts, 0 < y < 1 for the beta family."""
    if fam.response == "positive":
        bad = ~(y > 0)
        if bad.any():
            zeros = int(np.sum(y == 0))
            raise DataError(
                f"family={fam.name!r} needs {name!r} to be positive (> 0), but it is "
                f"{y[bad][0]:g} in row(s) {_rows(bad)} ({int(bad.sum())} of {len(y)} rows are "
                f"0 or below{f', {zeros} of them exactly 0' if zeros else ''}); "
                + ("exact zeros need a hurdle model (brms's hurdle_gamma, not in hbr yet): "
                   "model them apart (family='bernoulli' on y > 0) and fit the positive rows "
                   "here, or use family='gaussian'" if zeros == int(bad.sum()) else
                   "a negative amount is a data error: check the column, or use "
                   "family='gaussian' for a quantity that can be negative"))
        return
    bad = ~((y > 0) & (y < 1))
    if bad.any():
        zeros, ones = int(np.sum(y == 0)), int(np.sum(y == 1))
        outside = int(bad.sum()) - zeros - ones
        fixes = []
        if outside:
            fixes.append(f"{outside} row(s) lie outside [0, 1]: a percentage must be divided "
                         "by 100, and a count needs family='binomial' with trials()")
        if zeros or ones:
            fixes.append(f"{zeros} row(s) are exactly 0 and {ones} exactly 1: these need a "
                         "zero-one-inflated beta model (brms's zero_one_inflated_beta, not in "
                         "hbr yet), or squeeze them in with (y * (n - 1) + 0.5) / n, n the "
                         "number of rows (Smithson & Verkuilen 2006)")
        raise DataError(f"family='beta' needs {name!r} strictly between 0 and 1, but it is "
                        f"{y[bad][0]:g} in row(s) {_rows(bad)}; " + "; ".join(fixes))
