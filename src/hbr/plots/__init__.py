"""Figures of a fit: trace, funnel, shrinkage, group regression lines, posterior predictive
check, forest of group effects, MAP against the posterior mean, conditional effects
(:func:`plot_predictions`).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing
global (rcParams, the current figure, a GUI backend) is touched; save one with
``fig.savefig("trace.png")`` or show it in a notebook by leaving it as a cell's value.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hbr.plots._base import COLORS, Figure, kde as _kde, plain_text as _plain_text
from hbr.plots.predictions import plot_predictions
from hbr.plots.ppc import plot_compare, plot_ppc
from hbr.errors import OptionError
from hbr.posterior.rao_blackwell import no_effect_draws

__all__ = ["plot_trace", "plot_funnel", "plot_shrinkage", "plot_group_lines", "plot_ppc",
           "plot_forest", "plot_map_vs_mean", "plot_predictions", "plot_compare"]


def _scalars(fit: Any, var_names: Sequence[str] | None, limit: int) -> list[tuple[str, np.ndarray]]:
    """(label, draws (chains, draws)) of fixed effects and hyperparameters, elementwise."""
    from hbr.posterior.draws import hyper_names

    names = list(var_names) if var_names is not None else hyper_names(fit.spec)
    out = []
    for name in names:
        if name not in fit.draws.posterior:
            raise OptionError(f"no variable {name!r} in the posterior; it has "
                              f"{', '.join(list(fit.draws.posterior)[:10])}")
        v = fit.draws.posterior[name]
        if v.ndim == 2:
            out.append((name, v))
        elif v.ndim == 3:
            labels = fit.draws.coords.get(fit.draws.dims[name][0], range(v.shape[2]))
            out.extend((f"{name}[{lab}]", v[..., i]) for i, lab in enumerate(labels))
        else:  # correlations: the lower triangle, labelled as the summary labels it
            k = v.shape[-1]
            dims = fit.draws.dims.get(name) or []
            lab = [list(fit.draws.coords.get(d, range(k))) for d in dims] or [range(k)] * 2
            out.extend((f"{name}[{lab[0][j]}, {lab[1][i]}]", v[..., j, i])
                       for i in range(k) for j in range(i + 1, k))
    return out[:limit]


@_plain_text
def plot_trace(fit: Any, var_names: Sequence[str] | None = None, limit: int = 8) -> Figure:
    """Per parameter: the density of each chain (left) and its trace (right); divergent
    transitions are marked under the trace."""
    pars = _scalars(fit, var_names, limit)
    fig = Figure(figsize=(10, 1.8 * len(pars) + 0.6), layout="constrained")
    axes = fig.subplots(len(pars), 2, squeeze=False)
    div = fit.draws.stats.get("diverging")
    for (label, v), (ax_d, ax_t) in zip(pars, axes):
        for c in range(v.shape[0]):
            color = COLORS[c % len(COLORS)]
            x, dens = _kde(v[c])
            ax_d.plot(x, dens, color=color, lw=1)
            ax_t.plot(v[c], color=color, lw=0.5, alpha=0.8)
            if div is not None and div[c].any():
                where = np.flatnonzero(div[c])
                ax_t.plot(where, np.full(where.size, v.min()), "|", color="black", ms=8)
        ax_d.set_ylabel(label, fontsize=8)
        ax_d.set_yticks([])
    axes[-1, 1].set_xlabel("draw")
    fig.suptitle(f"Trace: {fit.formula}", fontsize=10)
    return fig


@_plain_text
def plot_funnel(fit: Any, effect: str | None = None, level: str | None = None) -> Figure:
    r"""One group effect :math:`b_j` against :math:`\log s` of its group sd, per draw
    (seed 000's funnel), divergent draws in red, for the smallest group (where the data say
    least and the funnel is widest) unless ``level`` is given. Default effect: the one whose
    group sd shows the strongest funnel (:func:`_funnel_strength`)."""
    if not fit.spec.factor_groups:
        raise OptionError("the model has no group terms, so there is no funnel to show")
    _need_effect_draws(fit, "plot_funnel")
    if effect is None:
        g, c = max(((g, c) for g in fit.spec.factor_groups for c in range(g.block.k)),
                   key=lambda gc: _funnel_strength(fit, *gc))
    else:
        g = next((g for g in fit.spec.factor_groups if effect in g.block.names), None)
        if g is None:
            names = [n for g in fit.spec.factor_groups for n in g.block.names]
            raise OptionError(f"no group effect {effect!r}; the model has {', '.join(names)}")
        c = g.block.names.index(effect)
    blk = g.block
    counts = blk.sizes
    j = int(np.argmin(counts)) if level is None else _level(blk, level)
    b = fit.draws.posterior[blk.names[c]][..., j].ravel()
    s = np.log(fit.draws.posterior[g.sds[c].name].ravel())
    div = fit.draws.stats.get("diverging", np.zeros_like(b, bool)).ravel().astype(bool)
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(b[~div], s[~div], s=4, alpha=0.3, color=COLORS[0], label="draws")
    if div.any():
        ax.scatter(b[div], s[div], s=12, color=COLORS[1], label=f"divergent ({div.sum()})")
    ax.set_xlabel(f"{blk.names[c]}[{blk.levels[j]}]  ({counts[j]} rows)")
    ax.set_ylabel(f"log {g.sds[c].name}")
    ax.set_title(f"Funnel ({fit.parameterization.name}): {div.sum()} divergent draws",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _need_effect_draws(fit: Any, what: str) -> None:
    if fit.draws.effect_summary is not None:
        raise no_effect_draws(fit.spec.factor_groups[0].block.names[0], what)


def _funnel_strength(fit: Any, g: Any, c: int) -> float:
    r"""How much of a funnel effect ``c`` of group term ``g`` shows in its smallest group:
    the spread of :math:`\log s` times the correlation of :math:`\log s` with
    :math:`\log |b_j - \mathrm{median}(b_j)|` (0 if negative). A well-determined sd (the
    radon intercept's) spans too little of :math:`\log s` to show one, however small the
    group; a weakly determined slope sd shows seed 000's funnel."""
    j = int(np.argmin(g.block.sizes))
    b = np.asarray(fit.draws.posterior[g.block.names[c]][..., j]).ravel()
    log_s = np.log(np.asarray(fit.draws.posterior[g.sds[c].name]).ravel())
    spread = np.log(np.abs(b - np.median(b)) + 1e-300)
    if np.std(log_s) == 0 or np.std(spread) == 0:
        return 0.0
    return float(np.std(log_s) * max(0.0, np.corrcoef(log_s, spread)[0, 1]))


def _level(blk: Any, level: str) -> int:
    if str(level) not in blk.levels:
        raise OptionError(f"{blk.factor!r} has no level {level!r}")
    return blk.levels.index(str(level))


def _group_coefficients(fit: Any, group: str, levels: Sequence[str], x: str | None
                        ) -> np.ndarray:
    """Posterior means per level of the group's intercept (and slope in ``x``), read off
    the model's predictions at x = 0 (and 1), other predictors at 0: any model, pooled or
    not, gives them."""
    from hbr.design.newdata import needed_columns

    base = pd.DataFrame({group: list(levels)})
    for c in needed_columns(fit.spec.design):
        if c != group:
            base[c] = 0.0
    pts = [base.assign(**{x: 0.0}), base.assign(**{x: 1.0})] if x else [base]
    eta = [fit.predict(p, kind="link", new_groups="mean").mean(axis=(0, 1)) for p in pts]
    return np.column_stack([eta[0]] + ([eta[1] - eta[0]] if x else []))


@_plain_text
def plot_shrinkage(unpooled: Any, pooled: Any, group: str, x: str | None = None) -> Figure:
    """One arrow per group from its no-pooling estimate to its partial-pooling estimate
    (seed 001): intercept against slope in ``x``, or, without ``x``, the intercept against
    the group's number of rows (small groups move most). Groups whose no-pooling estimate
    lies far outside (a slope no row informs) are left off the axes and counted."""
    blk = next((g.block for g in pooled.spec.factor_groups if g.block.factor == group), None)
    if blk is None:
        raise OptionError(f"the pooled model has no group term on {group!r}")
    a = _group_coefficients(unpooled, group, blk.levels, x)
    b = _group_coefficients(pooled, group, blk.levels, x)
    n = blk.sizes
    if x is None:
        a, b = np.column_stack([a[:, 0], n]), np.column_stack([b[:, 0], n])
    lo, hi = np.quantile(np.r_[a, b], [0.0, 1.0], axis=0)
    lo_b, hi_b = b.min(0), b.max(0)
    span = hi_b - lo_b + 1e-12
    lo, hi = np.maximum(lo, lo_b - 2 * span), np.minimum(hi, hi_b + 2 * span)
    inside = np.all((a >= lo) & (a <= hi), axis=1)
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(a[inside, 0], a[inside, 1], s=14, color=COLORS[0], label="no pooling")
    ax.scatter(b[:, 0], b[:, 1], s=14, color=COLORS[1], label="partial pooling")
    for p, q in zip(a[inside], b[inside]):
        ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="->", color="0.5", lw=0.7))
    ax.set_xlabel(f"intercept of {group}")
    ax.set_ylabel(f"slope of {x} in {group}" if x else f"rows in {group}")
    if x is None:
        ax.set_yscale("log")
    left = int((~inside).sum())
    ax.set_title(f"Shrinkage: {blk.n_levels} groups" + (f" ({left} no-pooling estimates "
                                                         "outside the axes)" if left else ""),
                 fontsize=10)
    ax.legend(fontsize=8)
    return fig


@_plain_text
def plot_group_lines(fits: Any, data: pd.DataFrame, group: str, x: str,
                     levels: Sequence[str] | None = None, draws: int = 40, seed: int = 0
                     ) -> Figure:
    """Per chosen group (seed 001's CASS, CROW WING, FREEBORN panels): its rows, ``draws``
    posterior regression lines and the mean line of each fit (a Fit or a dict of them). The
    other predictors are held at the group's first row. Default groups: the smallest, a
    middle-sized and the largest."""
    fits = fits if isinstance(fits, Mapping) else {fits.formula: fits}
    if x not in data.columns or group not in data.columns:
        raise OptionError(f"data needs the columns {x!r} and {group!r}")
    keys = data[group].astype(str)
    if levels is None:
        sizes = keys.value_counts().sort_values(kind="stable")
        levels = [sizes.index[0], sizes.index[len(sizes) // 2], sizes.index[-1]]
    levels = [str(v) for v in levels]
    for lv in levels:
        if lv not in set(keys):
            raise OptionError(f"{group!r} has no level {lv!r}")
    grid = np.linspace(data[x].min(), data[x].max(), 30)
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(4 * len(levels), 3.8), layout="constrained")
    axes = fig.subplots(1, len(levels), squeeze=False, sharey=True)[0]
    response = next(iter(fits.values())).spec.design.response
    for ax, lv in zip(axes, levels):
        rows = data[keys == lv]
        if response in rows.columns:
            jitter = rng.normal(0, 0.01 * (np.ptp(grid) or 1.0), len(rows))
            ax.scatter(rows[x] + jitter, rows[response], s=10, color="0.3", zorder=3)
        new = pd.DataFrame([rows.iloc[0]] * len(grid)).reset_index(drop=True)
        new[x] = grid
        for c, (name, f) in enumerate(fits.items()):
            mu = f.predict(new, kind="mean").reshape(-1, len(grid))
            pick = rng.choice(mu.shape[0], min(draws, mu.shape[0]), replace=False)
            color = COLORS[c % len(COLORS)]
            for row in mu[pick]:
                ax.plot(grid, row, color=color, alpha=0.08, lw=1)
            ax.plot(grid, mu.mean(0), color=color, lw=2, label=name)
        ax.set_title(f"{lv} ({len(rows)} rows)", fontsize=10)
        ax.set_xlabel(x)
    axes[0].legend(fontsize=7)
    return fig


@_plain_text
def plot_forest(fit: Any, effect: str | None = None, limit: int = 60) -> Figure:
    """Posterior mean and 94% interval of each group's effect (one panel per coefficient of
    the term), sorted by mean; at most ``limit`` groups (the largest) are shown."""
    if not fit.spec.factor_groups:
        raise OptionError("the model has no group terms, so there are no group effects")
    _need_effect_draws(fit, "plot_forest")
    g = next((g for g in fit.spec.factor_groups if effect is None or effect in g.block.names), None)
    if g is None:
        raise OptionError(f"no group effect {effect!r}")
    blk = g.block
    counts = blk.sizes
    keep = np.sort(np.argsort(-counts, kind="stable")[:limit])
    fig = Figure(figsize=(4 * blk.k, 0.16 * len(keep) + 1.2), layout="constrained")
    axes = fig.subplots(1, blk.k, squeeze=False, sharey=True)[0]
    order = None
    for ax, name in zip(axes, blk.names):
        v = fit.draws.posterior[name][..., keep].reshape(-1, len(keep))
        m = v.mean(0)
        lo, hi = np.quantile(v, [0.03, 0.97], axis=0)
        order = np.argsort(m) if order is None else order
        pos = np.arange(len(keep))
        ax.hlines(pos, lo[order], hi[order], color=COLORS[0], lw=1)
        ax.plot(m[order], pos, "o", color=COLORS[0], ms=3)
        ax.axvline(0, color="0.5", lw=0.8, ls="--")
        ax.set_title(name, fontsize=10)
    axes[0].set_yticks(np.arange(len(keep)), [blk.levels[i] for i in keep[order]], fontsize=6)
    return fig


@_plain_text
def plot_map_vs_mean(table: pd.DataFrame) -> Figure:
    """Seed 000's comparison on one scale: for each parameter, how many posterior sds each
    mode (``fit.map_vs_mean()``) lies from the posterior mean (the band is +-1 sd)."""
    zs = [c for c in table.columns if c.startswith("z_")]
    if not zs:
        raise OptionError("expected the table of fit.map_vs_mean() (columns z_<mode>)")
    fig = Figure(figsize=(6.5, 0.35 * len(table) + 1.4), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(len(table))
    ax.barh(pos, 2.0, left=-1.0, color="0.9", label="mean +- 1 sd")
    for c, col in enumerate(zs):
        z = table[col].to_numpy(float)
        ax.plot(np.clip(z, -10, 10), pos, "o", color=COLORS[c + 1], label=col[2:] + " mode")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(pos, list(table.index), fontsize=8)
    ax.set_xlabel("(mode - posterior mean) / posterior sd (clipped at +-10)")
    missing = table.attrs.get("no_mode", [])
    ax.set_title("MAP vs posterior mean" + (f"; no interior mode: {', '.join(missing)}"
                                            if missing else ""), fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return fig
