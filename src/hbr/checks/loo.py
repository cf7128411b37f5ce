r"""PSIS leave-one-out of any fit, its rows streamed in chunks: also for tables that stayed
out of memory (DuckDB files, Dask DataFrames), where no pointwise log likelihood was kept.

The rows are read again, chunk by chunk, in table order, and coded as the fit coded them
(:mod:`hbr.sources.stream`). Only ``draws x rows`` numbers of one chunk (``CHUNK_NUMBERS``) are
held at once.

**Every row** (tables up to ``ALL_ROWS`` rows, or ``sample="all"``): for each row,
:math:`\log p(y_i \mid \theta^{(s)})` for every draw, Pareto-smoothed importance weights
(Vehtari, Gelman & Gabry 2017; ArviZ's ``psislw`` with relative efficiency 1, as
:func:`hbr.checks.diagnostics.psis_loo`) and
:math:`\widehat{elpd}_i = \log \sum_s w_i^{(s)} p(y_i \mid \theta^{(s)})`. The result equals
:func:`~hbr.checks.diagnostics.psis_loo` of the full matrix.

**A subsample** (larger tables; PSIS costs about 0.5 ms per row for 4000 draws, so 10^6
rows would take 8 minutes and 10^8 rows 14 hours): the difference estimator of Magnusson,
Andersen, Jonasson & Vehtari (2019). One cheap pass over every row computes the plug-in
:math:`a_i = \log p(y_i \mid \bar\theta)` at the posterior mean; PSIS runs on a simple random
sample :math:`S` of :math:`m` rows (positions drawn from ``seed``), and

.. math::
    \widehat{elpd} = \sum_{i=1}^N a_i + \frac{N}{m} \sum_{i \in S} (e_i - a_i), \qquad
    \mathrm{Var}_{sub} = N^2 \Bigl(1 - \frac{m}{N}\Bigr) \frac{s^2_{e - a}}{m},

with :math:`e_i = \widehat{elpd}_i`. ``se`` combines the usual
:math:`\sqrt{N \hat\sigma^2_e}` (with :math:`\sum e_i^2` estimated the same way) and the
subsampling error; ``subsampling_se`` is the latter alone. Because :math:`a_i` is close to
:math:`e_i`, a sample of 10^4 rows pins the total of 10^8 rows to a few units.

Two results on the same table and the same ``seed`` use the same rows, so
:func:`elpd_difference` pairs them (the ``se_diff`` of :func:`hbr.checks.compare`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from hbr._runtime.progressbar import steps, wants_bar
from hbr.design.newdata import Rows
from hbr.sources.stream import chunks, concat, positions, sample_rows, take
from hbr.errors import OptionError
from hbr.posterior.predictive import family_aux, linear_predictor, response_draws

__all__ = ["LooResult", "loo", "elpd_difference", "subsample_estimate", "sample_rows",
           "row_loglik", "row_chunks", "psis_log_weights", "ALL_ROWS", "DEFAULT_SAMPLE"]

ALL_ROWS = 50_000  # tables up to this many rows: every row; larger: a subsample
DEFAULT_SAMPLE = 10_000  # rows evaluated by PSIS in a subsample
CHUNK_NUMBERS = 4_000_000  # draws x rows of log likelihood held at once


@dataclass(frozen=True, eq=False)
class LooResult:
    """Leave-one-out estimate of the expected log predictive density of new rows.

    Attributes
    ----------
    elpd, se : float
        :math:`\\widehat{elpd}_{loo}` and its standard error (including ``subsampling_se``).
    p_loo : float
        Effective number of parameters, :math:`\\sum_i (lpd_i - e_i)`.
    subsampling_se : float
        The part of ``se`` due to evaluating a sample of rows (0 when every row was).
    n_obs : int
        Rows of the table.
    rows : ndarray of int
        Positions (0-based, table order) of the rows evaluated by PSIS.
    pointwise, approx, pareto_k : ndarray
        :math:`e_i`, the plug-in :math:`a_i` and Pareto :math:`\\hat k` of those rows.
    approx_sum, approx_sq_sum : float
        :math:`\\sum a_i`, :math:`\\sum a_i^2` over every row.
    ppc_rmsd : float
        Posterior predictive RMSD over the rows evaluated: per draw the RMSD between a
        replicate and the data, averaged over draws.
    """

    elpd: float
    se: float
    p_loo: float
    subsampling_se: float
    n_obs: int
    rows: np.ndarray
    pointwise: np.ndarray
    approx: np.ndarray
    pareto_k: np.ndarray
    approx_sum: float
    approx_sq_sum: float
    ppc_rmsd: float

    @property
    def subsampled(self) -> bool:
        return len(self.rows) < self.n_obs

    @property
    def pareto_k_bad(self) -> int:
        """Rows evaluated with :math:`\\hat k > 0.7` (unreliable)."""
        from hbr.checks.diagnostics import PARETO_K_MAX

        return int((self.pareto_k > PARETO_K_MAX).sum())

    def __str__(self) -> str:
        how = (f"{len(self.rows)} of {self.n_obs} rows (difference estimator; subsampling "
               f"se {self.subsampling_se:.2f})" if self.subsampled else f"{self.n_obs} rows")
        return (f"elpd_loo {self.elpd:.2f} (se {self.se:.2f}), p_loo {self.p_loo:.2f}, from "
                f"{how}; Pareto k > 0.7: {self.pareto_k_bad} of {len(self.rows)}")


def loo(fit: Any, data: Any = None, *, sample: int | str | None = None, seed: int = 0,
        ppc: bool = True, progress: bool | None = False) -> LooResult:
    """PSIS-LOO of ``fit``, reading its rows in chunks (see the module's notes).

    Parameters
    ----------
    fit : hbr.Fit
    data : DataFrame, path or glob, Dask DataFrame, optional
        The fitted table. Default: the fit's own rows (in memory), or the files or Dask
        DataFrame that DuckDB or Dask read.
    sample : int, "all" or None
        Rows evaluated by PSIS. None: every row up to ``ALL_ROWS`` rows, else
        ``DEFAULT_SAMPLE``. An int m < N: a simple random sample of m rows.
    seed : int
        Seed of the sample's positions and of the replicates for ``ppc_rmsd``.
    ppc : bool
        Also compute ``ppc_rmsd`` over the rows evaluated.
    progress : bool or None
        A bar of the rows read (and of the sample's PSIS) on stderr: True, False, or None
        for a bar when a person is watching (a terminal or a notebook). The result does not
        depend on it.

    Raises
    ------
    OptionError
        No table to read; a bad ``sample``.
    DataError
        ``data`` is not the fitted table (other row count, levels the fit has not seen).
    """
    design = fit.spec.design
    N = int(design.n_obs)
    m = _sample_size(sample, N)
    rng = np.random.default_rng(seed)
    keep = positions(N, m, rng)
    post = fit.draws.posterior
    mean = {k: np.asarray(v).mean(axis=(0, 1), keepdims=True) for k, v in post.items()}
    A = A2 = 0.0
    picked: list[tuple[Rows, np.ndarray, np.ndarray]] = []  # rows, y and a of the sample
    out: list[tuple[np.ndarray, ...]] = []  # (e, lpd, k) per chunk
    sq = np.zeros(next(iter(post.values())).shape[:2])  # per draw: sum of squared errors
    seen = 0
    with steps("LOO", N + (m if m < N else 0), wants_bar(progress)) as advance:
        for rows, y in chunks(fit, data):
            if m == N:  # every row: PSIS chunk by chunk
                out.append(_psis_rows(fit.spec, post, rows, y, sq, rng if ppc else None))
                advance(rows.n)
                continue
            a = row_loglik(fit.spec, mean, rows, y)[0, 0]  # the plug-in pass: every row
            A, A2 = A + float(a.sum()), A2 + float((a**2).sum())
            lo, hi = np.searchsorted(keep, [seen, seen + rows.n])
            if hi > lo:
                i = keep[lo:hi] - seen
                picked.append((take(rows, i), y[i], a[i]))
            seen += rows.n
            advance(rows.n)
        if m < N:
            rows = concat([r for r, _, _ in picked])
            y = np.concatenate([v for _, v, _ in picked])
            out = [_psis_rows(fit.spec, post, rows, y, sq, rng if ppc else None)]
            advance(m)
    e, lpd, k = (np.concatenate(c) for c in zip(*out))
    a = np.concatenate([v for _, _, v in picked]) if m < N else e
    est = subsample_estimate(e, a, lpd, N, A if m < N else float(e.sum()),
                             A2 if m < N else float((e**2).sum()))
    rmsd = float(np.sqrt(sq / m).mean()) if ppc else float("nan")
    return LooResult(est["elpd"], est["se"], est["p_loo"], est["subsampling_se"], N, keep,
                     e, a, k, est["approx_sum"], est["approx_sq_sum"], rmsd)


def subsample_estimate(e: np.ndarray, a: np.ndarray, lpd: np.ndarray, N: int,
                       approx_sum: float, approx_sq_sum: float) -> dict[str, float]:
    r"""The difference estimator of :math:`\sum_i e_i` from the ``m`` sampled rows' ``e``,
    their plug-in ``a`` and the totals of ``a`` and ``a^2`` over all ``N`` rows (see the
    module's notes). With ``m == N`` it is the plain sum, and ``se`` is ArviZ's
    :math:`\sqrt{N\,\mathrm{Var}(e)}`."""
    m = len(e)
    d = e - a
    elpd = approx_sum + N * float(d.mean())
    sum_sq = approx_sq_sum + N * float((e**2 - a**2).mean())
    var_e = max(sum_sq / N - (elpd / N) ** 2, 0.0)
    sub = N**2 * (1 - m / N) * float(d.var(ddof=1)) / m if m < N else 0.0
    return {"elpd": elpd, "se": float(np.sqrt(N * var_e + sub)),
            "subsampling_se": float(np.sqrt(sub)), "p_loo": N * float((lpd - e).mean()),
            "approx_sum": approx_sum, "approx_sq_sum": approx_sq_sum}


def elpd_difference(a: LooResult, b: LooResult) -> tuple[float, float, float]:
    r"""``elpd(a) - elpd(b)``, its paired standard error
    :math:`\sqrt{N\,\mathrm{Var}(e^a_i - e^b_i)}` and the part of it due to the subsample
    (0 with every row), from the same rows of the same table (``loo`` with the same
    ``seed`` and ``sample``)."""
    if a.n_obs != b.n_obs or not np.array_equal(a.rows, b.rows):
        raise OptionError("the two LOO results were evaluated on different rows; compute "
                          "both with the same table, sample and seed")
    de = a.pointwise - b.pointwise
    if not a.subsampled:
        return float(de.sum()), float(np.sqrt(a.n_obs * de.var())), 0.0
    N, m = a.n_obs, len(a.rows)
    dd = de - (a.approx - b.approx)
    diff = (a.approx_sum - b.approx_sum) + N * float(dd.mean())
    sub = N**2 * (1 - m / N) * float(dd.var(ddof=1)) / m
    return diff, float(np.sqrt(N * float(de.var(ddof=1)) + sub)), float(np.sqrt(sub))


def row_loglik(spec: Any, post: dict[str, np.ndarray], rows: Rows, y: np.ndarray) -> np.ndarray:
    """:math:`\\log p(y_i \\mid \\theta^{(s)})`, (chains, draws, n)."""
    import jax

    from hbr.density.likelihoods import LOGLIK, row_arrays

    eta = linear_predictor(spec, post, rows)
    with jax.enable_x64(True):
        ll = LOGLIK[(spec.family, spec.link)](y, eta, family_aux(spec, post, rows),
                                              row_arrays(rows, y))
        return np.asarray(ll, dtype=float)


def row_chunks(rows: Rows, draws: int) -> Iterator[tuple[slice, Rows]]:
    """``rows`` in chunks that hold about ``CHUNK_NUMBERS`` numbers for ``draws`` draws
    each: (the chunk's positions as a slice, its rows)."""
    step = max(1, CHUNK_NUMBERS // draws)
    for s in range(0, rows.n, step):
        at = slice(s, min(s + step, rows.n))
        yield at, take(rows, np.arange(at.start, at.stop))


def psis_log_weights(ll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised PSIS log weights of leaving out each row, from its log likelihood ``ll``
    (rows, draws), and their Pareto k (ArviZ's ``psislw``, relative efficiency 1); ArviZ's
    warning about a high k is not raised (callers report k themselves)."""
    from hbr.posterior.draws import load_arviz

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_arviz().psislw(-ll, reff=1.0)


def _psis_rows(spec: Any, post: dict[str, np.ndarray], rows: Rows, y: np.ndarray,
               sq: np.ndarray, rng: np.random.Generator | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PSIS over ``rows`` in chunks: e_i, lpd_i, k_i; with ``rng``, adds each draw's sum of
    squared errors of a replicate to ``sq`` (chains, draws)."""
    from scipy.special import logsumexp

    chains, draws = next(iter(post.values())).shape[:2]
    S = chains * draws
    e, lpd, k = (np.empty(rows.n) for _ in range(3))
    for at, part in row_chunks(rows, S):
        yy = y[at]
        ll = row_loglik(spec, post, part, yy).reshape(S, -1).T  # (n, S)
        lw, k[at] = psis_log_weights(ll)  # high k is reported in the result
        e[at] = logsumexp(lw + ll, axis=1)
        lpd[at] = logsumexp(ll, axis=1) - np.log(S)
        if rng is not None:
            sq += ((response_draws(spec, post, part, rng) - yy) ** 2).sum(axis=-1)
    return e, lpd, k


def _sample_size(sample: int | str | None, N: int) -> int:
    if sample is None:
        return N if N <= ALL_ROWS else DEFAULT_SAMPLE
    if sample == "all":
        return N
    if isinstance(sample, (bool, np.bool_)) or not isinstance(sample, (int, np.integer)) \
            or sample < 2:
        raise OptionError(f"sample={sample!r}: give a number of rows (at least 2), 'all' or "
                          "None")
    return min(int(sample), N)
