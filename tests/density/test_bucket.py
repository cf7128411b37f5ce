"""Shape buckets (hbr.density.bucket): the bucket's log density is the model's own plus the
dummy correlation's log prior, exactly; its readout gives the model's draws under the user's
names; a bucket fit agrees with the model's own structure within Monte Carlo error; and
structures of one shape compile their programs once."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import special

import hbr
from hbr._pipeline import read_draws
from hbr._runtime.compile import compile_count
from hbr._runtime.keys import Keys
from hbr.density.bucket import DUMMY_LKJ, bucketable
from hbr.density.build import make_target
from hbr.density.structure import Structure
from hbr.design.build import build_design
from hbr.model.spec import build_model


def _table(seed: int = 0, J: int = 15, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, J, n)
    g[:J] = np.arange(J)
    x, w = rng.normal(size=n), rng.normal(size=n)
    b = rng.normal(size=(J, 3)) * [0.8, 0.4, 0.3]
    y = 1 + 0.5 * x - 0.2 * w + b[g, 0] + b[g, 1] * x + b[g, 2] * w + rng.normal(size=n) * 0.7
    return pd.DataFrame({"y": y, "x": x, "w": w, "g": [f"l{j}" for j in g]})


def _spec(formula: str, d: pd.DataFrame):
    return build_model(build_design(formula, d))


def _lkj2_log_density(u: float, eta: float) -> float:
    """The log density of the unconstrained coordinate u of a 2 x 2 LKJ(eta) correlation,
    r = tanh(u): r ~ Beta(eta, eta) on (-1, 1), times |dr/du| = 1 - r^2."""
    r = math.tanh(u)
    log_beta = (eta - 1) * math.log1p(-r * r) - (2 * eta - 1) * math.log(2) \
        - special.betaln(eta, eta)
    return log_beta + math.log1p(-r * r)


@pytest.mark.parametrize("formula,dummy", [
    ("y ~ x + (1 | g) + (0 + x | g)", 1),
    ("y ~ x + w + (x || g)", 1),
    ("y ~ x + (x | g)", 0),
    ("y ~ x + w + (1 + x + w || g)", 3),
])
def test_the_bucket_is_the_model_plus_an_independent_dummy(formula: str, dummy: int) -> None:
    """log p_bucket(z, u) = log p_model(z) + log p_dummy(u) to rounding, gradient included,
    at random points; for 2 x 2 the dummy's density is written out by hand (Beta(2, 2) of
    r = tanh u, times the Jacobian)."""
    spec = _spec(formula, _table())
    assert bucketable(Structure.of(spec, "marginal", None, "float64"))
    with jax.enable_x64(True):
        own = make_target(spec, "marginal", share=False).target
        shared = make_target(spec, "marginal").target
        assert shared.dim == own.dim + dummy
        f_own = jax.jit(jax.value_and_grad(own.logdensity_fn))
        f_shared = jax.jit(jax.value_and_grad(shared.logdensity_fn))
        rng = np.random.default_rng(3)
        for _ in range(5):
            z = 0.6 * rng.standard_normal(shared.dim)
            a, ga = f_own(jnp.asarray(z[:own.dim]), own.data)
            b, gb = f_shared(jnp.asarray(z), shared.data)
            extra = float(b) - float(a)
            if dummy == 1:
                assert extra == pytest.approx(_lkj2_log_density(z[-1], DUMMY_LKJ), abs=1e-10)
            elif dummy == 0:
                assert abs(extra) <= 1e-10 * abs(float(a))
            np.testing.assert_allclose(np.asarray(gb)[:own.dim], np.asarray(ga), rtol=1e-9,
                                       atol=1e-10)
            if dummy:  # the dummy's gradient does not depend on the model's coordinates
                z2 = z.copy()
                z2[:own.dim] += 0.3
                _, gc = f_shared(jnp.asarray(z2), shared.data)
                np.testing.assert_allclose(np.asarray(gc)[own.dim:], np.asarray(gb)[own.dim:],
                                           rtol=1e-12)


def test_the_readout_gives_the_models_draws_under_its_names() -> None:
    """The same positions and keys through both readouts: every value equal to rounding
    (the effects drawn with the same noise), the user's names, and no dummy."""
    spec = _spec("y ~ x + (1 | g) + (0 + x | g)", _table(1))
    keys = Keys.from_seed(4)
    with jax.enable_x64(True):
        own = make_target(spec, "marginal", share=False)
        shared = make_target(spec, "marginal")
        rng = np.random.default_rng(0)
        z = 0.5 * rng.standard_normal((2, 3, shared.target.dim))
        a, lla, _ = read_draws(own, z[..., :own.target.dim], keys, True)
        b, llb, _ = read_draws(shared, z, keys, True)
        # effect_draws="drop": the sums of the conditional moments, by the user's names too
        _, _, ma = read_draws(own, z[..., :own.target.dim], keys, False, keep_effects=False)
        _, _, mb = read_draws(shared, z, keys, False, keep_effects=False)
    assert set(a) == set(b) == {"Intercept", "x", "sigma", "1|g_sigma", "x|g_sigma", "1|g", "x|g"}
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(llb, lla, rtol=1e-10)
    for part in ("m", "m2", "v"):
        assert set(ma[part]) == set(mb[part]) == {"1|g", "x|g"}
        for name in ma[part]:
            np.testing.assert_allclose(mb[part][name], ma[part][name], rtol=1e-10, atol=1e-12)


def test_a_bucket_fit_agrees_with_the_models_own_structure() -> None:
    """The posterior of (1 | g) + (0 + x | g) sampled in its bucket (one more, independent
    coordinate) and in its own structure: every hyperparameter within 4 combined MCSE."""
    d = _table(2)
    spec = _spec("y ~ x + (1 | g) + (0 + x | g)", d)
    kw = dict(chains=2, draws=800, tune=600, seed=5, progress=False)
    shared = hbr.fit("y ~ x + (1 | g) + (0 + x | g)", d, **kw)
    from hbr import _pipeline
    from hbr.density import build

    original = build.make_target
    try:  # the pipeline's make_target without sharing
        _pipeline.make_target = lambda *a, **k: original(*a, **{**k, "share": False})
        own = hbr.fit("y ~ x + (1 | g) + (0 + x | g)", d, **kw)
    finally:
        _pipeline.make_target = original
    assert spec.groups and shared.diagnostics().ok and own.diagnostics().ok
    a, b = shared.summary(group_effects=False), own.summary(group_effects=False)
    assert list(a.index) == list(b.index)
    z = (a["mean"] - b["mean"]).abs() / np.hypot(a["mcse_mean"], b["mcse_mean"])
    assert (z < 4).all(), z


def test_structures_of_one_shape_compile_once() -> None:
    """(x | g), then (1 | g) + (0 + x | g) and (x || g) on the same table, then (x | g) on
    a table with other names and values of the same size: one set of programs."""
    d = _table(3)
    kw = dict(chains=2, draws=100, tune=100, seed=1, progress=False)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hbr.fit("y ~ x + (x | g)", d, **kw)
        before = compile_count()
        f2 = hbr.fit("y ~ x + (1 | g) + (0 + x | g)", d, **kw)
        f3 = hbr.fit("y ~ x + (x || g)", d, **kw)
        other = _table(4).rename(columns={"y": "resp", "x": "dose", "g": "site"})
        f4 = hbr.fit("resp ~ dose + (dose | site)", other, **kw)
    assert compile_count() == before
    assert "g_corr" not in f2.posterior and "g_corr" not in f3.posterior
    assert {"site_corr", "1|site", "dose|site", "dose"} <= set(f4.posterior)
    assert f4.posterior["site_corr"].shape[-2:] == (2, 2)
