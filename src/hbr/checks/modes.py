r"""Where the mode and the mean part (seed 000): :func:`map_vs_mean`.

A hierarchical posterior's mode can sit far from its mass. Three modes of the same model:

``marginal``     the mode over the hyperparameters with the Gaussian group effects
                 integrated out, effects at their conditional mean (empirical Bayes; what
                 ``method="map"`` returns by default). No funnel, so it sits close to the
                 posterior mean.
``noncentered``  the joint mode over hyperparameters and raw effects
                 :math:`z_j = b_j / s`: the prior :math:`N(z_j; 0, 1)` pulls every
                 :math:`z_j` towards 0, so the fit inflates the group sd :math:`s` to
                 explain the data (Minnesota radon: 1.98 against a posterior mean of 0.34).
``centered``     the joint mode over hyperparameters and effects :math:`b_j` themselves. It
                 does not exist: with every :math:`b_j = 0` the density grows without bound
                 as :math:`s \to 0` (the neck of the funnel); seed 000's MAP, with every slope
                 equal and :math:`s \approx 0`, is an optimiser stopped on the way down.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hbr._pipeline import sample
from hbr.errors import OptionError
from hbr.options import FitOptions
from hbr.model.families import FAMILIES

__all__ = ["map_vs_mean", "point_estimate"]


def point_estimate(spec: Any, parameterization: str, seed: int, log_likelihood: bool = False
                   ) -> dict[str, np.ndarray] | None:
    """The mode of ``spec`` under ``parameterization`` on the constrained scale (group effects
    integrated out come back as their conditional mean), or None when the optimiser finds
    no interior mode. The pipeline of :func:`hbr.fit`, with ``method="map"``; the joint
    modes of a model whose every group term integrates out come from the marginal target
    instead (:func:`_profile_mode`). ``log_likelihood`` as the fit had it: the mode is then
    read by the fit's own compiled readout (its log likelihood is not used)."""
    if parameterization in ("noncentered", "centered") and _profile_applies(spec):
        return _profile_mode(spec, parameterization == "centered", seed, log_likelihood)
    opts = FitOptions.of(method="map", chains=1, draws=1, seed=seed,
                         parameterization=parameterization, family=spec.family,
                         link=spec.link)
    try:
        run = sample(spec, opts, log_likelihood and parameterization == "marginal")
    except OptionError:
        return None
    return {k: np.asarray(v)[0, 0] for k, v in run.values.items()}


def _profile_applies(spec: Any) -> bool:
    """Every group term of the mean is on one factor and Gaussian: integrated out."""
    from hbr.model.integrated import integrated_ids, marginal_factor

    return (FAMILIES[spec.family].marginal and not spec.design.limited and bool(spec.groups)
            and len(integrated_ids(spec, marginal_factor(spec))) == len(spec.groups))


def _profile_mode(spec: Any, centred: bool, seed: int, log_likelihood: bool = False
                  ) -> dict[str, np.ndarray] | None:
    r"""The joint mode of the non-centred or centred parameterisation without optimising
    over the effects: the mode over the hyperparameters of
    :func:`hbr.density.equations.joint_mode_profile`, with the effects at their conditional
    mean there. Exact (the effects' conditional is Gaussian), and no program of its own: the
    fit's log density carries the profile's terms behind a switch in its data
    (:func:`hbr.density.build.mode_profile`), where optimising over hyperparameters and
    2 x 85 effects compiled a 176-parameter program per parameterisation (radon: 8.2 s of a
    first report, 5.3 s of it compiling)."""
    import jax

    from hbr._pipeline import read_draws
    from hbr._runtime.keys import Keys
    from hbr.density.build import make_target, mode_profile
    from hbr.density.transforms import point_effects
    from hbr.inference.mode import find_mode
    from hbr.model.integrated import marginal_factor

    keys = Keys.from_seed(seed)
    mfactor = marginal_factor(spec)
    with jax.enable_x64(True):
        density = make_target(spec, "marginal", mfactor)
        profile = mode_profile(density, spec, mfactor, centred)
        mode = find_mode(profile.target, density.target.initial_point(keys.laplace_start))
        if not mode.converged:
            return None
        values, _, _ = read_draws(point_effects(density), mode.z[None, None], keys,
                                  log_likelihood)
    return {k: np.asarray(v)[0, 0] for k, v in values.items()}


def map_vs_mean(fit: Any) -> pd.DataFrame:
    r"""The posterior mean and sd of every fixed effect and hyperparameter next to the modes
    of the same model (see the module docstring), and how many posterior sds each mode lies
    from the mean.

    Columns: ``mean``, ``sd``, then per parameterisation ``mode_<name>`` and
    ``z_<name>`` = (mode - mean) / sd; a parameterisation without an interior mode
    (``centered``) gives NaN, and ``df.attrs["no_mode"]`` lists it.

    Examples
    --------
    >>> fit = hbr.fit("log_radon ~ floor + (floor | county)", mn)  # doctest: +SKIP
    >>> fit.map_vs_mean()  # doctest: +SKIP
    """
    summ = fit.summary(group_effects=False)
    out = summ[["mean", "sd"]].copy()
    marginal = FAMILIES[fit.spec.family].marginal and not fit.spec.design.limited
    pars = (["marginal"] if marginal else []) + ["noncentered", "centered"]
    if not fit.spec.groups:
        pars = pars[:1] if pars[0] == "marginal" else ["noncentered"]
    if not fit.spec.design.has_rows:  # rows out of memory: only the marginal mode exists
        pars = ["marginal"]
    missing = []
    for par in pars:
        est = point_estimate(fit.spec, par, fit.seed, fit.draws.log_lik is not None)
        col = np.full(len(out), np.nan)
        if est is None:
            missing.append(par)
        else:
            for r, label in enumerate(out.index):
                name, _, rest = label.partition("[")
                v = np.asarray(est[name])
                if rest:  # "g_corr[floor, 1]" or "C(x)[b]": pick the element
                    v = _element(fit, name, rest.rstrip("]"), v)
                col[r] = float(v)
        out[f"mode_{par}"] = col
        out[f"z_{par}"] = (col - out["mean"]) / out["sd"]
    out.attrs["no_mode"] = missing
    return out


def _element(fit: Any, name: str, label: str, v: np.ndarray) -> np.ndarray:
    dims = fit.draws.dims.get(name, [])
    parts = [p.strip() for p in label.split(",")]
    idx = tuple(int(np.flatnonzero(np.asarray(fit.draws.coords[d]).astype(str) == p)[0])
                for d, p in zip(dims, parts))
    return v[idx]
