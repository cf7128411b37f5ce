"""The warm-up length a fit uses when the user gives none (hbr.inference.table.default_tune):
500 for NUTS on a Laplace-whitened target, 1000 elsewhere, the user's own always; the shorter
warm-up gives the posterior of the longer one within Monte Carlo error."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

import hbr
from hbr.inference.table import TUNE, TUNE_WHITENED, default_tune


def _tune(fit: hbr.Fit) -> int:
    return int(fit.idata.posterior.attrs["tune"])


def test_default_tune_by_method_and_pilot() -> None:
    assert default_tune("nuts", True) == TUNE_WHITENED == 500
    assert default_tune("nuts", False) == TUNE == 1000
    assert default_tune("metropolis", True) == TUNE


def test_whitened_fit_warms_up_shorter_and_agrees_with_the_long(mn: pd.DataFrame) -> None:
    """Minnesota radon, every factor integrated out: the engine runs 500 warm-up iterations
    (its progress reports tune + draws in all) and the fit records them; its hyperparameters
    agree with tune=1000 (same seed) within 4 combined MCSE; a tune the user gives is kept."""
    totals: list[int] = []
    kw = dict(seed=3, progress=lambda done, total, phase: totals.append(total))
    short = hbr.fit("log_radon ~ floor + (floor | county)", mn, **kw)
    ran_short = set(totals)
    totals.clear()
    long = hbr.fit("log_radon ~ floor + (floor | county)", mn, tune=1000, **kw)
    assert (ran_short, set(totals)) == ({500 + 1000}, {1000 + 1000})
    assert (_tune(short), _tune(long)) == (500, 1000)
    assert short.diagnostics().ok and long.diagnostics().ok
    a, b = short.summary(group_effects=False), long.summary(group_effects=False)
    z = (a["mean"] - b["mean"]).abs() / np.hypot(a["mcse_mean"], b["mcse_mean"])
    assert (z < 4).all(), z


def test_sampled_effects_keep_the_long_warm_up() -> None:
    """A Poisson model samples its group effects (no Laplace whitening): 1000."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(6), 5)
    d = pd.DataFrame({"y": rng.poisson(np.exp(0.5 + rng.normal(0, 0.5, 6)[g])),
                      "g": [f"g{j}" for j in g]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20 draws: the verdict warns, as it should
        fit = hbr.fit("y ~ 1 + (1 | g)", d, family="poisson", chains=1, draws=20, seed=1,
                      progress=False)
    assert _tune(fit) == 1000
