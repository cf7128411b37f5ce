"""Group effects correlated across the formulas of a distributional model (brms's shared id,
``["y ~ x + (x |p| g)", "sigma ~ 1 + (1 |p| g)"]``, issue 21).

The mean's effects given log sigma's are Gaussian, :math:`b_\\mu \\mid b_\\sigma \\sim
N(A b_\\sigma, S)`, so they are still integrated out exactly. Checked here: the log density
and the conditional mean of the effects against dense linear algebra written from the
joint covariance (statistics and row paths), the integrated and the all-sampled
parameterisations agreeing within Monte Carlo error and recovering the simulated
correlations, new levels drawn from the joint population, and the named errors.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
from hbr.density.build import target_data
from hbr.density.equations import logdensity, unpack
from hbr.density.readouts import all_effects
from hbr.density.structure import Structure
from hbr.design.build import build_design
from hbr.errors import DiagnosticsWarning
from hbr.model.spec import build_model

FORMULAS = ["y ~ x + (x |p| g)", "sigma ~ 1 + (1 |p| g)"]
SD = np.array([0.8, 0.4, 0.5])  # 1|g, x|g, sigma_1|g
R = np.array([[1.0, 0.2, 0.6], [0.2, 1.0, -0.3], [0.6, -0.3, 1.0]])


def _table(J: int, seed: int, lo: int = 5, hi: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), rng.integers(lo, hi, J))
    x = rng.normal(size=g.size)
    b = rng.multivariate_normal(np.zeros(3), SD[:, None] * R * SD[None, :], J)
    y = (1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x
         + np.exp(-0.3 + b[g, 2]) * rng.normal(size=g.size))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})


def test_the_design_and_names() -> None:
    spec = build_model(build_design(FORMULAS[0], _table(6, 0), dpars=(FORMULAS[1],)))
    assert spec.design.joint == ((0, 1),)
    mean, other = spec.groups
    assert (mean.partner, other.partner, other.corr) == (1, 0, None)
    assert mean.corr.name == "g_corr" and mean.corr.labels == ("1", "x", "sigma_1")
    assert mean.corr.size == 3 and str(spec.priors["g_corr"]) == "LKJ(eta=2)"


@pytest.mark.parametrize("group_stats", [True, False])
def test_log_density_and_effects_are_the_dense_gaussian(group_stats: bool) -> None:
    d = _table(7, 1, 1, 9)
    spec = build_model(build_design(FORMULAS[0], d, dpars=(FORMULAS[1],)))
    s = Structure.of(spec, "marginal", None, "float64", group_stats=group_stats)
    assert s.noise == ("group" if group_stats else "rows") and s.marg_ids == (0,)
    X, Z = spec.design.X, spec.groups[0].block.Z
    idx, J, y = spec.groups[0].block.index, spec.groups[0].block.n_levels, spec.design.y
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        data = jax.tree_util.tree_map(jax.numpy.asarray, target_data(s, spec, None)[0])
        for _ in range(3):
            z = jax.numpy.asarray(0.6 * rng.standard_normal(s.dim))
            lp, vals, effects, _ = unpack(s, z, data)
            # the joint covariance, written from the parameters
            sd = np.array([float(vals[n][0]) for n in ("1|g_sigma", "x|g_sigma",
                                                       "sigma_1|g_sigma")])
            Lc = np.asarray(vals["g_corr"])
            Sig = sd[:, None] * (Lc @ Lc.T) * sd[None, :]
            A = Sig[:2, 2:] @ np.linalg.inv(Sig[2:, 2:])
            S = Sig[:2, :2] - A @ Sig[2:, :2]
            b_sig = np.asarray(effects[1])  # (J, 1)
            beta = np.array([float(vals["Intercept"][0]), float(vals["x"][0])])
            log_sd = float(vals["sigma_Intercept"][0]) + b_sig[idx, 0]
            Zf = np.zeros((len(y), 2 * J))  # the mean's effects, level by level
            for c in range(2):
                Zf[np.arange(len(y)), 2 * idx + c] = Z[:, c]
            prior_mean = (b_sig @ A.T).reshape(-1)
            prior_cov = np.kron(np.eye(J), S)
            mean = X @ beta + Zf @ prior_mean
            V = Zf @ prior_cov @ Zf.T + np.diag(np.exp(2 * log_sd))
            dense = float(lp) + stats.multivariate_normal(mean, V).logpdf(y)
            got = float(logdensity(s, z, data))
            assert got == pytest.approx(dense, rel=1e-10, abs=1e-9)
            # E[b_mu | y, b_sigma]: all_effects with the noise switched off
            post_mean = prior_mean + prior_cov @ Zf.T @ np.linalg.solve(V, y - mean)
            no_noise = {**data, "marg": {**data["marg"], "noise": 0.0}}
            b = np.asarray(all_effects(s, z, jax.random.key(0), no_noise)[1][0])
            np.testing.assert_allclose(b.reshape(-1), post_mean, rtol=1e-9, atol=1e-10)


def test_integrated_and_sampled_agree_and_recover_the_correlations() -> None:
    """The same posterior from two implementations: the mean's effects integrated out
    given log sigma's ("marginal", the default) and every effect sampled
    ("noncentered"), each hyperparameter's means within 4 combined MCSEs; the correlations
    within 3 posterior sds of the truth."""
    d = _table(40, 3)
    kw = dict(seed=1, progress=False, draws=600, tune=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        a = hbr.fit(FORMULAS, d, **kw)
        b = hbr.fit(FORMULAS, d, parameterization="noncentered", **kw)
    assert a.parameterization.name == "marginal" and b.parameterization.name == "noncentered"
    assert int(a.draws.stats["diverging"].sum()) == 0
    sa, sb = a.summary(group_effects=False), b.summary(group_effects=False)
    assert "g_corr[sigma_1, 1]" in sa.index
    for name in sa.index:
        gap = abs(sa.loc[name, "mean"] - sb.loc[name, "mean"])
        assert gap < 4 * np.hypot(sa.loc[name, "mcse_mean"], sb.loc[name, "mcse_mean"]), name
    truth = {"g_corr[x, 1]": R[0, 1], "g_corr[sigma_1, 1]": R[0, 2],
             "g_corr[sigma_1, x]": R[1, 2], "sigma_1|g_sigma": SD[2]}
    for name, value in truth.items():
        assert abs(sa.loc[name, "mean"] - value) < 3 * sa.loc[name, "sd"], name
    vc = a.varcorr()
    assert ("g", "cor(Intercept,sigma_Intercept)") in vc.index
    # a new level's mean and log sigma effects are drawn together, correlated as the
    # posterior says (4000 joint draws: the sample correlation's sd is about 0.015)
    new = pd.DataFrame({"x": [0.0], "g": ["new"]})
    from hbr.posterior.predictive import _with_new_levels
    from hbr.design.newdata import new_rows

    post = {k: np.asarray(v) for k, v in a.draws.posterior.items()}
    rows = new_rows(a.spec.design, new.assign(y=0.0))
    ext = _with_new_levels(a.spec, post, rows, "sample", np.random.default_rng(0))
    b1, bs = ext["1|g"][..., -1].ravel(), ext["sigma_1|g"][..., -1].ravel()
    expected = float(np.mean(post["g_corr"][..., 0, 2]))
    assert abs(np.corrcoef(b1, bs)[0, 1] - expected) < 0.06


def test_an_id_on_two_factors_across_formulas_is_named() -> None:
    d = _table(6, 0).assign(h=lambda t: ["a", "b"] * (len(t) // 2) + ["a"] * (len(t) % 2))
    with pytest.raises(hbr.errors.DataError, match="one grouping factor.*'g'.*'h'") as err:
        build_design("y ~ x + (x |p| g)", d, dpars=("sigma ~ 1 + (1 |p| h)",))
    assert "^" in str(err.value)
