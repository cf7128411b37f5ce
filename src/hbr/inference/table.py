"""The engines as one table: a :class:`Method` row per ``method=`` value, carrying how it
runs, what it records and how its results are read (DESIGN.md style rule 3).

Adding an engine is one row here and its function; the option check of ``hbr.fit``, the
settings written to the posterior's attrs, the diagnostics' choice between R-hat/ESS and
Pareto k, and the CLI's help all read this table.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from hbr._runtime.keys import fold_in
from hbr.inference.driver import ProgressFn
from hbr.inference.methods import (ACCEPT_TARGET, ADVI_LEARNING_RATE, PATHFINDER_MAXITER,
                                   advi, initial_points, laplace, map_point, metropolis,
                                   pathfinder)
from hbr.inference.gibbs import nuts_gibbs
from hbr.inference.nuts import nuts
from hbr.target import SamplerResult, Target

__all__ = ["RunOptions", "Method", "METHODS", "run_method", "TUNE", "TUNE_WHITENED",
           "default_tune"]

TUNE = 1000  # warm-up iterations per chain when the user gives none (Stan's, PyMC's)
# ... and for NUTS on a target the Laplace pilot whitened (z = mode + C w, C C' the inverse
# Hessian at the mode): there the windowed adaptation starts from a mass matrix near the
# posterior's and only refines it. Minnesota radon and sleepstudy, 6 seeds each, 500
# against 1000: warm-up 0.62 -> 0.28 s ((floor | county)), 0.27 -> 0.14 s (sleepstudy),
# median bulk ESS within 8% (1502 vs 1555, 4100 vs 4461), no divergences, R-hat <= 1.006
TUNE_WHITENED = 500


def default_tune(method: str, whitened: bool) -> int:
    """The warm-up length of a fit whose user gave none: :data:`TUNE_WHITENED` for NUTS on
    a Laplace-whitened target, else :data:`TUNE`."""
    return TUNE_WHITENED if method == "nuts" and whitened else TUNE


class RunOptions(NamedTuple):
    """The engine settings of a fit (validated by :class:`hbr.options.FitOptions`)."""

    chains: int = 4
    draws: int = 1000
    tune: int | None = None  # None: default_tune, resolved before the engine runs
    thin: int = 1
    vi_steps: int = 10_000
    target_accept: float = 0.9
    init: str | None = None
    progress: ProgressFn | None = None


RunFn = Callable[[Target, jax.Array, RunOptions, "np.ndarray | None"],
                 tuple[SamplerResult, dict[str, np.ndarray]]]


class Method(NamedTuple):
    """One engine.

    Attributes
    ----------
    run : callable
        ``run(target, key, opts, inverse_mass_matrix) -> (result, extra outputs)``.
    approximate : bool
        Independent draws of an approximation (diagnosed by Pareto k, not R-hat and ESS).
    mass_matrix : bool
        Uses a starting inverse mass matrix (the pilot computes one only then).
    point : bool
        A point estimate: integrated-out effects are read at their conditional mean.
    settings : callable
        ``settings(opts) -> dict`` of what it ran with, for the posterior's attrs.
    """

    run: RunFn
    approximate: bool
    mass_matrix: bool
    point: bool
    settings: Callable[[RunOptions], dict[str, Any]]


def _nuts(target: Target, key: jax.Array, o: RunOptions, imm: np.ndarray | None
          ) -> tuple[SamplerResult, dict]:
    z0 = None
    if o.init is not None:
        z0, var = initial_points(o.init, target, fold_in(key, 5), o.chains)
        imm = var if imm is None else imm
    # crossed Gaussian factors (a target with blocks): NUTS within collapsed Gibbs
    run = nuts if target.blocks is None else nuts_gibbs
    return run(target, key, chains=o.chains, draws=o.draws, tune=o.tune,
               target_accept=o.target_accept, progress=o.progress, inverse_mass_matrix=imm,
               init_positions=z0), {}


def _metropolis(target: Target, key: jax.Array, o: RunOptions, imm: Any
                ) -> tuple[SamplerResult, dict]:
    return metropolis(target, key, chains=o.chains, draws=o.draws, tune=o.tune, thin=o.thin,
                      progress=o.progress), {}


def _advi(fullrank: bool) -> RunFn:
    def run(target: Target, key: jax.Array, o: RunOptions, imm: Any
            ) -> tuple[SamplerResult, dict]:
        res, elbo = advi(target, key, fullrank=fullrank, chains=o.chains, draws=o.draws,
                         steps=o.vi_steps, progress=o.progress)
        return res, {"elbo": elbo}
    return run


def _pathfinder(target: Target, key: jax.Array, o: RunOptions, imm: Any
                ) -> tuple[SamplerResult, dict]:
    res, elbo = pathfinder(target, key, chains=o.chains, draws=o.draws)
    return res, {"elbo": elbo}


def _laplace(target: Target, key: jax.Array, o: RunOptions, imm: Any
             ) -> tuple[SamplerResult, dict]:
    return laplace(target, key, chains=o.chains, draws=o.draws), {}


def _map(target: Target, key: jax.Array, o: RunOptions, imm: Any
         ) -> tuple[SamplerResult, dict]:
    return map_point(target, key), {}


def _vi_settings(guide: str) -> Callable[[RunOptions], dict[str, Any]]:
    return lambda o: {"guide": guide, "steps": o.vi_steps,
                      "learning_rate": ADVI_LEARNING_RATE, "elbo_particles": 1}


METHODS: dict[str, Method] = {
    "nuts": Method(_nuts, False, True, False,
                   lambda o: {"target_accept": o.target_accept,
                              "adaptation": "windowed (Stan)"}),
    "metropolis": Method(_metropolis, False, False, False,
                         lambda o: {"thin": o.thin, "accept_target": ACCEPT_TARGET,
                                    "proposal": "diagonal normal, adapted during burn-in"}),
    "advi": Method(_advi(False), True, False, False, _vi_settings("AutoDiagonalNormal")),
    "fullrank_advi": Method(_advi(True), True, False, False,
                            _vi_settings("AutoMultivariateNormal")),
    "pathfinder": Method(_pathfinder, True, False, False,
                         lambda o: {"maxiter": PATHFINDER_MAXITER, "paths": "one per chain"}),
    "map": Method(_map, True, False, True, lambda o: {"optimizer": "damped Newton"}),
    "laplace": Method(_laplace, True, False, False,
                      lambda o: {"hessian": "exact, at the mode"}),
}


def run_method(method: str, target: Target, key: jax.Array, opts: RunOptions,
               inverse_mass_matrix: np.ndarray | None = None
               ) -> tuple[SamplerResult, dict[str, np.ndarray]]:
    """Run ``method`` (a key of :data:`METHODS`) on ``target`` with ``opts``."""
    return METHODS[method].run(target, key, opts, inverse_mass_matrix)
