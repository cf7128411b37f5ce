"""Checks of a design's fixed-effect columns: categorical predictors with many levels,
constant, all-zero and collinear columns (used by :mod:`hbr.design.build`)."""

from __future__ import annotations

import ast
import difflib
import re
import warnings

import numpy as np
import pandas as pd

from hbr.design.interpret import unknown_function
from hbr.design.transforms import FUNCTIONS, Categorical, factor_columns
from hbr.errors import DataError, HbrWarning, caret_message
from hbr.formula import Formula

__all__ = ["check_width", "check_rank", "check_known_levels", "check_columns", "MANY_LEVELS",
           "MAX_DENSE", "integer_code_note", "CODE_NAME", "MAX_CODES"]


MANY_LEVELS = 100  # a categorical predictor with this many levels gets a warning
MAX_DENSE = 250_000_000  # numbers (2 GB) in one term's columns


def check_width(cats: list[tuple[str, Categorical, bool]], n: int) -> None:
    """A categorical predictor with many levels gets one unpooled coefficient per level, and
    a dense column per level: warn from MANY_LEVELS levels, refuse beyond MAX_DENSE numbers."""
    width = int(np.prod([len(c.levels) - r for _, c, r in cats]))
    expr, cat, _ = max(cats, key=lambda t: len(t[1].levels))
    fix = (f"a group term such as (1 | {expr}) pools the levels instead and stores no "
           "column per level")
    if n * width > MAX_DENSE:
        raise DataError(f"{expr!r} has {len(cat.levels)} levels: as a predictor it needs "
                        f"{width} columns of {n} rows ({n * width * 8 / 2**30:.0f} GiB); {fix}")
    if len(cat.levels) >= MANY_LEVELS:
        warnings.warn(f"{expr!r} has {len(cat.levels)} levels, each with its own coefficient "
                      f"and no pooling between them; {fix}", HbrWarning, stacklevel=5)


def check_rank(X: np.ndarray, names: list[str], intercept: bool) -> None:
    """Constant and collinear columns are errors; all-zero columns (e.g. a county with no
    basement-free homes in ``C(county):floor``) only warn: the prior alone informs them."""
    zero = np.all(X == 0, axis=0)
    if zero.any():
        bad = [names[j] for j in np.flatnonzero(zero)]
        warnings.warn(f"{len(bad)} fixed-effect column(s) are zero in every row "
                      f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}): the data say "
                      "nothing about them and their posterior is the prior", HbrWarning,
                      stacklevel=4)
    sd = X.std(axis=0)
    for j, name in enumerate(names):
        if name != "Intercept" and sd[j] == 0 and intercept and not zero[j]:
            raise DataError(f"the predictor {name!r} is constant ({X[0, j]:g} in every row), so "
                            "it cannot be told apart from the Intercept; drop it from the formula")
    Xn = X[:, ~zero]
    kept = [n for n, z in zip(names, zero) if not z]
    if Xn.shape[1] > Xn.shape[0]:
        raise DataError(f"the model has {Xn.shape[1]} fixed-effect columns but only "
                        f"{Xn.shape[0]} rows; use group terms such as (1 | g) instead")
    if Xn.shape[1] == 0:
        return
    r = np.abs(np.diag(np.linalg.qr(Xn / np.linalg.norm(Xn, axis=0), mode="r")))
    dep = np.flatnonzero(r < max(Xn.shape) * np.finfo(float).eps * 1e3)
    if dep.size:
        j = int(dep[0])
        raise DataError(f"the predictor {kept[j]!r} is a linear combination of earlier columns "
                        f"({', '.join(kept[:j][-4:])}): the fixed effects are not identified; "
                        "drop it or one of the columns it duplicates")


def check_known_levels(cats: list[tuple[str, Categorical, bool]], data: pd.DataFrame) -> None:
    """New rows for prediction: a fixed-effect level unknown to the training data (code -1)
    has no coefficient."""
    for expr, cat, _ in cats:
        if (cat.codes < 0).any():
            i = int(np.flatnonzero(cat.codes < 0)[0])
            col = expr[2:-1] if expr.startswith("C(") else expr
            value = f" ({data[col].iloc[i]!r})" if col in data.columns else ""
            raise DataError(
                f"{expr!r} has a level{value} in row {data.index[i]} that the model was not fitted "
                f"to (known: {', '.join(map(repr, cat.levels[:6]))}"
                f"{', ...' if len(cat.levels) > 6 else ''}); a fixed effect has no estimate "
                f"for it: model it as a group term, (1 | {expr}), to predict new levels")


def check_columns(f: Formula, data: pd.DataFrame, response: bool = True) -> list[str]:
    """The columns ``f`` reads, in order; an unknown column or function is a DataError with
    a caret under it (and the closest names)."""
    cols = [str(c) for c in data.columns]
    used: list[str] = []
    refs: list[tuple[str, tuple[int, int]]] = []
    all_factors = ([f.response] if response else []) + [fa for t in f.terms for fa in t.factors]
    all_factors += [fa for _, fa in f.additions] + list(f.offsets) + [m.arg for m in f.smooths]
    all_factors += [fa for g in f.groups for t in g.terms for fa in t.factors]
    for fa in all_factors:
        refs.extend((name, fa.span) for name, _ in factor_columns(fa))
        for node in ast.walk(fa.tree):
            if isinstance(node, ast.Call):
                fn = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                if fn not in FUNCTIONS:
                    raise DataError(caret_message(unknown_function(fn, FUNCTIONS), f.text,
                                                  fa.span[0], fa.span[1] - fa.span[0]))
    for g in f.groups:
        for name in g.factor:
            refs.append((name, g.span))
    for name, span in refs:
        if name not in cols:
            close = difflib.get_close_matches(name, cols, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            start = f.text.find(name, span[0])
            start, length = (start, len(name)) if 0 <= start < span[1] else (span[0], 1)
            raise DataError(caret_message(
                f"unknown column {name!r}{hint} (the table has {len(cols)} columns: "
                f"{', '.join(cols[:12])}{', ...' if len(cols) > 12 else ''})",
                f.text, start, length))
        if name not in used:
            used.append(name)
    return used


# names that say "a label, not a quantity" (R factors exported as 1, 2, 3 ...)
CODE_NAME = re.compile(r"(?:^|[_.])(?:id|code|group|grp|type|class|cat|category|region|site|"
                       r"batch|treatment|trt|block|plot|subject|item|school|county|state|"
                       r"country|clinic|hospital|sex|gender|race|species|brand|store|zip)s?$",
                       re.IGNORECASE)
MAX_CODES = 20  # at most this many distinct whole numbers for a column to look like codes


def integer_code_note(f: Formula, data: pd.DataFrame) -> str | None:
    """A warning for numeric predictors that look like category codes: a column of at most
    ``MAX_CODES`` distinct whole numbers that is also a grouping factor of the formula, or
    whose name says it labels (``treatment``, ``region_id``, ``school``); such a column
    enters as one slope, which lme4 users rarely mean. None when there is none."""
    groups = {c for g in f.groups for c in g.factor}
    notes = []
    for t in f.terms:
        if len(t.factors) != 1 or t.factors[0].is_call:
            continue
        col = t.factors[0].column_names.get(t.factors[0].expr, t.factors[0].expr)
        if col not in data.columns or not pd.api.types.is_numeric_dtype(data[col]) \
                or pd.api.types.is_bool_dtype(data[col]):
            continue
        v = pd.unique(data[col].dropna())
        if not 2 < len(v) <= MAX_CODES or not np.all(np.mod(v, 1) == 0):
            continue
        if col in groups or CODE_NAME.search(col):
            shown = ", ".join(f"{x:g}" for x in sorted(v)[:6]) + (", ..." if len(v) > 6 else "")
            why = "is also a grouping factor" if col in groups else "is named like a label"
            notes.append(f"{col!r} holds {len(v)} whole numbers ({shown}) and {why}, but "
                         f"enters as a numeric slope; if they are categories write "
                         f"C({col}) (R's factor({col}))")
    return "; ".join(notes) or None
