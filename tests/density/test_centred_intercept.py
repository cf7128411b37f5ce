"""The prior named Intercept is on the intercept at the predictors' means (brms's, rstanarm's
and Bambi's reading), the draws of Intercept are the intercept at x = 0, and the sampler's
intercept coordinate is the centred one: exact algebra against a hand-written log
posterior, the prior predictive, and the geometry a year-valued predictor used to give."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
from hbr.density.build import make_target
from hbr.design.build import build_design
from hbr.inference.mode import find_mode
from hbr.model.spec import build_model
from hbr.posterior.predictive import prior_draws

PRIORS = {"Intercept": "Normal(3, 2)", "year": "Normal(0, 1)", "sigma": "HalfNormal(1)",
          "1|g_sigma": "HalfNormal(1)"}


def _table(seed: int = 0, n: int = 90, J: int = 9) -> pd.DataFrame:
    """A predictor far from 0 (a year), so the two readings of the Intercept's prior differ
    by far more than its scale."""
    rng = np.random.default_rng(seed)
    g = np.arange(n) % J
    year = rng.choice([95.0, 96.0, 97.0], n)
    y = 3 + 0.4 * (year - 96) + rng.normal(0, 0.5, J)[g] + rng.normal(0, 0.8, n)
    return pd.DataFrame({"y": y, "year": year, "g": [f"g{j}" for j in g]})


def _spec(d: pd.DataFrame, priors: dict = PRIORS):
    return build_model(build_design("y ~ year + (1 | g)", d), priors)


def test_the_log_density_prices_the_intercept_at_the_means() -> None:
    """log p(z) minus a hand-written log posterior in the constrained values (Normal(3, 2)
    on b0 + mean(year) b1, the slope's and the sds' priors with their log Jacobians, and the
    dense Gaussian likelihood with the group intercepts integrated out) is the same constant
    at every point (the affine coordinates drop a constant log scale)."""
    d = _table()
    spec = _spec(d)
    xbar = float(d.year.mean())
    np.testing.assert_allclose(spec.intercept_center, [0.0, xbar])
    idx = spec.groups[0].block.index
    Z = np.zeros((len(d), spec.groups[0].block.n_levels))
    Z[np.arange(len(d)), idx] = 1.0
    gaps = []
    with jax.enable_x64(True):
        t = make_target(spec, "marginal", share=False)
        rng = np.random.default_rng(1)
        for _ in range(5):
            z = t.target.initial_point(jax.random.key(0)) + 0.3 * rng.standard_normal(
                t.target.dim)
            lp = float(t.target.logdensity_fn(jnp.asarray(z), t.target.data))
            v = {k: float(np.asarray(a)) for k, a in t.readout.constrain(
                jnp.asarray(z), jax.random.key(0), t.target.data).items()
                 if np.asarray(a).ndim == 0}
            b0, b1, sigma, tau = v["Intercept"], v["year"], v["sigma"], v["1|g_sigma"]
            prior = (stats.norm.logpdf(b0 + xbar * b1, 3, 2) + stats.norm.logpdf(b1, 0, 1)
                     + stats.halfnorm.logpdf(sigma, scale=1) + np.log(sigma)
                     + stats.halfnorm.logpdf(tau, scale=1) + np.log(tau))
            cov = sigma**2 * np.eye(len(d)) + tau**2 * Z @ Z.T
            lik = stats.multivariate_normal(b0 + b1 * d.year.to_numpy(), cov).logpdf(d.y)
            gaps.append(lp - prior - lik)
    assert np.ptp(gaps) < 1e-8, gaps


def test_the_prior_predictive_draws_the_intercept_at_the_means() -> None:
    """Across prior draws, Intercept + mean(year) * year is Normal(3, 2); the Intercept at
    year 0 then spreads ~96 times wider, as the centred reading implies."""
    d = _table()
    params, _ = prior_draws(_spec(d), 4000, seed=3)
    xbar = float(d.year.mean())
    alpha = (params["Intercept"] + xbar * params["year"]).ravel()
    assert abs(alpha.mean() - 3) < 4 * 2 / np.sqrt(4000)
    assert abs(alpha.std() - 2) < 0.1
    assert params["Intercept"].std() == pytest.approx(np.hypot(2, xbar), rel=0.05)


def test_the_intercept_coordinate_is_not_tied_to_the_slope() -> None:
    """At the mode of the marginal target, the sampler's intercept and slope coordinates are
    nearly uncorrelated; with the raw intercept (year in 95-97) they were correlated to
    -0.9999, which a diagonal mass matrix cannot follow (grouseticks with YEAR as a number:
    R-hat up to 2.8 and 150 divergences)."""
    d = _table()
    with jax.enable_x64(True):
        t = make_target(_spec(d), "marginal", share=False).target
        mode = find_mode(t, t.initial_point(jax.random.key(2)))
    assert mode.converged
    cov = np.linalg.inv(mode.hessian)
    corr = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    assert abs(corr) < 0.3, corr


def test_a_fit_reports_the_intercept_at_zero_and_recovers_it() -> None:
    """The draws of Intercept are the intercept at year 0 (3 - 0.4 * 96 = -35.4): the
    posterior mean lies within 4 posterior sds of the truth, and the prior did not pull it
    towards 3."""
    d = _table(4, n=300)
    fit = hbr.fit("y ~ year + (1 | g)", d, priors=PRIORS, seed=2, chains=2, draws=500,
                  tune=500, progress=False)
    s = fit.summary(group_effects=False)
    truth = {"Intercept": 3 - 0.4 * 96, "year": 0.4}
    for name, value in truth.items():
        assert abs(s.loc[name, "mean"] - value) < 4 * s.loc[name, "sd"], (name, s.loc[name])
