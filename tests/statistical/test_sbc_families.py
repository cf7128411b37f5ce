"""Simulation-based calibration (Talts et al. 2018), CI-sized, for every family under its
default parameterisation ("auto" for the non-Gaussian families; "marginal" for the Gaussian
ones, with a sigma or a known se(); Bernoulli and Poisson rows repeating covariate patterns,
which the log density reads collapsed, one row per pattern; a residual sd varying by the
integrated factor, read from per-group statistics; two uncorrelated terms of the integrated
factor, sampled as a shape bucket with a dummy correlation; gamma, exponential, Weibull,
beta, the zero-inflated and hurdle Poisson and negative binomial, and a Weibull whose rows
are right-censored at follow-up times drawn apart from the parameters, and a smooth
s(z) beside the integrated factor, whose centred and non-centred cells are in bench/sbc.py
only, to keep CI short), using
:mod:`hbr.checks.calibration`: parameters from the priors,
data from the model, and the rank of each true value among 49 thinned posterior draws must be
uniform (chi-square over 5 bins, 100 replicates). The negative control, the slope's draws
shifted by one posterior sd (a biased engine), must fail for every family: at 100 replicates
that is caught with probability above 0.999, where half a sd would be caught with 0.78
(:func:`hbr.checks.calibration.sbc_ranks`). The full family x parameterisation matrix, at 200
replicates with the half-sd control and rank histograms, is bench/sbc.py. (CI ran 150
replicates a cell with the half-sd control until stop 33, when twenty cells made the suite
too long.)"""

from __future__ import annotations

import pytest

from hbr.checks.calibration import CASES, rank_pvalue, sbc_ranks

@pytest.mark.parametrize("case", [c for c in CASES if c != "gaussian"])  # test_sbc.py
def test_ranks_are_uniform_and_the_control_fails(case: str) -> None:
    """One test per case (its replicates are the cost: one test computes them once, where
    two tests on two workers of pytest-xdist computed them twice)."""
    ranks = sbc_ranks(case, reps=100, bias=1.0)[0]
    bad = {k: round(rank_pvalue(v), 5) for k, v in ranks.items()
           if k != "biased x" and rank_pvalue(v) < 0.001}
    assert not bad, bad
    assert rank_pvalue(ranks["biased x"]) < 0.001, "the negative control passed"


# the rest of the family x parameterisation matrix (the defaults are above and in
# test_sbc.py), at 60 replicates each; bench/sbc.py runs it at 200 with histograms. A biased
# engine off by one posterior sd gives binned ranks with noncentral chi-square(4) lambda =
# 60 x 0.91 = 55, caught at the 0.001 level with probability 0.9996 (at 100 replicates the
# half-sd control was caught only with probability 0.78: 7 of 15 missed it with seed 7)
MATRIX = [(case, par) for case, c in CASES.items()
          for par in ("auto", "centered", "noncentered")
          if (case, par) != ("gaussian", "auto") and not c.patterns
          and not c.sigma and not c.slope  # schemes of the default (marginal) path
          and not (c.family != "gaussian" and par == "auto") and c.matrix]


@pytest.mark.parametrize("case,parameterization", MATRIX)
def test_every_parameterization_is_calibrated(case: str, parameterization: str) -> None:
    ranks, _ = sbc_ranks(case, parameterization, reps=60, seed=7, bias=1.0)
    bad = {k: round(rank_pvalue(v), 5) for k, v in ranks.items()
           if k != "biased x" and rank_pvalue(v) < 0.001}
    assert not bad, bad
    assert rank_pvalue(ranks["biased x"]) < 0.001
