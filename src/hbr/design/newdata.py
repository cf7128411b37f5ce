"""The rows of a fitted model's design evaluated on new data, for prediction.

New rows are coded exactly as the training rows were: the transforms reuse what they learnt
from the training table (``center``/``scale`` means and sds, categorical levels; see
:func:`hbr.design.transforms.evaluate`), so ``fit.predict(training_table)`` reproduces the fitted
linear predictor. A grouping level that was not in the training data gets an index past the
known levels and is listed in :attr:`Rows.new_levels`. This module never imports JAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hbr.design.transforms import NEW_DATA, factor_columns
from hbr.design.build import code_terms, evaluate_numeric, group_codes
from hbr.design.smooth import smooth_rows
from hbr.design.types import Design
from hbr.errors import DataError

__all__ = ["Rows", "training_rows", "new_rows", "needed_columns"]


@dataclass(frozen=True, eq=False)
class Rows:
    """What the linear predictors of some rows need.

    Attributes
    ----------
    X : ndarray (n, p)
        Fixed-effect columns of the mean.
    index : tuple of ndarray (n,)
        One per group block of the design: the level of each row; ``J + u`` for the ``u``-th
        level unknown to the training data (``J`` known levels).
    Z : tuple of ndarray (n, k)
    new_levels : tuple of tuple of str
        Per group block, the unknown levels in the order of their indices.
    offset, se, trials : ndarray (n,) or None
    dpar_X : ndarray (n, q) or None
        Fixed-effect columns of every distributional formula side by side (the order of
        ``design.dpars``; :attr:`hbr.design.types.Design.dpar_X`).
        Fixed-effect columns of the ``sigma ~ ...`` formula.
    cens, cens_y2 : ndarray (n,) or None
        The censoring code and the interval's upper end (``y | cens(c, y2)``): what the log
        likelihood of a censored row needs (LOO); predictions do not need them.
    trunc_lb, trunc_ub : ndarray (n,) or None
        The bounds of a truncated response (``y | trunc(lb, ub)``): the likelihood, the
        predictive draws and the expected response need them.
    weights : ndarray (n,) or None
        ``y | weights(w)``: each row's log likelihood is multiplied by its weight (LOO);
        predictions do not read them.
    """

    X: np.ndarray
    index: tuple[np.ndarray, ...]
    Z: tuple[np.ndarray, ...]
    new_levels: tuple[tuple[str, ...], ...]
    offset: np.ndarray | None = None
    se: np.ndarray | None = None
    trials: np.ndarray | None = None
    dpar_X: np.ndarray | None = None
    cens: np.ndarray | None = None
    cens_y2: np.ndarray | None = None
    trunc_lb: np.ndarray | None = None
    trunc_ub: np.ndarray | None = None
    weights: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.X.shape[0]


def training_rows(design: Design) -> Rows:
    """The rows the model was fitted to."""
    return Rows(design.X, tuple(b.index for b in design.groups),
                tuple(b.Z for b in design.groups), tuple(() for _ in design.groups),
                design.offset, design.se, design.trials,
                design.dpar_X if design.dpars else None, design.cens, design.cens_y2,
                design.trunc_lb, design.trunc_ub, design.weights)


def new_rows(design: Design, data: pd.DataFrame) -> Rows:
    """Evaluate the design of a fitted model on ``data`` (which needs no response column).

    Raises
    ------
    DataError
        A column the formula uses is missing, has missing or non-finite values, or a
        fixed-effect categorical has a level the model was not fitted to.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"new data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError("the new table is empty (0 rows); nothing to predict")
    f = design.formula
    needed = set(needed_columns(design))
    se_fa = next((fa for name, fa in f.additions if name == "se"), None)
    se_cols = {c for c, _ in factor_columns(se_fa)} if se_fa is not None else set()
    missing = sorted(c for c in needed if c not in data.columns)
    if missing:
        raise DataError(f"the new table lacks the column(s) {', '.join(map(repr, missing))} "
                        f"that the formula {f.text!r} uses; add them (the response is not "
                        "needed)")
    used = [c for c in needed | (se_cols & set(data.columns))]
    na = data[used].isna().any()
    if na.any():
        col = na.index[na.to_numpy()][0]
        row = data.index[data[col].isna().to_numpy()][0]
        raise DataError(f"column {col!r} of the new table has missing values (row {row}); "
                        "fill them or drop those rows before predicting")
    memo = {**design.memo, NEW_DATA: True}  # read-only use: every key was set by the
    #                                        training table
    cols, _ = code_terms(list(f.terms), f.intercept, data, f.text, memo, new_data=True)
    n = len(data)
    smooth_x, smooth_z = smooth_rows(f, data, memo)
    cols = list(cols) + [c for xf in smooth_x for c in xf.T]
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    index, Z, new_levels = [], [], []
    for blk, gt in zip(design.groups, _group_terms(design)):
        text = f.text if not blk.dpar else next(d.formula.text for d in design.dpars
                                                  if d.name == blk.dpar)
        intercept = any(not t.factors for t in gt.terms)
        zc, _ = code_terms([t for t in gt.terms if t.factors], intercept, data, text, memo,
                           new_data=True)
        cat = group_codes(gt.factor, data, memo)
        codes = cat.codes.copy()
        unseen = codes < 0
        names = pd.unique(_level_text(gt.factor, data)[unseen])
        lookup = {v: blk.n_levels + u for u, v in enumerate(names)}
        codes[unseen] = [lookup[v] for v in _level_text(gt.factor, data)[unseen]]
        index.append(codes)
        Z.append(np.column_stack(zc))
        new_levels.append(tuple(str(v) for v in names))
    for xr in smooth_z:  # the smooths' blocks, last in design.groups
        index.append(np.zeros(n, dtype=np.int64))
        Z.append(xr)
        new_levels.append(())
    extra = {name: np.asarray(evaluate_numeric(fa, data, f.text, f"{name}()", memo), float)
             for name, fa in f.additions if name in ("trials", "trunc_lb", "trunc_ub")
             or {c for c, _ in factor_columns(fa)} <= set(data.columns)}
    offset = (np.sum([evaluate_numeric(fa, data, f.text, "offset()", memo)
                      for fa in f.offsets], axis=0) if f.offsets else None)
    dpar_X = None
    if design.dpars:
        cols = []
        for dd in design.dpars:
            d = dd.formula
            dc, _ = code_terms(list(d.terms), d.intercept, data, d.text, memo, new_data=True)
            cols.append(np.column_stack(dc) if dc else np.zeros((n, 0)))
        dpar_X = np.concatenate(cols, axis=1)
    return Rows(X, tuple(index), tuple(Z), tuple(new_levels), offset, extra.get("se"),
                extra.get("trials"), dpar_X, extra.get("cens"), extra.get("cens_y2"),
                extra.get("trunc_lb"), extra.get("trunc_ub"), extra.get("weights"))


def needed_columns(design: Design) -> list[str]:
    """The columns that predicting with ``design`` reads (not the response or se())."""
    f = design.formula
    formulas = [f] + [d.formula for d in design.dpars]
    factors = [fa for g in formulas for t in g.terms for fa in t.factors]
    factors += [fa for g in formulas for gt in g.groups for t in gt.terms for fa in t.factors]
    factors += list(f.offsets) + [m.arg for m in f.smooths] + [fa for name, fa in f.additions
                                  if name in ("trials", "trunc_lb", "trunc_ub")]
    out = [c for fa in factors for c, _ in factor_columns(fa)]
    out += [c for g in formulas for gt in g.groups for c in gt.factor]
    return list(dict.fromkeys(out))


def _group_terms(design: Design) -> list:
    """The formula group terms behind ``design.groups``, in the same order."""
    out = list(design.formula.groups)
    for d in design.dpars:
        out += list(d.formula.groups)
    return out


def _level_text(factor: tuple[str, ...], data: pd.DataFrame) -> np.ndarray:
    text = data[factor[0]].astype(str)
    for c in factor[1:]:
        text = text + ":" + data[c].astype(str)
    return text.to_numpy()
