"""The ordinal ``cumulative`` family (brms's): thresholds ``Intercept[1..K-1]`` in place of the
intercept, :math:`P(y \\le k) = F(\\tau_k - \\eta)` with the logistic or normal F.

Two implementations agree (the JAX log likelihood against the NumPy category probabilities
and SciPy's distribution functions, to rounding, out to eta = +-40 where a naive difference
of CDFs is 0); a simulated truth is recovered and ignoring the order is not (a negative
control); bad responses are named with the fix."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
from hbr.density.likelihoods import LOGLIK
from hbr.errors import DataError
from hbr.model.ordinal import ordinal_draws, ordinal_mean, ordinal_probabilities


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_log_likelihood_is_the_log_of_the_category_probabilities(link) -> None:
    tau = np.array([-2.0, -0.5, 0.3, 2.5])
    eta = np.linspace(-6, 6, 25)
    F = stats.logistic.cdf if link == "logit" else stats.norm.cdf
    probs = ordinal_probabilities(link, eta, tau)
    cum = np.concatenate([np.zeros((25, 1)), F(tau - eta[:, None]), np.ones((25, 1))], axis=1)
    np.testing.assert_allclose(probs, np.diff(cum, axis=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ordinal_mean(link, eta, tau), probs @ np.arange(1, 6), rtol=1e-12)
    # the reference without cancellation: F(b) - F(a) below the median, S(a) - S(b) above
    S = stats.logistic.sf if link == "logit" else stats.norm.sf
    edges = np.concatenate([[-np.inf], tau, [np.inf]])
    with jax.enable_x64(True):
        for k in range(1, 6):
            a, b = edges[k - 1] - eta, edges[k] - eta
            ref = np.where(a + b < 0, F(b) - F(a), S(a) - S(b))
            ll = np.asarray(LOGLIK[("cumulative", link)](np.full(25, float(k)), eta,
                                                         {"Intercept": tau}, {}))
            np.testing.assert_allclose(ll, np.log(ref), rtol=1e-10)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_far_tails_stay_finite_and_accurate(link) -> None:
    """At eta = 40 the first categories' probabilities are below 1e-17 (logit) and their
    CDF differences round to 0 in float64; the log likelihood is still the exact log
    (SciPy's logsf / logcdf of each side), and its gradient is finite."""
    tau = np.array([-1.0, 0.0, 1.0])
    d = stats.logistic if link == "logit" else stats.norm
    ll_fn = LOGLIK[("cumulative", link)]
    with jax.enable_x64(True):
        for eta, k in [(40.0, 2), (-40.0, 3), (40.0, 1), (-40.0, 4)]:
            got = float(ll_fn(jnp_array([float(k)]), jnp_array([eta]), {"Intercept": tau}, {})[0])
            lo = tau[k - 2] if k > 1 else -np.inf
            hi = tau[k - 1] if k < 4 else np.inf
            if eta > 0:  # both ends far in the lower tail of tau - eta: log(F(b) - F(a))
                want = d.logcdf(hi - eta) + np.log1p(-np.exp(d.logcdf(lo - eta) - d.logcdf(hi - eta)))
            else:  # far in the upper tail: log(S(a) - S(b))
                want = d.logsf(lo - eta) + np.log1p(-np.exp(d.logsf(hi - eta) - d.logsf(lo - eta)))
            np.testing.assert_allclose(got, want, rtol=1e-8)
            g = jax.grad(lambda e, t: ll_fn(jnp_array([float(k)]), e, {"Intercept": t}, {})[0],
                         argnums=(0, 1))(jnp_array([eta]), jnp_array(tau))
            assert all(np.all(np.isfinite(np.asarray(x))) for x in g)


def jnp_array(x):
    import jax.numpy as jnp
    return jnp.asarray(x, dtype=jnp.float64)


def _ordinal_table(seed: int, n: int = 500, J: int = 15) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, J, n)
    x = rng.normal(size=n)
    truth = {"x": 0.9, "tau": np.array([-1.2, 0.0, 1.1]), "sd": 0.6}
    b = rng.normal(0, truth["sd"], J)
    b = b - b.mean()  # the thresholds absorb the effects' mean
    y = ordinal_draws("logit", truth["x"] * x + b[g], truth["tau"], rng)
    return pd.DataFrame({"rating": y, "x": x, "g": [f"g{i}" for i in g]}), truth


def test_cumulative_recovers_a_simulated_truth_and_names_like_brms() -> None:
    d, truth = _ordinal_table(3)
    fit = hbr.fit("rating ~ x + (1 | g)", d, family="cumulative", seed=2, chains=2, draws=800)
    s = fit.summary()
    names = ["Intercept[1]", "Intercept[2]", "Intercept[3]"]
    assert all(n in s.index for n in names) and "Intercept" not in s.index
    for n, t in zip(names, truth["tau"]):
        assert abs(s.loc[n, "mean"] - t) < 3 * s.loc[n, "sd"], n
    assert abs(s.loc["x", "mean"] - truth["x"]) < 3 * s.loc["x", "sd"]
    assert abs(s.loc["1|g_sigma", "mean"] - truth["sd"]) < 3 * s.loc["1|g_sigma", "sd"]
    assert np.all(np.diff(np.asarray(fit.posterior["Intercept"]), axis=-1) > 0)  # ordered
    assert fit.diagnostics().divergences == 0
    blocks = str(fit)
    assert blocks.index("Intercept[1]") < blocks.index("Group-level effects")
    # the predictive draws are categories; their means the expected category
    yrep = fit.sample_posterior_predictive(seed=1)
    assert set(np.unique(yrep)) <= {1.0, 2.0, 3.0, 4.0}
    share = [(yrep == k).mean() for k in (1, 2, 3, 4)]
    np.testing.assert_allclose(share, [(d.rating == k).mean() for k in (1, 2, 3, 4)], atol=0.03)
    # negative control: the same rows as a Gaussian measurement miss the slope's scale
    gauss = hbr.fit("rating ~ x + (1 | g)", d, seed=2, chains=2, draws=300)
    gx = np.asarray(gauss.posterior["x"]).ravel()
    assert abs(gx.mean() - truth["x"]) > 5 * gx.std()  # its interval excludes the truth


def test_probit_and_no_intercept_formula() -> None:
    """``0 + x`` and ``x`` are the same model (the thresholds are the intercepts), and the
    probit link fits the latent normal's scale."""
    d, _ = _ordinal_table(5, n=300)
    a = hbr.fit("rating ~ x + (1 | g)", d, family="cumulative", link="probit", seed=1,
                chains=1, draws=300, parameterization="noncentered")
    b = hbr.fit("rating ~ 0 + x + (1 | g)", d, family="cumulative", link="probit", seed=1,
                chains=1, draws=300, parameterization="noncentered")
    np.testing.assert_array_equal(np.asarray(a.posterior["x"]), np.asarray(b.posterior["x"]))
    assert 0.35 < float(a.posterior["x"].mean()) < 0.75  # 0.9 / (pi / sqrt 3) = 0.50


@pytest.mark.parametrize("y, match", [
    ([1, 2, 2.5, 3], "categories 1, 2, ..., K \\(whole numbers\\), but it is 2.5"),
    ([0, 1, 2, 3], "shift the column by 1"),
    ([1, 2, 4, 4], "skips category 3 of 1..4"),
    ([1, 1, 1, 1], "one category only"),
])
def test_bad_ordinal_responses_are_refused_with_the_fix(y, match) -> None:
    d = pd.DataFrame({"y": np.resize(np.array(y, float), 12), "x": np.arange(12.0),
                      "g": list("ab") * 6})
    with pytest.raises(DataError, match=match):
        hbr.fit("y ~ x + (1 | g)", d, family="cumulative")
