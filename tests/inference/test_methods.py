"""The other engines (issue 7): Metropolis, ADVI, Pathfinder, MAP and Laplace against NUTS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.checks.diagnostics import pareto_k

FORMULA = "log_radon ~ floor + (1 | county)"  # Minnesota varying intercepts


@pytest.fixture(scope="module")
def nuts_ref(mn: pd.DataFrame) -> hbr.Fit:
    return hbr.fit(FORMULA, mn, seed=3)


# stated tolerance for the approximations: every posterior mean (4 hyperparameters and
# 85 county effects) within a quarter of NUTS's posterior sd. Measured on this model:
# max 0.05 (ADVI), 0.05 (full-rank), 0.11 (Pathfinder), 0.07 (Laplace), 0.08 (MAP).
APPROX_TOL = 0.25


@pytest.mark.parametrize("method", ["advi", "fullrank_advi", "pathfinder", "laplace", "map"])
def test_approximations_match_nuts_means(method: str, mn: pd.DataFrame,
                                         nuts_ref: hbr.Fit) -> None:
    fit = hbr.fit(FORMULA, mn, seed=4, method=method)
    ref, got = nuts_ref.summary(), fit.summary()
    assert list(got.index) == list(ref.index)  # the same layout as NUTS
    err = ((got["mean"] - ref["mean"]) / ref["sd"]).abs()
    assert err.max() < APPROX_TOL, err.sort_values().tail(3)
    d = fit.diagnostics()
    assert d.method == method and fit.idata.posterior.attrs["method"] == method
    assert "{" in fit.idata.posterior.attrs["method_settings"]  # JSON of the settings
    if method == "map":
        assert fit.posterior.sizes["draw"] == 1 and "point estimate" in str(d)
    else:
        assert fit.posterior.sizes["chain"] == 4 and fit.posterior.sizes["draw"] == 1000
        # close to the posterior here, and its diagnostic says so
        assert 0 <= d.pareto_k < 0.7 and d.ok, str(d)
        sd_ratio = got["sd"] / ref["sd"]
        assert sd_ratio.between(0.7, 1.3).all(), sd_ratio.sort_values()


def test_metropolis_matches_nuts_within_mcse(mn: pd.DataFrame, nuts_ref: hbr.Fit) -> None:
    fit = hbr.fit(FORMULA, mn, seed=5, method="metropolis", draws=5000, tune=2000)
    ref, got = nuts_ref.summary(), fit.summary()
    z = (got["mean"] - ref["mean"]).abs() / np.hypot(got["mcse_mean"], ref["mcse_mean"])
    assert z.max() < 4, z.sort_values().tail(3)  # 89 comparisons
    d = fit.diagnostics()
    acc = fit.idata.sample_stats["acceptance_rate"].values.mean()
    assert 0.15 < acc < 0.35  # adapted towards 0.234
    # honest diagnostics: far fewer effective draws per draw than NUTS
    assert d.min_ess_bulk / 20000 < nuts_ref.diagnostics().min_ess_bulk / 4000
    assert "divergences" in str(d) and d.divergences == 0


def test_metropolis_recovers_seed_003(mn: pd.DataFrame) -> None:
    """Seed 003's fake data: y = a + b_i x_i with b_i ~ N(mu_b, sigma_b), one slope per
    point; a, mu_b and sigma_b fall inside their 94% HDIs."""
    rng = np.random.default_rng(2)
    n, a, mu_b, sigma_b = 100, 2.0, 2.0, 1.0
    x = rng.uniform(0, 10, n)
    data = pd.DataFrame({"y": a + rng.normal(mu_b, sigma_b, n) * x, "x": x,
                         "obs": np.arange(n)})
    fit = hbr.fit("y ~ x + (0 + x | obs)", data, seed=1, method="metropolis", draws=10_000,
                  tune=5000, thin=2)
    s = fit.summary(group_effects=False)
    for name, true in (("Intercept", a), ("x", mu_b), ("x|obs_sigma", sigma_b)):
        assert s.loc[name, "hdi_3%"] < true < s.loc[name, "hdi_97%"], (name, s.loc[name])
    assert fit.idata.posterior.attrs["thin"] == 2
    d = fit.diagnostics()
    assert np.isfinite(d.max_rhat) and np.isfinite(d.min_ess_bulk)


def test_vi_reports_its_elbo_trace(mn: pd.DataFrame) -> None:
    fit = hbr.fit(FORMULA, mn, seed=6, method="advi", vi_steps=2000, draws=200)
    elbo = fit.info["elbo"]
    assert elbo.shape == (2000,) and np.isfinite(elbo).all()
    assert elbo[-200:].mean() > elbo[:10].mean() + 5  # it climbed from the start point
    assert abs(elbo[-200:].mean() - elbo[-400:-200].mean()) < 1  # and levelled off
    assert fit.idata.posterior.attrs["elbo_final"] == pytest.approx(elbo[-100:].mean())
    pf = hbr.fit(FORMULA, mn, seed=6, method="pathfinder", draws=100)
    assert pf.info["elbo"].shape == (4,) and np.isfinite(pf.info["elbo"]).all()


@pytest.mark.parametrize("init", ["map", "pathfinder"])
def test_nuts_init_from_an_approximation(init: str, mn: pd.DataFrame,
                                         nuts_ref: hbr.Fit) -> None:
    fit = hbr.fit(FORMULA, mn, seed=7, init=init)
    d = fit.diagnostics()
    assert d.ok, str(d)
    ref, got = nuts_ref.summary(), fit.summary()
    z = (got["mean"] - ref["mean"]).abs() / np.hypot(got["mcse_mean"], ref["mcse_mean"])
    assert z.max() < 4, z.sort_values().tail(3)
    assert fit.idata.posterior.attrs["init"] == init


@pytest.mark.parametrize("method", ["nuts", "metropolis", "advi", "fullrank_advi",
                                    "pathfinder", "laplace"])
def test_every_method_honours_the_seed(method: str, mn: pd.DataFrame) -> None:
    kw = dict(method=method, draws=50, tune=50, vi_steps=300)
    a = hbr.fit(FORMULA, mn, seed=8, **kw).posterior["1|county"].values
    b = hbr.fit(FORMULA, mn, seed=8, **kw).posterior["1|county"].values
    c = hbr.fit(FORMULA, mn, seed=9, **kw).posterior["1|county"].values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_map_effects_are_the_exact_conditional_mean(mn: pd.DataFrame) -> None:
    """At the MAP hyperparameters, the county effects equal the Gaussian conditional mean
    (Z'Z/s^2 + I/tau^2)^{-1} Z'(y - X beta)/s^2, computed densely."""
    fit = hbr.fit(FORMULA, mn, seed=1, method="map")
    p = {k: float(fit.posterior[k].values.ravel()[0])
         for k in ("Intercept", "floor", "sigma", "1|county_sigma")}
    levels = list(fit.posterior["county__factor_dim"].values)
    county = np.asarray(mn.county, dtype=str)
    Z = (county[:, None] == np.array(levels, dtype=str)[None, :]).astype(float)
    r = mn.log_radon.values - p["Intercept"] - p["floor"] * mn.floor.values
    A = Z.T @ Z / p["sigma"] ** 2 + np.eye(len(levels)) / p["1|county_sigma"] ** 2
    want = np.linalg.solve(A, Z.T @ r / p["sigma"] ** 2)
    np.testing.assert_allclose(fit.posterior["1|county"].values.ravel(), want, rtol=1e-8,
                               atol=1e-10)


def test_pareto_k_separates_good_and_bad_approximations() -> None:
    """Importance weights of q = N(0, s^2) for p = N(0, 1): s = 1 is exact (k near 0);
    s = 0.5 has weights of infinite variance (k > 0.5; about 0.75 in theory)."""
    rng = np.random.default_rng(0)
    for s, lo, hi in ((1.0, -np.inf, 0.3), (1.2, -np.inf, 0.5), (0.5, 0.6, np.inf)):
        x = rng.normal(0, s, 4000)
        lw = -0.5 * x**2 + 0.5 * (x / s) ** 2 + np.log(s)
        assert lo < pareto_k(lw) < hi, (s, pareto_k(lw))


def test_bad_method_options(mn: pd.DataFrame) -> None:
    with pytest.raises(hbr.OptionError, match="method='gibbs' is not available"):
        hbr.fit(FORMULA, mn, method="gibbs")
    with pytest.raises(hbr.OptionError, match="init is for method='nuts'"):
        hbr.fit(FORMULA, mn, method="advi", init="map")
    with pytest.raises(hbr.OptionError, match="init='advi2' is not available"):
        hbr.fit(FORMULA, mn, init="advi2")
    with pytest.raises(hbr.OptionError, match="thin must be an integer >= 1"):
        hbr.fit(FORMULA, mn, method="metropolis", thin=0)
