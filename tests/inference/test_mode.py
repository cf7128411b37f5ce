"""find_mode's Hessian (issue 17): central differences of the exact gradient, from one
batched gradient program, agree with JAX's exact forward-over-reverse Hessian (dense
algebra) to ~1e-7 relative, at the mode and away from it, on the radon marginal target, a
non-centred target of 176 parameters (several batches) and a Bernoulli target; and the mode
is where the exact gradient vanishes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hbr
from hbr.density.build import make_target
from hbr.design import build_design
from hbr.inference.mode import _fd_hessian_program, _fgh, find_mode
from hbr.model.spec import build_model


def _target(formula: str, data, parameterization: str, family: str = "gaussian"):
    spec = build_model(build_design(formula, data), family=family)
    mfactor = "county" if parameterization == "marginal" else None
    return make_target(spec, parameterization, mfactor).target


@pytest.fixture(scope="module")
def mn():
    radon = hbr.load_dataset("radon")
    return radon[radon.state == "MN"].reset_index(drop=True)


@pytest.mark.parametrize("case", ["marginal", "noncentered", "bernoulli"])
def test_difference_hessian_equals_the_exact_hessian(case: str, mn) -> None:
    with jax.enable_x64(True):
        if case == "bernoulli":
            d = mn.assign(high=(mn.log_radon > 1.3).astype(int))
            t = _target("high ~ floor + (1 | county)", d, "noncentered", "bernoulli")
        else:
            t = _target("log_radon ~ floor + (floor | county)", mn, case)
        z0 = np.asarray(t.initial_point(jax.random.PRNGKey(3)))
        mode = find_mode(t, jnp.asarray(z0))
        exact = jax.jit(jax.hessian(lambda x: t.logdensity_fn(x, t.data)))
        grad = jax.jit(jax.grad(lambda x: t.logdensity_fn(x, t.data)))
        program, size = _fd_hessian_program(t, z0)
        assert size == min(2 * t.dim + 1, 65)
        for x in (z0, mode.z):
            f, g, H = _fgh(program, size, t.data, x)
            want = np.asarray(exact(jnp.asarray(x)))
            assert f == pytest.approx(float(t.logdensity_fn(jnp.asarray(x), t.data)), rel=1e-12)
            np.testing.assert_allclose(g, np.asarray(grad(jnp.asarray(x))), rtol=1e-12,
                                       atol=1e-12)
            scale = np.abs(want).max()
            np.testing.assert_allclose(H, want, rtol=1e-6, atol=1e-7 * scale)
        if case == "marginal":  # an interior mode: the exact gradient vanishes there
            assert mode.converged
            assert np.abs(np.asarray(grad(jnp.asarray(mode.z)))).max() < 1e-3
            np.testing.assert_allclose(mode.hessian, -np.asarray(exact(jnp.asarray(mode.z))),
                                       rtol=1e-6, atol=1e-7 * np.abs(mode.hessian).max())


def test_joint_modes_from_the_profile_equal_the_joint_optimisation(mn) -> None:
    """The non-centred joint mode from the marginal target's profile (effects in closed
    form, hbr.checks.modes._profile_mode) equals find_mode over hyperparameters and all
    2 x 85 effects of the non-centred target, to the optimiser's tolerance; the centred
    profile has no interior mode, as the joint optimisation finds none."""
    from hbr._pipeline import sample
    from hbr.checks.modes import _profile_mode
    from hbr.errors import OptionError
    from hbr.options import FitOptions

    spec = build_model(build_design("log_radon ~ floor + (floor | county)", mn))
    got = _profile_mode(spec, False, seed=1)
    run = sample(spec, FitOptions.of(method="map", chains=1, draws=1, seed=1,
                                     parameterization="noncentered"))
    for name, v in run.values.items():
        np.testing.assert_allclose(got[name], np.asarray(v)[0, 0], rtol=1e-4, atol=1e-4,
                                   err_msg=name)
    assert got["1|county_sigma"] > 1.5  # the inflated sd of the module docstring (1.98)
    assert _profile_mode(spec, True, seed=1) is None
    with pytest.raises(OptionError, match="no mode"):
        sample(spec, FitOptions.of(method="map", chains=1, draws=1, seed=1,
                                   parameterization="centered"))
