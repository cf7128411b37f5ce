"""Between :func:`hbr.fit` and the engines: the density to sample, the engine that samples it
and the draws read back, for ``hbr.fit`` and for the point estimates of
:mod:`hbr.checks.modes` alike.

:func:`prepare` builds the :class:`~hbr.target.Density` for a parameterisation (pilot fit and
centred fractions for "auto", Laplace preconditioning when only a few parameters are left);
:func:`sample` runs the chosen method of :data:`hbr.inference.METHODS` on it and reads every
draw back (constrained values; integrated-out effects drawn exactly; the pointwise log
likelihood with the same keys, hence the same effects).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd

from hbr._runtime.cache import enable_compilation_cache
from hbr._runtime.compile import apply_draws
from hbr._runtime.interrupt import check as check_interrupt
from hbr._runtime.keys import Keys
from hbr.density.auto import auto_centering, start_mass_matrix
from hbr.density.build import make_gibbs_target, make_target
from hbr.density.gibbs import gibbs_factors
from hbr.density.transforms import point_effects, precondition
from hbr.inference import METHODS, run_method
from hbr.inference.mode import MAX_DIM, batch_value_and_grad, find_mode
from hbr.inference.table import default_tune
from hbr.model.integrated import integrated_ids, marginal_factor
from hbr.model.spec import ModelSpec
from hbr.options import FitOptions
from hbr.posterior.choice import ParameterizationChoice
from hbr.target import Density, SamplerResult

__all__ = ["Prepared", "Run", "prepare", "sample", "precondition_laplace"]


class Prepared(NamedTuple):
    """The density to sample and what was chosen for it: the parameterisation's choice, the
    pilot's seconds (None without a pilot), whether it was Laplace-preconditioned, and the
    starting inverse mass matrix (None: the engine's default)."""

    density: Density
    choice: ParameterizationChoice
    pilot_s: float | None
    preconditioned: bool
    inverse_mass_matrix: np.ndarray | None


class Run(NamedTuple):
    """A finished run: the engine's result, its extra outputs (ELBO traces), the draws on the
    constrained scale, the pointwise log likelihood (or None) and what was prepared."""

    result: SamplerResult
    info: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    log_lik: np.ndarray | None
    prepared: Prepared
    moments: dict | None = None
    tune: int = 0  # the warm-up iterations run (default_tune when the user gave none)


def precondition_laplace(density: Density) -> bool:
    """Precondition with a pilot Laplace fit when NUTS samples only a few fixed effects and
    hyperparameters (marginal, every group factor integrated out, or no group terms). With
    sampled group effects (a second, crossed factor) the mode sits in a funnel and the
    Laplace scale misleads: on radon with (1 | county) + (1 | floor) it gave 145
    divergences against 24 without it."""
    return (density.target.dim <= MAX_DIM and density.parameterization == "marginal"
            and density.sampled_effects == 0)


def prepare(spec: ModelSpec, opts: FitOptions, keys: Keys) -> Prepared:
    """The density to sample, with the choices made for it.

    * Group effects sampled under "auto"/"marginal": partially centred with fractions from
      a pilot fit, and a starting mass matrix from the exact Hessian diagonal at the pilot
      mode of the final target (for engines that use one).
    * Only a few parameters left ("marginal" with every factor integrated out):
      Laplace-preconditioned.
    * Two or more Gaussian factors under "marginal" (no ``marginalize=``) with NUTS: each
      factor integrated out in turn (:mod:`hbr.density.gibbs`).
    """
    t_pilot = time.perf_counter()
    p = opts.parameterization
    factors = (gibbs_factors(spec) if p == "marginal" and opts.marginalize is None
               and opts.method == "nuts" else ())
    if factors:  # crossed Gaussian factors: each integrated out in turn (collapsed Gibbs)
        names = [spec.groups[ids[0]].block.factor for ids in factors]
        return Prepared(make_gibbs_target(spec, factors),
                        ParameterizationChoice(p, " + ".join(names) + " (each in turn)"),
                        None, False, None)
    mfactor = marginal_factor(spec, opts.marginalize) if p == "marginal" else None
    sampled = len(integrated_ids(spec, mfactor)) < len(spec.groups)
    if sampled and p in ("auto", "marginal"):
        centering = auto_centering(spec, p, mfactor, keys.pilot)
        density = make_target(spec, p, mfactor, centering)
        imm = (start_mass_matrix(density, keys.mass_matrix)
               if METHODS[opts.method].mass_matrix else None)
        choice = ParameterizationChoice(p, mfactor, _fractions(spec, centering))
        return Prepared(density, choice, time.perf_counter() - t_pilot, False, imm)
    density = make_target(spec, p, mfactor)
    choice = ParameterizationChoice(p, mfactor)
    if not precondition_laplace(density) or METHODS[opts.method].point:
        # a point estimate is the mode itself: whitening at the mode first would only
        # compile a second mode program (3 s of a report's MAP section on radon)
        return Prepared(density, choice, None, False, None)
    t_pilot = time.perf_counter()
    mode = find_mode(density.target, density.target.initial_point(keys.laplace_start))
    if mode.converged:  # the pilot's program also starts the chains (no compile of its own)
        density = precondition(density, mode,
                               batch_value_and_grad(density.target, density.target.dim))
    return Prepared(density, choice, time.perf_counter() - t_pilot, mode.converged, None)


def _fractions(spec: ModelSpec, centering: dict[int, np.ndarray]) -> dict[str, pd.Series]:
    out = {}
    for i, w in centering.items():
        blk = spec.groups[i].block
        for c, name in enumerate(blk.names):
            out[name] = pd.Series(w[:, c], index=pd.Index(blk.levels, name=blk.factor),
                                  name=name)
    return out


def sample(spec: ModelSpec, opts: FitOptions, log_likelihood: bool = False,
           keep_effects: bool = True) -> Run:
    """Prepare, run ``opts.method`` and read the draws back (under float64); without
    ``keep_effects`` the group effects come back as sums of their conditional moments
    (``Run.moments``) instead of draws."""
    keys = Keys.from_seed(opts.seed)
    enable_compilation_cache()
    with jax.enable_x64(True):
        check_interrupt()
        prep = prepare(spec, opts, keys)
        check_interrupt()
        density = prep.density
        run_opts = opts.run
        if run_opts.tune is None:
            run_opts = run_opts._replace(tune=default_tune(opts.method, prep.preconditioned))
        res, info = run_method(opts.method, density.target, keys.sampler, run_opts,
                               prep.inverse_mass_matrix)
        if METHODS[opts.method].point:
            density = point_effects(density)
        values, ll, moments = read_draws(density, res.positions, keys, log_likelihood,
                                         keep_effects)
    return Run(res, info, values, ll, prep._replace(density=density), moments, run_opts.tune)


def read_draws(density: Density, positions: np.ndarray, keys: Keys, log_likelihood: bool,
               keep_effects: bool = True
               ) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict | None]:
    """Constrained values of every draw and, when asked, the pointwise log likelihood, in
    one pass (one program); integrated-out effects drawn with ``keys.draw_back``, one key per
    draw, so both see the same effects.

    Without ``keep_effects`` (and a readout with ``moments``) the values hold no group
    effects; the third output is ``{"m": .., "m2": .., "v": ..}``, each ``{name: (chains,
    ...)}``: per chain, the sums over draws of each effect's conditional mean, its square
    and its conditional variance (:func:`hbr.posterior.rao_blackwell.rao_blackwell`)."""
    t, r = density.target, density.readout
    data = t.data
    serial = r.serial
    if r.inner is not None:  # the engine's coordinates -> the readout's
        positions, data = r.inner(np.asarray(positions), data)
    if not keep_effects and r.moments is not None:
        def reduced(z: jax.Array, k: jax.Array, dr: Any) -> tuple:
            p, m, v = r.moments(z, k, dr[0])
            kept = (p, r.pointwise_loglik(z, k, *dr)) if log_likelihood else (p, None)
            return kept, {"m": m, "m2": {n: a * a for n, a in m.items()}, "v": v}
        (values, ll), sums = apply_draws(
            reduced, positions, keys.draw_back, (data, r.rows),
            cache_key=(r.signature, "moments", log_likelihood), serial=serial, summed=True)
        return r.rename(values), ll, {k: r.rename(v) for k, v in sums.items()}
    if log_likelihood:
        def both(z: jax.Array, k: jax.Array, dr: Any) -> tuple:
            return r.constrain(z, k, dr[0]), r.pointwise_loglik(z, k, *dr)
        values, ll = apply_draws(both, positions, keys.draw_back, (data, r.rows),
                                 cache_key=(r.signature, "constrain+loglik"), serial=serial)
        return r.rename(values), ll, None
    return r.rename(apply_draws(r.constrain, positions, keys.draw_back, data,
                                cache_key=(r.signature, "constrain"), serial=serial)), None, None
