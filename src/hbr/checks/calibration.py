r"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

Draw parameters :math:`\theta^*` from the prior, data :math:`y \sim p(y \mid \theta^*)`, fit, and
record the rank of :math:`\theta^*` among :math:`L` (thinned, nearly independent) posterior
draws. If the fit is exact, every rank is uniform on :math:`0..L`, whatever the model; a
sampler that is biased, too narrow or too wide bends the histogram. :func:`sbc_ranks` runs
it for the small models of :data:`CASES` (one per family, with a varying intercept), under
any parameterisation; :func:`rank_pvalue` is the chi-square test of uniformity. The ranks of
"biased x" (the slope's draws shifted by a fraction of a posterior sd) are a negative control
that a working test must reject.

Used by ``tests/test_sbc_families.py`` (CI-sized) and ``bench/sbc.py`` (the full matrix with
rank histograms).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from hbr.design.smooth import fit_tprs, tprs_columns
from hbr.errors import DiagnosticsWarning
from hbr.model.families import dpar_link, simulate_response
from hbr.model.ordinal import ordinal_draws

__all__ = ["Case", "CASES", "PRIORS", "simulate_case", "sbc_ranks", "rank_pvalue"]


class Case(NamedTuple):
    family: str
    link: str
    aux: tuple[str, ...]  # extra parameters with a prior
    formula: str
    known_se: bool = False
    patterns: bool = False  # x in {0, 1} and, for a formula with offset(), exposures in
    #                         {1, 2, 3}: rows repeat covariate patterns (hbr.design.aggregate)
    sigma: str | None = None  # a sigma ~ formula: log sigma = sigma_Intercept + c_g
    slope: bool = False  # an uncorrelated varying slope (0 + x | g), x|g_sigma
    phi_shape: float = 4.0  # phi ~ Gamma(phi_shape, 1)
    scale: float = 1.0  # the prior sds of Intercept, x and 1|g_sigma: beta rows must stay
    #                     far enough from 0 and 1 not to round to exactly 0 or 1 in float64
    matrix: bool = True  # CI's matrix test runs its centred and non-centred cells too (bench/
    #                      sbc.py always does; CI runs the default cell of every case)
    censor: bool = False  # right-censor y at a follow-up time ~ Uniform(0.5, 4) drawn apart
    #                       from the parameters (non-informative), y | cens(c)
    dpar: str | None = None  # a family parameter modelled by "<dpar> ~ x": its intercept
    #                          ~ Normal(0, 1) and slope ~ Normal(0, 0.5) on its link
    categories: int = 0  # an ordinal family's K: thresholds Intercept[1..K-1], each with
    #                      the Intercept prior, sorted (that prior restricted to order)
    smooth: bool = False  # a smooth s(z, k = 6) of z ~ Uniform(-2, 2): its linear part sz_1
    #                       ~ Normal(0, 1), its 4 penalised coefficients ~ N(0, sds_sz_1^2)


CASES: dict[str, Case] = {
    "gaussian": Case("gaussian", "identity", ("sigma",), "y ~ x + (1 | g)"),
    "gaussian-se": Case("gaussian", "identity", (), "y | se(s) ~ x + (1 | g)", True),
    "student_t": Case("student_t", "identity", ("sigma", "nu"), "y ~ x + (1 | g)"),
    "bernoulli": Case("bernoulli", "logit", (), "y ~ x + (1 | g)"),
    "binomial": Case("binomial", "probit", (), "y | trials(n) ~ x + (1 | g)"),
    "poisson": Case("poisson", "log", (), "y ~ x + (1 | g)"),
    "negative_binomial": Case("negative_binomial", "log", ("phi",), "y ~ x + (1 | g)"),
    "bernoulli-patterns": Case("bernoulli", "logit", (), "y ~ x + (1 | g)", patterns=True),
    "poisson-patterns": Case("poisson", "log", (), "y ~ x + offset(log(e)) + (1 | g)",
                             patterns=True),
    # the residual sd varies by the integrated factor: read from per-group statistics
    # (noise "group", hbr.density.structure), never from the rows
    "gaussian-group-sigma": Case("gaussian", "identity", ("sigma_Intercept",
                                                           "sigma_1|g_sigma"),
                                 "y ~ x + (1 | g)", sigma="sigma ~ 1 + (1 | g)"),
    # two uncorrelated terms of the integrated factor: a shape bucket with a dummy
    # correlation coordinate (hbr.density.bucket)
    "gaussian-bucket": Case("gaussian", "identity", ("sigma", "x|g_sigma"),
                            "y ~ x + (1 | g) + (0 + x | g)", slope=True),
    "lognormal": Case("lognormal", "identity", ("sigma",), "y ~ x + (1 | g)", matrix=False),
    "gamma": Case("gamma", "log", ("shape",), "y ~ x + (1 | g)", matrix=False),
    "exponential": Case("exponential", "log", (), "y ~ x + (1 | g)", matrix=False),
    "weibull": Case("weibull", "log", ("shape",), "y ~ x + (1 | g)", matrix=False),
    "beta": Case("beta", "logit", ("phi",), "y ~ x + (1 | g)", phi_shape=30.0, scale=0.5,
                 matrix=False),
    "zero_inflated_poisson": Case("zero_inflated_poisson", "log", ("zi",), "y ~ x + (1 | g)",
                                  matrix=False),
    "zero_inflated_negbinomial": Case("zero_inflated_negbinomial", "log", ("phi", "zi"),
                                      "y ~ x + (1 | g)", matrix=False),
    "hurdle_poisson": Case("hurdle_poisson", "log", ("hu",), "y ~ x + (1 | g)", matrix=False),
    "hurdle_negbinomial": Case("hurdle_negbinomial", "log", ("phi", "hu"), "y ~ x + (1 | g)",
                               matrix=False),
    "weibull-censored": Case("weibull", "log", ("shape",), "y | cens(c) ~ x + (1 | g)",
                             matrix=False, censor=True),
    "cumulative": Case("cumulative", "logit", (), "y ~ x + (1 | g)", matrix=False,
                       categories=4),
    # a formula for a parameter other than sigma: zi on the logit scale
    "zero_inflated_poisson-zi": Case("zero_inflated_poisson", "log", ("zi_Intercept", "zi_x"),
                                     "y ~ x + (1 | g)", matrix=False, dpar="zi"),
    # a smooth beside the integrated factor: the smooth sampled, its sd hierarchical
    "gaussian-smooth": Case("gaussian", "identity", ("sigma", "sz_1", "sds_sz_1"),
                            "y ~ x + (1 | g) + s(z, k = 6)", matrix=False, smooth=True),
}

PRIORS = {"Intercept": "Normal(0, 1)", "x": "Normal(0, 1)", "1|g_sigma": "HalfNormal(1)",
          "sigma": "HalfNormal(1)", "nu": "Gamma(4, 0.5)", "phi": "Gamma(4, 1)",
          "x|g_sigma": "HalfNormal(1)", "sigma_Intercept": "Normal(0, 0.5)",
          "sigma_1|g_sigma": "HalfNormal(0.5)", "shape": "Gamma(4, 1)", "zi": "Beta(2, 5)",
          "hu": "Beta(2, 5)", "zi_Intercept": "Normal(0, 1)", "zi_x": "Normal(0, 0.5)",
          "sz_1": "Normal(0, 1)", "sds_sz_1": "HalfNormal(1)"}


def simulate_case(case: str, rng: np.random.Generator, groups: int = 8, per_group: int = 6
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Parameters from :data:`PRIORS` and a table from the model of ``CASES[case]``. The
    prior named ``Intercept`` is on the intercept at the mean of x, as hbr reads it
    (:attr:`hbr.model.spec.ModelSpec.intercept_center`); the truth recorded is the
    intercept at x = 0, as the draws are."""
    c = CASES[case]
    truth = {"Intercept": rng.normal(0, 1), "x": rng.normal(0, 1),
             "1|g_sigma": abs(rng.normal(0, 1)), "sigma": abs(rng.normal(0, 1)),
             "nu": rng.gamma(4, 1 / 0.5), "phi": rng.gamma(4, 1 / 1.0)}
    if c.slope:  # drawn after the others, so the other cases keep their stream
        truth["x|g_sigma"] = abs(rng.normal(0, 1))
    if "shape" in c.aux:
        truth["shape"] = rng.gamma(4, 1.0)
    if c.phi_shape != 4.0:
        truth["phi"] = rng.gamma(c.phi_shape, 1.0)
    for name in ("zi", "hu"):
        if name in c.aux:
            truth[name] = rng.beta(2.0, 5.0)
    for name in ("Intercept", "x", "1|g_sigma"):  # Normal(0, scale), HalfNormal(scale)
        truth[name] *= c.scale
    if c.sigma:
        truth["sigma_Intercept"] = rng.normal(0, 0.5)
        truth["sigma_1|g_sigma"] = abs(rng.normal(0, 0.5))
    tau = np.sort(rng.normal(0, 1, c.categories - 1)) if c.categories else None
    if c.dpar:
        truth[f"{c.dpar}_Intercept"] = rng.normal(0, 1)
        truth[f"{c.dpar}_x"] = rng.normal(0, 0.5)
    g = np.repeat(np.arange(groups), per_group)
    x = (rng.integers(0, 2, g.size).astype(float) if c.patterns else rng.normal(size=g.size))
    e = rng.integers(1, 4, g.size).astype(float) if c.patterns else np.ones(g.size)
    b = rng.normal(0, truth["1|g_sigma"], groups)
    # the prior is on the intercept at mean(x) (brms's Intercept); the draws are at x = 0
    truth["Intercept"] = truth["Intercept"] - truth["x"] * float(np.mean(x))
    eta = truth["Intercept"] + truth["x"] * x + b[g] + (np.log(e) if "offset" in c.formula
                                                        else 0.0)
    if c.slope:
        eta = eta + rng.normal(0, truth["x|g_sigma"], groups)[g] * x
    z = None
    if c.smooth:  # drawn here, after the others, so the other cases keep their stream
        z = rng.uniform(-2, 2, g.size)
        truth["sz_1"], truth["sds_sz_1"] = rng.normal(0, 1), abs(rng.normal(0, 1))
        Xr, Xf = tprs_columns(z, fit_tprs(z, 6))
        eta = eta + Xr @ rng.normal(0, truth["sds_sz_1"], Xr.shape[1]) + Xf[:, 0] * truth["sz_1"]
    n = np.full(g.size, 4.0)
    s = rng.uniform(0.5, 1.5, g.size)
    if c.categories:  # thresholds in place of the intercept
        for k, t in enumerate(tau, start=1):
            truth[f"Intercept[{k}]"] = t
        y = ordinal_draws(c.link, eta - truth["Intercept"], tau, rng)
    elif c.dpar:  # the parameter of each row, from its own linear predictor
        lp = truth[f"{c.dpar}_Intercept"] + truth[f"{c.dpar}_x"] * x
        value = 1 / (1 + np.exp(-lp)) if dpar_link(c.dpar) == "logit" else np.exp(lp)
        y = simulate_response(c.family, c.link, eta, {**truth, c.dpar: value}, rng, n)
    elif c.known_se:
        y = eta + s * rng.standard_normal(g.size)
    elif c.sigma:  # log sigma_g = sigma_Intercept + c_g
        log_sd = truth["sigma_Intercept"] + rng.normal(0, truth["sigma_1|g_sigma"], groups)
        y = eta + np.exp(log_sd)[g] * rng.standard_normal(g.size)
    else:
        y = simulate_response(c.family, c.link, eta, truth, rng, n)
    if c.categories and np.unique(y).size < c.categories:
        # a category no row fell in: the model would have fewer thresholds. Drawing the
        # parameters and the table afresh (not the table alone) keeps each replicate's truth
        # a draw from its posterior: the rejection is of the data, a function of y
        return simulate_case(case, rng, groups, per_group)
    truth["1|g[g0]"] = b[0]
    data = pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "n": n, "s": s, "e": e})
    if z is not None:
        data["z"] = z
    if c.censor:  # follow-up times drawn last, so the other cases keep their stream
        follow_up = rng.uniform(0.5, 4.0, g.size)
        data["c"] = (y > follow_up).astype(float)
        data["y"] = np.minimum(y, follow_up)
    return data, truth


def sbc_ranks(case: str, parameterization: str | None = None, reps: int = 150,
              draws_kept: int = 49, tune: int = 300, seed: int = 2018, bias: float = 0.5
              ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Ranks of the true values among ``draws_kept`` posterior draws (one chain, every 4th
    draw), for ``reps`` simulated data sets; and the divergences of each fit.

    Returns ``({parameter: ranks (reps,)}, divergences (reps,))``, with the parameters
    Intercept, x, 1|g_sigma, the family's extra parameters, the effect 1|g[g0], and the
    negative control "biased x" (the slope's draws shifted by ``bias`` posterior sds).

    Power of the negative control: for a Gaussian posterior the binned ranks of a shift of
    d sds follow a noncentral chi-square(4) with lambda = reps * c(d), c(0.5) = 0.23,
    c(1) = 0.91; at the 0.001 level (critical value 18.5) a 0.5-sd shift is caught with
    probability 0.78 at 100 replicates and 0.97 at 150, a 1-sd shift with
    probability above 0.999 at 100."""
    import hbr

    c = CASES[case]
    names = ["Intercept", "x", "1|g_sigma", *c.aux]
    priors = {k: PRIORS[k] for k in names}
    if c.categories:  # the thresholds Intercept[1..K-1], each ranked
        names = [f"Intercept[{k}]" for k in range(1, c.categories)] + names[1:]
    if "phi" in priors:
        priors["phi"] = f"Gamma({c.phi_shape:g}, 1)"
    if c.scale != 1.0:
        priors.update({"Intercept": f"Normal(0, {c.scale:g})", "x": f"Normal(0, {c.scale:g})",
                       "1|g_sigma": f"HalfNormal({c.scale:g})"})
    rng = np.random.default_rng(seed)
    ranks: dict[str, list[int]] = {k: [] for k in [*names, "1|g[g0]", "biased x"]}
    div = []
    L = draws_kept
    for rep in range(reps):
        data, truth = simulate_case(case, rng)
        with warnings.catch_warnings():  # one short chain per replicate: judged by ranks
            warnings.simplefilter("ignore", DiagnosticsWarning)
            formula = ([c.formula, c.sigma] if c.sigma else
                       [c.formula, f"{c.dpar} ~ x"] if c.dpar else c.formula)
            fit = hbr.fit(formula, data, family=c.family, link=c.link, priors=priors,
                          chains=1, draws=4 * L + 4, tune=tune, seed=rep, log_likelihood=False,
                          parameterization=parameterization)
        post = {k: v[0, 4::4] for k, v in fit.draws.posterior.items()}
        for name in names:
            if name.startswith("Intercept["):  # a threshold: one element of the vector
                draws = post["Intercept"][:, int(name[10:-1]) - 1]
            else:
                draws = post[name]
            ranks[name].append(int(np.sum(draws < truth[name])))
        ranks["1|g[g0]"].append(int(np.sum(post["1|g"][:, 0] < truth["1|g[g0]"])))
        shifted = post["x"] + bias * np.std(post["x"])
        ranks["biased x"].append(int(np.sum(shifted < truth["x"])))
        div.append(int(np.sum(fit.draws.stats["diverging"])))
    return {k: np.asarray(v) for k, v in ranks.items()}, np.asarray(div)


def rank_pvalue(ranks: np.ndarray, draws_kept: int = 49, bins: int = 5) -> float:
    """Chi-square p-value of the uniformity of ``ranks`` on 0..draws_kept, in ``bins``
    equal bins."""
    from scipy import stats

    counts = np.histogram(ranks, bins=bins, range=(-0.5, draws_kept + 0.5))[0]
    return float(stats.chisquare(counts).pvalue)
