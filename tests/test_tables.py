"""Every row of every table has its counterparts (DESIGN.md style rule 3): a family has its
links, JAX log likelihoods, sampler and extra-parameter priors; a link its IRLS pieces; a
prior distribution its NumPy sampler and NumPyro counterpart; a method its settings and its
place in the diagnostics and the CLI. Where a row carries maths, the maths is checked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hbr.checks.calibration import CASES
from hbr.checks.diagnostics import APPROXIMATIONS
from hbr.cli.fit import _HELP
from hbr.density.likelihoods import LOGLIK
from hbr.density.parts import distribution
from hbr.design.build import build_design
from hbr.design.transforms import STATEFUL, TRANSFORMS
from hbr.inference import METHODS, RunOptions
from hbr.model.families import AUX_PRIORS, FAMILIES
from hbr.model.links import LINKS
from hbr.priors import PRIORS, Prior
from hbr.sources.duckdb import duckdb_statistics


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_rows_have_their_counterparts(name: str) -> None:
    fam = FAMILIES[name]
    assert (fam.simulate is not None or fam.ordinal) and set(fam.aux) <= set(AUX_PRIORS)
    assert name in {c.family for c in CASES.values()}  # calibrated by SBC (checks/calibration)
    for link in fam.links:
        assert link in LINKS and (name, link) in LOGLIK
    rng = np.random.default_rng(0)
    if fam.ordinal:  # draws, mean and probabilities of hbr.model.ordinal take eta itself
        from hbr.model.ordinal import ordinal_draws, ordinal_mean, ordinal_probabilities

        tau, eta = np.array([-1.0, 0.2, 1.5]), np.full(20_000, 0.4)
        for link in fam.links:
            y = ordinal_draws(link, eta, tau, rng)
            p = ordinal_probabilities(link, eta[:1], tau)[0]
            share = np.array([(y == k).mean() for k in (1, 2, 3, 4)])
            assert np.all(np.abs(share - p) < 5 * np.sqrt(p * (1 - p) / y.size))
            assert ordinal_mean(link, eta[:1], tau)[0] == pytest.approx(p @ np.arange(1, 5))
        return
    mu = np.full(20_000, 0.3 if fam.response in ("binary", "successes", "unit") else 2.0)
    trials = np.full(mu.shape, 5.0)
    aux = {"sigma": 1.0, "nu": 5.0, "phi": 3.0, "shape": 2.0, "zi": 0.3, "hu": 0.3}
    y = fam.simulate(mu, aux, rng, trials, None)
    mean = fam.expected(mu, trials, aux)
    p0p, p0n = np.exp(-2.0), (3 / 5) ** 3  # f(0) of the Poisson and NB(phi = 3) of mean 2
    var = {"gaussian": 1.0, "student_t": 5 / 3, "bernoulli": 0.21, "binomial": 5 * 0.21,
           "poisson": 2.0, "negative_binomial": 2 + 4 / 3, "gamma": 4 / 2,
           "exponential": 4.0, "weibull": 4 * (1 / 0.886226925**2 - 1),
           "beta": 0.21 / 4, "lognormal": np.exp(5.0) * (np.e - 1),
           # (1 - p) E[y^2] - E[y]^2, E[y^2] of the base family V + mu^2 (hurdle: / (1 - f(0)))
           "zero_inflated_poisson": 0.7 * 6.0 - 1.4**2,
           "zero_inflated_negbinomial": 0.7 * (2 + 4 / 3 + 4) - 1.4**2,
           "hurdle_poisson": 0.7 * 6.0 / (1 - p0p) - (1.4 / (1 - p0p)) ** 2,
           "hurdle_negbinomial": 0.7 * (2 + 4 / 3 + 4) / (1 - p0n) - (1.4 / (1 - p0n)) ** 2,
           }[name]
    se = np.sqrt(var / mu.size)
    assert abs(y.mean() - mean[0]) < 5 * se  # the row's sampler has the row's mean
    m4 = np.mean((y - y.mean()) ** 4)  # the sample variance's se from the fourth moment
    assert abs(y.var() - var) < 5 * np.sqrt((m4 - y.var() ** 2) / y.size)  # the variance


@pytest.mark.parametrize("name", [k for k in LINKS if k != "identity"])
def test_link_rows_are_consistent(name: str) -> None:
    link = LINKS[name]
    y, n = np.array([0.0, 1.0, 3.0, 5.0]), np.full(4, 5.0)
    want = y + 0.5 if name == "log" else (y + 0.5) / (n + 1.0)
    np.testing.assert_allclose(link.mean(link.start(y, n)), want, rtol=1e-10)
    eta = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(link.mean(eta), link.inverse(eta), rtol=1e-10)
    # the IRLS weights are n (dmu/deta)^2 / Var(y): the information about eta
    w, z = link.working(eta, link.mean(eta), np.zeros(7), n[:1].repeat(7), np.zeros(7))
    h = 1e-6
    dmu = (link.inverse(eta + h) - link.inverse(eta - h)) / (2 * h)
    mu = link.inverse(eta)
    info = dmu**2 / mu if name == "log" else 5.0 * dmu**2 / (mu * (1 - mu))
    np.testing.assert_allclose(w, info, rtol=1e-6)
    assert np.all(np.isfinite(z))
    assert np.isfinite(link.location(y, None, 0.0, 1.0)[0])


@pytest.mark.parametrize("name", list(PRIORS))
def test_prior_rows_sample_their_distribution(name: str) -> None:
    row = PRIORS[name]
    args = {"Normal": (1.0, 2.0), "StudentT": (5.0, 1.0, 2.0), "Cauchy": (1.0, 2.0),
            "HalfNormal": (2.0,), "HalfCauchy": (2.0,), "HalfStudentT": (5.0, 2.0),
            "Exponential": (0.5,), "Gamma": (2.0, 0.5), "LogNormal": (0.0, 0.5),
            "Uniform": (-1.0, 3.0), "Beta": (2.0, 5.0), "LKJ": (2.0,)}[name]
    prior = Prior(name, tuple(zip(row.params, args)))
    draws = row.sample(prior.kwargs, np.random.default_rng(1), (4000,), 3)
    if name == "LKJ":  # each correlation is 2 Beta(eta - 1 + d/2, same) - 1
        r = draws[:, 0, 1]
        b = 2.0 - 1 + 3 / 2
        assert stats.kstest((r + 1) / 2, stats.beta(b, b).cdf).pvalue > 1e-3
        return
    import jax

    with jax.enable_x64(True):  # the NumPyro counterpart has the same distribution
        d = distribution("real", 1, name, args)
        grid = np.quantile(draws, [0.1, 0.5, 0.9])
        cdf = np.asarray(d.cdf(grid)) if name not in ("StudentT", "HalfStudentT") else None
    if cdf is not None:
        np.testing.assert_allclose(cdf, [0.1, 0.5, 0.9], atol=0.02)  # about 4 sd
    support = {"positive": lambda x: x > 0, "interval": lambda x: (x > -1) & (x < 3),
               "unit": lambda x: (x > 0) & (x < 1),
               "real": lambda x: np.isfinite(x)}[row.support]
    assert np.all(support(draws))


def test_every_prior_has_a_numpyro_counterpart() -> None:
    for name in PRIORS:
        if name != "LKJ":
            distribution("real", 1, name, tuple(1.0 for _ in PRIORS[name].params))


def test_method_rows() -> None:
    opts = RunOptions()
    for name, m in METHODS.items():
        json.dumps(m.settings(opts))
        assert name in _HELP["method"]
        assert (name in APPROXIMATIONS) == m.approximate
    assert [n for n, m in METHODS.items() if m.mass_matrix] == ["nuts"]
    assert [n for n, m in METHODS.items() if m.point] == ["map"]


@pytest.mark.parametrize("name", [n for n in TRANSFORMS])
def test_transform_rows_agree_in_pandas_and_duckdb(name: str, tmp_path) -> None:
    """Each transform gives the same column in pandas (its NumPy form, or the remembered
    moments) and in DuckDB's SQL (its template): X'X of ``y ~ fn(x) + (1 | g)`` agrees."""
    rng = np.random.default_rng(2)
    n = 300
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.uniform(0.5, 3.0, n),
                      "g": rng.choice(list("abcde"), n)})
    d.to_parquet(tmp_path / "t.parquet")
    formula = f"y ~ {name}(x) + (1 | g)"
    des = build_design(formula, d)
    got = duckdb_statistics(formula, tmp_path / "t.parquet")
    want = des.X.T @ des.X  # a centred column sums to rounding error: atol on the scale
    np.testing.assert_allclose(got.stats.XtX, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())
    assert TRANSFORMS[name].stateful == (TRANSFORMS[name].numpy is None)
    assert (name in STATEFUL) == TRANSFORMS[name].stateful
