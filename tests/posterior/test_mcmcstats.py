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
    x[:, :, 1] = np.round(x[:, :, 1])  # ties
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
