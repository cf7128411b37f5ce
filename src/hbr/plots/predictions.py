r"""Conditional effects (brms's ``conditional_effects``, Bambi's ``plot_predictions``): the
expected response :math:`E[y \mid x, \theta]` against one predictor, with a posterior
interval, for the population and for chosen groups.

The other predictors are held where brms holds them: a numeric column at its mean, a
categorical one at its first level. The population curve sets every group effect to 0
(a level the fit never saw, with ``new_groups="mean"``); a group's curve uses that group's
effects. A numeric ``x`` is drawn on a grid over its observed range, a categorical one at
each level (points with interval bars).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from hbr.errors import OptionError
from hbr.plots._base import COLORS, Figure, plain_text

__all__ = ["plot_predictions", "prediction_grid"]

POPULATION = "\u2063population"  # a level no table has: every group effect at its mean 0


def _table(fit: Any, data: pd.DataFrame | None) -> pd.DataFrame:
    if data is None:
        data = fit.call.get("data") if getattr(fit, "call", None) else None
    if not isinstance(data, pd.DataFrame):
        raise OptionError("plot_predictions needs the table the model was fitted to: pass "
                          "data=... (a fit loaded from a file, or fitted to a file, does "
                          "not keep it)")
    return data


def prediction_grid(fit: Any, x: str, data: pd.DataFrame, points: int = 50
                    ) -> pd.DataFrame:
    """Rows over ``x`` (a grid of ``points`` over its range, or its levels) with the other
    predictors at their mean or first level and every grouping factor at the population."""
    from hbr.design.newdata import needed_columns
    from hbr.design.transforms import is_categorical

    design = fit.spec.design
    columns = needed_columns(design)
    if x not in columns:
        raise OptionError(f"{x!r} is not a predictor of {fit.formula!r}; choose one of "
                          f"{', '.join(c for c in columns if c not in _factors(design))}")
    s = data[x]
    levels = design.memo.get(f"levels:{x}")  # C(x) of a numeric column is categorical too
    if levels is None and is_categorical(s):
        levels = sorted(pd.unique(s.dropna().astype(str)))
    grid = (np.asarray(list(levels), dtype=object) if levels is not None
            else np.linspace(float(s.min()), float(s.max()), points))
    rows = pd.DataFrame({x: grid})
    groups = _factors(design)
    for c in columns:
        if c == x:
            continue
        if c in groups:
            rows[c] = POPULATION
        elif is_categorical(data[c]):
            rows[c] = sorted(pd.unique(data[c].dropna().astype(str)))[0]
        else:
            rows[c] = float(data[c].mean())
    return rows


def _factors(design: Any) -> set[str]:
    return {c for g in [design.formula, *[d.formula for d in design.dpars]]
            for gt in g.groups for c in gt.factor}


@plain_text
def plot_predictions(fit: Any, x: str, by: str | None = None,
                     groups: Sequence[str] | None = None, data: pd.DataFrame | None = None,
                     prob: float = 0.9, points: int = 50) -> Figure:
    """The expected response against ``x`` with its ``prob`` equal-tailed interval: the
    population curve, and with ``by`` (a grouping factor) one curve per level in
    ``groups`` (default: the three levels with most rows). ``data`` defaults to the table
    the fit was made from."""
    if not 0 < prob < 1:
        raise OptionError(f"prob must be between 0 and 1 (e.g. 0.9), got {prob!r}")
    table = _table(fit, data)
    base = prediction_grid(fit, x, table, points)
    curves = [("population", base)]
    if by is not None:
        if by not in _factors(fit.spec.design):
            raise OptionError(f"by={by!r} is not a grouping factor of {fit.formula!r}")
        keys = table[by].astype(str)
        chosen = ([str(g) for g in groups] if groups is not None
                  else list(keys.value_counts().index[:3]))
        for lv in chosen:
            if lv not in set(keys):
                raise OptionError(f"{by!r} has no level {lv!r}")
            curves.append((f"{by} {lv}", base.assign(**{by: lv})))
    categorical = not pd.api.types.is_numeric_dtype(base[x])
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    lo_q, hi_q = (1 - prob) / 2, 1 - (1 - prob) / 2
    for i, (label, rows) in enumerate(curves):
        mu = fit.predict(rows, kind="mean", new_groups="mean").reshape(-1, len(rows))
        mean, lo, hi = mu.mean(axis=0), *np.quantile(mu, [lo_q, hi_q], axis=0)
        color = "0.15" if i == 0 else COLORS[(i - 1) % len(COLORS)]
        pos = np.arange(len(rows)) + 0.12 * i if categorical else rows[x].to_numpy()
        if categorical:
            ax.errorbar(pos, mean, yerr=[mean - lo, hi - mean], fmt="o", color=color,
                        capsize=3, label=label)
        else:
            ax.fill_between(pos, lo, hi, color=color, alpha=0.15 if i == 0 else 0.12, lw=0)
            ax.plot(pos, mean, color=color, lw=2.2 if i == 0 else 1.6, label=label)
    if categorical:
        ax.set_xticks(np.arange(len(base)), list(base[x]))
    ax.set_xlabel(x)
    ax.set_ylabel(f"E[{fit.spec.design.response}] ({prob:.0%} interval)")
    ax.set_title(fit.formula, fontsize=9)
    ax.legend(fontsize=8)
    return fig
