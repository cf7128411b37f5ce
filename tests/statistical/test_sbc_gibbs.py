"""Simulation-based calibration (Talts et al. 2018) of the collapsed Gibbs scheme for crossed
Gaussian factors (hbr.density.gibbs), CI-sized: ``y ~ x + (1 | g) + (1 | h)`` on 5 x 4 crossed
levels with two rows a cell, parameters drawn from the priors. The ranks of the truth among
thinned posterior draws must be uniform for the fixed effects, sigma, both group sds and
one effect of each factor; a deliberately biased "engine" (the slope's draws shifted by half
a posterior sd) is the negative control and must fail (power 0.97 at 150 replicates: see
:func:`hbr.checks.calibration.sbc_ranks`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import hbr
from hbr.checks.calibration import rank_pvalue

PRIORS = {"Intercept": "Normal(0, 1)", "x": "Normal(0, 1)", "sigma": "HalfNormal(1)",
          "1|g_sigma": "HalfNormal(1)", "1|h_sigma": "HalfNormal(1)"}
N_REP, G, H, L = 150, 5, 4, 49
NAMES = [*PRIORS, "1|g[g0]", "1|h[h0]", "biased x"]


def _simulate(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
    t = {"Intercept": rng.normal(0, 1), "x": rng.normal(0, 1), "sigma": abs(rng.normal(0, 1)),
         "1|g_sigma": abs(rng.normal(0, 1)), "1|h_sigma": abs(rng.normal(0, 1))}
    g, h = np.meshgrid(np.arange(G), np.arange(H), indexing="ij")
    g, h = np.repeat(g.ravel(), 2), np.repeat(h.ravel(), 2)
    bg, bh = rng.normal(0, t["1|g_sigma"], G), rng.normal(0, t["1|h_sigma"], H)
    x = rng.normal(size=g.size)
    y = t["Intercept"] + t["x"] * x + bg[g] + bh[h] + rng.normal(0, t["sigma"], g.size)
    t["1|g[g0]"], t["1|h[h0]"] = bg[0], bh[0]
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g],
                         "h": [f"h{i}" for i in h]}), t


_RANKS: dict[str, np.ndarray] = {}


def _ranks() -> dict[str, np.ndarray]:
    if _RANKS:
        return _RANKS
    rng = np.random.default_rng(2020)
    out: dict[str, list[int]] = {k: [] for k in NAMES}
    for rep in range(N_REP):
        data, truth = _simulate(rng)
        fit = hbr.fit("y ~ x + (1 | g) + (1 | h)", data, priors=PRIORS, chains=1,
                      draws=4 * L + 4, tune=300, seed=rep, log_likelihood=False)
        assert fit.parameterization.marginalized == "g + h (each in turn)"
        post = {k: v[0, 4::4] for k, v in fit.draws.posterior.items()}
        for name in PRIORS:
            out[name].append(int(np.sum(post[name] < truth[name])))
        out["1|g[g0]"].append(int(np.sum(post["1|g"][:, 0] < truth["1|g[g0]"])))
        out["1|h[h0]"].append(int(np.sum(post["1|h"][:, 0] < truth["1|h[h0]"])))
        shifted = post["x"] + 0.5 * np.std(post["x"])
        out["biased x"].append(int(np.sum(shifted < truth["x"])))
    _RANKS.update({k: np.asarray(v) for k, v in out.items()})
    return _RANKS


def test_ranks_are_uniform_and_the_control_fails() -> None:
    """One test for the replicates (one computation, on one worker of pytest-xdist)."""
    ranks = _ranks()
    for name in NAMES[:-1]:
        # 7 parameters at level 0.001 each: a false alarm has probability < 0.7%
        assert ranks[name].size == N_REP
        assert rank_pvalue(ranks[name], L) > 0.001, (
            name, np.histogram(ranks[name], 5, (-0.5, L + 0.5))[0])
    assert rank_pvalue(ranks["biased x"], L) < 0.001, "the negative control passed"
