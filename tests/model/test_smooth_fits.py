"""Smooth terms ``s(x)`` in fits: a curve recovered (a straight line, the negative control,
is not), the penalised part integrated out and sampled agreeing to Monte Carlo error, a
smooth next to a grouping factor through predict, LOO, the summary and the report's tables,
and a Poisson smooth. The basis itself is tests/design/test_smooth_basis.py; the exact algebra of
its integration tests/density/test_marginal.py."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.errors import DiagnosticsWarning


def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(x) + 0.1 * x


def _table(n: int = 240, seed: int = 0, groups: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    d = pd.DataFrame({"x": x, "y": truth(x) + rng.normal(0, 0.3, n)})
    if groups:
        g = np.arange(n) % groups
        d["g"] = [f"g{i}" for i in g]
        d["y"] += rng.normal(0, 0.5, groups)[g]
    return d


def _fit(formula: str, data: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        return hbr.fit(formula, data, seed=3, chains=2, draws=500, tune=500, **kw)


GRID = pd.DataFrame({"x": np.linspace(0.5, 9.5, 19)})


@pytest.fixture(scope="module")
def marginal() -> hbr.Fit:
    return _fit("y ~ s(x)", _table())


def test_recovers_a_curve_and_a_line_does_not(marginal) -> None:
    """The posterior mean curve is within 0.1 of the truth (noise sd 0.3, 240 rows) and
    covers it; y ~ x, the negative control, misses by far more."""
    assert marginal.diagnostics().divergences == 0
    mu = marginal.predict(GRID, kind="mean").reshape(-1, len(GRID))
    err = mu.mean(axis=0) - truth(GRID.x.to_numpy())
    assert np.sqrt(np.mean(err ** 2)) < 0.1
    assert np.all(np.abs(err) < 4 * mu.std(axis=0))
    line = _fit("y ~ x", _table()).predict(GRID, kind="mean").reshape(-1, len(GRID))
    assert np.sqrt(np.mean((line.mean(axis=0) - truth(GRID.x.to_numpy())) ** 2)) > 0.4
    post = marginal.draws.posterior
    assert post["s_sx_1"].shape == (2, 500, 8) and post["sds_sx_1"].shape == (2, 500)
    assert "Smooth terms" in str(marginal) and "sds_sx_1" in str(marginal)


def test_integrated_and_sampled_agree(marginal) -> None:
    """Integrating the penalised part out and sampling it (non-centred) are two computations
    of one posterior: the means of the hyperparameters, the linear part and the curve agree
    within 0.25 posterior sd (a standard error of a difference of two means of ~500
    effective draws is ~0.06 sd)."""
    sampled = _fit("y ~ s(x)", _table(), parameterization="noncentered")
    assert sampled.diagnostics().divergences == 0
    for name in ("Intercept", "sx_1", "sds_sx_1", "sigma"):
        a, b = (np.asarray(f.draws.posterior[name]).ravel() for f in (marginal, sampled))
        assert abs(a.mean() - b.mean()) < 0.25 * a.std(), name
    ma, mb = (f.predict(GRID, kind="mean").reshape(-1, len(GRID)) for f in (marginal, sampled))
    assert np.all(np.abs(ma.mean(axis=0) - mb.mean(axis=0)) < 0.25 * ma.std(axis=0))


def test_smooth_beside_a_grouping_factor() -> None:
    """s(x) + (1 | g): the smooth integrated out, the factor sampled (and with
    marginalize="g" the other way round); the curve recovered up to the groups' mean; a new
    level predicted; LOO and the group-level tables see the factor, not the smooth."""
    d = _table(groups=8)
    fit = _fit("y ~ s(x) + (1 | g)", d)
    assert fit.diagnostics().divergences == 0
    assert fit.parameterization.marginalized == "sx_1"
    other = _fit("y ~ s(x) + (1 | g)", d, marginalize="g")
    assert other.parameterization.marginalized == "g"
    for name in ("sds_sx_1", "1|g_sigma", "sigma"):
        a, b = (np.asarray(f.draws.posterior[name]).ravel() for f in (fit, other))
        assert abs(a.mean() - b.mean()) < 0.25 * a.std(), name
    new = GRID.assign(g="unseen")
    mu = fit.predict(new, kind="mean", new_groups="mean").reshape(-1, len(GRID))
    curve = mu.mean(axis=0) - mu.mean()
    target = truth(GRID.x.to_numpy()) - truth(GRID.x.to_numpy()).mean()
    assert np.sqrt(np.mean((curve - target) ** 2)) < 0.15
    assert np.isfinite(fit.loo().elpd)
    assert set(fit.ranef()["factor"]) == {"g"}
    assert "sds_sx_1" in fit.summary().index and "1|g_sigma" in fit.summary().index


def test_poisson_smooth_recovers_the_log_rate() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 10, 400)
    d = pd.DataFrame({"x": x, "n": rng.poisson(np.exp(1.0 + 0.6 * np.sin(x)))})
    fit = _fit("n ~ s(x)", d, family="poisson")
    assert fit.diagnostics().divergences == 0
    eta = fit.predict(GRID, kind="link").reshape(-1, len(GRID))
    err = eta.mean(axis=0) - (1.0 + 0.6 * np.sin(GRID.x.to_numpy()))
    assert np.sqrt(np.mean(err ** 2)) < 0.12
