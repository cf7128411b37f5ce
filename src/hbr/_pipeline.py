"""Between :func:`hbr.fit` and the engines: which target to sample and which engine runs it.

:func:`prepare_target` builds the :class:`~hbr.target.Target` for a parameterisation
(pilot fit and centred fractions for "auto", Laplace preconditioning when only a few
parameters are left), :func:`run_method` runs the chosen method on it.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np
import pandas as pd

from hbr.density.auto import auto_centering, start_mass_matrix
from hbr.density.build import make_target
from hbr.density.transforms import point_effects, precondition
from hbr.inference.methods import (advi, initial_points, laplace, map_point, metropolis,
                                   pathfinder)
from hbr.inference.mode import MAX_DIM, find_mode
from hbr.inference.nuts import nuts
from hbr.model.integrated import integrated_ids
from hbr.model.spec import ModelSpec
from hbr.posterior.fit import ParameterizationChoice

__all__ = ["prepare_target", "run_method", "precondition_laplace"]


def precondition_laplace(target: Any) -> bool:
    """Precondition with a pilot Laplace fit when NUTS samples only a few fixed effects and
    hyperparameters (marginal, every group factor integrated out, or no group terms). With
    sampled group effects (a second, crossed factor) the mode sits in a funnel and the
    Laplace scale misleads: on radon with (1 | county) + (1 | floor) it gave 145
    divergences against 24 without it."""
    return (target.dim <= MAX_DIM and target.parameterization == "marginal"
            and target.sampled_effects == 0)


def prepare_target(spec: ModelSpec, parameterization: str, mfactor: str | None, seed: int,
                   mass_matrix: bool = True
                   ) -> tuple[Any, ParameterizationChoice, float | None, bool,
                              np.ndarray | None]:
    """The target to sample, with the choices made for it.

    * Group effects sampled under "auto"/"marginal": partially centred with fractions from
      a pilot fit, and a starting mass matrix from the exact Hessian diagonal at the pilot
      mode of the final target.
    * Only a few parameters left ("marginal" with every factor integrated out):
      Laplace-preconditioned.

    Returns the target, the choice, the pilot's seconds (None without a pilot), whether it
    was preconditioned, and the starting inverse mass matrix (None: NUTS's default; always
    None without ``mass_matrix``, which only NUTS uses)."""
    t_pilot = time.perf_counter()
    key = jax.random.PRNGKey(seed)
    sampled = len(integrated_ids(spec, mfactor)) < len(spec.groups)
    if sampled and parameterization in ("auto", "marginal"):
        centering = auto_centering(spec, parameterization, mfactor, jax.random.fold_in(key, 3))
        target = make_target(spec, parameterization, mfactor, centering)
        imm = start_mass_matrix(target, jax.random.fold_in(key, 4)) if mass_matrix else None
        fractions = {}
        for i, w in centering.items():
            blk = spec.groups[i].block
            for c, name in enumerate(blk.names):
                fractions[name] = pd.Series(w[:, c], index=pd.Index(blk.levels, name=blk.factor),
                                            name=name)
        return (target, ParameterizationChoice(parameterization, mfactor, fractions),
                time.perf_counter() - t_pilot, False, imm)
    target = make_target(spec, parameterization, mfactor)
    choice = ParameterizationChoice(parameterization, mfactor)
    if not precondition_laplace(target):
        return target, choice, None, False, None
    t_pilot = time.perf_counter()
    mode = find_mode(target, target.initial_point(jax.random.fold_in(key, 2)))
    if mode.converged:
        target = precondition(target, mode)
    return target, choice, time.perf_counter() - t_pilot, mode.converged, None


def run_method(method: str, target: Any, key: jax.Array, imm: np.ndarray | None,
               init: str | None, o: dict[str, Any]) -> tuple[Any, dict[str, np.ndarray], Any]:
    """Run ``method`` on ``target``: the result, extra outputs (ELBO traces) and the target
    the draws belong to (for "map", one that returns effects at their conditional mean)."""
    n = dict(chains=o["chains"], draws=o["draws"])
    if method == "nuts":
        z0 = None
        if init is not None:
            z0, var = initial_points(init, target, jax.random.fold_in(key, 5), o["chains"])
            imm = var if imm is None else imm
        return nuts(target, key, tune=o["tune"], target_accept=o["target_accept"],
                    progress=o["progress"], inverse_mass_matrix=imm, init_positions=z0,
                    **n), {}, target
    if method == "metropolis":
        return (metropolis(target, key, tune=o["tune"], thin=o["thin"],
                           progress=o["progress"], **n), {}, target)
    if method in ("advi", "fullrank_advi"):
        res, elbo = advi(target, key, fullrank=method == "fullrank_advi", steps=o["vi_steps"],
                         progress=o["progress"], **n)
        return res, {"elbo": elbo}, target
    if method == "pathfinder":
        res, elbo = pathfinder(target, key, **n)
        return res, {"elbo": elbo}, target
    if method == "laplace":
        return laplace(target, key, **n), {}, target
    return map_point(target, key), {}, point_effects(target)
