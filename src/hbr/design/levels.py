"""Helpers on the level index of a grouping factor (NumPy, rows first): which rows open
each level, what is constant within levels, and nesting of one factor in another."""

from __future__ import annotations

import numpy as np

__all__ = ["first_rows", "constant_within", "nested_in"]


def first_rows(index: np.ndarray) -> np.ndarray:
    """For each row, the first row of its level of ``index``."""
    return np.unique(index, return_index=True)[1][index]


def constant_within(a: np.ndarray, first: np.ndarray) -> bool:
    """Whether ``a`` (rows first) is constant within every level, ``first`` from
    :func:`first_rows`."""
    return bool(np.array_equal(a, a[first]))


def nested_in(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Whether every level of ``inner`` lies within one level of ``outer`` (row indices)."""
    return np.unique(np.stack([inner, outer]), axis=1).shape[1] == np.unique(inner).size
