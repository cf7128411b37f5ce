"""Families beyond one Gaussian: the family/link table, exact algebra for per-row noise
(known se, sigma ~ (1 | g)), parameter recovery, the eight schools, seed 002's per-ZIP sigma,
seed 003's per-observation slopes and the bad inputs of each family."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
from eight_schools import SCHOOLS
from scipy_reference import scipy_loglik

from hbr.density.likelihoods import LOGLIK
from hbr.design.build import build_design
from hbr.errors import DataError, OptionError
from hbr.model.families import FAMILIES, simulate_response
from hbr.density.build import make_target
from hbr.model.spec import build_model



# ------------------------------------------------------------------------ the family table
@pytest.mark.parametrize("family,link", list(LOGLIK))
def test_each_loglik_matches_scipy(family: str, link: str) -> None:
    rng = np.random.default_rng(0)
    eta = rng.normal(0, 1.5, 50)
    aux = {"sigma": 0.7, "nu": 4.5, "phi": 2.5, "shape": 1.7, "zi": 0.3, "hu": 0.4,
           "Intercept": np.array([-1.0, 0.3, 1.2])}  # an ordinal family's thresholds
    n = rng.integers(1, 12, 50).astype(float)
    y = simulate_response(family, link, eta, aux, rng, n)
    with jax.enable_x64(True):
        got = np.asarray(LOGLIK[(family, link)](y, eta, aux, {"trials": n}))
    np.testing.assert_allclose(got, scipy_loglik(family, link, y, eta, aux, n), rtol=1e-9,
                               atol=1e-9)


def test_table_is_complete_and_defaults_exist() -> None:
    assert set(LOGLIK) == {(f.name, lk) for f in FAMILIES.values() for lk in f.links}
    d = pd.DataFrame({"y": [0.0, 1, 1, 0, 1, 0], "g": list("aabbcc"), "n": [3.0] * 6})
    inside = {"positive": [0.5, 1.2, 3.0, 0.7, 2.2, 0.9], "unit": [0.1, 0.8, 0.6, 0.3, 0.5, 0.2],
              "ordinal": [1.0, 2, 3, 1, 2, 3]}
    for fam in FAMILIES.values():
        f = "y | trials(n) ~ 1 + (1 | g)" if fam.response == "successes" else "y ~ 1 + (1 | g)"
        t = d.assign(y=inside[fam.response]) if fam.response in inside else d
        spec = build_model(build_design(f, t), family=fam.name)
        assert [p.name for p in spec.aux] == list(fam.aux), fam.name
        assert spec.link == fam.links[0]


@pytest.mark.parametrize("family,link", [("gaussian", "identity"), ("poisson", "log"),
                                         ("bernoulli", "probit"),
                                         ("negative_binomial", "log"), ("gamma", "log"),
                                         ("exponential", "log"), ("weibull", "log"),
                                         ("beta", "logit"), ("lognormal", "identity")])
def test_simulated_means_follow_the_inverse_link(family: str, link: str) -> None:
    rng = np.random.default_rng(1)
    eta = np.full(200_000, 0.4)
    y = simulate_response(family, link, eta, {"sigma": 1.0, "phi": 2.0, "shape": 1.5}, rng)
    mu = {"identity": 0.4, "log": np.exp(0.4), "probit": stats.norm.cdf(0.4),
          "logit": 1 / (1 + np.exp(-0.4))}[link]
    if family == "lognormal":  # E[y] = exp(mu + sigma^2 / 2)
        mu = np.exp(0.4 + 0.5)
    assert abs(y.mean() - mu) < 5 * y.std() / np.sqrt(y.size)


# ------------------------------------------------------ exact algebra for per-row noise
def _dense_marginal(y, mu, groups, noise_sd) -> float:
    """log N(y; mu, sum_g Z_g Sigma_g Z_g' + diag(noise_sd^2)), dense."""
    cov = np.diag(np.broadcast_to(noise_sd, y.shape) ** 2)
    for index, tau in groups:
        same = index[:, None] == index[None, :]
        cov = cov + tau**2 * same
    return float(stats.multivariate_normal(mu, cov).logpdf(y))


def _groups_data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 30
    return pd.DataFrame({"y": rng.normal(size=n), "g": rng.choice(list("abcde"), n),
                         "s": rng.uniform(0.3, 2.0, n)})


def test_known_se_marginal_matches_dense_algebra() -> None:
    d = _groups_data()
    spec = build_model(build_design("y | se(s) ~ 1 + (1 | g)", d),
                       {"Intercept": "Normal(0.3, 2)", "1|g_sigma": "HalfNormal(1.5)"})
    assert [p.name for p in spec.params] == ["Intercept", "1|g_sigma"]  # no sigma
    with jax.enable_x64(True):
        t = make_target(spec, "marginal")
        for seed in range(3):
            z = np.asarray(t.target.initial_point(jax.random.PRNGKey(seed)))
            v = t.readout.constrain(z, jax.random.PRNGKey(0), t.target.data)
            b0, tau = float(v["Intercept"]), float(v["1|g_sigma"])
            prior = stats.norm.logpdf(b0, 0.3, 2) + stats.halfnorm.logpdf(tau, scale=1.5)
            lik = float(t.target.logdensity_fn(z, t.target.data)) - prior - np.log(tau)
            idx = spec.groups[0].block.index
            dense = _dense_marginal(d.y.to_numpy(), np.full(len(d), b0), [(idx, tau)],
                                    d.s.to_numpy())
            # (the affine coordinate of the Intercept drops its constant Jacobian)
            np.testing.assert_allclose(lik, dense, rtol=1e-10)


def test_sigma_formula_marginal_matches_dense_algebra() -> None:
    d = _groups_data(1)
    priors = {"Intercept": "Normal(0.3, 2)", "1|g_sigma": "HalfNormal(1.5)",
              "sigma_Intercept": "Normal(-0.5, 1)", "sigma_1|g_sigma": "HalfNormal(0.5)"}
    spec = build_model(build_design("y ~ 1 + (1 | g)", d, dpars=("sigma ~ 1 + (1 | g)",)),
                       priors)
    assert "sigma" not in [p.name for p in spec.params]
    with jax.enable_x64(True):
        t = make_target(spec, "marginal")  # sigma effects sampled, non-centred (w = 0)
        assert t.sampled_effects == 5
        for seed in range(3):
            z = np.asarray(t.target.initial_point(jax.random.PRNGKey(seed)))
            v = {k: np.asarray(x) for k, x in t.readout.constrain(z, jax.random.PRNGKey(0),
                                                          t.target.data).items()}
            tau, tau_s = float(v["1|g_sigma"]), float(v["sigma_1|g_sigma"])
            raw = v["sigma_1|g"] / tau_s
            prior = (stats.norm.logpdf(v["Intercept"], 0.3, 2)
                     + stats.norm.logpdf(v["sigma_Intercept"], -0.5, 1)
                     + stats.halfnorm.logpdf(tau, scale=1.5) + np.log(tau)
                     + stats.halfnorm.logpdf(tau_s, scale=0.5) + np.log(tau_s)
                     + stats.norm.logpdf(raw).sum())
            idx = spec.groups[0].block.index
            sd = np.exp(v["sigma_Intercept"] + v["sigma_1|g"][idx])
            dense = _dense_marginal(d.y.to_numpy(), np.full(len(d), v["Intercept"]),
                                    [(idx, tau)], sd)
            np.testing.assert_allclose(float(t.target.logdensity_fn(z, t.target.data)) - prior, dense,
                                       rtol=1e-10)


def test_map_effects_with_known_se_equal_the_dense_conditional_mean() -> None:
    d = _groups_data(2)
    fit = hbr.fit("y | se(s) ~ 1 + (1 | g)", d, method="map", seed=0)
    b0, tau = float(fit.posterior["Intercept"][0, 0]), float(fit.posterior["1|g_sigma"][0, 0])
    idx = fit.spec.groups[0].block.index
    Z = (idx[:, None] == np.arange(5)[None, :]).astype(float)
    V = tau**2 * Z @ Z.T + np.diag(d.s.to_numpy() ** 2)
    mean = tau**2 * Z.T @ np.linalg.solve(V, d.y.to_numpy() - b0)
    np.testing.assert_allclose(fit.posterior["1|g"].values[0, 0], mean, rtol=1e-7,
                               atol=1e-10)


# ------------------------------------------------------------------------------ fits
def test_eight_schools_is_one_line_and_exact() -> None:
    """At most one divergence in 4000 draws by default, and the posterior means of mu and
    tau agree with quadrature of the exact 2-d posterior (y_j ~ N(mu, tau^2 + s_j^2))
    within 4 MCSE. Measured over seeds 1-8 (stop 32): one divergent transition in all,
    seed 1's, from a chain whose step size adapted to 0.55 (the others 0.37-0.48): far in
    the right tail of log tau (tau > 20, 0.1% of the mass) the HalfNormal prior makes the
    log density fall as -exp(2 log tau) / 2h^2, stiff for that step. It had been 0 for seed
    1 until the Intercept prior's scale moved by one rounding unit (2.5 s_y instead of
    sqrt((2.5 s_y)^2))."""
    fit = hbr.fit("y | se(s) ~ 1 + (1 | school)", SCHOOLS, seed=1)
    assert fit.diagnostics().divergences <= 1
    assert fit.parameterization == "marginal"
    pr = fit.priors
    m0, s0 = pr["Intercept"].kwargs["mu"], pr["Intercept"].kwargs["sigma"]
    h = pr["1|school_sigma"].kwargs["sigma"]
    mu = np.linspace(m0 - 6 * s0, m0 + 6 * s0, 1201)[:, None]
    tau = np.linspace(1e-6, 6 * h, 1200)[None, :]
    y, s = SCHOOLS.y.to_numpy(), SCHOOLS.s.to_numpy()
    lp = (stats.norm.logpdf(mu, m0, s0) + stats.halfnorm.logpdf(tau, scale=h)
          + sum(stats.norm.logpdf(yj, mu, np.sqrt(tau**2 + sj**2)) for yj, sj in zip(y, s)))
    w = np.exp(lp - lp.max())
    w /= w.sum()
    summ = fit.summary(group_effects=False)
    for name, grid in (("Intercept", mu), ("1|school_sigma", tau)):
        exact = float((w * grid).sum())
        got, mcse = summ.loc[name, "mean"], summ.loc[name, "mcse_mean"]
        assert abs(got - exact) < 4 * mcse, (name, got, exact, mcse)


def _recovery_data(family: str, link: str, seed: int = 3):
    rng = np.random.default_rng(seed)
    J = 60
    g = np.repeat(np.arange(J), rng.integers(10, 40, J))
    x = rng.normal(size=g.size)
    truth = {"Intercept": 0.3, "x": 0.8, "1|g_sigma": 0.5, "x|g_sigma": 0.3,
             "sigma": 0.6, "nu": 5.0, "phi": 4.0, "shape": 2.5, "zi": 0.3, "hu": 0.4}
    b0 = rng.normal(0, truth["1|g_sigma"], J)
    b1 = rng.normal(0, truth["x|g_sigma"], J)
    eta = truth["Intercept"] + b0[g] + (truth["x"] + b1[g]) * x
    n = rng.integers(1, 8, g.size).astype(float)
    y = simulate_response(family, link, eta, truth, rng, n)
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g], "n": n})
    return d, truth


@pytest.mark.parametrize("family,link", [("student_t", "identity"), ("bernoulli", "logit"),
                                         ("binomial", "probit"), ("poisson", "log"),
                                         ("negative_binomial", "log"), ("gamma", "log"),
                                         ("exponential", "log"), ("weibull", "log"),
                                         ("beta", "logit"),
                                         # the Poisson mixtures are these with phi -> inf
                                         ("zero_inflated_negbinomial", "log"),
                                         ("hurdle_negbinomial", "log")])
def test_parameters_are_recovered(family: str, link: str) -> None:
    d, truth = _recovery_data(family, link)
    f = "y | trials(n) ~ x + (x || g)" if family == "binomial" else "y ~ x + (x || g)"
    fit = hbr.fit(f, d, family=family, link=link, seed=2, log_likelihood=False)
    assert fit.parameterization == "auto"
    diag = fit.diagnostics()
    assert diag.divergences == 0 and diag.max_rhat < 1.01, diag
    s = fit.summary(group_effects=False)
    for name in s.index:
        z = (s.loc[name, "mean"] - truth[name]) / s.loc[name, "sd"]
        assert abs(z) < 4, (name, s.loc[name, "mean"], truth[name], s.loc[name, "sd"])
    # auto: groups with more information are more centred
    w = fit.parameterization.centered_fraction["1|g"]
    size = d.groupby("g").size().reindex(w.index)
    assert stats.spearmanr(size, w).statistic > 0.3


def test_lognormal_is_the_gaussian_of_log_y_draw_for_draw() -> None:
    """The lognormal family integrates its effects out as the Gaussian does: its draws are
    those of a Gaussian fit of log(y) with the same seed (same defaults, which the
    lognormal takes from log y), and each row's log likelihood is the Gaussian one of
    log y less log y (the Jacobian)."""
    d, truth = _recovery_data("lognormal", "identity")
    a = hbr.fit("y ~ x + (x || g)", d, family="lognormal", seed=2, draws=300, tune=300)
    b = hbr.fit("log(y) ~ x + (x || g)", d, seed=2, draws=300, tune=300)
    assert a.parameterization == "marginal"
    for name in a.draws.posterior:
        np.testing.assert_allclose(np.asarray(a.draws.posterior[name]),
                                   np.asarray(b.draws.posterior[name]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.draws.log_lik, b.draws.log_lik - np.log(d["y"].to_numpy()),
                               rtol=1e-9, atol=1e-9)
    s = a.summary(group_effects=False)
    for name in s.index:
        z = (s.loc[name, "mean"] - truth[name]) / s.loc[name, "sd"]
        assert abs(z) < 4, (name, s.loc[name, "mean"], truth[name], s.loc[name, "sd"])
    mean = a.predict(d.head(3), kind="mean")  # E[y] = exp(mu + sigma^2 / 2)
    link = a.predict(d.head(3), kind="link")
    np.testing.assert_allclose(mean, np.exp(link + 0.5 * np.asarray(
        a.draws.posterior["sigma"])[..., None] ** 2), rtol=1e-12)


def test_seed_002_sigma_varies_by_zip_without_divergences() -> None:
    """About 200 ZIP codes with very unbalanced sizes (1 to ~100 rows) and a sigma per ZIP:
    PyMC diverged hundreds of times on this model (seed 002); hbr integrates the price
    effects out and partially centres the log-sigma effects."""
    rng = np.random.default_rng(2)
    J = 200
    n = np.maximum(1, rng.lognormal(1.5, 1.1, J).astype(int))
    g = np.repeat(np.arange(J), n)
    area = rng.normal(size=g.size)
    a, b = 1 + 0.5 * rng.normal(size=J), 0.7 + 0.3 * rng.normal(size=J)
    log_sigma = np.log(0.4) + 0.4 * rng.normal(size=J)
    price = a[g] + b[g] * area + np.exp(log_sigma[g]) * rng.normal(size=g.size)
    d = pd.DataFrame({"price": price, "area": area, "zip": [f"z{i:03d}" for i in g]})
    assert n.min() == 1 and n.max() > 50
    fit = hbr.fit(["price ~ area + (area | zip)", "sigma ~ 1 + (1 | zip)"], d, seed=1,
                  log_likelihood=False)
    diag = fit.diagnostics()
    assert diag.divergences == 0 and diag.max_rhat < 1.01, diag
    s = fit.summary(group_effects=False)
    for name, true in (("sigma_Intercept", np.log(0.4)), ("sigma_1|zip_sigma", 0.4),
                       ("area", 0.7), ("1|zip_sigma", 0.5)):
        assert abs(s.loc[name, "mean"] - true) < 4 * s.loc[name, "sd"], (name, s.loc[name])
    est = fit.posterior["sigma_1|zip"].mean(("chain", "draw")).values
    assert np.corrcoef(est, log_sigma - np.log(0.4))[0, 1] > 0.5


def test_seed_003_one_slope_per_point_with_nuts() -> None:
    """Seed 003's model: a slope for every point and no noise in the data, so sigma's
    posterior runs to 0 and log sigma has a long tail, where NUTS diverges now and then.
    Measured over seeds 1-12 (4 x 1000 draws each): 4 divergent transitions in all both
    before and after the integrated terms got their own derivatives (stop 37: at most 4 in
    one fit, 2 after; seed 1 had 0 before, 1 after, in the last bits' lottery). So the test
    asks for divergences to stay rare (under 0.2% of the transitions, twice the worst
    seed's 0.1%), not for one seed's count."""
    rng = np.random.default_rng(2)
    n, a, mu_b, sigma_b = 100, 2.0, 2.0, 1.0
    x = rng.uniform(0, 10, n)
    data = pd.DataFrame({"y": a + rng.normal(mu_b, sigma_b, n) * x, "x": x,
                         "obs": np.arange(n)})
    fit = hbr.fit("y ~ x + (0 + x | obs)", data, seed=1)
    assert fit.diagnostics().divergences < 0.002 * 4 * 1000
    s = fit.summary(group_effects=False)
    for name, true in (("Intercept", a), ("x", mu_b), ("x|obs_sigma", sigma_b)):
        assert s.loc[name, "hdi_3%"] < true < s.loc[name, "hdi_97%"], (name, s.loc[name])


def test_offset_is_an_exposure() -> None:
    """Poisson counts over exposures t: with offset(log(t)) the intercept is the log rate."""
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(30), 20)
    t = rng.uniform(1, 100, g.size)
    b = rng.normal(0, 0.3, 30)
    y = rng.poisson(t * np.exp(-2.0 + b[g]))
    d = pd.DataFrame({"y": y, "t": t, "g": g.astype(str)})
    fit = hbr.fit("y ~ 1 + offset(log(t)) + (1 | g)", d, family="poisson", seed=0,
                  log_likelihood=False)
    s = fit.summary(group_effects=False)
    assert abs(s.loc["Intercept", "mean"] + 2.0) < 4 * s.loc["Intercept", "sd"]
    assert s.loc["Intercept", "sd"] < 0.15


# -------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("family,y,formula,match", [
    ("poisson", [1, -2, 3, 0], "y ~ 1 + (1 | g)", "needs 'y' to hold counts.*-2.*row"),
    ("poisson", [1, 2.5, 3, 0], "y ~ 1 + (1 | g)", "whole numbers.*2.5"),
    ("negative_binomial", [1, -1, 3, 0], "y ~ 1 + (1 | g)", "negative count"),
    ("bernoulli", [0, 1, 2, 1], "y ~ 1 + (1 | g)", "0 or 1.*it is 2 in row"),
    ("binomial", [1, 2, 3, 0], "y ~ 1 + (1 | g)", "trials"),
    ("binomial", [1, 2, 9, 0], "y | trials(n) ~ 1 + (1 | g)", "more successes than trials"),
    ("gaussian", [1.0, 2, 3, 4], "y | se(bad_se) ~ 1 + (1 | g)", "se\\(\\) must be positive"),
    ("poisson", [1, 2, 3, 0], "y | se(s) ~ 1 + (1 | g)", "se\\(\\).*gaussian"),
    ("gaussian", [1.0, 2, 3, 4], "y | trials(n) ~ 1 + (1 | g)", "trials\\(\\) belongs"),
    ("gamma", [1.0, 0, 3, 0], "y ~ 1 + (1 | g)",
     "positive.*it is 0 in row\\(s\\) 1, 3 \\(2 of 4 rows.*2 of them exactly 0.*hurdle"),
    ("weibull", [1.0, -2, 3, 4], "y ~ 1 + (1 | g)", "positive.*-2.*data error"),
    ("exponential", [1.0, 2, 3, 0], "y ~ 1 + (1 | g)", "positive.*0 in row\\(s\\) 3"),
    ("lognormal", [1.0, 2, -3, 4], "y ~ 1 + (1 | g)", "lognormal.*positive.*-3"),
    ("beta", [0.2, 0, 1, 0.5], "y ~ 1 + (1 | g)",
     "strictly between 0 and 1.*1 row\\(s\\) are exactly 0 and 1 exactly 1.*Smithson"),
    ("beta", [0.2, 35.0, 0.7, 0.5], "y ~ 1 + (1 | g)", "1 row\\(s\\) lie outside.*divided by 100"),
    ("beta", [2.0, 3, 4, 5], "y | se(s) ~ 1 + (1 | g)", "se\\(\\).*gaussian"),
])
def test_bad_responses_are_named(family: str, y: list, formula: str, match: str) -> None:
    d = pd.DataFrame({"y": y, "g": list("aabb"), "n": [3.0] * 4, "s": [1.0] * 4,
                      "bad_se": [1.0, 0.0, 2.0, 1.0]})
    with pytest.raises(DataError, match=match):
        hbr.fit(formula, d, family=family)


def test_bad_family_options_are_named() -> None:
    d = pd.DataFrame({"y": [0.0, 1, 1, 0], "g": list("aabb")})
    with pytest.raises(OptionError, match="did you mean 'bernoulli'"):
        hbr.fit("y ~ 1 + (1 | g)", d, family="bernouli")
    with pytest.raises(OptionError, match="link='cloglog'.*'logit' or 'probit'"):
        hbr.fit("y ~ 1 + (1 | g)", d, family="bernoulli", link="cloglog")
    with pytest.raises(DataError, match="has no sigma"):
        hbr.fit(["y ~ 1 + (1 | g)", "sigma ~ 1 + (1 | g)"], d, family="bernoulli")
    with pytest.raises(DataError, match="not 'mu'"):
        hbr.fit(["y ~ 1 + (1 | g)", "mu ~ 1"], d)


def test_counts_in_the_thousands_start_where_the_data_are() -> None:
    """SBC found Poisson fits stuck at Intercept = 219 (every transition divergent) when the
    counts reached 10^3-10^4: the IRLS start stepped from beta = 0 to eta ~ 10^3. It now
    starts at mu = y + 1/2 with step halving."""
    rng = np.random.default_rng(118)
    g = np.repeat(np.arange(8), 6)
    x = rng.normal(size=g.size)
    b = rng.normal(0, 1.75, 8)
    y = rng.poisson(np.exp(0.55 + 2.0 * x + b[g]))
    assert y.max() > 500
    d = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    fit = hbr.fit("y ~ x + (1 | g)", d, family="poisson", seed=0, chains=2, draws=300,
                  tune=300, log_likelihood=False)
    assert fit.diagnostics().divergences == 0
    s = fit.summary(group_effects=False)
    assert abs(s.loc["x", "mean"] - 2.0) < 4 * s.loc["x", "sd"] and s.loc["x", "sd"] > 0


def test_amounts_spanning_orders_of_magnitude_start_on_the_link_scale() -> None:
    """Weibull times with a group sd of 2.7 on the log scale (y from 1e-3 to 5e5; SBC
    replicate 106 of bench/sbc.py's weibull cell). The start had been jittered by 1e-3 sd(y)
    = 95 in the fixed effects, 10^3 of their standard errors (which Poisson weights had made
    300 times too small), and every chain sat at Intercept 57 with all draws divergent.
    Now: standard errors from the exponential's information, the jitter on the link scale,
    the start within a few standard errors of the GLM fit, and the truth recovered."""
    from hbr.density.build import make_target
    from hbr.density.parts import glm_start

    rng = np.random.default_rng(11)
    J, per = 8, 6
    g = np.repeat(np.arange(J), per)
    x = rng.normal(size=g.size)
    truth = {"Intercept": 1.7, "x": 2.4, "shape": 3.1, "1|g_sigma": 2.7}
    eta = truth["Intercept"] + truth["x"] * x + rng.normal(0, truth["1|g_sigma"], J)[g]
    y = simulate_response("weibull", "log", eta, truth, rng)
    assert y.max() / y.min() > 1e5
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})
    priors = {"Intercept": "Normal(0, 1)", "x": "Normal(0, 1)", "1|g_sigma": "HalfNormal(1)",
              "shape": "Gamma(4, 1)"}
    spec = build_model(build_design("y ~ x + (1 | g)", d), priors, family="weibull")
    b, se, _ = glm_start(spec)
    assert np.all(se > 0.3 / np.sqrt(len(d)))  # exponential information: about 1 per row
    with jax.enable_x64(True):
        t = make_target(spec, "noncentered")
        z = np.asarray(t.target.initial_point(jax.random.PRNGKey(0)))
        v = t.readout.constrain(z, jax.random.PRNGKey(0), t.target.data)
    assert abs(float(v["x"]) - b[1]) < 4 * se[1]  # was 85 away
    fit = hbr.fit("y ~ x + (1 | g)", d, family="weibull", priors=priors, seed=1,
                  log_likelihood=False)
    diag = fit.diagnostics()
    assert diag.divergences == 0 and diag.max_rhat < 1.01, diag
    s = fit.summary(group_effects=False)
    for name, true in truth.items():
        assert abs(s.loc[name, "mean"] - true) < 4 * s.loc[name, "sd"], (name, s.loc[name])
