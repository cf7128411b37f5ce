"""Bernoulli, binomial and Poisson rows collapsed to covariate patterns by DuckDB, out of
core (:mod:`hbr.sources.patterns`, issue 18).

The log density DuckDB's patterns give must be the row-wise log density of the same table
read by pandas, to 1e-10, for crossed and nested factors, categorical columns, trials and
offsets; a fit agrees with the in-memory fit within Monte Carlo error and predicts and
reloads; a response the family cannot have is a DataError naming the column.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.density.build import target_data
from hbr.density.equations import logdensity
from hbr.density.structure import Structure
from hbr.design.build import build_design
from hbr.errors import DataError
from hbr.model.spec import build_model
from hbr.sources import stats_design

pytest.importorskip("duckdb")


def _table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, n)
    d = pd.DataFrame({"a": a, "b": a * 10 + rng.integers(0, 4, n),  # b nested in a
                      "h": rng.choice(["p", "q", "r"], n), "x": rng.integers(0, 3, n) * 0.5,
                      "e": rng.choice([0.5, 1.0, 4.0], n)})
    d["w"] = d["a"] * 0.1  # a predictor of a's levels
    eta = -0.2 + 0.5 * d.x + rng.normal(0, 0.4, 6)[a]
    d["k"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    d["c"] = rng.poisson(d.e * np.exp(eta))
    d["n"] = rng.integers(1, 5, n)
    d["s"] = rng.binomial(d.n, 1 / (1 + np.exp(-eta)))
    return d


MODELS = [
    ("k ~ x + C(h) + (x | a) + (1 | h)", "bernoulli", "logit"),
    ("k ~ x + w + offset(log(e)) + (1 | a/b)", "bernoulli", "probit"),
    ("s | trials(n) ~ x + (1 | a) + (1 | h)", "binomial", "logit"),
    ("c ~ x + w + offset(log(e)) + (1 | a/b)", "poisson", "log"),
]


@pytest.mark.parametrize("formula,family,link", MODELS)
def test_duckdb_patterns_give_the_row_wise_log_density(formula, family, link,
                                                       tmp_path: Path) -> None:
    d = _table()
    d.to_parquet(tmp_path / "t.parquet")
    out = build_model(stats_design(formula, str(tmp_path / "t.parquet"), family=family),
                      family=family, link=link)
    mem = build_model(build_design(formula, d), family=family, link=link)
    assert not out.design.has_rows and out.design.n_obs == len(d)
    for name, prior in mem.priors.items():  # the default priors from the same moments
        other = out.priors[name]
        assert other.family == prior.family
        for (k, u), (_, v) in zip(other.params, prior.params):
            np.testing.assert_allclose(u, v, rtol=1e-9, err_msg=f"{name} {k}")
    with jax.enable_x64(True):
        so = Structure.of(out, "auto", None, "float64")
        sm = Structure.of(mem, "auto", None, "float64", aggregate=False)
        assert so.aggregate and so.groups == sm.groups  # the same layout, centring and all
        do, dm = target_data(so, out, None)[0], target_data(sm, mem, None)[0]
        # the coordinates of the fixed effects come from an IRLS fit, of the patterns and of
        # the rows, equal to its tolerance (1e-8): share them to compare the likelihoods
        do = {**do, "affine": dm["affine"], "prior": dm["prior"]}
        assert do["y"].shape[0] < len(d) / 5
        rng = np.random.default_rng(1)
        for _ in range(3):
            z = rng.normal(size=so.dim) * 0.5
            lo, go = jax.jit(jax.value_and_grad(partial(logdensity, so)))(z, do)
            lm, gm = jax.jit(jax.value_and_grad(partial(logdensity, sm)))(z, dm)
            assert abs(float(lo) - float(lm)) < 1e-10 * abs(float(lm))
            np.testing.assert_allclose(go, gm, rtol=1e-9, atol=1e-8)


def test_a_fit_from_patterns_agrees_with_pandas_and_reloads(tmp_path: Path) -> None:
    d = _table(seed=2)
    path = tmp_path / "t.parquet"
    d.to_parquet(path)
    kw = dict(family="poisson", chains=2, draws=600, tune=500, seed=4, log_likelihood=False)
    f = "c ~ x + offset(log(e)) + (1 | a)"
    with pytest.warns(hbr.HbrWarning, match="stayed out of memory"):
        a = hbr.fit(f, str(path), engine="duckdb", **{k: v for k, v in kw.items()
                                                        if k != "log_likelihood"})
    b = hbr.fit(f, d, **kw)
    assert a.draws.attrs["collapsed_rows"] == len(d.groupby(["x", "a"]))
    sa, sb = a.summary(group_effects=False), b.summary(group_effects=False)
    z = (sa["mean"] - sb["mean"]) / np.hypot(sa["mcse_mean"], sb["mcse_mean"])
    assert z.abs().max() < 4.5, z
    new = d.head(4)
    np.testing.assert_allclose(a.predict(new).mean(axis=(0, 1)),
                               b.predict(new).mean(axis=(0, 1)), rtol=0.05)
    a.to_netcdf(tmp_path / "a.nc")
    back = hbr.load_fit(tmp_path / "a.nc", str(path))
    assert back.summary().equals(a.summary())


def test_a_response_the_family_cannot_have_is_named(tmp_path: Path) -> None:
    d = _table()
    d.loc[7, "k"] = 2
    d.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"family='bernoulli' needs 'k' to be 0 or 1.*1 row"):
        hbr.fit("k ~ x + (1 | a)", str(tmp_path / "bad.parquet"), family="bernoulli",
                engine="duckdb")
    d = _table()
    d.loc[3, "s"] = 9  # more successes than trials
    d.to_parquet(tmp_path / "bad2.parquet")
    with pytest.raises(DataError, match="family='binomial' needs 's'"):
        hbr.fit("s | trials(n) ~ x + (1 | a)", str(tmp_path / "bad2.parquet"),
                family="binomial", engine="duckdb")
