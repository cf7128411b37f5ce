r"""What the pilot of "auto" needs of a log density, as pure functions ``f(s, z, d)``: the data
precision about each sampled group effect and the Laplace-corrected pilot density
(:mod:`hbr.density.auto` uses them to choose the centred fractions)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hbr.density.equations import (aux_values, dpar_inverse, dpar_predictor, linear_predictor,
                                   logdensity, unpack)
from hbr.density.likelihoods import LOGLIK, ROW_KEYS, aux_information
from hbr.density.reparam import REPARAMS
from hbr.density.structure import Structure

__all__ = ["data_precision", "effect_information", "pilot_logdensity"]


def data_precision(s: Structure, z: jax.Array, d: Any) -> tuple[dict[int, jax.Array], dict]:
    r"""Per group j of each sampled term, the data precision (J, k, k) about b_j,
    :math:`\sum_i z_i z_i^\top (-\partial^2 \log p(y_i \mid \mu_i) / \partial \mu_i^2)` at
    ``z`` (an integrated-out factor, if any, is left out of mu); and the Cholesky factors of
    the covariances."""
    _, vals, effects, Ls = unpack(s, z, d)
    if s.use_stats:  # noise "group": every sampled term is on log sigma, one row per level
        return _level_precision(s, vals, effects, d), Ls
    mu = linear_predictor(s, vals, effects, d)
    aux = aux_values(s, vals, effects, d)
    family_ll = LOGLIK[(s.lik_family, s.link)]

    per_row = (*ROW_KEYS, "sigma", *(x[0] for x in s.dpars))

    def one_row(i: jax.Array) -> dict:
        # one row of each per-row array (an ordinal family's thresholds are not per row)
        return {k: v[i] if k in per_row and jnp.ndim(v) else v
                for k, v in {**aux, **{k: d[k] for k in ROW_KEYS if k in d}}.items()}

    def ll_row(m: jax.Array, i: jax.Array) -> jax.Array:
        row = one_row(i)
        return family_ll(row["y"], m, row, row)

    rows = jnp.arange(mu.shape[0])
    curv = {"": -jax.vmap(jax.grad(jax.grad(ll_row)))(mu, rows)}
    # effects on log sigma: the expected information per row (2 for the Gaussian)
    curv["sigma"] = aux_information(s.family, aux) * d.get("weights", jnp.ones_like(mu))
    for name in {g.dpar for g in s.groups if g.dpar and g.raw} - {"sigma"}:
        # another parameter's formula (zi ~ (1 | g)): the observed information about its
        # linear predictor, row by row (a negative one counts as none: centered_fraction)
        def ll_dpar(v: jax.Array, i: jax.Array, name: str = name) -> jax.Array:
            row = {**one_row(i), name: dpar_inverse(name, v)}
            return family_ll(row["y"], mu[i], row, row)
        lp = dpar_predictor(s, name, vals, effects, d)
        curv[name] = -jax.vmap(jax.grad(jax.grad(ll_dpar)))(lp, rows)
    out = {}
    for i in s.raw_ids:
        g = s.groups[i]
        Zi = d["groups"][i]["Z"]
        c = curv[g.dpar]
        outer = Zi[:, :, None] * Zi[:, None, :] * c[:, None, None]
        out[i] = jax.ops.segment_sum(outer, d["groups"][i]["index"], g.raw[2])
    return out, Ls


def _level_precision(s: Structure, vals: dict, effects: dict, d: Any) -> dict[int, jax.Array]:
    """:func:`data_precision` of the ``log sigma`` effects from the integrated factor's levels
    (noise "group"): each level's rows share their ``sigma ~`` row, so the sum over rows is
    the row count times that row's term."""
    m = d["marg"]
    curv = aux_information(s.family, aux_values(s, vals, effects, m["by_group"])) * m["n"]
    out = {}
    for i in s.raw_ids:
        gd = m["by_group"]["groups"][i]
        outer = gd["Z"][:, :, None] * gd["Z"][:, None, :] * curv[:, None, None]
        out[i] = jax.ops.segment_sum(outer, gd["index"], s.groups[i].raw[2])
    return out


def effect_information(s: Structure, z: jax.Array, d: Any) -> dict[int, tuple]:
    """``{group index: (s, I, b)}``: the group sds ``s`` (k,), the data precision ``I``
    (J, k) about each sampled effect and the effects ``b`` (J, k) themselves (for
    :func:`hbr.density.reparam.centered_fraction`)."""
    P, Ls = data_precision(s, z, d)
    effects = unpack(s, z, d)[2]
    return {i: (jnp.sqrt(jnp.sum(Ls[i] ** 2, axis=1)), jnp.diagonal(p, axis1=1, axis2=2),
                effects[i]) for i, p in P.items()}


def pilot_logdensity(s: Structure, z: jax.Array, d: Any) -> jax.Array:
    """:func:`~hbr.density.equations.logdensity` with the Laplace correction for the sampled
    effects in their raw coordinates, -1/2 log det(J' H J) = -1/2 sum_j log det(P_j +
    Sigma^-1) - log|J| (P_j from :func:`data_precision`, cross-factor terms left out;
    J = d b / d raw). Its maximum over the raw effects approximates the log marginal
    posterior of the other parameters, exactly for one Gaussian factor, in any
    parameterisation."""
    P, Ls = data_precision(s, z, d)
    lp = logdensity(s, z, d)
    reparam = REPARAMS[s.reparam]
    for i, p in P.items():
        J, k = p.shape[0], p.shape[-1]
        Sinv = jax.scipy.linalg.cho_solve((Ls[i], True), jnp.eye(k, dtype=p.dtype))
        C = jnp.linalg.cholesky(p + Sinv[None])
        lp = lp - jnp.sum(jnp.log(jnp.diagonal(C, axis1=-2, axis2=-1)))
        lp = lp - reparam.log_jacobian(Ls[i], d["W"][i], J)
    return lp
