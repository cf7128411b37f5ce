"""``y | weights(w)``: each row's log likelihood times its weight (brms's ``weights()``).

The exact check: with integer weights the weighted model *is* the model of the table with
each row repeated ``w`` times (frequency weights), on every path the log density takes
(statistics of the integrated factor, its row path, noise per level and per row, sampled
effects, every family, censored rows): the two log densities agree to rounding at any point,
and so do the summed pointwise log likelihoods (LOO's input)."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.density.build import make_target
from hbr.density.structure import Structure
from hbr.errors import DataError, DiagnosticsWarning, OptionError
from hbr.model.spec import build_model


def _table(seed: int = 0, n: int = 70) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.arange(n) % 7  # every level keeps rows of positive weight
    h = rng.integers(0, 4, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.5 * x + rng.normal(0, 0.6, 7)[g]
    time = rng.weibull(1.5, n) * np.exp(eta)
    w = rng.integers(1, 4, n).astype(float)
    w[[3, 11]] = 0.0  # rows that do not count
    return pd.DataFrame({
        "y": eta + rng.normal(0, 0.5, n), "x": x, "g": [f"g{i}" for i in g],
        "h": [f"h{i}" for i in h], "count": rng.poisson(np.exp(eta)),
        "b": (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int),
        "pos": np.exp(eta) * rng.gamma(3.0, 1 / 3.0, n), "t": np.minimum(time, 3.0),
        "c": (time > 3.0).astype(int), "w": w})


def _repeated(d: pd.DataFrame) -> pd.DataFrame:
    return d.loc[np.repeat(d.index.to_numpy(), d["w"].astype(int))].reset_index(drop=True)


def _weighted(formula: str) -> str:
    lhs, rhs = formula.split("~", 1)
    bar = " + " if "|" in lhs else " | "
    return f"{lhs.strip()}{bar}weights(w) ~{rhs}"


CASES = [  # (formulas, family, parameterization, the path it should take)
    (["y ~ x + (x | g)"], "gaussian", "marginal", "stats"),
    (["y ~ x + (1 | g) + (1 | h)"], "gaussian", "marginal", "rows"),
    (["y ~ x + (1 | g)", "sigma ~ 1 + (1 | g)"], "gaussian", "marginal", "group"),
    (["y ~ x + (1 | g)", "sigma ~ x"], "gaussian", "marginal", "rows"),
    (["y ~ x + (x | g)"], "gaussian", "noncentered", "rows"),
    (["count ~ x + (1 | g)"], "poisson", "noncentered", "rows"),
    (["b ~ x + (1 | g)"], "bernoulli", "centered", "rows"),
    (["pos ~ x + (1 | g)"], "gamma", "noncentered", "rows"),
    (["pos ~ x + (1 | g)"], "lognormal", "marginal", "stats"),
    (["t | cens(c) ~ x + (1 | g)"], "weibull", "noncentered", "rows"),
]


@pytest.mark.parametrize("formulas, family, parameterization, path", CASES)
def test_integer_weights_are_repeated_rows(formulas, family, parameterization, path) -> None:
    d = _table()
    dup = _repeated(d)
    weighted = build_model(build_design(_weighted(formulas[0]), d, dpars=formulas[1:]),
                           family=family)
    repeated = build_model(build_design(formulas[0], dup, dpars=formulas[1:]), family=family)
    assert weighted.design.weighted and not repeated.design.weighted
    # the data-scaled default priors are those of the repeated rows (frequency weights)
    for p, q in zip(weighted.params, repeated.params):
        assert p.name == q.name and p.prior.family == q.prior.family
        for (_, a), (_, b) in zip(p.prior.params, q.prior.params):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    s = Structure.of(weighted, parameterization, None, "float64")
    taken = "group" if s.noise == "group" else "stats" if s.use_stats else "rows"
    assert taken == path
    with jax.enable_x64(True):
        tw = make_target(weighted, parameterization)
        tr = make_target(repeated, parameterization)
        assert tw.target.dim == tr.target.dim
        rng = np.random.default_rng(3)
        for k in range(3):
            z = (np.asarray(tw.target.initial_point(jax.random.key(k)))
                 + 0.3 * rng.normal(size=tw.target.dim))
            lw = float(tw.target.logdensity_fn(z, tw.target.data))
            lr = float(tr.target.logdensity_fn(z, tr.target.data))
            assert np.isfinite(lw)
            np.testing.assert_allclose(lw, lr, rtol=1e-10, atol=1e-8)
            key = jax.random.key(10 + k)
            pw = np.asarray(tw.readout.pointwise_loglik(z, key, tw.target.data, tw.readout.rows))
            pr = np.asarray(tr.readout.pointwise_loglik(z, key, tr.target.data, tr.readout.rows))
            assert pw.shape == (len(d),) and pr.shape == (len(dup),)
            np.testing.assert_allclose(pw.sum(), pr.sum(), rtol=1e-10, atol=1e-8)
            assert np.all(pw[d["w"].to_numpy() == 0] == 0)


def test_weighted_fit_matches_repeated_rows_within_monte_carlo_error() -> None:
    """The posteriors agree (the same model), and weight 0 removes a row: a fit with an
    outlier at weight 0 is the fit without it."""
    d = _table(seed=4, n=90)
    d.loc[5, "y"] = 40.0  # an outlier that counts for nothing
    d.loc[5, "w"] = 0.0
    fw = hbr.fit("y | weights(w) ~ x + (1 | g)", d, seed=1, chains=2, draws=1000)
    fr = hbr.fit("y ~ x + (1 | g)", _repeated(d), seed=2, chains=2, draws=1000)
    import arviz as az
    ess_w, ess_r = az.ess(fw.posterior), az.ess(fr.posterior)
    for name in ("Intercept", "x", "sigma", "1|g_sigma"):
        a, b = (np.asarray(f.posterior[name]).ravel() for f in (fw, fr))
        se = np.hypot(a.std() / np.sqrt(float(ess_w[name])), b.std() / np.sqrt(float(ess_r[name])))
        assert abs(a.mean() - b.mean()) < 4 * se, name
    # ignoring the weights is a different model (a negative control): sigma absorbs the outlier
    with warnings.catch_warnings():  # a short fit of a misfit model: only its sigma is read
        warnings.simplefilter("ignore", DiagnosticsWarning)
        fu = hbr.fit("y ~ x + (1 | g)", d, seed=1, chains=2, draws=300)
    assert float(fu.posterior["sigma"].mean()) > 2 * float(fw.posterior["sigma"].mean())
    assert not np.any(fw.loo().pointwise[5] != 0)  # weight 0: nothing in LOO either


@pytest.mark.parametrize("w, match", [
    ([1.0, -1.0], "must be 0 or more and finite in every row, but it is -1 in 1 row"),
    ([1.0, np.nan], "weights\\(\\) column 'w' is missing in 1 row"),
    ([0.0, 0.0], "is 0 in every row"),
    ([1.0, np.inf], "'w' has 1 non-finite value\\(s\\) \\(first: inf in row 7\\)"),
])
def test_bad_weights_are_refused_with_the_fix(w, match) -> None:
    d = _table(n=20)
    d["w"] = np.resize(np.array(w), len(d)) if len(w) == 2 and w[0] == w[1] else np.where(
        np.arange(len(d)) == 7, w[1], w[0])
    with pytest.raises(DataError, match=match):
        hbr.fit("y | weights(w) ~ x + (1 | g)", d)


def test_weights_out_of_core_are_refused_with_what_works(tmp_path) -> None:
    path = tmp_path / "t.csv"
    _table(n=30).to_csv(path, index=False)
    with pytest.raises((OptionError, DataError), match="weights\\(\\)"):
        hbr.fit("y | weights(w) ~ x + (1 | g)", str(path), engine="duckdb")
