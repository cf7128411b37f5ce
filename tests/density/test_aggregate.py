"""Bernoulli, binomial and Poisson rows that repeat a covariate pattern are read by the log
density collapsed, one row per pattern (:mod:`hbr.design.aggregate`, issue 18).

The collapsed log density must be the row-wise one exactly: value, gradient and the pilot's
data precision agree to 1e-10 at random positions. Only families whose rows collapse
exactly take it, and only when patterns repeat. The pointwise log likelihood stays one
value per row; a fit agrees with the row path within Monte Carlo error.
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.density.build import make_target, target_data
from hbr.density.equations import logdensity
from hbr.density.information import data_precision
from hbr.density.structure import Structure
from hbr.design.aggregate import aggregate_rows, row_patterns
from hbr.design.build import build_design
from hbr.model.spec import build_model


def _table(seed: int = 0, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"g": rng.integers(0, 12, n), "x": rng.integers(0, 3, n).astype(float),
                      "h": rng.choice(["a", "b"], n), "e": rng.choice([0.5, 1.0, 4.0], n)})
    eta = -0.3 + 0.4 * d.x + rng.normal(0, 0.5, 12)[d.g]
    d["k"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    d["c"] = rng.poisson(d.e * np.exp(eta))
    d["n"] = rng.integers(1, 6, n)
    d["s"] = rng.binomial(d.n, 1 / (1 + np.exp(-eta)))
    d["u"] = rng.normal(size=n)  # continuous: every row its own pattern
    return d


MODELS = [  # formula, family, link
    ("k ~ x + (x | g)", "bernoulli", "logit"),
    ("k ~ x + h + offset(log(e)) + (1 | g)", "bernoulli", "probit"),
    ("s | trials(n) ~ x + (1 | g) + (1 | h)", "binomial", "logit"),
    ("c ~ x + offset(log(e)) + (x | g)", "poisson", "log"),
    ("c ~ 0 + C(x) + (1 | g)", "poisson", "log"),
]


def _spec(formula: str, family: str, link: str, d: pd.DataFrame):
    return build_model(build_design(formula, d), family=family, link=link)


@pytest.mark.parametrize("formula,family,link", MODELS)
def test_collapsed_rows_give_the_row_wise_log_density(formula, family, link) -> None:
    spec = _spec(formula, family, link, _table())
    with jax.enable_x64(True):
        parts = []
        for agg in (True, False):
            s = Structure.of(spec, "auto", None, "float64", aggregate=agg)
            data = target_data(s, spec, None)[0]
            parts.append((s, data))
        (sa, da), (sr, dr) = parts
        assert sa.aggregate and not sr.aggregate
        assert da["y"].shape[0] < dr["y"].shape[0] / 2
        rng = np.random.default_rng(1)
        for _ in range(3):
            z = rng.normal(size=sa.dim) * 0.5
            la, ga = jax.jit(jax.value_and_grad(partial(logdensity, sa)))(z, da)
            lr, gr = jax.jit(jax.value_and_grad(partial(logdensity, sr)))(z, dr)
            assert abs(float(la) - float(lr)) < 1e-10 * max(1.0, abs(float(lr)))
            np.testing.assert_allclose(ga, gr, rtol=1e-10, atol=1e-9)
            pa = jax.jit(partial(data_precision, sa))(z, da)[0]
            pr = jax.jit(partial(data_precision, sr))(z, dr)[0]
            for i in pr:
                np.testing.assert_allclose(pa[i], pr[i], rtol=1e-10, atol=1e-9)


def test_patterns_hold_identical_rows_numbered_by_first_appearance() -> None:
    d = _table(2)
    spec = _spec("c ~ x + offset(log(e)) + (1 | g)", "poisson", "log", d)
    b = spec.groups[0].block
    rows = {"y": spec.design.y, "X": spec.design.X, "offset": spec.design.offset,
            "groups": [{"index": b.index, "Z": b.Z}]}
    pats = row_patterns(rows, "poisson")
    key = np.column_stack([spec.design.X, b.index])
    assert np.array_equal(key[pats.first][pats.index], key)  # each row is its pattern's
    assert len({tuple(r) for r in key}) == pats.n  # and no two patterns are equal
    assert np.all(np.diff(pats.first) > 0)
    agg, _ = aggregate_rows(rows, "poisson", pats)
    assert agg["y"].sum() == d["c"].sum()  # the counts and the exposures add up
    np.testing.assert_allclose(np.exp(agg["offset"]).sum(), d["e"].sum(), rtol=1e-12)
    # with the offset in the linear predictor (binomial), it is part of the pattern
    assert row_patterns(rows, "bernoulli").n > pats.n


@pytest.mark.parametrize("formula,family", [("k ~ u + (1 | g)", "bernoulli"),
                                            ("c ~ x + (1 | g)", "negative_binomial")])
def test_rows_stay_rows_when_they_do_not_collapse_exactly(formula, family) -> None:
    spec = _spec(formula, family, "logit" if family == "bernoulli" else "log", _table())
    s = Structure.of(spec, "auto", None, "float64")
    assert s.aggregate == "" and s.x_shape[0] == 600


def test_pointwise_log_likelihood_stays_one_value_per_row() -> None:
    d = _table(3, n=300)
    spec = _spec("k ~ x + (1 | g)", "bernoulli", "logit", d)
    density = make_target(spec, "noncentered")
    assert density.target.data["y"].shape[0] == len(d.groupby(["g", "x"]))
    with jax.enable_x64(True):
        z = density.target.initial_point(jax.random.key(0))
        ll = np.asarray(density.readout.pointwise_loglik(
            z, jax.random.key(1), density.target.data, density.readout.rows))
        total = float(logdensity(Structure.of(spec, "noncentered", None, "float64",
                                              aggregate=False),
                                 z, target_data(Structure.of(spec, "noncentered", None,
                                                             "float64", aggregate=False),
                                                spec, None)[0]))
        lp_prior = total - float(np.sum(ll))
        total_agg = float(density.target.logdensity_fn(z, density.target.data))
    assert ll.shape == (300,)
    assert abs(total_agg - (lp_prior + np.sum(ll))) < 1e-9


def test_a_collapsed_fit_agrees_with_the_row_fit(monkeypatch) -> None:
    """The same posterior, sampled from collapsed rows and from the rows (the collapse
    switched off), agrees within Monte Carlo error: the posterior means differ by less than
    4.5 combined MCSEs, and the sds by less than 15%."""
    import arviz as az

    d = _table(4, n=800)
    kw = dict(family="poisson", chains=2, draws=1000, tune=700, seed=3)
    f = "c ~ x + offset(log(e)) + (1 | g)"
    fits = [hbr.fit(f, d, **kw)]
    monkeypatch.setattr("hbr.density.structure.worth_it", lambda *a: False)
    fits.append(hbr.fit(f, d, **kw))
    post = [fit.idata.posterior for fit in fits]
    for name in ("Intercept", "x", "1|g_sigma"):
        m = [float(p[name].mean()) for p in post]
        se = [float(az.mcse(p[name]).to_array().max()) for p in post]
        sd = [float(p[name].std()) for p in post]
        assert abs(m[0] - m[1]) < 4.5 * np.hypot(*se), (name, m, se)
        assert abs(sd[0] / sd[1] - 1) < 0.15, (name, sd)
    assert fits[0].draws.log_lik.shape[-1] == len(d)
    assert not np.array_equal(post[0]["x"], post[1]["x"])  # two paths, not one run twice
