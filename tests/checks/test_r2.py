"""Bayesian R² and LOO R²: exact algebra against the draws, recovery of a known R², the
family's variance for a non-Gaussian model, and LOO's overfitting penalty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
import hbr.checks.loo as loo_mod
from hbr.errors import OptionError
from hbr.model.families import FAMILIES


def _table(n: int = 2000, J: int = 40, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """y = 1 + x + b_g + e with var(x) = var(b) = 1 and var(e) = 2; also the true mean."""
    rng = np.random.default_rng(seed)
    g, x = rng.integers(0, J, n), rng.normal(size=n)
    mean = 1 + x + rng.normal(0, 1, J)[g]
    y = mean + rng.normal(0, np.sqrt(2), n)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)}), mean


@pytest.fixture(scope="module")
def fitted() -> tuple[hbr.Fit, pd.DataFrame, np.ndarray]:
    d, mean = _table()
    return hbr.fit("y ~ x + (1 | g)", d, seed=1, log_likelihood=True), d, mean


def test_bayes_r2_is_the_variance_ratio_of_the_draws(fitted, monkeypatch) -> None:
    fit, d, _ = fitted
    yhat = fit.predict(d, kind="mean")  # (chains, draws, rows), the fitted group effects
    e = d["y"].to_numpy() - yhat
    want = yhat.var(axis=-1, ddof=1) / (yhat.var(axis=-1, ddof=1) + e.var(axis=-1, ddof=1))
    got = fit.bayes_r2(summary=False)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    monkeypatch.setattr(loo_mod, "CHUNK_NUMBERS", 4000 * 7)  # rows in chunks of 7
    np.testing.assert_allclose(fit.bayes_r2(summary=False), want, rtol=1e-10)
    sigma = np.asarray(fit.draws.posterior["sigma"])
    model = yhat.var(axis=-1, ddof=1) / (yhat.var(axis=-1, ddof=1) + sigma**2)
    np.testing.assert_allclose(fit.bayes_r2(kind="model", summary=False), model, rtol=1e-10)
    table = fit.bayes_r2()
    assert list(table.columns) == ["mean", "sd", "hdi_3%", "hdi_97%"]
    assert table.loc["R2", "mean"] == pytest.approx(want.mean(), rel=1e-12)


def test_bayes_r2_recovers_the_r2_of_the_true_means(fitted) -> None:
    fit, d, mean = fitted
    y = d["y"].to_numpy()
    truth = mean.var(ddof=1) / (mean.var(ddof=1) + (y - mean).var(ddof=1))
    for kind in ("residual", "model"):
        t = fit.bayes_r2(kind=kind)
        assert abs(t.loc["R2", "mean"] - truth) < 3 * t.loc["R2", "sd"], (kind, truth, t)
    # negative control: without the group term the groups' variance moves to the noise
    pooled = hbr.fit("y ~ x", d, seed=1).bayes_r2()
    assert pooled.loc["R2", "hdi_97%"] < truth - 0.15


def test_loo_r2_below_bayes_r2_and_matches_direct_psis(fitted) -> None:
    import arviz as az

    fit, d, _ = fitted
    y = d["y"].to_numpy()
    loo = fit.loo_r2(summary=False)
    assert loo.shape == (4000,)
    np.testing.assert_array_equal(loo, fit.loo_r2(summary=False))  # same seed, same draws
    assert not np.array_equal(loo, fit.loo_r2(summary=False, seed=99))
    # direct: PSIS weights of the kept pointwise log likelihood, LOO means, one ratio
    S = 4000
    lw, _ = az.psislw(-fit.draws.log_lik.reshape(S, -1).T, reff=1.0)
    yloo = np.sum(np.exp(lw) * fit.predict(d, kind="mean").reshape(S, -1).T, axis=1)
    direct = 1 - (y - yloo).var(ddof=1) / y.var(ddof=1)
    assert abs(loo.mean() - direct) < 0.2 * loo.std()
    bayes = fit.bayes_r2()
    assert loo.mean() < bayes.loc["R2", "mean"]  # 40 group effects: LOO pays for them


@pytest.mark.filterwarnings("ignore::hbr.errors.DiagnosticsWarning")  # algebra: short chains
def test_bernoulli_model_variance_and_bad_kind() -> None:
    rng = np.random.default_rng(2)
    n = 600
    x = rng.normal(size=n)
    d = pd.DataFrame({"y": (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(int), "x": x,
                      "g": rng.integers(0, 10, n).astype(str)})
    fit = hbr.fit("y ~ x + (1 | g)", d, family="bernoulli", seed=1, chains=2, draws=300,
                  tune=300)
    p = fit.predict(d, kind="mean")
    want = p.var(axis=-1, ddof=1) / (p.var(axis=-1, ddof=1) + (p * (1 - p)).mean(axis=-1))
    np.testing.assert_allclose(fit.bayes_r2(kind="model", summary=False), want, rtol=1e-10)
    with pytest.raises(OptionError, match="kind='adjusted' is not available"):
        fit.bayes_r2(kind="adjusted")


@pytest.mark.parametrize("name", [n for n in FAMILIES if n not in ("gaussian", "student_t")])
def test_family_variance_is_the_variance_of_the_family_sampler(name: str) -> None:
    """kind='model' reads Var(y | theta) from R²'s variance of each family; it must be the
    variance of the family row's own sampler (zero-inflated and hurdle mixtures included),
    within 5 standard errors of the sample variance (from the fourth moment)."""
    from hbr.checks.r2 import _family_variance
    from hbr.design.build import build_design
    from hbr.design.newdata import training_rows
    from hbr.model.spec import build_model

    fam = FAMILIES[name]
    if fam.ordinal:  # categories as scores; its distribution reads eta itself
        _check_ordinal_variance(name)
        return
    y0 = {"positive": [0.5, 1.2, 3.0, 0.7], "unit": [0.1, 0.8, 0.6, 0.3]}.get(
        fam.response, [0.0, 1.0, 1.0, 3.0] if fam.response != "binary" else [0, 1, 1, 0])
    d = pd.DataFrame({"y": y0, "n": 5.0})
    f = "y | trials(n) ~ 1" if fam.response == "successes" else "y ~ 1"
    spec = build_model(build_design(f, d), family=name)
    aux = {"sigma": 0.8, "phi": 3.0, "shape": 2.0, "zi": 0.3, "hu": 0.4}
    post = {p.name: np.full((1, 1), aux[p.name]) for p in spec.aux}
    rows = training_rows(spec.design)
    mu = np.full((1, 1, 4), 0.3 if fam.response in ("binary", "successes", "unit") else 2.0)
    mean = fam.expected(mu, rows.trials, aux)
    got = np.broadcast_to(_family_variance(spec, post, rows, mean, mu), mu.shape)[0, 0, 0]
    y = fam.simulate(np.full(200_000, mu.flat[0]), aux, np.random.default_rng(3),
                     np.full(200_000, 5.0), None)
    m4 = np.mean((y - y.mean()) ** 4)
    assert abs(y.var() - got) < 5 * np.sqrt((m4 - y.var() ** 2) / y.size), (got, y.var())


def _check_ordinal_variance(name: str) -> None:
    from hbr.checks.r2 import _family_variance
    from hbr.design.build import build_design
    from hbr.design.newdata import training_rows
    from hbr.model.ordinal import ordinal_draws, ordinal_mean
    from hbr.model.spec import build_model

    d = pd.DataFrame({"y": [1.0, 2.0, 2.0, 3.0]})
    spec = build_model(build_design("y ~ 1", d), family=name)
    tau = np.array([-0.5, 1.0])
    post = {"Intercept": np.broadcast_to(tau, (1, 1, 2))}
    eta = np.full((1, 1, 4), 0.3)
    mean = ordinal_mean("logit", eta, post["Intercept"][..., None, :])
    got = _family_variance(spec, post, training_rows(spec.design), mean, eta)[0, 0, 0]
    y = ordinal_draws("logit", np.full(200_000, 0.3), tau, np.random.default_rng(3))
    m4 = np.mean((y - y.mean()) ** 4)
    assert abs(y.var() - got) < 5 * np.sqrt((m4 - y.var() ** 2) / y.size), (got, y.var())
