"""Build the design of a model: a :class:`Formula` applied to a pandas table.

The result, :class:`Design`, holds the response ``y`` (N,), the fixed-effect matrix ``X``
(N x p) and one :class:`GroupBlock` per grouping factor and term (level names, an integer
``index`` (N,) and a small ``Z`` (N x k)). A dense N x (J k) matrix is never formed.

Coding of categorical factors follows the usual rule (as in patsy and R): a categorical factor
in a term is coded with one column per level except the first (treatment coding) when the
term without that factor is already in the model (the intercept counts as the empty term),
and with one column per level otherwise. So ``y ~ C(county)`` gets an ``Intercept`` and 84
county contrasts, while ``y ~ 0 + C(county) + C(county):floor`` gets 85 intercepts and 85
slopes (the "no pooling" model).

Transforms allowed inside a formula: ``C(x)``, ``log``, ``log2``, ``log10``, ``log1p``,
``exp``, ``sqrt``, ``abs``, ``center(x)`` (subtract the mean), ``scale(x)`` / ``standardize(x)``
(subtract the mean, divide by the standard deviation) and ``I(...)`` with ``+ - * / **``;
:mod:`hbr.design.transforms` evaluates them.

This module never imports JAX.
"""

from __future__ import annotations

import warnings
from typing import Any
from dataclasses import replace

import numpy as np
import pandas as pd

from hbr.errors import DataError, HbrWarning, caret_message
from hbr.design.interpret import Basis
from hbr.design.smooth import smooth_design
from hbr.design.transforms import (Categorical, categorical, evaluate, evaluate_numeric,
                                    factor_columns, is_categorical)
from hbr.design.types import DPARS, Design, DparDesign, GroupBlock, TermSlice
from hbr.design.checks import check_columns, check_known_levels, check_rank, check_width
from hbr.formula import Formula, Term, parse_formula

__all__ = ["build_design", "code_terms", "group_codes", "evaluate_numeric"]


def build_design(formula: Formula | str, data: pd.DataFrame, *, dropna: bool = False,
                 dpars: tuple[Formula | str, ...] = ()) -> Design:
    """Apply ``formula`` to ``data``.

    Parameters
    ----------
    formula : Formula or str
        Parsed or textual formula.
    data : pandas.DataFrame
        One row per observation.
    dpars : tuple of Formula or str
        Formulas of distributional parameters, e.g. ``"sigma ~ 1 + (1 | g)"``.
    dropna : bool
        Drop rows with missing values in the columns the formula uses (a
        :class:`~hbr.errors.HbrWarning` says how many); by default they are an error.

    Raises
    ------
    DataError, FormulaError
        For unknown columns, missing, non-numeric or non-finite values, empty tables,
        grouping factors with one level, constant or collinear predictors.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1], "g": list("aabb")})
    >>> des = build_design("y ~ x + (1 | g)", d)
    >>> des.X.shape, des.fixed_names, des.groups[0].levels
    ((4, 2), ('Intercept', 'x'), ('a', 'b'))
    """
    f = parse_formula(formula) if isinstance(formula, str) else formula
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}; "
                        "read files with hbr.read_table(path)")
    if len(data) == 0:
        raise DataError("the table is empty (0 rows); nothing to fit")
    if data.columns.duplicated().any():
        dup = data.columns[data.columns.duplicated()][0]
        raise DataError(f"the table has two columns named {dup!r}; rename one of them")
    dfs = _dpar_formulas(dpars)
    across = _ids_across(f, dfs)
    used = check_columns(f, data)
    for d in dfs:
        used += [c for c in check_columns(d, data, response=False) if c not in used]
    _check_weight_columns(f, data)
    data, n_dropped = _handle_missing(data, used, dropna)
    y = _response(f, data)
    memo: dict = {}
    X, terms = _fixed(f, data, memo)
    X, terms, smooth_blocks = smooth_design(f, data, X, terms, memo)
    groups = tuple(_group_block(f, g_term, t, data, memo) for g_term in f.groups
                   for t in [g_term.terms])
    extra = {name: np.asarray(evaluate_numeric(fa, data, f.text, f"{name}()", memo), float)
             for name, fa in f.additions}
    if "weights" in extra:
        check_weights(extra["weights"], f.addition("weights").expr)
    offset = (np.sum([evaluate_numeric(fa, data, f.text, "offset()", memo)
                      for fa in f.offsets], axis=0) if f.offsets else None)
    dpar_designs = []
    for d in dfs:
        name = d.response.expr
        Xd, td = _fixed(d, data, memo)
        td = tuple(TermSlice(f"{name}_{t.name}", t.start, t.stop, t.labels) for t in td)
        dpar_designs.append(DparDesign(name, d, Xd, td))
        groups += tuple(replace(_group_block(d, g_term, g_term.terms, data, memo), dpar=name)
                        for g_term in d.groups)
    groups += smooth_blocks  # last: the formula's group terms keep their indices
    n_mean = len(f.groups)
    return Design(f, f.response.expr, y, X, terms, groups, n_dropped, extra.get("se"),
                  extra.get("trials"), offset, tuple(dpar_designs), memo,
                  joint=_joint_blocks(across, n_mean, groups, dfs),
                  **{k: extra.get(k) for k in ("cens", "cens_y2", "trunc_lb", "trunc_ub",
                                               "weights")})


def _dpar_formulas(dpars: Any) -> list[Formula]:
    """The distributional formulas, parsed and checked: each models a parameter of
    :data:`DPARS` (whether the family has it is checked with the family), once, with no
    response additions or offsets."""
    dfs = [parse_formula(d) if isinstance(d, str) else d for d in dpars]
    for d in dfs:
        if d.response.expr not in DPARS:
            raise DataError(caret_message(
                f"a second formula models a parameter of the family ({', '.join(DPARS)}), "
                f"not {d.response.expr!r}: write e.g. 'sigma ~ 1 + (1 | g)'", d.text,
                d.response.span[0], d.response.span[1] - d.response.span[0]))
        if d.additions or d.offsets or d.smooths:
            raise DataError(f"the formula {d.text!r} cannot have se(), trials(), cens(), "
                            "trunc(), weights(), offset() or s() (a smooth of a family "
                            "parameter is not supported yet)")
    if len({d.response.expr for d in dfs}) < len(dfs):
        raise DataError("two formulas model the same parameter; give one formula per parameter")
    return dfs


def _check_weight_columns(f: Formula, data: pd.DataFrame) -> None:
    """A missing weight is an error, not a row to drop: dropping it would change what the
    other rows weigh against."""
    fa = f.addition("weights")
    if fa is None:
        return
    for col in dict.fromkeys(c for c, _ in factor_columns(fa)):
        if col in data.columns and data[col].isna().any():
            na = data[col].isna().to_numpy()
            raise DataError(f"weights() column {col!r} is missing in {int(na.sum())} row(s) "
                            f"(first: row {data.index[na][0]}); give those rows a weight "
                            "(0 leaves a row out) or drop them from the table")


def check_weights(w: np.ndarray, expr: str) -> None:
    """Raise a :class:`~hbr.errors.DataError` when ``weights()`` has a negative or
    non-finite value, or is 0 everywhere."""
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise DataError(f"weights({expr}) must be 0 or more and finite in every row, but it is "
                        f"{w[idx[0]]:g} in {idx.size} row(s) (first: row {idx[0]}); a weight "
                        "multiplies the row's log likelihood, so a negative one is not a "
                        "weight: fix the column or drop those rows")
    if not (w > 0).any():
        raise DataError(f"weights({expr}) is 0 in every row: no row would count; check the "
                        "column")


def _ids_across(f: Formula, dfs: list[Formula]) -> dict[str, tuple[int, int, int]]:
    """brms's ``|p|`` shared by the mean's formula and another: ``{id: (the mean's group
    term, the other formula (its index in ``dfs``), its group term)}`` by position among each
    formula's group terms
    (the terms of one formula sharing an id are one term already). The two must have one
    grouping factor, and an id joins one term of each formula."""
    ids = {g.id: (i, g) for i, g in enumerate(f.groups) if g.id}
    out: dict[str, tuple[int, int, int]] = {}
    for k, d in enumerate(dfs):
        for j, g in enumerate(d.groups):
            if not g.id or g.id not in ids:
                continue
            i, gm = ids[g.id]
            if gm.factor != g.factor:
                raise DataError(caret_message(
                    f"'|{g.id}|' correlates group effects of one grouping factor, but it is "
                    f"used with {gm.factor_name!r} in the mean and {g.factor_name!r} in "
                    f"{d.response.expr!r}; give each factor its own id", d.text, g.span[0],
                    g.span[1] - g.span[0]))
            if g.id in out:
                raise DataError(caret_message(
                    f"'|{g.id}|' joins the mean's term with one other formula's; it is used "
                    f"in two of them (the second: {d.response.expr!r}); give each pair its "
                    "own id", d.text, g.span[0], g.span[1] - g.span[0]))
            out[g.id] = (i, k, j)
    return out


def _joint_blocks(across: dict[str, tuple[int, int, int]], n_mean: int,
                  groups: tuple[GroupBlock, ...], dfs: list[Formula]
                  ) -> tuple[tuple[int, int], ...]:
    """The pairs of :func:`_ids_across` as indices into the design's group blocks (the
    mean's first, then each distributional formula's), checked to share their levels."""
    out = []
    offset = n_mean
    starts = []
    for d in dfs:
        starts.append(offset)
        offset += len(d.groups)
    for i, k, j in across.values():
        a, b = i, starts[k] + j
        if groups[a].levels != groups[b].levels:  # pragma: no cover - one factor, one coding
            raise DataError(f"the group terms joined by an id have different levels of "
                            f"{groups[a].factor!r}")
        out.append((a, b))
    return tuple(out)


def _handle_missing(data: pd.DataFrame, used: list[str], dropna: bool) -> tuple[pd.DataFrame, int]:
    na = data[used].isna()
    bad = na.any(axis=1)
    if not bad.any():
        return data, 0
    if not dropna:
        counts = na.sum()
        parts = []
        for col in used:
            if counts[col]:
                rows = list(data.index[na[col]][:5])
                parts.append(f"column {col!r} has {counts[col]} missing value(s) "
                             f"(rows {', '.join(map(str, rows))}{', ...' if counts[col] > 5 else ''})")
        raise DataError("; ".join(parts) + ". Drop those rows with dropna=True (CLI: --dropna) "
                        "or fill the values before fitting")
    n = int(bad.sum())
    kept = data.loc[~bad]
    if len(kept) == 0:
        raise DataError(f"every row has a missing value in {', '.join(used)}; nothing is left "
                        "to fit after dropna")
    warnings.warn(f"dropped {n} of {len(data)} rows with missing values in "
                  f"{', '.join(c for c in used if na[c].any())}", HbrWarning, stacklevel=3)
    return kept, n


def _response(f: Formula, data: pd.DataFrame) -> np.ndarray:
    fa = f.response
    for name, _ in factor_columns(fa):
        s = data[name]
        if is_categorical(s):
            example = s.iloc[0]
            raise DataError(
                f"the response column {name!r} is not numeric (dtype {s.dtype}, e.g. "
                f"{example!r} in row {s.index[0]}); the model needs numbers: convert "
                "the column (pd.to_numeric) or pick another response")
    val = evaluate(fa, data, f.text)
    if not isinstance(val, np.ndarray):
        raise DataError(f"the response {fa.expr!r} is not one column of numbers (categorical "
                        "or a basis); the model needs numbers")
    return val


# ------------------------------------------------------------------------- coding and terms
def code_terms(terms: list[Term], intercept: bool, data: pd.DataFrame, text: str,
               memo: dict | None = None, new_data: bool = False
               ) -> tuple[list[np.ndarray], list[TermSlice]]:
    """Columns and slices for ``terms`` (plus the intercept, named ``Intercept``). With
    ``new_data`` (rows to predict, coded by the training ``memo``) the width is not checked
    again and a level unknown to the training data is an error."""
    spanned: set[frozenset[str]] = set()
    cols: list[np.ndarray] = []
    slices: list[TermSlice] = []
    n = len(data)
    if intercept:
        spanned.add(frozenset())
        cols.append(np.ones(n))
        slices.append(TermSlice("Intercept", 0, 1, None))
    cache: dict[str, np.ndarray | Categorical | Basis] = {}
    for term in terms:
        num = np.ones(n)
        cats: list[tuple[str, Categorical, bool]] = []
        parts: list[tuple[list[np.ndarray], list[str]]] = []  # columns of the expansion
        key = term.key()
        for fa in term.factors:
            if fa.expr not in cache:
                cache[fa.expr] = evaluate(fa, data, text, memo)
            val = cache[fa.expr]
            if isinstance(val, Categorical):
                reduced = (key - {fa.expr}) in spanned
                cats.append((fa.expr, val, reduced))
                levels = range(1 if reduced else 0, len(val.levels))
                if len(levels) <= 0:
                    raise DataError(f"{fa.expr!r} has a single level ({val.levels[0]!r}): it "
                                    "carries no information; drop it from the formula")
                parts.append((_indicators(val.codes, levels),
                              [val.levels[lv] for lv in levels]))
            elif isinstance(val, Basis):
                parts.append((val.columns, val.labels))
            else:
                num = num * val
        spanned.add(key)
        start = len(cols)
        if not parts:
            cols.append(num)
            slices.append(TermSlice(term.name, start, start + 1, None))
            continue
        if cats and new_data:
            check_known_levels(cats, data)
        elif cats:
            check_width(cats, n)
        combos: list[tuple[np.ndarray, list[str]]] = [(num, [])]
        for columns, labels in parts:
            combos = [(c * col, labs + [lab]) for c, labs in combos
                      for col, lab in zip(columns, labels)]
        cols.extend(c for c, _ in combos)
        slices.append(TermSlice(term.name, start, len(cols),
                                tuple(", ".join(labs) for _, labs in combos)))
    return cols, slices


class _indicators:
    """The 0/1 columns of a categorical's levels, made only when iterated: the width of a
    design is checked (``check_width``) before a single column is allocated."""

    def __init__(self, codes: np.ndarray, levels: range) -> None:
        self.codes, self.levels = codes, levels

    def __iter__(self):
        return (self.codes == lv for lv in self.levels)


def _fixed(f: Formula, data: pd.DataFrame, memo: dict | None = None
           ) -> tuple[np.ndarray, tuple[TermSlice, ...]]:
    cols, slices = code_terms(list(f.terms), f.intercept, data, f.text, memo)
    if not cols:
        return np.zeros((len(data), 0)), ()
    X = np.column_stack(cols)
    names = [s.name if s.labels is None else f"{s.name}[{lab}]" for s in slices
             for lab in (s.labels or [None])]
    check_rank(X, names, f.intercept)
    return X, tuple(slices)


def group_codes(factor: tuple[str, ...], data: pd.DataFrame, memo: dict | None = None
                ) -> Categorical:
    """Levels of a grouping factor (``a:b`` joins the columns' text with ':')."""
    parts = [data[c] for c in factor]
    joined = parts[0]
    if len(parts) > 1:
        joined = parts[0].astype(str)
        for p in parts[1:]:
            joined = joined + ":" + p.astype(str)
    return categorical(joined, memo, "group:" + ":".join(factor))


def _group_block(f: Formula, g, terms: tuple[Term, ...], data: pd.DataFrame,
                 memo: dict | None = None) -> GroupBlock:
    intercept = any(not t.factors for t in terms)
    cols, slices = code_terms([t for t in terms if t.factors], intercept, data, f.text, memo)
    coefs: list[str] = []
    for s in slices:
        nm = "1" if s.name == "Intercept" else s.name
        coefs.extend([nm] if s.labels is None else [f"{nm}[{lab}]" for lab in s.labels])
    cat = group_codes(g.factor, data, memo)
    if len(cat.levels) < 2:
        raise DataError(
            f"the grouping factor {g.factor_name!r} has only one level ({cat.levels[0]!r}); a "
            f"group term needs at least 2 levels: drop '({g.label})' or fit a model without it")
    return GroupBlock(g.factor_name, tuple(cat.levels), cat.codes, np.column_stack(cols),
                      tuple(coefs), g.correlated)
