"""The pilot behind "auto": its mode, the Hessian diagonal it hands NUTS, and the centred
fractions, each against an independent computation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from hbr.design.build import build_design
from hbr.inference.mode import find_mode
from hbr.density.build import make_target
from hbr.model.spec import build_model
from hbr.density.auto import auto_centering, diagonal_precision, pilot_mode
from hbr.density.reparam import centered_fraction, plausible_low_sd


def _data(seed: int = 0, J: int = 12, H: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 40, J)
    g = np.repeat(np.arange(J), n)
    h = rng.integers(0, H, g.size)
    x = rng.normal(size=g.size)
    y = (1 + 0.5 * x + rng.normal(0, 0.6, J)[g] + rng.normal(0, 0.3, J)[g] * x
         + rng.normal(0, 0.4, H)[h] + rng.normal(0, 1, g.size))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]})


@pytest.mark.parametrize("formula,parameterization", [
    ("y ~ x + (x | g)", "auto"), ("y ~ x + (x || g) + (1 | h)", "auto"),
    ("y ~ x + (x | g) + (1 | h)", "marginal"), ("y ~ x + (1 + x | g)", "noncentered")])
def test_diagonal_precision_is_the_hessian_diagonal(formula: str, parameterization: str) -> None:
    spec = build_model(build_design(formula, _data()))
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        w = {i: rng.uniform(size=(g.block.n_levels, g.block.k)) for i, g in
             enumerate(spec.groups)} if parameterization == "auto" else None
        if parameterization == "marginal":  # only the crossed factor h is sampled
            w = {2: rng.uniform(size=(4, 1))}
        t = make_target(spec, parameterization, centering=w)
        z = t.target.initial_point(jax.random.PRNGKey(0)) + 0.3 * rng.normal(size=t.target.dim)
        hess = jax.jit(jax.hessian(lambda v: t.target.logdensity_fn(v, t.target.data)))
        want = -np.diag(np.asarray(hess(z)))
        got = diagonal_precision(t, jnp.asarray(z))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_pilot_mode_is_the_marginal_mode_for_one_gaussian_factor() -> None:
    """With every effect centred, the Laplace-corrected pilot objective maximised over the
    effects is the log marginal posterior (exact for one Gaussian factor), so its mode in the
    hyperparameters equals the mode of the exact marginal target found by Newton steps."""
    spec = build_model(build_design("y ~ x + (x | g)", _data(3)))
    ones = {0: np.ones((12, 2))}
    with jax.enable_x64(True):
        ta = make_target(spec, "auto", centering=ones)
        tm = make_target(spec, "marginal")
        za = pilot_mode(ta, ta.target.initial_point(jax.random.PRNGKey(0)), steps=400)
        mode = find_mode(tm.target, tm.target.initial_point(jax.random.PRNGKey(0)))
        assert mode.converged
        va = ta.readout.constrain(jnp.asarray(za), jax.random.PRNGKey(0), ta.target.data)
        vm = tm.readout.rename(  # a shape bucket's slot names -> the model's
            tm.readout.constrain(jnp.asarray(mode.z), jax.random.PRNGKey(0), tm.target.data))
    for name in ("Intercept", "x", "sigma", "1|g_sigma", "x|g_sigma"):
        assert float(va[name]) == pytest.approx(float(vm[name]), rel=2e-3, abs=2e-3), name


def test_centred_fractions_follow_group_size_and_the_plausible_sd() -> None:
    # closed form: w = s^2 I / (s^2 I + 1)
    np.testing.assert_allclose(centered_fraction(np.array([0.5, 2.0]), np.array([[4.0, 1.0]])),
                               [[0.5, 0.8]])
    # a clearly non-zero sd keeps a lower bound near the pilot's; when the unshrunk effects
    # are no more spread than their noise, s = 0 is plausible and the term stays non-centred
    rng = np.random.default_rng(0)
    info = np.full((50, 1), 25.0)  # v = 0.04 per group
    lam = centered_fraction(np.array([0.5]), info)
    spread = rng.normal(0, np.sqrt(0.25 + 0.04), (50, 1)) * lam
    assert 0.3 < plausible_low_sd(np.array([0.5]), info, spread)[0] < 0.5
    noise = rng.normal(0, 0.2, (50, 1)) * lam
    assert plausible_low_sd(np.array([0.5]), info, noise)[0] == 0.0
    # on data, big groups are centred more than small ones
    d = _data(5, J=30)
    spec = build_model(build_design("y ~ x + (1 | g)", d))
    with jax.enable_x64(True):
        w = auto_centering(spec, "auto", None, jax.random.PRNGKey(0))[0][:, 0]
    n = d.g.value_counts().reindex(spec.groups[0].block.levels).values
    assert np.all(np.diff(w[np.argsort(n)]) >= -1e-12)
