"""Model comparison (seed 001): complete, no and partial pooling of Minnesota radon.

- Partial pooling predicts new homes better than no pooling (and complete pooling) by
  PSIS-LOO, by more than the standard error of the difference.
- The leave-one-group-out likelihood of a group, with its effects integrated out by the
  determinant lemma and Woodbury, equals the dense multivariate normal log density.
- A regression test: coefficients of all-zero columns (counties without homes on a floor in
  the no-pooling model) have their prior as posterior, instead of sticking at 0 (R-hat 3.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import arviz as az

import hbr
from hbr.checks.compare import compare, group_marginal_loglik, pooling_formulas
from hbr.errors import OptionError


@pytest.fixture(scope="module")
def pooling(mn: pd.DataFrame) -> hbr.checks.compare.Comparison:
    return compare(mn, "log_radon ~ floor", group="county", cv="logo", seed=3)


def test_pooling_formulas() -> None:
    assert pooling_formulas("y ~ x + z", "g") == {
        "complete pooling": "y ~ x + z",
        "no pooling": "y ~ 0 + C(g) + C(g):x + C(g):z",
        "partial pooling": "y ~ x + z + (x + z | g)"}
    assert pooling_formulas("y ~ 1", "my g")["partial pooling"] == "y ~ 1 + (1 | `my g`)"
    with pytest.raises(OptionError, match="without them"):
        pooling_formulas("y ~ x + (1 | g)", "g")


def test_partial_pooling_predicts_best(pooling) -> None:
    t = pooling.table
    assert list(t.index) == ["partial pooling", "complete pooling", "no pooling"]
    for other in ("no pooling", "complete pooling"):
        assert -t.elpd_diff[other] > 2 * t.se_diff[other], t[["elpd_diff", "se_diff"]]
    # no pooling fits the rows it saw about as closely as partial pooling, in-sample
    assert t.ppc_rmsd["no pooling"] < t.ppc_rmsd["complete pooling"]
    assert t.n_params["complete pooling"] == 3 and t.n_params["partial pooling"] == 3 + 2 + 1 + 170
    assert (t.divergences == 0).all()
    # leaving a whole county out: partial pooling can predict it, PSIS is reliable for it;
    # the no-pooling model's county coefficients are then prior-only and PSIS says so
    assert t.elpd_logo["partial pooling"] > t.elpd_logo["complete pooling"]
    assert t.logo_k_bad["partial pooling"] <= 2 and t.logo_k_bad["no pooling"] > 40
    assert "elpd_loo" in repr(pooling) and "<table" in pooling._repr_html_()


def test_zero_columns_keep_their_prior(pooling) -> None:
    f = pooling.fits["no pooling"]
    d = f.spec.design
    zero = np.all(d.X == 0, axis=0)[85:]
    assert zero.sum() == 25
    chains = f.draws.posterior["C(county):floor"][..., zero]  # (chains, draws, 25)
    draws = chains.reshape(-1, 25)
    prior_sd = np.asarray(f.spec.priors["C(county):floor"].kwargs["sigma"])[zero]
    # the sd's Monte Carlo error: var(s^2) = 2 sd^4 / ESS(x^2), so var(s / sd) ~ 1 / (2 ESS)
    ess = np.array([float(az.ess(chains[..., i] ** 2)) for i in range(25)])
    ratio = draws.std(0) / prior_sd
    assert np.all(np.abs(ratio - 1) < 4 / np.sqrt(2 * ess)), (ratio, ess)
    assert f.summary()["r_hat"].max() < 1.01


def _dense(f, group: str, s: tuple[int, int], j: int) -> float:
    post, spec = f.draws.posterior, f.spec
    from hbr.posterior.predictive import linear_predictor, noise_sd

    eta = linear_predictor(spec, post)[s]
    blocks = [g for g in spec.groups if g.block.factor == group]
    rows = np.flatnonzero(blocks[0].block.index == j)
    Zs, covs = [], []
    for g in blocks:
        b = g.block
        eta = eta - sum(post[n][s][b.index] * b.Z[:, c] for c, n in enumerate(b.names))
        sd = np.array([post[p.name][s] for p in g.sds])
        R = post[g.corr.name][s] if g.corr is not None else np.eye(b.k)
        Zs.append(b.Z[rows])
        covs.append(np.diag(sd) @ R @ np.diag(sd))
    Z = np.concatenate(Zs, axis=1)
    from scipy.linalg import block_diag
    V = np.diag(np.broadcast_to(noise_sd(spec, post)[s] ** 2, eta.shape)[rows]) + \
        Z @ block_diag(*covs) @ Z.T
    return stats.multivariate_normal(eta[rows], V).logpdf(spec.design.y[rows])


def test_group_marginal_likelihood_matches_dense_algebra(pooling) -> None:
    f = pooling.fits["partial pooling"]
    ll = group_marginal_loglik(f, "county")
    for s, j in [((0, 5), 3), ((2, 700), 40), ((3, 999), 84)]:
        assert ll[s + (j,)] == pytest.approx(_dense(f, "county", s, j), abs=1e-9)
    # two uncorrelated blocks of one factor, a crossed factor kept at its draws, known se
    rng = np.random.default_rng(0)
    g, h = rng.integers(0, 6, 60), rng.integers(0, 4, 60)
    x = rng.normal(size=60)
    d = pd.DataFrame({"y": x + rng.normal(0, 1, 6)[g] + rng.normal(0, 1, 4)[h]
                      + rng.normal(size=60), "x": x, "g": g, "h": h,
                      "s": rng.uniform(0.5, 1, 60)})
    f2 = hbr.fit("y | se(s, sigma=True) ~ x + (x || g) + (1 | h)", d, seed=1, chains=2,
                 draws=50, tune=200)
    ll2 = group_marginal_loglik(f2, "g")
    for s, j in [((0, 1), 0), ((1, 40), 5)]:
        assert ll2[s + (j,)] == pytest.approx(_dense(f2, "g", s, j), abs=1e-9)
    # three correlated coefficients: the batched Cholesky branch of the Woodbury algebra
    d["z"] = rng.normal(size=60)
    f3 = hbr.fit("y ~ x + (1 + x + z | g)", d, seed=2, chains=2, draws=50, tune=200)
    ll3 = group_marginal_loglik(f3, "g")
    for s, j in [((0, 7), 1), ((1, 33), 4)]:
        assert ll3[s + (j,)] == pytest.approx(_dense(f3, "g", s, j), abs=1e-9)


def test_compare_accepts_fits_and_checks_input(mn: pd.DataFrame, pooling) -> None:
    c = compare(None, {"a": pooling.fits["partial pooling"],
                       "b": pooling.fits["complete pooling"]})
    assert list(c.table.index) == ["a", "b"]
    assert c.table.elpd_loo["a"] == pooling.table.elpd_loo["partial pooling"]
    with pytest.raises(OptionError, match="needs group="):
        compare(mn, "log_radon ~ floor")
    with pytest.raises(OptionError, match="cv='kfold'"):
        compare(mn, "log_radon ~ floor", group="county", cv="kfold")
    with pytest.raises(OptionError, match="different numbers of rows"):
        compare(mn.iloc[:400], ["log_radon ~ floor", pooling.fits["complete pooling"]],
                chains=1, draws=100, tune=100)
