r"""Posterior predictive checks (bayesplot's ``ppc_*``, brms's ``pp_check``) and the
comparison plot.

``plot_ppc(fit, kind=...)``:

* ``"density"``: the observed response's density (bar counts for counts and 0/1) against
  ``n`` replicated data sets;
* ``"stat"``: the distribution of a test statistic :math:`T(y^{rep})` over every draw
  against :math:`T(y)`, with the posterior predictive p-value
  :math:`P(T(y^{rep}) \ge T(y) \mid y)`; with ``group``, one panel per level (the largest
  nine);
* ``"intervals"``: per row (up to ``rows``, a random sample), the 50% and 90% predictive
  intervals and the observed value, with the share of observed values inside the 90%;
* ``"loo_pit"``: the ECDF of the leave-one-out probability integral transform
  :math:`p_i = \sum_s w_i^{(s)} \Pr(y^{rep}_i \le y_i \mid \theta^{(s)})` (PSIS weights;
  randomised at ties for discrete responses) against the uniform, with a pointwise 94%
  band: a calibrated model stays inside it; an S shape means too wide or too narrow
  predictions.

``plot_compare(comparison)``: each model's elpd_loo with its standard error and the
difference to the best with ``se_diff``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from hbr.errors import OptionError
from hbr.plots._base import COLORS, Figure, kde, plain_text

__all__ = ["plot_ppc", "plot_compare", "loo_pit", "KINDS", "STATS"]

KINDS = ("density", "stat", "intervals", "loo_pit")
STATS: dict[str, Callable[..., Any]] = {"mean": np.mean, "sd": lambda a, axis: np.std(
    a, axis=axis, ddof=1), "median": np.median, "min": np.min, "max": np.max}


def _replicates(fit: Any, seed: int | None) -> np.ndarray:
    """(draws, rows) replicated responses of the fitted rows."""
    fit._needs_rows("this predictive check (the fitted rows); kind='density' samples rows")
    if "idata" not in vars(fit):  # never built: the same replicates, without ArviZ (its
        rep = fit._replicates(seed)  # import and the InferenceData: 1.6 s of --report)
    elif "posterior_predictive" in fit.idata.groups() and seed is None:
        rep = fit.idata.posterior_predictive[fit.spec.design.response].values
    else:  # drawn and added to fit.idata, as fit.sample_posterior_predictive does
        rep = fit.sample_posterior_predictive(seed)
    return rep.reshape(-1, rep.shape[-1])


@plain_text
def plot_ppc(fit: Any, kind: str = "density", n: int = 50, seed: int | None = None,
             rows: int = 5000, stat: str | Callable[..., Any] = "mean",
             group: str | None = None) -> Figure:
    """A posterior predictive check of ``kind`` (see the module's description)."""
    if kind not in KINDS:
        raise OptionError(f"kind={kind!r} is not available; choose one of {', '.join(KINDS)}")
    if kind == "density":
        return _density(fit, n, seed, rows)
    rep, y = _replicates(fit, seed), np.asarray(fit.spec.design.y, dtype=float)
    if kind == "stat":
        return _stat(fit, rep, y, stat, group)
    if kind == "intervals":
        return _intervals(fit, rep, y, rows, 0 if seed is None else seed)
    return _loo_pit(fit, rep, y, 0 if seed is None else seed)


def _density(fit: Any, n: int, seed: int | None, rows: int) -> Figure:
    from hbr.model.families import CONTINUOUS, FAMILIES

    title = "Posterior predictive check"
    if not fit.spec.design.has_rows:
        y, rep = _ppc_of_a_sample(fit, n, 0 if seed is None else seed, rows)
        pick = np.arange(rep.shape[0])
        title += f" ({len(y):,} random rows of {fit.spec.design.n_obs:,})"
    else:
        rep = _replicates(fit, seed)
        pick = np.random.default_rng(0 if seed is None else seed).choice(
            rep.shape[0], min(n, rep.shape[0]), replace=False)
        y = fit.spec.design.y
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    if FAMILIES[fit.spec.family].response in CONTINUOUS:
        for r in rep[pick]:
            ax.plot(*kde(r), color=COLORS[0], alpha=0.15, lw=1)
        ax.plot(*kde(y), color="black", lw=2, label="observed")
        ax.plot([], [], color=COLORS[0], label=f"{len(pick)} replicates")
    else:
        top = int(np.quantile(y, 0.99)) + 1
        bins = np.arange(top + 1)
        counts = np.array([np.bincount(np.minimum(r, top).astype(int), minlength=top + 1)
                           for r in rep[pick]])
        lo, hi = np.quantile(counts, [0.03, 0.97], axis=0)
        ax.bar(bins, np.bincount(np.minimum(y, top).astype(int), minlength=top + 1),
               color="0.7", label="observed")
        ax.errorbar(bins, counts.mean(0), yerr=[counts.mean(0) - lo, hi - counts.mean(0)],
                    fmt="o", color=COLORS[0], ms=3, label="replicates (94%)")
    ax.set_xlabel(fit.spec.design.response)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _ppc_of_a_sample(fit: Any, n: int, seed: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(y of ``rows`` random fitted rows, ``n`` replicates of them (n, rows))."""
    from hbr.checks.loo import sample_rows
    from hbr.posterior.predictive import response_draws

    sample, y = sample_rows(fit, rows, seed=seed)
    post = fit.draws.posterior
    S = fit.draws.chains * fit.draws.n_draws
    rng = np.random.default_rng(seed)
    pick = rng.choice(S, min(n, S), replace=False)
    sub = {k: np.asarray(v).reshape((S,) + v.shape[2:])[pick][None] for k, v in post.items()}
    return y, response_draws(fit.spec, sub, sample, rng)[0]


def _stat(fit: Any, rep: np.ndarray, y: np.ndarray, stat: Any, group: str | None) -> Figure:
    fn = STATS.get(stat) if isinstance(stat, str) else stat
    if fn is None or not callable(fn):
        raise OptionError(f"stat={stat!r} is not available; choose one of "
                          f"{', '.join(STATS)} or pass a function f(array, axis)")
    name = stat if isinstance(stat, str) else getattr(stat, "__name__", "T")
    panels = [("all rows", np.arange(y.size))]
    if group is not None:
        blk = next((g.block for g in fit.spec.factor_groups if g.block.factor == group), None)
        if blk is None:
            raise OptionError(f"group={group!r} is not a grouping factor of {fit.formula!r}")
        order = np.argsort(-blk.sizes, kind="stable")[:9]
        panels = [(str(blk.levels[j]), np.flatnonzero(blk.index == j)) for j in order]
    cols = min(3, len(panels))
    fig = Figure(figsize=(3.6 * cols, 2.9 * -(-len(panels) // cols)), layout="constrained")
    axes = fig.subplots(-(-len(panels) // cols), cols, squeeze=False).ravel()
    for ax, (label, idx) in zip(axes, panels):
        t_rep, t_obs = fn(rep[:, idx], axis=1), float(fn(y[idx], axis=0))
        ax.hist(t_rep, bins=30, color=COLORS[0], alpha=0.6)
        ax.axvline(t_obs, color="black", lw=2)
        ax.set_title(f"{label}: p = {np.mean(t_rep >= t_obs):.2f}", fontsize=9)
        ax.set_xlabel(f"{name}({fit.spec.design.response})", fontsize=8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"T = {name}: replicates (histogram) and the data (line); p = "
                 "P(T(y_rep) >= T(y))", fontsize=10)
    return fig


def _intervals(fit: Any, rep: np.ndarray, y: np.ndarray, rows: int, seed: int) -> Figure:
    idx = np.arange(y.size)
    if y.size > min(rows, 200):
        idx = np.sort(np.random.default_rng(seed).choice(y.size, min(rows, 200), replace=False))
    q = np.quantile(rep[:, idx], [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    inside = np.mean((y >= np.quantile(rep, 0.05, axis=0)) & (y <= np.quantile(rep, 0.95,
                                                                                 axis=0)))
    order = np.argsort(q[2], kind="stable")
    pos = np.arange(idx.size)
    fig = Figure(figsize=(7.5, 4), layout="constrained")
    ax = fig.subplots()
    ax.vlines(pos, q[0][order], q[4][order], color=COLORS[0], alpha=0.4, lw=1, label="90%")
    ax.vlines(pos, q[1][order], q[3][order], color=COLORS[0], lw=2.5, label="50%")
    ax.scatter(pos, y[idx][order], s=8, color="black", zorder=3, label="observed")
    ax.set_xlabel(f"rows, by predicted median ({idx.size} of {y.size})")
    ax.set_ylabel(fit.spec.design.response)
    ax.set_title(f"Predictive intervals: {inside:.0%} of the observed values inside the 90% "
                 "(about 90% if calibrated)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def loo_pit(fit: Any, rep: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """The LOO-PIT values (n,): PSIS-weighted share of replicates below each observed value,
    randomised uniformly across ties (discrete responses)."""
    from hbr.checks.loo import psis_log_weights, row_loglik
    from hbr.design.newdata import training_rows

    if fit.draws.log_lik is not None:
        ll = np.asarray(fit.draws.log_lik).reshape(rep.shape)
    else:
        ll = row_loglik(fit.spec, fit.draws.posterior, training_rows(fit.spec.design),
                        y).reshape(rep.shape)
    w = np.exp(psis_log_weights(ll.T)[0])  # (n, S), normalised
    below = np.sum(w * (rep.T < y[:, None]), axis=1)
    tied = np.sum(w * (rep.T == y[:, None]), axis=1)
    u = np.random.default_rng(seed).uniform(size=y.size)
    return np.clip(below + u * tied, 0.0, 1.0)


def _loo_pit(fit: Any, rep: np.ndarray, y: np.ndarray, seed: int) -> Figure:
    pit = np.sort(loo_pit(fit, rep, y, seed))
    grid = np.linspace(0, 1, 201)
    ecdf = np.searchsorted(pit, grid, side="right") / pit.size
    half = 1.88 * np.sqrt(grid * (1 - grid) / pit.size)  # pointwise 94% of a uniform ECDF
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(grid, -half, half, color="0.85", label="uniform, 94% band")
    ax.plot(grid, ecdf - grid, color=COLORS[0], lw=2, label="LOO-PIT ECDF - uniform")
    ax.axhline(0, color="0.4", lw=0.8)
    out = float(np.mean(np.abs(ecdf - grid) > half))
    ax.set_xlabel("PIT")
    ax.set_ylabel("ECDF difference")
    ax.set_title(f"LOO-PIT ({pit.size} rows): {out:.0%} of the curve outside the band",
                 fontsize=10)
    ax.legend(fontsize=8)
    return fig


@plain_text
def plot_compare(comparison: Any) -> Figure:
    """elpd_loo ± se per model (best on top) and each model's difference to the best ±
    se_diff (hollow), as ArviZ's ``plot_compare``."""
    t = comparison.table if hasattr(comparison, "table") else comparison
    if not isinstance(t, pd.DataFrame) or "elpd_loo" not in t.columns:
        raise OptionError("plot_compare takes the result of hbr.compare (or its table)")
    pos = np.arange(len(t))[::-1].astype(float)
    fig = Figure(figsize=(6.5, 1.2 + 0.55 * len(t)), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(t["elpd_loo"], pos, xerr=t["se"], fmt="o", color="black", capsize=3,
                label="elpd_loo ± se")
    best = float(t["elpd_loo"].iloc[0])
    if "se_diff" in t.columns and len(t) > 1:
        ax.errorbar(best + t["elpd_diff"].iloc[1:], pos[1:] - 0.2, xerr=t["se_diff"].iloc[1:],
                    fmt="o", mfc="white", color="0.45", capsize=3,
                    label="difference to the best ± se_diff")
    ax.axvline(best, color="0.6", lw=0.8, ls="--")
    ax.set_yticks(pos, [str(i) for i in t.index])
    ax.set_xlabel("elpd_loo (higher is better)")
    ax.legend(fontsize=8, loc="lower left")
    return fig
