"""effect_draws="drop": group effects summarised by the sums of their exact conditional
moments (hbr.posterior.rao_blackwell) instead of their draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr import plots
from hbr._pipeline import sample
from hbr.design.build import build_design
from hbr.errors import OptionError
from hbr.model.spec import build_model
from hbr.options import FitOptions
from hbr.posterior.rao_blackwell import EFFECT_DRAWS_AUTO_BYTES, keeps_effect_draws

FORMULA = "log_radon ~ floor + (floor | county)"
SMALL = dict(chains=4, draws=300, tune=300)


def test_the_sums_are_those_of_the_draws_readout(mn: pd.DataFrame) -> None:
    """Same positions and keys: each kept draw is its conditional mean plus independent
    N(0, v) noise, so per chain, level and coefficient (sum b - sum m) / sqrt(sum v) is
    N(0, 1). Negative control: variances 40% too small are caught."""
    spec = build_model(build_design(FORMULA, mn))
    opts = FitOptions.of(seed=3, **SMALL)
    kept, summed = sample(spec, opts, keep_effects=True), sample(spec, opts, keep_effects=False)
    np.testing.assert_array_equal(kept.result.positions, summed.result.positions)
    assert "1|county" not in summed.values and summed.moments is not None
    for name in ("Intercept", "floor", "1|county_sigma", "sigma"):
        np.testing.assert_array_equal(kept.values[name], summed.values[name])
    z, z_short = [], []
    for name in ("1|county", "floor|county"):
        diff = kept.values[name].sum(axis=1) - summed.moments["m"][name]  # (chains, J)
        v = summed.moments["v"][name]
        z.append(diff / np.sqrt(v))
        z_short.append(diff / np.sqrt(0.6 * v))
        # the sum of squares is that of the means
        m = summed.moments["m"][name] / SMALL["draws"]
        assert np.all(summed.moments["m2"][name] / SMALL["draws"] >= m**2 - 1e-12)
    z, z_short = np.concatenate(z).ravel(), np.concatenate(z_short).ravel()
    n = z.size  # 4 chains x 85 levels x 2: var(z) has sd sqrt(2 / 680) = 0.054
    assert abs(z.mean()) < 4 / np.sqrt(n) and abs(z.var() - 1) < 0.2 and np.abs(z).max() < 5
    assert abs(z_short.var() - 1) > 0.2


@pytest.fixture(scope="module")
def pair(mn: pd.DataFrame) -> tuple[hbr.Fit, hbr.Fit]:
    return (hbr.fit(FORMULA, mn, seed=5, effect_draws="keep", **SMALL),
            hbr.fit(FORMULA, mn, seed=5, effect_draws="drop", **SMALL))


def test_dropped_fit_summarises_the_effects_as_the_draws_do(pair: tuple) -> None:
    kept, dropped = pair
    assert "1|county" not in dropped.draws.posterior and "1|county" in kept.draws.posterior
    sk, sd = kept.summary(), dropped.summary()
    assert list(sk.index) == list(sd.index)
    hyper = [i for i in sk.index if "[" not in i or "corr" in i]
    pd.testing.assert_frame_equal(sk.loc[hyper], sd.loc[hyper])
    eff = [i for i in sk.index if i not in hyper]
    S = SMALL["chains"] * SMALL["draws"]
    # the draws' mean minus the Rao-Blackwellised one is the average of the draws' own
    # noise, whose sd is at most sd / sqrt(S) (conservative: the noise variance <= sd^2)
    z = (sk.loc[eff, "mean"] - sd.loc[eff, "mean"]) / (sd.loc[eff, "sd"] / np.sqrt(S))
    assert np.abs(z).max() < 4.5
    ratio = sd.loc[eff, "sd"] / sk.loc[eff, "sd"]
    assert ratio.between(0.9, 1.1).all()
    assert sd.loc[eff, ["hdi_3%", "ess_bulk"]].isna().all().all()
    assert sd.loc[eff, "r_hat"].between(0.99, 1.01).all()
    # the fit's own rows by variable name, and ranef from them
    assert len(dropped.summary(["floor|county"])) == 85
    re = dropped.ranef()
    np.testing.assert_allclose(re["mean"].to_numpy()[:85],
                               sd.loc[[i for i in eff if i.startswith("1|county[")], "mean"])


def test_what_needs_the_draws_says_how_to_keep_them(pair: tuple, mn: pd.DataFrame) -> None:
    _, dropped = pair
    for call in (dropped.coef, lambda: dropped.predict(mn.head(3)),
                 dropped.sample_posterior_predictive, lambda: plots.plot_forest(dropped)):
        with pytest.raises(OptionError, match="effect_draws='keep'"):
            call()


def test_netcdf_keeps_the_summary_rows(pair: tuple, mn: pd.DataFrame, tmp_path: Path) -> None:
    _, dropped = pair
    back = hbr.load_fit(dropped.to_netcdf(tmp_path / "p.nc"), mn)
    a, b = dropped.summary(), back.summary()
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    rows = dropped.idata["effect_summary"]  # the same rows in the InferenceData
    np.testing.assert_allclose(rows["sd"].values, dropped.draws.effect_summary["sd"])


def test_auto_keeps_small_draws_and_drops_large_ones() -> None:
    per = EFFECT_DRAWS_AUTO_BYTES // (8 * 4 * 1000)
    assert keeps_effect_draws("auto", per, 4, 1000)
    assert not keeps_effect_draws("auto", per + 1, 4, 1000)
    assert keeps_effect_draws("keep", 10**9, 4, 1000)
    assert not keeps_effect_draws("drop", 1, 4, 1000)
    with pytest.raises(OptionError, match="effect_draws='sometimes'"):
        FitOptions.of(effect_draws="sometimes")


def test_the_report_says_what_it_left_out(pair: tuple, mn: pd.DataFrame) -> None:
    from hbr.report import render_report

    _, dropped = pair
    html = render_report(dropped, data=mn, map_vs_mean=False)
    assert "draws were not kept" in html and "not drawn" not in html
    assert "Rao-Blackwellised" in html and "floor|county sd" in html  # the by-level table
