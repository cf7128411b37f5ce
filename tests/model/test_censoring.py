"""Censored rows, brms's ``y | cens(c)`` and ``cens(c, y2)``: each censored row's likelihood
against SciPy's distribution functions, recovery of a survival model whose rows are
right-censored (with the negative control that ignoring the censoring is biased), the
Gaussian family leaving the marginal path for the sampled one, and the bad inputs."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import gamma as gamma_fn

import hbr
from hbr.checks.loo import row_loglik
from hbr.density.likelihoods import LOGLIK, row_arrays
from hbr.design.newdata import training_rows
from hbr.design.build import build_design
from hbr.errors import DataError, FormulaError, OptionError
from hbr.model.families import CENSORABLE, simulate_response

AUX = {"sigma": 0.7, "shape": 1.7}


def _scipy_dist(family: str, eta: np.ndarray):
    mu = eta if family == "gaussian" else np.exp(eta)
    k = AUX["shape"]
    return {"gaussian": stats.norm(mu, AUX["sigma"]),
            "lognormal": stats.lognorm(AUX["sigma"], scale=np.exp(eta)),
            "exponential": stats.expon(scale=mu),
            "weibull": stats.weibull_min(k, scale=mu / gamma_fn(1 + 1 / k)),
            "gamma": stats.gamma(k, scale=mu / k)}[family]


@pytest.mark.parametrize("family", CENSORABLE)
def test_censored_rows_have_the_probability_of_what_was_seen(family: str) -> None:
    """log f(y) (0), log F(y) (-1), log S(y) (1) and log(F(y2) - F(y)) (2), to 1e-9, with
    rows far in both tails; and a row without cens() keeps the density."""
    rng = np.random.default_rng(1)
    n = 80
    link = "identity" if family in ("gaussian", "lognormal") else "log"
    eta = rng.normal(0.3, 1.0, n)
    y = simulate_response(family, link, eta, AUX, rng)
    c = np.tile([-1.0, 0.0, 1.0, 2.0], n // 4)
    y2 = np.where(family == "gaussian", y + 0.5, y * 1.7)
    d = pd.DataFrame({"y": y, "c": c, "y2": y2})
    design = build_design("y | cens(c, y2) ~ 1", d)
    dist = _scipy_dist(family, eta)
    want = np.select([c == -1, c == 0, c == 1],
                     [dist.logcdf(y), dist.logpdf(y), dist.logsf(y)],
                     np.log(dist.cdf(y2) - dist.cdf(y)))
    with jax.enable_x64(True):
        got = np.asarray(LOGLIK[(family, link)](y, eta, AUX, row_arrays(design)))
        plain = np.asarray(LOGLIK[(family, link)](y, eta, AUX, {}))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(plain, dist.logpdf(y), rtol=1e-9, atol=1e-9)
    assert np.isfinite(got).all()


def _survival(seed: int = 7) -> tuple[pd.DataFrame, dict[str, float]]:
    """Weibull times, a third of them right-censored at a random follow-up time."""
    rng = np.random.default_rng(seed)
    J = 40
    g = np.repeat(np.arange(J), 25)
    x = rng.normal(size=g.size)
    truth = {"Intercept": 1.0, "x": 0.5, "1|g_sigma": 0.4, "shape": 1.8}
    eta = truth["Intercept"] + truth["x"] * x + rng.normal(0, truth["1|g_sigma"], J)[g]
    t = simulate_response("weibull", "log", eta, truth, rng)
    follow_up = rng.uniform(1.0, 6.0, g.size)
    return pd.DataFrame({"time": np.minimum(t, follow_up), "c": (t > follow_up).astype(float),
                         "x": x, "g": [f"g{i:02d}" for i in g]}), truth


def test_right_censored_survival_is_recovered_and_ignoring_censoring_is_not() -> None:
    d, truth = _survival()
    assert 0.25 < d["c"].mean() < 0.45
    fit = hbr.fit("time | cens(c) ~ x + (1 | g)", d, family="weibull", seed=1,
                  log_likelihood=True)
    assert fit.parameterization == "auto"
    diag = fit.diagnostics()
    assert diag.divergences == 0 and diag.max_rhat < 1.01, diag
    s = fit.summary(group_effects=False)
    for name, true in truth.items():
        assert abs(s.loc[name, "mean"] - true) < 4 * s.loc[name, "sd"], (name, s.loc[name])
    # the pointwise log likelihood the sampler kept (LOO reads it) is the censored one, as
    # the NumPy-side recomputation from the draws (streamed LOO, R²) has it
    post = {k: np.asarray(v) for k, v in fit.draws.posterior.items()}
    again = row_loglik(fit.spec, post, training_rows(fit.spec.design), d["time"].to_numpy())
    np.testing.assert_allclose(fit.draws.log_lik, again, rtol=1e-6, atol=1e-6)
    cens = d["c"].to_numpy() == 1
    i = int(np.flatnonzero(cens)[0])
    k, mu = post["shape"], np.exp(fit.predict(d.iloc[[i]], kind="link")[..., 0])
    sf = stats.weibull_min.logsf(d["time"].iloc[i], k, scale=mu / gamma_fn(1 + 1 / k))
    np.testing.assert_allclose(fit.draws.log_lik[..., i], sf, rtol=1e-6)
    assert np.isfinite(fit.loo().elpd)
    # negative control: the censored times read as event times pull the mean time down
    naive = hbr.fit("time ~ x + (1 | g)", d, family="weibull", seed=1).summary(
        group_effects=False)
    assert abs(naive.loc["Intercept", "mean"] - truth["Intercept"]) > 4 * naive.loc[
        "Intercept", "sd"]


def test_censored_gaussian_samples_its_effects() -> None:
    """A censored row's likelihood is not Gaussian in the effects: the default leaves the
    marginal path for 'auto' and recovers the truth; asking for 'marginal' is an error."""
    rng = np.random.default_rng(3)
    J = 30
    g = np.repeat(np.arange(J), 20)
    x = rng.normal(size=g.size)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.4, J)[g] + rng.normal(0, 0.5, g.size)
    d = pd.DataFrame({"y": np.minimum(y, 1.5), "c": (y > 1.5).astype(float), "x": x,
                      "g": [f"g{i}" for i in g]})
    fit = hbr.fit("y | cens(c) ~ x + (1 | g)", d, seed=1, log_likelihood=False)
    assert fit.parameterization == "auto"
    s = fit.summary(group_effects=False)
    for name, true in {"Intercept": 1.0, "x": 0.5, "sigma": 0.5, "1|g_sigma": 0.4}.items():
        assert abs(s.loc[name, "mean"] - true) < 4 * s.loc[name, "sd"], (name, s.loc[name])
    with pytest.raises(OptionError, match="needs every row observed"):
        hbr.fit("y | cens(c) ~ x + (1 | g)", d, parameterization="marginal", seed=1)


@pytest.mark.parametrize("formula,family,change,match", [
    ("y | cens(c) ~ x", "weibull", {"c": 3.0}, r"codes must be -1 \(left\).*is 3 in row"),
    ("y | cens(c) ~ x", "weibull", {"c": 2.0}, r"interval-censored .* no upper end"),
    ("y | cens(c, y2) ~ x", "weibull", {"c": 2.0, "y2": 0.1}, r"needs y2 above 'y'"),
    ("y | cens(c) ~ x", "poisson", {"y": 2.0}, r"cens\(\) needs a family .* not 'poisson'"),
])
def test_bad_censoring_is_refused_with_the_fix(formula, family, change, match) -> None:
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 2.0, 1.0], "x": [0.1, 0.5, 0.3, 0.9, 0.2, 0.7],
                      "c": 0.0, "y2": 5.0})
    for col, v in change.items():
        d.loc[2, col] = v
    with pytest.raises(DataError, match=match):
        hbr.fit(formula, d, family=family)


def test_cens_syntax_errors() -> None:
    d = pd.DataFrame({"y": [1.0, 2.0], "c": 0.0})
    with pytest.raises(FormulaError, match=r"cens\(\) takes the censoring column"):
        hbr.fit("y | cens(c, y, y) ~ 1", d)
    with pytest.raises(FormulaError, match=r"cens\(c\) or cens\(c, y2\)"):
        hbr.fit("y | censored(c) ~ 1", d)


# ------------------------------------------------------------------------- truncation
@pytest.mark.parametrize("family", CENSORABLE)
def test_truncated_rows_are_renormalised_between_their_bounds(family: str) -> None:
    """log f(y) - log(F(ub) - F(lb)) to 1e-9 with rows bounded below, above, on both sides
    (lb = 0 for a positive family: no bound); the closed-form truncated mean against
    quadrature, and the truncated draws inside their bounds with that mean."""
    rng = np.random.default_rng(4)
    n = 60
    link = "identity" if family in ("gaussian", "lognormal") else "log"
    eta = rng.normal(0.3, 0.5, n)
    dist = _scipy_dist(family, eta)
    lo, hi = dist.ppf(0.2), dist.ppf(0.9)
    lb = np.where(np.arange(n) % 3 == 1, -np.inf if family == "gaussian" else 0.0, lo)
    ub = np.where(np.arange(n) % 3 == 0, np.inf, hi)
    y = dist.ppf(rng.uniform(dist.cdf(lb), dist.cdf(ub)))
    d = pd.DataFrame({"y": y, "lb": np.where(np.isinf(lb), -1e300, lb),
                      "ub": np.where(np.isinf(ub), 1e300, ub)})
    design = build_design("y | trunc(lb = lb, ub = ub) ~ 1", d)
    want = dist.logpdf(y) - np.log(dist.cdf(d["ub"]) - dist.cdf(d["lb"]))
    with jax.enable_x64(True):
        got = np.asarray(LOGLIK[(family, link)](y, eta, AUX, row_arrays(design)))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    from scipy.integrate import quad

    from hbr.model.truncation import truncated_draws, truncated_mean
    mu = eta if link == "identity" else np.exp(eta)  # the inverse link (log y's for lognormal)
    m = truncated_mean(family, mu[:6], AUX, lb[:6], ub[:6])
    for i in range(6):
        dist_i = _scipy_dist(family, eta[i:i + 1])
        num = quad(lambda v: v * dist_i.pdf(v)[0], max(lb[i], -50.0), min(ub[i], 200.0),
                   limit=200)[0]
        assert m[i] == pytest.approx(num / (dist_i.cdf(ub[i]) - dist_i.cdf(lb[i]))[0],
                                     rel=1e-6)
    draws = truncated_draws(family, np.full(20_000, mu[0]), AUX, rng, lb[0], ub[0])
    assert draws.min() >= lb[0] and draws.max() <= ub[0]
    assert abs(draws.mean() - m[0]) < 5 * draws.std() / np.sqrt(draws.size)


def test_truncated_gaussian_is_recovered_and_ignoring_truncation_is_not() -> None:
    """Rows of y ~ N(eta, 0.6) kept only where y > 0 (y | trunc(lb = 0)): the truncated fit
    recovers the truth, samples its effects ('auto'), and predicts E[y | y > 0]; the naive
    fit's intercept is off by more than 4 sd."""
    rng = np.random.default_rng(5)
    J, per = 30, 40
    g = np.repeat(np.arange(J), per)
    x = rng.normal(size=g.size)
    truth = {"Intercept": 0.3, "x": 0.6, "sigma": 0.6, "1|g_sigma": 0.3}
    eta = truth["Intercept"] + truth["x"] * x + rng.normal(0, truth["1|g_sigma"], J)[g]
    y = eta + truth["sigma"] * rng.standard_normal(g.size)
    keep = y > 0
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})[keep]
    fit = hbr.fit("y | trunc(lb = 0) ~ x + (1 | g)", d, seed=1, log_likelihood=False)
    assert fit.parameterization == "auto"
    assert fit.diagnostics().divergences == 0
    s = fit.summary(group_effects=False)
    for name, true in truth.items():
        assert abs(s.loc[name, "mean"] - true) < 4 * s.loc[name, "sd"], (name, s.loc[name])
    m = fit.predict(d.head(5), kind="mean").mean(axis=(0, 1))
    r = fit.predict(d.head(5), kind="response", seed=2)
    assert r.min() >= 0
    np.testing.assert_allclose(r.mean(axis=(0, 1)), m, atol=0.05)
    naive = hbr.fit("y ~ x + (1 | g)", d, seed=1).summary(group_effects=False)
    assert abs(naive.loc["Intercept", "mean"] - truth["Intercept"]) > 4 * naive.loc[
        "Intercept", "sd"]


@pytest.mark.parametrize("formula,family,change,match", [
    ("y | trunc(lb = 1.5) ~ x", "gaussian", {}, r"outside its truncation bounds in 2 row"),
    ("y | trunc(lb = 5, ub = 2) ~ x", "gaussian", {}, r"needs lb below ub"),
    ("y | trunc(ub = 10) ~ x", "poisson", {"y": 2.0}, r"trunc\(\) needs a family"),
])
def test_bad_truncation_is_refused_with_the_fix(formula, family, change, match) -> None:
    d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 2.0, 1.0], "x": [0.1, 0.5, 0.3, 0.9, 0.2, 0.7]})
    for col, v in change.items():
        d.loc[2, col] = v
    with pytest.raises(DataError, match=match):
        hbr.fit(formula, d, family=family)
    with pytest.raises(FormulaError, match=r"trunc\(\) takes the bounds"):
        hbr.fit("y | trunc(lo = 0) ~ x", d)
