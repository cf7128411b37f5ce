"""Simulation-based calibration (Talts et al. 2018), CI-sized, for every family under its
default parameterisation ("auto" for the non-Gaussian families; the Gaussian one with known
se() under "marginal"). Parameters are drawn from the priors, data from the model, and the
rank of each true value among L thinned posterior draws must be uniform (chi-square over 5
bins). The negative control, the slope's draws shifted by half a posterior sd (a biased
engine), must fail for every family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
from hbr.families import simulate_response

N_REP, J, N_PER, L = 150, 8, 6, 49
BINS = 5
PRIORS = {"Intercept": "Normal(0, 1)", "x": "Normal(0, 1)", "1|g_sigma": "HalfNormal(1)",
          "sigma": "HalfNormal(1)", "nu": "Gamma(4, 0.5)", "phi": "Gamma(4, 1)"}
CASES = {  # family: (link, extra parameters, formula)
    "student_t": ("identity", ("sigma", "nu"), "y ~ x + (1 | g)"),
    "bernoulli": ("logit", (), "y ~ x + (1 | g)"),
    "binomial": ("probit", (), "y | trials(n) ~ x + (1 | g)"),
    "poisson": ("log", (), "y ~ x + (1 | g)"),
    "negative_binomial": ("log", ("phi",), "y ~ x + (1 | g)"),
    "gaussian-se": ("identity", (), "y | se(s) ~ x + (1 | g)"),
}


def _draw_prior(rng: np.random.Generator) -> dict[str, float]:
    return {"Intercept": rng.normal(0, 1), "x": rng.normal(0, 1),
            "1|g_sigma": abs(rng.normal(0, 1)), "sigma": abs(rng.normal(0, 1)),
            "nu": rng.gamma(4, 1 / 0.5), "phi": rng.gamma(4, 1 / 1.0)}


def _simulate(case: str, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
    link = CASES[case][0]
    truth = _draw_prior(rng)
    g = np.repeat(np.arange(J), N_PER)
    x = rng.normal(size=g.size)
    b = rng.normal(0, truth["1|g_sigma"], J)
    eta = truth["Intercept"] + truth["x"] * x + b[g]
    n = np.full(g.size, 4.0)
    s = rng.uniform(0.5, 1.5, g.size)
    family = "gaussian" if case == "gaussian-se" else case
    y = simulate_response(family, link, eta, {**truth, "sigma": truth["sigma"]}, rng, n,
                          se=s if case == "gaussian-se" else None)
    if case == "gaussian-se":  # se only: no residual sigma
        y = eta + s * rng.standard_normal(g.size)
    truth["1|g[g0]"] = b[0]
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "n": n, "s": s}), truth


_RANKS: dict[str, dict[str, list[int]]] = {}


def sbc_ranks(case: str) -> dict[str, list[int]]:
    if case in _RANKS:
        return _RANKS[case]
    link, aux, formula = CASES[case]
    family = "gaussian" if case == "gaussian-se" else case
    names = ["Intercept", "x", "1|g_sigma", *aux]
    priors = {k: PRIORS[k] for k in names}
    rng = np.random.default_rng(2018)
    ranks: dict[str, list[int]] = {k: [] for k in [*names, "1|g[g0]", "biased x"]}
    for rep in range(N_REP):
        data, truth = _simulate(case, rng)
        fit = hbr.fit(formula, data, family=family, link=link, priors=priors, chains=1,
                      draws=4 * L + 4, tune=300, seed=rep, log_likelihood=False)
        post = fit.draws.posterior
        thin = {k: v[0, 4::4] for k, v in post.items()}
        for name in names:
            ranks[name].append(int(np.sum(thin[name] < truth[name])))
        ranks["1|g[g0]"].append(int(np.sum(thin["1|g"][:, 0] < truth["1|g[g0]"])))
        shifted = thin["x"] + 0.5 * np.std(thin["x"])
        ranks["biased x"].append(int(np.sum(shifted < truth["x"])))
    _RANKS[case] = ranks
    return ranks


def _pvalue(ranks: list[int]) -> float:
    counts = np.histogram(ranks, bins=BINS, range=(-0.5, L + 0.5))[0]
    return float(stats.chisquare(counts).pvalue)


@pytest.mark.parametrize("case", list(CASES))
def test_ranks_are_uniform(case: str) -> None:
    ranks = sbc_ranks(case)
    bad = {k: round(_pvalue(v), 5) for k, v in ranks.items()
           if k != "biased x" and _pvalue(v) < 0.001}
    assert not bad, bad


@pytest.mark.parametrize("case", list(CASES))
def test_negative_control_fails(case: str) -> None:
    assert _pvalue(sbc_ranks(case)["biased x"]) < 0.001
