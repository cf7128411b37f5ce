"""Sigma and the sd of a factor of one-row levels sampled as (log S, logit w) (issue 22,
hbr.density.split): the same posterior, exactly, in coordinates NUTS can cross.

- Exact algebra: at corresponding points the split log density equals the ordinary one plus
  the log Jacobian of (log sigma, log tau) -> (log S, logit w), which is -log 2 everywhere.
- The split is chosen only where the median level has at most two rows (radon's counties,
  and so its recorded draws, are untouched).
- Agreement: a fit with the split and one without agree within Monte Carlo error, and the
  split one needs a small fraction of the leapfrog steps.
"""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.density import split as split_mod
from hbr.density.build import make_target
from hbr.density.structure import Structure
from hbr.model.spec import build_model


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"y": 0.5 + 0.3 * x + rng.normal(0, 0.5, n) + rng.normal(0, 0.7, n),
                         "x": x, "g": np.arange(n)})


def _spec(n: int = 200):
    return build_model(build_design("y ~ x + (1 | g)", _table(n)))


def test_the_split_is_the_same_density_in_other_coordinates(monkeypatch) -> None:
    spec = _spec()
    with jax.enable_x64(True):
        t = make_target(spec, "marginal").target
        s = Structure.of(spec, "marginal", None, "float64")
        assert s.split is not None
        i, j = s.split
        a, b = s.params[i].start, s.params[j].start
        monkeypatch.setattr(split_mod, "ONE_ROW_MEDIAN", 0)  # the ordinary coordinates
        t0 = make_target(spec, "marginal").target
        assert Structure.of(spec, "marginal", None, "float64").split is None
        rng = np.random.default_rng(3)
        for _ in range(5):
            z = np.asarray(t.initial_point(jax.random.PRNGKey(1))) + rng.normal(size=t.dim)
            w = 1 / (1 + np.exp(-z[b]))
            z0 = z.copy()
            z0[a] = z[a] + 0.5 * np.log1p(-w)  # log sigma = log S + log(1 - w) / 2
            z0[b] = z[a] + 0.5 * np.log(w)     # log tau = log S + log(w) / 2
            lp = float(t.logdensity_fn(z, t.data))
            lp0 = float(t0.logdensity_fn(z0, t0.data))
            np.testing.assert_allclose(lp - lp0, -np.log(2.0), rtol=1e-9, atol=1e-9)


def test_the_split_only_where_levels_hold_one_or_two_rows() -> None:
    radon = hbr.load_dataset("radon")
    mn = radon[radon.state == "MN"]
    for formula, data, want in [("log_radon ~ floor + (1 | county)", mn, False),
                                ("y ~ x + (1 | g)", _table(300), True),
                                ("y ~ x + (x | g)", _table(300), False),
                                # a slope per row: sigma^2 + tau^2 x_i^2 tells them apart
                                ("y ~ x + (0 + x | g)", _table(300), False)]:
        spec = build_model(build_design(formula, data))
        assert (Structure.of(spec, "marginal", None, "float64").split is not None) == want


def test_fits_with_and_without_the_split_agree(monkeypatch) -> None:
    data = _table(400, seed=5)
    a = hbr.fit("y ~ x + (1 | g)", data, seed=2, chains=4, draws=600, tune=600)
    monkeypatch.setattr(split_mod, "ONE_ROW_MEDIAN", 0)
    b = hbr.fit("y ~ x + (1 | g)", data, seed=2, chains=4, draws=600, tune=600)
    sa, sb = a.summary(group_effects=False), b.summary(group_effects=False)
    z = (sa["mean"] - sb["mean"]) / np.sqrt(sa["mcse_mean"] ** 2 + sb["mcse_mean"] ** 2)
    assert z.abs().max() < 4, z
    # the total sd is what the rows tell: equal to rounding of Monte Carlo error
    tot = [np.sqrt(f.posterior["sigma"] ** 2 + f.posterior["1|g_sigma"] ** 2).mean().item()
           for f in (a, b)]
    assert abs(tot[0] - tot[1]) < 0.02, tot
    steps = [float(f.idata.sample_stats["n_steps"].mean()) for f in (a, b)]
    assert steps[0] < 0.5 * steps[1], steps
    assert a.diagnostics().ok, a.diagnostics()


@pytest.mark.parametrize("prior", ["Uniform(0, 5)"])
def test_a_bounded_prior_keeps_the_ordinary_coordinates(prior: str) -> None:
    spec = build_model(build_design("y ~ x + (1 | g)", _table(200)), {"sigma": prior})
    assert Structure.of(spec, "marginal", None, "float64").split is None


def test_one_row_levels_are_said_out_loud() -> None:
    """The split makes the fit fast, not the split identified: the user is told, once,
    that the priors alone tell sigma from the factor's sd; radon is not warned."""
    from hbr.density.split import one_row_note

    note = one_row_note(_spec(300))
    assert note and "300 of the 300 levels of 'g' hold a single row" in note
    assert "priors alone" in note
    radon = hbr.load_dataset("radon")
    mn = radon[radon.state == "MN"]
    assert one_row_note(build_model(build_design("log_radon ~ floor + (1 | county)",
                                                 mn))) is None
    with pytest.warns(hbr.HbrWarning, match="hold a single row"):
        hbr.fit("y ~ x + (1 | g)", _table(100), seed=1, chains=1, draws=50, tune=50)
