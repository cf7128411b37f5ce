"""Prediction for new rows and the prior predictive.

- New rows are coded as the training rows were (levels, ``scale()`` means and sds), so
  predicting the training table reproduces the fitted linear predictor exactly.
- An unseen county's prediction averages to the population prediction, within Monte Carlo
  error, and its drawn effects have the population's variance and covariance.
- The prior draws follow their priors (Kolmogorov-Smirnov), and the prior predictive variance
  is the sum of the variance components.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
from hbr.errors import DataError, OptionError
from hbr.posterior.predictive import linear_predictor, summarize_predictions


def _table(seed: int = 0, groups: int = 12, per: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(3.0, 2.0, g.size)
    c = rng.choice(["lo", "mid", "hi"], g.size)
    b0, b1 = rng.normal(0, 0.8, groups), rng.normal(0, 0.3, groups)
    y = 1.0 + 0.5 * x + (c == "hi") + b0[g] + b1[g] * x + rng.normal(0, 0.5, g.size)
    return pd.DataFrame({"y": y, "x": x, "c": c, "g": [f"g{j}" for j in g]})


@pytest.fixture(scope="module")
def fitted() -> hbr.Fit:
    return hbr.fit("y ~ scale(x) + C(c) + (x | g)", _table(), seed=2, chains=2, draws=1000,
                   tune=500)


def test_the_training_table_reproduces_the_fitted_predictor(fitted: hbr.Fit) -> None:
    d = _table()
    eta = linear_predictor(fitted.spec, fitted.draws.posterior)
    shuffled = d.sample(frac=1.0, random_state=1)  # row order and index do not matter
    pred = fitted.predict(shuffled, kind="link")
    np.testing.assert_allclose(pred, eta[..., shuffled.index.to_numpy()], rtol=0, atol=1e-12)
    # one row on its own: scale() uses the training mean and sd, not this row's
    one = fitted.predict(d.iloc[[7]].drop(columns="y"), kind="mean")
    np.testing.assert_allclose(one[..., 0], eta[..., 7], atol=1e-12)


def test_an_unseen_group_averages_to_the_population_prediction(fitted: hbr.Fit) -> None:
    post = fitted.draws.posterior
    new = pd.DataFrame({"x": [3.0, 6.0], "c": ["lo", "hi"], "g": ["new", "new"]})
    pop = fitted.predict(new, new_groups="mean")
    mean, sd = fitted.spec.design.memo["scale:x"]  # of the training x
    z = (new.x.to_numpy() - mean) / sd
    want = (post["Intercept"][..., None] + post["scale(x)"][..., None] * z
            + post["C(c)"][..., 0][..., None] * (new.c.to_numpy() == "lo"))
    # treatment coding: levels sorted (hi, lo, mid), so C(c) holds lo and mid against hi
    assert fitted.spec.design.terms[2].labels == ("lo", "mid")
    np.testing.assert_allclose(pop, want, atol=1e-12)
    drawn = fitted.predict(new, new_groups="sample", seed=4)
    diff = (drawn - pop).reshape(-1, 2)  # the new county's effect b0 + b1 x, per draw
    S = diff.shape[0]
    assert np.all(np.abs(diff.mean(0)) < 4 * diff.std(0) / np.sqrt(S))
    # its variance per draw is s0^2 + 2 rho s0 s1 x + s1^2 x^2
    s0, s1 = post["1|g_sigma"].ravel(), post["x|g_sigma"].ravel()
    rho = post["g_corr"][..., 0, 1].ravel()
    for j, x in enumerate(new.x):
        dev = diff[:, j] ** 2 - (s0**2 + 2 * rho * s0 * s1 * x + s1**2 * x**2)
        assert abs(dev.mean()) < 4 * dev.std() / np.sqrt(S), (j, dev.mean())
    # both rows share one county: one effect per draw, not one per row
    b1 = (diff[:, 1] - diff[:, 0]) / 3.0
    dev = b1**2 - s1**2
    assert abs(dev.mean()) < 4 * dev.std() / np.sqrt(S)
    # a seen group keeps its own effect whatever new_groups says
    seen = new.assign(g="g3")
    np.testing.assert_array_equal(fitted.predict(seen, new_groups="sample"),
                                  fitted.predict(seen, new_groups="mean"))


def test_responses_add_the_noise_and_are_seeded(fitted: hbr.Fit) -> None:
    new = pd.DataFrame({"x": [3.0], "c": ["lo"], "g": ["g0"]})
    mean = fitted.predict(new)
    resp = fitted.predict(new, kind="response", seed=1)
    np.testing.assert_array_equal(resp, fitted.predict(new, kind="response", seed=1))
    dev = ((resp - mean) ** 2 - fitted.draws.posterior["sigma"][..., None]**2).ravel()
    assert abs(dev.mean()) < 4 * dev.std() / np.sqrt(dev.size)
    table = summarize_predictions(resp)
    assert list(table.columns) == ["mean", "sd", "q3%", "q97%"] and len(table) == 1


def test_bad_new_data_is_named(fitted: hbr.Fit) -> None:
    with pytest.raises(DataError, match=r"'C\(c\)' has a level \('top'\) .*group term"):
        fitted.predict(pd.DataFrame({"x": [1.0], "c": ["top"], "g": ["g1"]}))
    with pytest.raises(DataError, match="lacks the column.*'g'"):
        fitted.predict(pd.DataFrame({"x": [1.0], "c": ["lo"]}))
    with pytest.raises(DataError, match="'x' .*missing values"):
        fitted.predict(pd.DataFrame({"x": [np.nan], "c": ["lo"], "g": ["g1"]}))
    with pytest.raises(OptionError, match="kind='median'"):
        fitted.predict(_table(), kind="median")


def test_binomial_mean_is_probability_times_trials() -> None:
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(8), 10)
    n = rng.integers(1, 10, g.size)
    d = pd.DataFrame({"k": rng.binomial(n, 0.4), "n": n, "g": g.astype(str)})
    f = hbr.fit("k | trials(n) ~ 1 + (1 | g)", d, family="binomial", seed=1, chains=1,
                draws=100, tune=200)
    new = pd.DataFrame({"n": [1, 20], "g": ["0", "0"]})
    m = f.predict(new)
    np.testing.assert_allclose(m[..., 1], 20 * m[..., 0])
    assert np.all((m[..., 0] > 0) & (m[..., 0] < 1))


def test_prior_draws_follow_the_priors() -> None:
    d = _table(seed=1)
    f = hbr.fit("y ~ x + (x | g)", d, seed=1, chains=1, draws=50, tune=50,
                priors={"1|g_sigma": "HalfNormal(0.5)", "sigma": "Exponential(2)",
                        "Intercept": "Normal(1, 2)", "x": "Normal(0, 0.1)", "g_corr": "LKJ(2)",
                        "x|g_sigma": "HalfNormal(0.1)"})
    rep = f.sample_prior_predictive(draws=4000, seed=5)
    prior = f.idata.prior
    ks = [stats.kstest(prior["1|g_sigma"].values.ravel(), stats.halfnorm(scale=0.5).cdf),
          stats.kstest(prior["sigma"].values.ravel(), stats.expon(scale=0.5).cdf),
          stats.kstest(prior["Intercept"].values.ravel(), stats.norm(1, 2).cdf),
          # LKJ(2) in 2-d: (r + 1)/2 ~ Beta(2, 2)
          stats.kstest((prior["g_corr"].values[..., 0, 1].ravel() + 1) / 2,
                       stats.beta(2, 2).cdf)]
    assert min(k.pvalue for k in ks) > 1e-3, ks
    # group effects from the population of each draw: b0 has variance E[s0^2] = 0.25
    b0 = prior["1|g"].values.reshape(-1)
    dev = b0**2 - np.repeat(prior["1|g_sigma"].values.ravel(), 12) ** 2
    assert abs(dev.mean()) < 5 * dev.std() / np.sqrt(dev.size)
    # y_i = a + b x_i + b0 + b1 x_i + e: its mean is 1 and its variance is the sum of parts
    x = d.x.to_numpy()
    v = 4 + 0.01 * x**2 + 0.25 + 0.01 * x**2 + 2 * 0.25  # Var e = E[sigma^2] = 2 / lam^2
    yy = rep[0]  # (draws, N)
    z = (yy - 1.0) ** 2 / v
    assert rep.shape == (1, 4000, len(d)) and "prior_predictive" in f.idata.groups()
    assert abs(z.mean() - 1) < 5 * z.mean(1).std() / np.sqrt(4000)
