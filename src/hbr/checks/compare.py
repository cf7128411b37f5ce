r"""Complete, no and partial pooling side by side (seed 001), or any list of models.

``compare(data, "log_radon ~ floor", group="county")`` fits three models of the same rows,

* complete pooling: ``log_radon ~ floor`` (one regression for every county);
* no pooling: ``log_radon ~ 0 + C(county) + C(county):floor`` (a separate regression per
  county: every term of the formula interacted with the group);
* partial pooling: ``log_radon ~ floor + (floor | county)`` (county coefficients drawn from
  a common distribution, correlated),

and tabulates, per model:

``elpd_loo``, ``se``
    expected log predictive density of a new row, by PSIS-LOO (:func:`hbr.checks.diagnostics.psis_loo`),
    and its standard error; higher is better.
``elpd_diff``, ``se_diff``
    the difference to the best model and its standard error,
    :math:`\sqrt{n\,\mathrm{Var}_i(\mathrm{elpd}_i^{best} - \mathrm{elpd}_i)}`.
``p_loo``
    effective number of parameters; ``n_params`` is the count of scalar parameters.
``pareto_k_bad``
    rows with Pareto :math:`k > 0.7`, whose LOO estimate is unreliable.
``ppc_rmsd``
    posterior predictive RMSD: for each draw :math:`s` a replicate :math:`y^{(s)}` of the
    data, :math:`\sqrt{\frac1n\sum_i (y_i^{(s)} - y_i)^2}`, averaged over draws (seed 001's
    criterion). It includes the noise and is in-sample: it rewards flexible models, LOO does not.
``elpd_logo`` (with ``cv="logo"``)
    leave-one-group-out: the log density of a whole group's rows when the group is left out,
    :math:`\sum_j \log p(y_j \mid y_{-j})`, by PSIS over the exact marginal likelihood of each
    group :math:`p(y_j \mid \theta) = N(y_j;\ \mu_j,\ D_j + Z_j \Sigma Z_j^\top)` (its effects
    integrated out: the prediction for a new group). Gaussian family only.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hbr.api import fit
from hbr.checks.diagnostics import PARETO_K_MAX, psis_loo
from hbr.checks.loo import elpd_difference, loo
from hbr.design.build import group_codes
from hbr.errors import HbrWarning, OptionError
from hbr.formula import parse_formula
from hbr.posterior.fit import Fit
from hbr.posterior.predictive import linear_predictor, noise_sd

__all__ = ["compare", "Comparison", "pooling_formulas", "group_marginal_loglik"]


@dataclass(frozen=True, eq=False)
class Comparison:
    """The comparison table (one row per model, best first) and the fits behind it."""

    table: pd.DataFrame
    fits: dict[str, Any] = field(default_factory=dict)  # name -> hbr.Fit
    group: str | None = None

    def __repr__(self) -> str:
        with pd.option_context("display.width", 140, "display.max_columns", 20):
            return repr(self.table)

    def _repr_html_(self) -> str:
        return self.table.to_html()


def pooling_formulas(formula: str, group: str) -> dict[str, str]:
    """The complete, no and partial pooling versions of ``formula`` for ``group``.

    >>> pooling_formulas("log_radon ~ floor", "county")["no pooling"]
    'log_radon ~ 0 + C(county) + C(county):floor'
    """
    f = parse_formula(formula)
    if f.groups:
        raise OptionError(f"compare(..., group={group!r}) builds the group terms itself; give "
                          f"the formula without them, e.g. {f.text.split('+ (')[0].strip()!r}")
    lhs, rhs = (s.strip() for s in f.text.split("~", 1))
    terms = [t.name for t in f.terms]
    g = f"C({group})" if group.isidentifier() else f"C(`{group}`)"
    nopool = " + ".join([g] + [f"{g}:{t}" for t in terms]) if f.intercept else \
        " + ".join(f"{g}:{t}" for t in terms)
    inner = ("1" if not terms else " + ".join(terms)) if f.intercept else \
        "0 + " + " + ".join(terms)
    gname = group if group.isidentifier() else f"`{group}`"
    return {"complete pooling": f"{lhs} ~ {rhs}",
            "no pooling": f"{lhs} ~ 0 + {nopool}",
            "partial pooling": f"{lhs} ~ {rhs} + ({inner} | {gname})"}


def compare(data: Any, models: str | Sequence[Any] | Mapping[str, Any],
            group: str | None = None, *, cv: str = "loo", seed: int = 0,
            **fit_kwargs: Any) -> Comparison:
    """Fit (when needed) and compare models of the same rows.

    Parameters
    ----------
    data : DataFrame, CSV/Parquet path or glob, Dask DataFrame, or None
        The table (None when every model is already a fit). Fits without a stored pointwise
        log likelihood (out of core, or ``log_likelihood=False``) get LOO from
        :func:`hbr.checks.loo.loo`, which reads the rows again (a sample of rows past 50,000), on
        the same rows for every model; the table then adds ``loo_rows`` and
        ``subsampling_se``.
    models : str, list or dict
        A formula without group terms together with ``group``: complete, no and partial
        pooling (:func:`pooling_formulas`). Or formulas and fits (``hbr.Fit``), as a list or
        a dict by display name.
    group : str, optional
        The grouping column for the pooling comparison and for ``cv="logo"``.
    cv : {"loo", "logo"}
        "logo" adds leave-one-group-out by ``group`` (Gaussian models).
    seed : int
        Seed of every fit and of the posterior predictive replicates.
    **fit_kwargs
        Passed to :func:`hbr.fit` (``chains``, ``draws``, ``family``, ``progress``, ...);
        ``progress`` also shows the bar of the rows LOO reads again.

    Returns
    -------
    Comparison
    """
    if cv not in ("loo", "logo"):
        raise OptionError(f"cv={cv!r} is not available; choose 'loo' or 'logo'")
    if cv == "logo" and group is None:
        raise OptionError("cv='logo' needs group=..., the column whose groups are left out")
    fits = _fit_missing(_named(models, group), data, seed, fit_kwargs)
    n_obs = {f.spec.design.n_obs for f in fits.values()}
    if len(n_obs) > 1:
        raise OptionError(f"the models were fitted to different numbers of rows ({sorted(n_obs)});"
                          " LOO compares models of the same rows")
    for f in fits.values() if cv == "logo" else ():
        f.spec.design.require_rows("cv='logo'", instead="use cv='loo', which streams them")
    index = (group_codes((group,), data).codes if cv == "logo" and data is not None
             else None)
    if all(f.draws.log_lik is not None for f in fits.values()):
        table = _table(fits, cv, group, index, seed)
    elif cv == "logo":
        raise OptionError("cv='logo' needs each fit's pointwise log likelihood; refit with "
                          "log_likelihood=True (or use cv='loo', which reads the rows again)")
    else:
        table = _streamed_table(fits, data, seed, fit_kwargs.get("progress"))
    return Comparison(table, fits, group)


def _named(models: str | Sequence[Any] | Mapping[str, Any], group: str | None
           ) -> Mapping[str, Any]:
    """Models by display name: the pooling formulas of one formula, or formulas and fits
    named by their formula (the same formula twice gets a number)."""
    if isinstance(models, str):
        if group is None:
            raise OptionError("compare(data, formula) needs group=..., the column to pool "
                              "over, e.g. compare(data, 'log_radon ~ floor', group='county')")
        models = pooling_formulas(models, group)
    if not isinstance(models, Mapping):
        named: dict[str, Any] = {}
        for m in models:
            name = base = m if isinstance(m, str) else m.formula
            k = 2
            while name in named:  # the same formula twice (e.g. fitted two ways)
                name, k = f"{base} ({k})", k + 1
            named[name] = m
        models = named
    if not models:
        raise OptionError("no models to compare")
    return models


def _fit_missing(models: Mapping[str, Any], data: Any, seed: int,
                 fit_kwargs: Mapping[str, Any]) -> dict[str, Fit]:
    """Every model as a fit: fits as they are, formulas fitted to ``data`` with ``seed``."""
    fits: dict[str, Fit] = {}
    for name, m in models.items():
        if isinstance(m, Fit):
            fits[name] = m
            continue
        if data is None:
            raise OptionError(f"model {name!r} is a formula, so compare needs the data")
        with warnings.catch_warnings():  # e.g. all-zero no-pooling columns: said once below
            warnings.simplefilter("ignore", HbrWarning)
            fits[name] = fit(m, data, seed=seed, **fit_kwargs)
    return fits


def _table(fits: dict[str, Any], cv: str, group: str | None, index: np.ndarray | None,
           seed: int) -> pd.DataFrame:
    rows, pointwise = [], {}
    for name, f in fits.items():
        t0 = time.perf_counter()
        loo = psis_loo(f.draws.log_lik)
        pointwise[name] = loo["pointwise"]
        rep = f.sample_posterior_predictive(seed)
        y = f.spec.design.y
        rmsd = float(np.sqrt(((rep - y) ** 2).mean(axis=-1)).mean())
        row = {"model": name, "formula": f.formula, "elpd_loo": loo["elpd"], "se": loo["se"],
               "p_loo": loo["p_loo"],
               "pareto_k_bad": int((loo["pareto_k"] > PARETO_K_MAX).sum()),
               "ppc_rmsd": rmsd, **_about(f)}
        if cv == "logo":
            logo = psis_loo(group_marginal_loglik(f, group, index))
            row.update(elpd_logo=logo["elpd"], se_logo=logo["se"],
                       logo_k_bad=int((logo["pareto_k"] > PARETO_K_MAX).sum()))
        row["seconds"] = f.timings.get("total_s", np.nan) + time.perf_counter() - t0
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model").sort_values("elpd_loo", ascending=False)
    best = table.index[0]
    table.insert(3, "elpd_diff", table.elpd_loo - table.elpd_loo[best])
    table.insert(4, "se_diff", [float(np.sqrt(len(pointwise[best]) * np.var(
        pointwise[best] - pointwise[m], ddof=1))) if m != best else 0.0 for m in table.index])
    return table


def _streamed_table(fits: dict[str, Any], data: Any, seed: int,
                    progress: Any = None) -> pd.DataFrame:
    """The table from :func:`hbr.checks.loo.loo` (rows read again in chunks, a sample of rows for
    large tables), for fits without a stored log likelihood; every model on the same rows."""
    res, rows = {}, []
    for name, f in fits.items():
        t0 = time.perf_counter()
        src = None if f.spec.design.has_rows or isinstance(data, pd.DataFrame) else data
        r = res[name] = loo(f, src, seed=seed,
                            progress=progress if progress is None or isinstance(progress, bool)
                            else False)  # a function moves the sampler's bar only
        rows.append({"model": name, "formula": f.formula, "elpd_loo": r.elpd, "se": r.se,
                     "p_loo": r.p_loo, "pareto_k_bad": r.pareto_k_bad,
                     "ppc_rmsd": r.ppc_rmsd, **_about(f), "loo_rows": len(r.rows),
                     "subsampling_se": r.subsampling_se,
                     "seconds": f.timings.get("total_s", np.nan) + time.perf_counter() - t0})
    table = pd.DataFrame(rows).set_index("model").sort_values("elpd_loo", ascending=False)
    best = table.index[0]
    diffs = [elpd_difference(res[m], res[best])[:2] if m != best else (0.0, 0.0)
             for m in table.index]
    table.insert(3, "elpd_diff", [d for d, _ in diffs])
    table.insert(4, "se_diff", [s for _, s in diffs])
    return table


def _about(f: Any) -> dict[str, int]:
    return {"n_params": _n_params(f),
            "divergences": int(f.draws.stats["diverging"].sum())
            if "diverging" in f.draws.stats else 0}


def _n_params(f: Any) -> int:
    """Free scalar parameters: a k x k correlation counts k(k-1)/2; group effects count."""
    n = sum(p.size * (p.size - 1) // 2 if p.domain == "corr" else p.size for p in f.spec.params)
    return int(n + sum(g.block.n_levels * g.block.k for g in f.spec.groups))


def group_marginal_loglik(f: Any, group: str, index: np.ndarray | None = None) -> np.ndarray:
    r"""Per draw and group, :math:`\log p(y_j \mid \theta)` with group ``j``'s effects
    integrated out (chains, draws, J): Gaussian, so exact,

    .. math::
        \log N(r_j;\ 0,\ D_j + Z_j L L^\top Z_j^\top)
        = -\tfrac12\big[n_j \log 2\pi + \log|D_j| + \log|A| + r^\top D^{-1} r
          - u^\top A^{-1} u\big],

    with :math:`r_j` the rows' residuals from everything but this factor's effects,
    :math:`D_j` their noise variances, :math:`L` the Cholesky factor of the effects'
    covariance, :math:`A = I + L^\top Z^\top D^{-1} Z L` and :math:`u = L^\top Z^\top D^{-1} r`
    (matrix determinant lemma and Woodbury), from per-group sums. A model without effects
    of ``group`` (complete or no pooling) has independent rows given :math:`\theta`: the sum
    of its pointwise log likelihood over the group's rows (any family); ``index`` gives each
    row's group then.
    """
    spec = f.spec
    blocks = [g for g in spec.groups if g.block.factor == group and not g.block.dpar]
    if not blocks:
        if index is None:
            raise OptionError(f"cv='logo' by {group!r}: the model {f.formula!r} has no group "
                              f"term on {group!r}; pass the data so its rows can be grouped")
        if f.draws.log_lik is None:
            raise OptionError(f"model {f.formula!r} has no pointwise log likelihood")
        return _group_sums(f.draws.log_lik, index)
    if spec.family != "gaussian":
        raise OptionError(f"cv='logo' needs the exact marginal likelihood of a group, which "
                          f"hbr computes for the gaussian family, not {spec.family!r}; use "
                          "cv='loo'")
    if any(g.block.factor == group and g.block.dpar for g in spec.groups):
        raise OptionError(f"cv='logo' cannot leave out {group!r}: sigma also varies by it")
    post = f.draws.posterior
    y = spec.design.y
    eta = linear_predictor(spec, post)  # includes this factor's effects: take them out
    index, J = blocks[0].block.index, blocks[0].block.n_levels
    Zs, Ls = [], []
    for g in blocks:
        blk = g.block
        for c, name in enumerate(blk.names):
            eta = eta - post[name][..., blk.index] * blk.Z[:, c]
        sd = np.stack([post[s.name] for s in g.sds], axis=-1)  # (c, d, k)
        L = sd[..., :, None] * (np.linalg.cholesky(post[g.corr.name]) if g.corr is not None
                                else np.eye(blk.k))
        Zs.append(blk.Z)
        Ls.append(L)
    sd = noise_sd(spec, post)
    var = np.broadcast_to(sd**2, eta.shape)
    r = y - eta
    cd = eta.shape[:2]

    def gsum(a: np.ndarray) -> np.ndarray:  # (c, d, N) -> (c, d, J)
        return _group_sums(np.broadcast_to(a, eta.shape), index)

    n_j = np.bincount(index, minlength=J)
    out = -0.5 * (n_j * np.log(2 * np.pi) + gsum(np.log(var)) + gsum(r**2 / var))
    if blocks:
        Z = np.concatenate(Zs, axis=1)
        K = Z.shape[1]
        L = np.zeros(cd + (K, K))
        i = 0
        for Lb in Ls:
            k = Lb.shape[-1]
            L[..., i:i + k, i:i + k] = Lb
            i += k
        ZDZ = np.stack([np.stack([gsum(Z[:, a] * Z[:, b] / var) for b in range(K)], -2)
                        for a in range(K)], -3)  # (c, d, K, K, J)
        ZDr = np.stack([gsum(Z[:, a] * r / var) for a in range(K)], -2)  # (c, d, K, J)
        out = out + _integrated_terms(ZDr, ZDZ, L)
    return out


def _integrated_terms(ZDr: np.ndarray, ZDZ: np.ndarray, L: np.ndarray) -> np.ndarray:
    """:func:`hbr.density.marginal.group_marginal_terms` for every draw (c, d, J), from the
    inverse-variance weighted statistics: the one implementation of the Woodbury algebra."""
    import jax

    from hbr.density.marginal import group_marginal_terms

    cd = L.shape[:2]
    with jax.enable_x64(True):
        per_draw = jax.jit(jax.vmap(group_marginal_terms))
        got = per_draw(ZDr.reshape((-1,) + ZDr.shape[2:]), ZDZ.reshape((-1,) + ZDZ.shape[2:]),
                       L.reshape((-1,) + L.shape[2:]))
        return np.asarray(got, dtype=np.float64).reshape(cd + (-1,))


def _group_sums(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(c, d, N) -> (c, d, J): the sum over each group's rows."""
    from scipy import sparse

    n, J = len(index), int(index.max()) + 1
    G = sparse.csr_matrix((np.ones(n), (np.arange(n), index)), shape=(n, J))
    flat = np.ascontiguousarray(a).reshape(-1, n)
    return np.asarray((G.T @ flat.T).T).reshape(a.shape[:-1] + (J,))
