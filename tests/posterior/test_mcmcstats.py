"""The vectorised R-hat / ESS / MCSE / HDI against ArviZ's own functions, on draws with
autocorrelation, ties (discrete values), odd draw counts and a constant parameter."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hbr.posterior.mcmcstats import summary_arrays


def _draws(chains: int, n: int, P: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((chains, n, P))
    phi = rng.uniform(0.0, 0.95, P)  # AR(1) chains of different stickiness
    x[:, 0] = rng.normal(size=(chains, P))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=(chains, P))
    x[:, :, 0] += np.arange(chains)[:, None] * 0.5  # one parameter whose chains disagree
    x[:, :, 1] = np.round(x[:, :, 1])  # ties: many (the dense average-rank code)
    x[:, :, 3] = np.round(x[:, :, 3], 4)  # ties: a few (patched in place)
    x[:, :, 2] = 3.0  # constant
    return x


@pytest.mark.parametrize("chains, n", [(4, 200), (4, 201), (2, 57), (1, 100)])
def test_summary_arrays_match_arviz(chains: int, n: int) -> None:
    import arviz as az
    from arviz.stats.diagnostics import _ess_bulk, _ess_tail, _mcse_mean, _rhat_rank

    x = _draws(chains, n, 12, seed=n)
    got = summary_arrays(x)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for j in range(x.shape[2]):
            a = x[:, :, j]
            want = {"ess_bulk": _ess_bulk(a), "ess_tail": _ess_tail(a),
                    "mcse_mean": _mcse_mean(a), "r_hat": _rhat_rank(a) if chains > 1 else None}
            lo, hi = az.hdi(a.ravel(), hdi_prob=0.94)
            assert got["hdi_lo"][j] == lo and got["hdi_hi"][j] == hi
            assert got["mean"][j] == pytest.approx(a.mean(), rel=1e-12)
            for key, w in want.items():
                if w is None or (j == 2 and key != "mcse_mean"):
                    continue
                assert got[key][j] == pytest.approx(w, rel=1e-9, nan_ok=True), (key, j)
    assert np.isnan(got["r_hat"][2])


def test_sparse_tie_patch_equals_dense_average_ranks() -> None:
    """The in-place patch of a few tie runs (and of none) gives the same normal scores as
    the dense run-length ranks, run lengths 2 to 5 at the row ends included."""
    from hbr.posterior.mcmcstats import _dense_ranks, _sorted_scores, _ztable

    rng = np.random.default_rng(3)
    srt = np.sort(rng.normal(size=(6, 50)), axis=1)
    srt[1, 10:12] = srt[1, 10]
    srt[2, 0:5] = srt[2, 0]
    srt[2, 47:50] = srt[2, 47]
    srt[4, 20:23] = srt[4, 20]
    srt[4, 30:32] = srt[4, 30]
    table = _ztable(50)
    dense = table[(2.0 * _dense_ranks(srt[:, 1:] == srt[:, :-1])).astype(np.intp)]
    got = _sorted_scores(srt, table)
    np.testing.assert_array_equal(got, dense)
    assert got[2, 0] == got[2, 4] and got[2, 0] < got[2, 5]  # one score for a tie run
    np.testing.assert_array_equal(_sorted_scores(srt[[0, 3, 5]], table), dense[[0, 3, 5]])
