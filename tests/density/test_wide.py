"""Wide designs (issue 22): a run of many fixed effects is priced as one vector.

With one set of operations per coefficient, a 300-term formula was still compiling after
15 minutes (12.9 GB). :attr:`Structure.fixed_runs` prices 16 or more consecutive fixed
effects with one prior family as one vector. Checked here: the log density and its gradient
equal the per-coefficient form to rounding (marginal, sampled and non-Gaussian paths, a run
broken by a coefficient with another prior), the traced program no longer grows with the
number of coefficients, and a model below the threshold is unchanged.
"""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

from hbr.design.build import build_design
from hbr.density import structure
from hbr.density.build import make_target
from hbr.model.spec import build_model


def _table(p: int, seed: int = 0, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    t["g"] = rng.integers(0, 8, n)
    eta = t[[f"x{i}" for i in range(p)]].to_numpy() @ rng.normal(0, 0.2, p)
    t["y"] = eta + rng.normal(size=n)
    t["k"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return t


def _formula(p: int, response: str = "y") -> str:
    return f"{response} ~ " + " + ".join(f"x{i}" for i in range(p)) + " + (1 | g)"


def _value_and_grad(spec, parameterization: str, z: np.ndarray | None = None):
    t = make_target(spec, parameterization).target
    if z is None:
        rng = np.random.default_rng(1)
        z = np.asarray(t.initial_point(jax.random.PRNGKey(2))) + 0.3 * rng.normal(size=t.dim)
    v, g = jax.value_and_grad(t.logdensity_fn)(z, t.data)
    return float(v), np.asarray(g), z, t


CASES = [("y", "gaussian", "marginal", {}), ("y", "gaussian", "noncentered", {}),
         ("k", "bernoulli", "auto", {}),
         ("y", "gaussian", "marginal", {"x20": "StudentT(3, 0, 1)"})]  # two runs around x20


@pytest.mark.parametrize("response,family,parameterization,priors", CASES)
def test_runs_give_the_per_coefficient_log_density(response, family, parameterization,
                                                   priors, monkeypatch) -> None:
    p = 40
    spec = build_model(build_design(_formula(p, response), _table(p)), priors, family)
    with jax.enable_x64(True):
        v, g, z, t = _value_and_grad(spec, parameterization)
        runs = structure.Structure.of(spec, parameterization, None, "float64").fixed_runs
        monkeypatch.setattr(structure, "VECTOR_MIN", 10 ** 6)  # every coefficient alone
        v0, g0, _, t0 = _value_and_grad(spec, parameterization, z)
    want = 2 if priors else 1
    assert len(runs) == want
    np.testing.assert_allclose(v, v0, rtol=1e-12)
    np.testing.assert_allclose(g, g0, rtol=1e-9, atol=1e-9)


def _equations(p: int, monkeypatch, vector_min: int) -> int:
    monkeypatch.setattr(structure, "VECTOR_MIN", vector_min)
    spec = build_model(build_design(_formula(p), _table(p)))
    with jax.enable_x64(True):
        t = make_target(spec, "marginal").target
        z = np.zeros(t.dim)
        jaxpr = jax.make_jaxpr(jax.value_and_grad(t.logdensity_fn))(z, t.data)
    return len(jaxpr.jaxpr.eqns)


def test_the_program_does_not_grow_with_the_coefficients(monkeypatch) -> None:
    """The traced log density and gradient of 20 and of 160 coefficients have the same size
    with runs; one operation set per coefficient grows with them (the negative control)."""
    with_runs = [_equations(p, monkeypatch, 16) for p in (20, 160)]
    without = [_equations(p, monkeypatch, 10 ** 6) for p in (20, 160)]
    assert with_runs[1] == with_runs[0], with_runs
    assert without[1] > without[0] + 8 * 140, without


def test_a_few_coefficients_keep_their_own_operations() -> None:
    """Below the threshold nothing changes, so the draws of existing models stay bit for
    bit (the draw hashes in tests/statistical pin them too)."""
    spec = build_model(build_design(_formula(structure.VECTOR_MIN - 2), _table(14)))
    s = structure.Structure.of(spec, "marginal", None, "float64")
    assert s.fixed_runs == () and not any(isinstance(e, tuple) and e[:1] == ("runs",)
                                          for e in s.key)  # the compile key as before
