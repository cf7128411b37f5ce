r"""Posterior predictive draws for the rows a model was fitted to, from the posterior draws.

For every posterior draw :math:`s` the linear predictor of each row is rebuilt in NumPy,

.. math::
    \eta_i^{(s)} = x_i^\top \beta^{(s)} + \sum_g z_{gi}^\top b^{(s)}_{g[i]} + o_i,

(the group effects are the drawn ones, also for an integrated-out factor), with the family's
extra parameters (sigma per row for a ``sigma ~ ...`` formula or known ``se()``), and
:math:`y_i^{(s)}` is drawn by :func:`hbr.families.simulate_response`. This module does not
import JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbr.errors import OptionError
from hbr.families import simulate_response
from hbr.model import ModelSpec

__all__ = ["linear_predictor", "noise_sd", "posterior_predictive", "MAX_NUMBERS"]

MAX_NUMBERS = 250_000_000  # chains x draws x rows kept in memory at once (2 GB)


def _coefficients(spec: ModelSpec, post: dict[str, np.ndarray], params: Any) -> np.ndarray:
    cols = [post[p.name][..., None] if p.labels is None else post[p.name] for p in params]
    shape = next(iter(post.values())).shape[:2]
    return np.concatenate(cols, axis=-1) if cols else np.zeros(shape + (0,))


def _group_sum(spec: ModelSpec, post: dict[str, np.ndarray], dpar: str) -> np.ndarray:
    out = 0.0
    for g in spec.groups:
        blk = g.block
        if blk.dpar != dpar:
            continue
        for c, name in enumerate(blk.names):
            out = out + post[name][..., blk.index] * blk.Z[:, c]
    return out


def linear_predictor(spec: ModelSpec, post: dict[str, np.ndarray]) -> np.ndarray:
    """:math:`\\eta` (chains, draws, N) from the constrained draws ``post``."""
    d = spec.design
    eta = _coefficients(spec, post, spec.fixed) @ d.X.T + _group_sum(spec, post, "")
    if d.offset is not None:
        eta = eta + d.offset
    return np.asarray(eta)


def noise_sd(spec: ModelSpec, post: dict[str, np.ndarray]) -> np.ndarray | None:
    """The residual sd, (chains, draws, 1) or (chains, draws, N); None without sigma."""
    d = spec.design
    if spec.dpar_fixed:
        log_sd = (_coefficients(spec, post, spec.dpar_fixed) @ d.dpars[0].X.T
                  + _group_sum(spec, post, "sigma"))
        return np.exp(log_sd)
    sigma = post["sigma"][..., None] if "sigma" in post else None
    if d.se is None:
        return sigma
    return d.se if sigma is None else np.sqrt(d.se**2 + sigma**2)


def posterior_predictive(spec: ModelSpec, post: dict[str, np.ndarray], seed: int
                         ) -> np.ndarray:
    """Replicated responses (chains, draws, N), one per posterior draw.

    Raises
    ------
    OptionError
        When chains x draws x N passes ``MAX_NUMBERS`` (thin the draws first)."""
    chains, draws = next(iter(post.values())).shape[:2]
    n = chains * draws * spec.design.n_obs
    if n > MAX_NUMBERS:
        raise OptionError(f"the posterior predictive would hold {n:.3g} numbers "
                          f"({n * 8 / 2**30:.1f} GiB); keep fewer draws (e.g. every 10th) "
                          "before drawing it")
    eta = linear_predictor(spec, post)
    aux = {p.name: post[p.name][..., None] for p in spec.aux}
    sd = noise_sd(spec, post)
    if sd is not None:
        aux["sigma"] = sd
    # known se is already inside the sd, so simulate_response gets no se of its own
    return simulate_response(spec.family, spec.link, eta, aux, np.random.default_rng(seed),
                             spec.design.trials)
