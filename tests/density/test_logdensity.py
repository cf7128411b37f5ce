"""Exact algebra: the target's log density against dense linear algebra (SciPy, float64)."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hbr.design.build import build_design
from hbr.density.build import make_target
from hbr.model.spec import build_model


def _data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 40
    return pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "z": rng.normal(size=n), "g": rng.choice(list("abcde"), n)})


def _dense_Z(block) -> np.ndarray:
    """The N x (J k) matrix that hbr never forms, column order (level, coefficient)."""
    n, k = block.Z.shape
    Z = np.zeros((n, block.n_levels * k))
    for i in range(n):
        Z[i, block.index[i] * k:(block.index[i] + 1) * k] = block.Z[i]
    return Z


def _random_centering(spec, seed: int = 5) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i: rng.uniform(size=(g.block.n_levels, g.block.k)) for i, g in enumerate(spec.groups)}


@pytest.mark.parametrize("parameterization", ["centered", "noncentered", "auto"])
@pytest.mark.parametrize("formula", ["y ~ x + (1 | g)", "y ~ x + (x | g)",
                                     "y ~ x + (1 + x + z | g)", "y ~ x + (x || g)"])
def test_logdensity_matches_dense_algebra(formula: str, parameterization: str) -> None:
    spec = build_model(build_design(formula, _data()),
                       {"sigma": "HalfNormal(1.5)", "Intercept": "Normal(0.3, 2)"})
    centering = _random_centering(spec) if parameterization == "auto" else None
    with jax.enable_x64(True):
        t = make_target(spec, parameterization, centering=centering)
        rng = np.random.default_rng(1)
        z0 = np.asarray(t.target.initial_point(jax.random.PRNGKey(2))) + 0.3 * rng.normal(size=t.target.dim)
        lp0 = float(t.target.logdensity_fn(z0, t.target.data))
        vals = {k: np.asarray(v) for k, v in t.readout.constrain(z0, jax.random.PRNGKey(0), t.target.data).items()}
    # rebuild the log density with dense algebra from the constrained values
    design = spec.design
    y, X = design.y, design.X
    beta = np.concatenate([np.atleast_1d(vals[p.name]) for p in spec.fixed])
    mu = X @ beta
    lp_groups = 0.0
    for i, g in enumerate(spec.groups):
        b = np.column_stack([vals[n] for n in g.block.names])  # (J, k)
        mu = mu + _dense_Z(g.block) @ b.reshape(-1)
        s = np.array([vals[sp.name] for sp in g.sds])
        R = vals[g.corr.name] if g.corr is not None else np.eye(len(s))
        cov = s[:, None] * R * s[None, :]
        if parameterization == "centered":
            lp_groups += stats.multivariate_normal(np.zeros(len(s)), cov).logpdf(b).sum()
        elif parameterization == "auto":
            # zeta_j = w_j m + s^w_j L_R^-1 (b_j / s) ~ N(w_j m, s^(2 w_j)), m the fixed
            # effects of the same columns (Intercept for 1|g, x for x|g, none for z|g)
            m = np.array([{"1": vals["Intercept"], "x": vals["x"]}.get(c, 0.0)
                          for c in g.block.coefs])
            LR = np.linalg.cholesky(R)
            for bj, wj in zip(b, centering[i]):
                zeta = wj * m + s**wj * np.linalg.solve(LR, bj / s)
                lp_groups += stats.norm(wj * m, s**wj).logpdf(zeta).sum()
        else:  # raw z = L^{-1} b, standard normal
            L = np.linalg.cholesky(cov)
            zraw = np.linalg.solve(L, b.T)
            lp_groups += stats.norm.logpdf(zraw).sum()
    lp_lik = stats.norm(mu, vals["sigma"]).logpdf(y).sum()
    # the Intercept's prior is on the intercept at the predictors' means (brms's)
    alpha = vals["Intercept"] + spec.intercept_center @ beta
    lp_prior = (stats.norm(0.3, 2).logpdf(alpha)
                + stats.norm(0, spec.priors["x"].kwargs["sigma"]).logpdf(vals["x"])
                + stats.halfnorm(scale=1.5).logpdf(vals["sigma"]) + np.log(vals["sigma"]))
    for g in spec.groups:
        for sp in g.sds:
            sc = sp.prior.kwargs["sigma"]
            lp_prior += stats.halfnorm(scale=sc).logpdf(vals[sp.name]) + np.log(vals[sp.name])
    # The LKJ term and its Jacobian are checked apart (below); here compare differences in
    # the group effects and sigma, which exercise everything else exactly.
    corr_part = 0.0
    if any(g.corr is not None for g in spec.groups):
        corr_part = _lkj_part(t, z0, spec)
    np.testing.assert_allclose(lp0, lp_prior + lp_groups + lp_lik + corr_part, rtol=1e-10)


def _lkj_part(t, z0, spec) -> float:
    """log LKJCholesky density plus its Jacobian, via NumPyro (an independent check of the
    LKJ normalisation follows in test_lkj_density_against_formula)."""
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import biject_to

    total = 0.0
    offset = 0
    for p in spec.params:
        size = p.size * (p.size - 1) // 2 if p.domain == "corr" else p.size
        if p.domain == "corr":
            d = dist.LKJCholesky(p.size, p.prior.kwargs["eta"])
            tr = biject_to(d.support)
            with jax.enable_x64(True):
                u = jax.numpy.asarray(z0[offset:offset + size])
                L = tr(u)
                total += float(d.log_prob(L) + tr.log_abs_det_jacobian(u, L))
        offset += size
    return total


def test_lkj_density_against_formula() -> None:
    """For 2 x 2, LKJ(eta) on r is proportional to (1 - r^2)^(eta - 1): check the density of
    the sampled correlation, through the Cholesky transform, against the Beta form."""
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import biject_to

    eta = 2.0
    d = dist.LKJCholesky(2, eta)
    tr = biject_to(d.support)
    with jax.enable_x64(True):
        for u in [-1.3, 0.0, 0.4, 2.0]:
            ua = jax.numpy.array([u])
            L = tr(ua)
            r = float(L[1, 0])
            # density of u = density of r * |dr/du|; r = tanh(u) for the 2 x 2 case
            lp_u = float(d.log_prob(L) + tr.log_abs_det_jacobian(ua, L))
            # r = 2 B - 1 with B ~ Beta(eta, eta)
            lp_r = stats.beta(eta, eta).logpdf((r + 1) / 2) - np.log(2)
            np.testing.assert_allclose(lp_u, lp_r + np.log(1 - r**2), rtol=1e-10)


def test_constrained_values_are_valid() -> None:
    spec = build_model(build_design("y ~ x + (1 + x + z | g)", _data()))
    with jax.enable_x64(True):
        t = make_target(spec, "noncentered")
        z = t.target.initial_point(jax.random.PRNGKey(0)) * 3
        v = {k: np.asarray(a) for k, a in t.readout.constrain(z, jax.random.PRNGKey(0), t.target.data).items()}
    R = v["g_corr"]
    np.testing.assert_allclose(R, R.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(R), 1.0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(R) > 0)
    assert v["sigma"] > 0 and v["1|g_sigma"] > 0 and v["z|g_sigma"] > 0
    assert v["1|g"].shape == (5,)


def test_partial_centring_at_one_is_centred() -> None:
    """For uncorrelated effects, w = 1 everywhere is the centred parameterisation on the
    location too: raw = fixed effect + b, with the same density as the centred raw b."""
    spec = build_model(build_design("y ~ x + (1 + x + z || g)", _data()))
    ones = {i: np.ones((g.block.n_levels, g.block.k)) for i, g in enumerate(spec.groups)}
    with jax.enable_x64(True):
        a, c = make_target(spec, "auto", centering=ones), make_target(spec, "centered")
        z = np.array(a.target.initial_point(jax.random.PRNGKey(3)))
        v = a.readout.constrain(z, jax.random.PRNGKey(0), a.target.data)
        zc = z.copy()  # raw blocks come last: 1|g, x|g, z|g, five levels each
        zc[-15:-10] -= float(v["Intercept"])
        zc[-10:-5] -= float(v["x"])
        np.testing.assert_allclose(float(a.target.logdensity_fn(z, a.target.data)),
                                   float(c.target.logdensity_fn(zc, c.target.data)), rtol=1e-12)
        np.testing.assert_allclose(v["1|g"], c.readout.constrain(zc, jax.random.PRNGKey(0), c.target.data)["1|g"])


def test_centering_is_checked() -> None:
    from hbr.errors import OptionError

    spec = build_model(build_design("y ~ x + (x | g)", _data()))
    with pytest.raises(OptionError, match=r"centering\[0\] must be a \(5, 2\) array"):
        make_target(spec, "auto", centering={0: np.full((5, 2), 1.5)})
    with pytest.raises(OptionError, match="'auto' and 'marginal'"):
        make_target(spec, "noncentered", centering={0: np.zeros((5, 2))})


def test_same_shapes_share_a_signature() -> None:
    a = make_target(build_model(build_design("y ~ x + (x | g)", _data(0))))
    b = make_target(build_model(build_design("y ~ x + (x | g)", _data(1))))
    c = make_target(build_model(build_design("y ~ x + (x | g)", _data(0))), "centered")
    assert a.target.signature == b.target.signature != c.target.signature


def test_nested_and_level_predictors_locate_the_centred_effects() -> None:
    """``(1 | a) + (1 | g)`` with g nested in a and w a predictor of g's levels (constant
    within each): under partial centring g's intercepts are located at Intercept + w beta_w
    + b_a[parent], a's at the Intercept (hierarchical centring). The raw block's density is
    checked against the dense formula, zeta_j ~ N(w_j m_j, s^(2 w_j)) level by level with the
    parent's actual effect in m_j (the map from the raw blocks to the effects is triangular,
    so locating them changes no Jacobian and no posterior)."""
    rng = np.random.default_rng(3)
    g = rng.integers(0, 8, 60)
    g[:8] = np.arange(8)
    a, w = g // 3, rng.normal(size=8)[g]  # g nested in a; w constant within g
    d = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60), "w": w,
                      "g": [f"g{i}" for i in g], "a": [f"a{i}" for i in a]})
    priors = {"sigma": "HalfNormal(1.5)", "Intercept": "Normal(0.3, 2)",
              "1|a_sigma": "HalfNormal(1)", "1|g_sigma": "HalfNormal(0.7)"}
    spec = build_model(build_design("y ~ x + w + (1 | a) + (1 | g)", d), priors)
    from hbr.density.structure import Structure

    s = Structure.of(spec, "auto", None, "float64")
    ia, ig = (next(i for i, t in enumerate(spec.groups) if t.block.factor == f)
              for f in ("a", "g"))
    assert s.groups[ig].parent == (ia, 0, 0) and s.groups[ia].parent is None
    wcol = next(t.start for t in spec.design.terms if t.name == "w")
    assert s.groups[ig].level_cols == (wcol,) and s.groups[ia].level_cols == ()
    centering = _random_centering(spec, 7)
    with jax.enable_x64(True):
        t = make_target(spec, "auto", centering=centering)
        z0 = np.asarray(t.target.initial_point(jax.random.PRNGKey(2))) + 0.3 * rng.normal(
            size=t.target.dim)
        lp0 = float(t.target.logdensity_fn(z0, t.target.data))
        vals = {k: np.asarray(v) for k, v in
                t.readout.constrain(z0, jax.random.PRNGKey(0), t.target.data).items()}
    X, y = spec.design.X, spec.design.y
    beta = np.concatenate([np.atleast_1d(vals[p.name]) for p in spec.fixed])
    mu = X @ beta
    lp_groups = 0.0
    ba = vals["1|a"]
    for i in (ia, ig):
        blk = spec.groups[i].block
        b = vals[blk.names[0]]
        mu = mu + b[blk.index]
        sd = float(vals[spec.groups[i].sds[0].name])
        m = np.full(blk.n_levels, float(vals["Intercept"]))
        if i == ig:
            lv = np.zeros(blk.n_levels)
            lv[blk.index] = X[:, wcol]
            par = np.zeros(blk.n_levels, dtype=int)
            par[blk.index] = spec.groups[ia].block.index
            m = m + lv * float(vals["w"]) + ba[par]
        wj = centering[i][:, 0]
        zeta = wj * m + sd**wj * (b / sd)
        lp_groups += stats.norm(wj * m, sd**wj).logpdf(zeta).sum()
    lp_lik = stats.norm(mu, vals["sigma"]).logpdf(y).sum()
    beta = np.concatenate([np.atleast_1d(vals[p.name]) for p in spec.fixed])
    alpha = vals["Intercept"] + spec.intercept_center @ beta  # the prior's intercept
    lp_prior = stats.norm(0.3, 2).logpdf(alpha)
    for n in ("x", "w"):
        lp_prior += stats.norm(0, spec.priors[n].kwargs["sigma"]).logpdf(vals[n])
    for p in spec.params:
        if p.domain == "positive":
            sc = p.prior.kwargs["sigma"]
            lp_prior += stats.halfnorm(scale=sc).logpdf(vals[p.name]) + np.log(vals[p.name])
    np.testing.assert_allclose(lp0, lp_prior + lp_groups + lp_lik, rtol=1e-10)
