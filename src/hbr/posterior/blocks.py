"""The summary in brms's blocks: population-level effects, then the group-level effects of
each grouping factor (its sds and correlations, with its number of levels), the smooths'
sds, then the family's own parameters. Rows keep hbr's names (those ``priors=`` and the tables use)."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["summary_blocks", "blocks_text"]


def _rows(summary: pd.DataFrame, name: str) -> list[str]:
    """The summary rows of variable ``name``: itself, or its elements ``name[...]`` (not
    ``name[1]|g_sigma``, the sd of the element's group effect: ``poly(x,2)[1]|g_sigma``)."""
    return [i for i in summary.index
            if i == name or (i.startswith(f"{name}[") and i.endswith("]"))]


def summary_blocks(spec: Any, summary: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows of ``summary``) per block; empty blocks are left out."""
    out = []
    fixed = [r for p in (*spec.thresholds, *spec.fixed, *spec.dpar_fixed)
             for r in _rows(summary, p.name)]
    if fixed:
        out.append(("Population-level effects", summary.loc[fixed]))
    by_factor: dict[str, list[str]] = {}
    levels: dict[str, int] = {}
    smooth_rows = [r for g in spec.groups if g.block.smooth for r in _rows(summary, g.sds[0].name)]
    for g in spec.groups:
        if g.block.smooth:
            continue
        names = [sd.name for sd in g.sds] + ([g.corr.name] if g.corr is not None else [])
        rows = by_factor.setdefault(g.block.factor, [])
        rows += [r for n in names for r in _rows(summary, n)]
        levels[g.block.factor] = g.block.n_levels
    for factor, rows in by_factor.items():
        if rows:
            out.append((f"Group-level effects: ~{factor} ({levels[factor]:,} levels)",
                        summary.loc[rows]))
    if smooth_rows:  # brms's "Smoothing Spline Hyperparameters"
        out.append(("Smooth terms", summary.loc[smooth_rows]))
    aux = [r for p in spec.aux if p not in spec.thresholds for r in _rows(summary, p.name)]
    if aux:
        out.append((f"Family-specific parameters ({spec.family})", summary.loc[aux]))
    return out


def blocks_text(spec: Any, summary: pd.DataFrame) -> str:
    """The blocks as text, each table printed whole (ESS integers, R-hat 3 decimals)."""
    from hbr.posterior.summary_table import SummaryTable

    return "\n\n".join(f"{title}:\n{SummaryTable(rows)!r}"
                       for title, rows in summary_blocks(spec, summary))
