"""Crossed and nested Gaussian factors, each integrated out in turn (hbr.density.gibbs).

The algebra is checked against dense linear algebra: each step's log density of the
hyperparameters is the prior plus the multivariate normal density of the residual with the
step's factor integrated out, and each draw reports the joint log density of the new
position. A fit agrees with the other exact scheme (one factor integrated, the other
sampled by NUTS) within Monte Carlo error, on crossed and nested designs with a correlated
slope; a second fit of the same shapes compiles nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
from hbr._runtime.compile import compile_count
from hbr.density.build import make_gibbs_target
from hbr.density.equations import unpack
from hbr.density.gibbs import _beta_posterior, _beta_prior, beta_integrated, gibbs_factors
from hbr.density.structure import Structure
from hbr.design.build import build_design
from hbr.model.spec import build_model


def _crossed(seed: int, n: int = 60, J: int = 5, H: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, J, n), rng.integers(0, H, n)
    g[:J], h[:H] = np.arange(J), np.arange(H)
    x = rng.normal(size=n)
    k = rng.integers(0, 3, n)
    bg, bh, bk = rng.normal(0, 0.7, (J, 2)), rng.normal(0, 0.5, H), rng.normal(0, 0.4, 3)
    y = 1 + 0.5 * x + bg[g, 0] + bg[g, 1] * x + bh[h] + bk[k] + 0.6 * rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g],
                         "h": [f"h{i}" for i in h], "k": [f"k{i}" for i in k],
                         "o": rng.normal(size=n)})


def _spec(formula: str, d: pd.DataFrame, **kw):
    return build_model(build_design(formula, d, **kw))


@pytest.mark.parametrize("formula", ["y ~ x + (x | g) + (1 | h)",
                                     "y ~ 1 + offset(o) + (1 | g) + (1 | h)",
                                     "y ~ x + (1 | g) + (1 | h) + (1 | k)",
                                     "y ~ 0 + (x || g) + (1 | h)"])
def test_steps_are_the_dense_marginal(formula: str) -> None:
    d = _crossed(0)
    spec = _spec(formula, d)
    s = Structure.of(spec, "centered", None, "float64")
    factors = gibbs_factors(spec)
    assert len(factors) >= 2
    with jax.enable_x64(True):
        t = make_gibbs_target(spec, factors).target
        data = jax.tree_util.tree_map(jnp.asarray, t.data)
        hooks, rng = t.blocks, np.random.default_rng(1)
        y = d["y"].to_numpy() - (d["o"].to_numpy() if "offset" in formula else 0)
        for _ in range(3):
            z = jnp.asarray(0.5 * rng.standard_normal(t.dim))
            for f, ids in enumerate(factors):
                _, vals, effects, Ls = unpack(s, z, data)
                lp_rest = float(unpack(s, z, data, skip=ids)[0])
                beta = np.concatenate([np.atleast_1d(vals[n]) for n in s.fixed]) \
                    if s.fixed else np.zeros(0)
                mean = spec.design.X @ beta
                cov = float(vals["sigma"][0]) ** 2 * np.eye(len(y))
                for i, g in enumerate(spec.groups):
                    blk = g.block
                    Zi = np.zeros((len(y), blk.n_levels * blk.k))  # dense design of term i
                    for c in range(blk.k):
                        Zi[np.arange(len(y)), blk.index * blk.k + c] = blk.Z[:, c]
                    if i in ids:  # integrated: Z (I x Sigma) Z'
                        S = np.asarray(Ls[i] @ Ls[i].T)
                        cov = cov + Zi @ np.kron(np.eye(blk.n_levels), S) @ Zi.T
                    else:
                        mean = mean + Zi @ np.asarray(effects[i]).reshape(-1)
                st = hooks.stats(f, z, data)
                if beta_integrated(s):  # beta ~ N(m0, P0^-1) integrated out as well
                    m0, P0 = (np.asarray(a) for a in _beta_prior(s, data))
                    # the priors are on gamma: the intercept at the predictors' means
                    # in the intercept's place, beta = T gamma (ModelSpec.intercept_center)
                    T = np.eye(len(beta))
                    if spec.intercept_center is not None:
                        assert spec.design.terms[0].name == "Intercept"
                        T[0] -= spec.intercept_center
                    X = spec.design.X @ T
                    r = y - (mean - spec.design.X @ beta)  # the residual of the other factors
                    Vi = np.linalg.inv(cov)
                    H = X.T @ Vi @ X + np.diag(P0)
                    C, w, _ = _beta_posterior(s, data["gibbs"]["factors"][f], st, jax.scipy
                                              .linalg.block_diag(*[Ls[i] for i in ids]),
                                              vals["sigma"][0], data)
                    np.testing.assert_allclose(C @ C.T, H, rtol=1e-9)
                    np.testing.assert_allclose(np.linalg.solve(C.T, w), np.linalg.solve(
                        H, X.T @ Vi @ r + P0 * m0), rtol=1e-9, atol=1e-12)
                    mean = X @ m0 + (mean - spec.design.X @ beta)
                    cov = cov + X @ np.diag(1 / P0) @ X.T
                dense = lp_rest + stats.multivariate_normal(mean, cov).logpdf(y)
                got = float(hooks.logdensity(f, z[:hooks.theta_dim], z, st, data))
                assert got == pytest.approx(dense, rel=1e-10, abs=1e-9)
                z2, lp = hooks.draw(f, jax.random.key(f), z, st, data)
                assert float(lp) == pytest.approx(float(t.logdensity_fn(z2, data)),
                                                  rel=1e-12, abs=1e-9)
                # only block f moved (and the fixed effects, drawn with it)
                moved = np.flatnonzero(np.asarray(z2) != np.asarray(z))
                allowed = set().union(*[range(*s.groups[i].raw[:2]) for i in ids])
                if beta_integrated(s):
                    allowed |= {c for p in s.params if p.name in s.fixed
                                for c in range(p.start, p.stop)}
                assert set(moved) <= allowed


@pytest.mark.parametrize("formula,kw,applies", [
    ("y ~ x + (1 | g) + (1 | h)", {}, True),
    ("y ~ x + (1 | g/h)", {}, False),  # nested: g:h integrated, g sampled (see _nested)
    ("y ~ x + (x | g)", {}, False),  # one factor: the statistics path
    ("y ~ x + (1 | g) + (1 | h)", {"dpars": ("sigma ~ 1 + (1 | g)",)}, False),
    ("y | se(o) ~ x + (1 | g) + (1 | h)", {}, False),
])
def test_which_models_take_it(formula: str, kw: dict, applies: bool) -> None:
    d = _crossed(0)
    d["o"] = d["o"].abs() + 0.1
    assert bool(gibbs_factors(_spec(formula, d, **kw))) == applies


def _agree(a: hbr.Fit, b: hbr.Fit, names: list[str]) -> None:
    sa, sb = a.summary(group_effects=False), b.summary(group_effects=False)
    for n in names:
        z = (sa.loc[n, "mean"] - sb.loc[n, "mean"]) / np.hypot(sa.loc[n, "mcse_mean"],
                                                               sb.loc[n, "mcse_mean"])
        assert abs(z) < 4, (n, sa.loc[n], sb.loc[n])


@pytest.mark.parametrize("formula,names", [
    ("y ~ x + (x | g) + (1 | h)",
     ["Intercept", "x", "sigma", "1|g_sigma", "x|g_sigma", "1|h_sigma"]),
    ("y ~ x + (1 | g) + (1 | h) + (1 | k)",
     ["Intercept", "x", "sigma", "1|g_sigma", "1|h_sigma", "1|k_sigma"]),
])
def test_agrees_with_sampling_the_other_factor(formula: str, names: list[str]) -> None:
    """The same posterior by two exact schemes: NUTS within collapsed Gibbs (the default) and
    NUTS over the hyperparameters and one factor's effects, the other integrated out. Means
    within 4 combined MCSEs, effects included."""
    d = _crossed(3, n=300, J=12, H=6)
    gibbs = hbr.fit(formula, d, seed=1, log_likelihood=False)
    assert gibbs.parameterization.marginalized.endswith("(each in turn)")
    assert int(gibbs.draws.stats["diverging"].sum()) == 0
    assert gibbs.diagnostics().max_rhat < 1.01
    other = hbr.fit(formula, d, seed=2, log_likelihood=False, marginalize="g")
    _agree(gibbs, other, names)
    for eff in ("1|g", "1|h"):
        a = gibbs.draws.posterior[eff].mean(axis=(0, 1))
        b = other.draws.posterior[eff].mean(axis=(0, 1))
        sd = gibbs.draws.posterior[eff].std(axis=(0, 1))
        assert np.max(np.abs(a - b) / sd) < 0.15, eff  # 4000 draws: MCSE ~0.02 sd


def test_nested_factors_keep_one_integrated() -> None:
    f = hbr.fit("y ~ x + (1 | g/h)", _crossed(3, n=120, J=6, H=4), seed=1, chains=2,
                draws=50, tune=50, log_likelihood=False)
    assert f.parameterization.marginalized == "g:h"


def test_second_fit_compiles_nothing() -> None:
    d1, d2 = _crossed(4, n=80), _crossed(5, n=80)
    hbr.fit("y ~ x + (1 | g) + (1 | h)", d1, seed=1, chains=2, draws=50, tune=50)
    before = compile_count()
    f = hbr.fit("y ~ x + (1 | g) + (1 | h)", d2, seed=1, chains=2, draws=50, tune=50)
    assert compile_count() == before
    assert f.draws.posterior["1|h"].shape == (2, 50, 4)
