"""A formula for any family parameter (brms's distributional regression): ``zi ~ z``,
``shape ~ (1 | g)``, ``phi ~ x`` beside ``sigma ~ ...``, each on its link (log; logit for the
probabilities zi and hu) and named with its prefix (``zi_Intercept``, ``shape_1|g_sigma``).

Two implementations agree (the log density's pointwise log likelihood, JAX, against the one
LOO computes from the draws, NumPy); a simulated truth is recovered where the parameter varies
and a parameter that does not vary is not found to (a negative control); a formula for a
parameter the family does not have is refused by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.checks.loo import row_loglik
from hbr.design.build import build_design
from hbr.design.newdata import training_rows
from hbr.errors import DataError
from hbr.model.spec import build_model


def _zip_table(seed: int, n: int = 400, zi_slope: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 12, n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    mu = np.exp(0.6 + 0.4 * x + rng.normal(0, 0.4, 12)[g])
    zi = 1 / (1 + np.exp(-(-0.8 + zi_slope * z)))
    y = np.where(rng.random(n) < zi, 0, rng.poisson(mu))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"g{i}" for i in g]})


def test_zi_formula_recovers_its_slope_and_both_likelihoods_agree() -> None:
    d = _zip_table(1)
    fit = hbr.fit(["y ~ x + (1 | g)", "zi ~ z"], d, family="zero_inflated_poisson", seed=1,
                  chains=2, draws=500)
    s = fit.summary()
    assert "zi" not in s.index and {"zi_Intercept", "zi_z"} <= set(s.index)
    for name, truth in (("zi_Intercept", -0.8), ("zi_z", 1.0), ("x", 0.4)):
        assert abs(s.loc[name, "mean"] - truth) < 3 * s.loc[name, "sd"], name
    assert fit.diagnostics().divergences == 0
    assert "zi ~ z" in str(fit)
    # the pointwise log likelihood of the fit (JAX, from the log density's readout) and
    # LOO's (NumPy parameters per row, the same likelihood function): one number per row
    post = {k: v.values for k, v in fit.posterior.items()}
    ll = row_loglik(fit.spec, post, training_rows(fit.spec.design), d["y"].to_numpy(float))
    stored = np.asarray(fit.idata.log_likelihood["y"])
    np.testing.assert_allclose(ll, stored, rtol=1e-5, atol=1e-6)
    # the expected count with the zeros: (1 - zi) mu at each row's own zi
    new = pd.DataFrame({"x": [0.0, 0.0], "z": [-2.0, 2.0], "g": ["g0", "g0"]})
    m = fit.predict(new, kind="mean").mean(axis=(0, 1))
    assert m[0] > 2 * m[1]


def test_a_parameter_that_does_not_vary_is_not_found_to() -> None:
    """Negative control: zi does not depend on z in the simulation, so zi_z's interval
    covers 0 (while the slope of the test above is 7 sds from it)."""
    d = _zip_table(2, zi_slope=0.0)
    fit = hbr.fit(["y ~ x + (1 | g)", "zi ~ z"], d, family="zero_inflated_poisson", seed=1,
                  chains=2, draws=1000)
    s = fit.summary()
    assert abs(s.loc["zi_z", "mean"]) < 3 * s.loc["zi_z", "sd"]


def test_group_effects_on_a_shape_parameter() -> None:
    """``shape ~ 1 + (1 | g)`` for the gamma family: sampled effects on log shape (their
    centring from the observed information about the log shape), recovered."""
    rng = np.random.default_rng(4)
    n, J = 600, 10
    g = rng.integers(0, J, n)
    x = rng.normal(size=n)
    log_shape = 1.0 + rng.normal(0, 0.7, J)
    mu = np.exp(0.3 + 0.5 * x)
    k = np.exp(log_shape)[g]
    d = pd.DataFrame({"y": rng.gamma(k, mu / k), "x": x, "g": [f"g{i}" for i in g]})
    fit = hbr.fit(["y ~ x", "shape ~ 1 + (1 | g)"], d, family="gamma", seed=3, chains=2,
                  draws=500)
    s = fit.summary()
    assert fit.diagnostics().divergences == 0
    assert abs(s.loc["shape_Intercept", "mean"] - 1.0) < 3 * s.loc["shape_Intercept", "sd"]
    assert 0.3 < s.loc["shape_1|g_sigma", "mean"] < 1.5
    assert abs(s.loc["x", "mean"] - 0.5) < 3 * s.loc["x", "sd"]
    effects = np.asarray(fit.posterior["shape_1|g"]).mean(axis=(0, 1))
    assert np.corrcoef(effects, log_shape - log_shape.mean())[0, 1] > 0.9


def test_several_formulas_name_their_parameters() -> None:
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.poisson(2.0, 60), "x": rng.normal(size=60),
                      "g": np.arange(60) % 6})
    spec = build_model(build_design("y ~ x + (1 | g)", d, dpars=["phi ~ x", "zi ~ 1 + (1 | g)"]),
                       family="zero_inflated_negbinomial")
    names = [p.name for p in spec.params]
    assert {"phi_Intercept", "phi_x", "zi_Intercept", "zi_1|g_sigma"} <= set(names)
    assert "phi" not in names and "zi" not in names
    assert spec.priors["zi_Intercept"].family == "Normal"  # logit scale
    assert spec.priors["phi_Intercept"].family == "StudentT"  # log scale, as brms


@pytest.mark.parametrize("family, dpar, match", [
    ("poisson", "phi ~ x", "family='poisson' has no phi, so 'phi ~ ...' does not apply "
                           "\\(it has no parameter besides the mean\\)"),
    ("negative_binomial", "zi ~ x", "has no zi.*its parameters are phi"),
    ("gaussian", "mu ~ x", "a second formula models a parameter of the family"),
])
def test_a_formula_for_a_parameter_the_family_lacks_is_refused(family, dpar, match) -> None:
    d = pd.DataFrame({"y": [1.0, 2, 0, 3, 1, 2], "x": np.arange(6.0), "g": list("aabbcc")})
    with pytest.raises(DataError, match=match):
        hbr.fit(["y ~ x", dpar], d, family=family)
