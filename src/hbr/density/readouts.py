"""The posterior side of the log density of :mod:`hbr.density.equations`: the group effects
of a position (integrated ones drawn from their exact conditional), each row's log likelihood
given them, and every parameter on its constrained scale by name (the readouts of
:class:`hbr.target.Readout`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hbr.density.equations import (_marg_L, _marg_parts, _shifted, aux_values,
                                   linear_predictor, unpack)
from hbr.density.likelihoods import LOGLIK
from hbr.density.marginal import conditional_effects, conditional_moments
from hbr.density.structure import Structure

__all__ = ["all_effects", "pointwise_loglik", "constrain", "constrain_moments"]


def all_effects(s: Structure, z: jax.Array, key: jax.Array, d: Any, moments: bool = False
                ) -> tuple[dict, dict]:
    """Parameter values and every group term's effects: sampled ones from ``z``, integrated
    ones drawn (with ``key``) from their exact conditional given ``z``. With ``moments``
    the effects are ``{i: (mean, variance)}`` given ``z`` instead (variance 0 for sampled
    effects, which ``z`` holds)."""
    _, vals, effects, Ls = unpack(s, z, d)
    var = {i: jnp.zeros_like(e) for i, e in effects.items()} if moments else {}
    if s.marg_ids:
        _, Zr, ZtZ, sigma, _ = _shifted(s, _marg_parts(s, vals, effects, d), vals)
        L, noise = _marg_L(s, Ls), d["marg"]["noise"]
        if moments:
            b, v = conditional_moments(Zr, ZtZ, L, sigma, noise)
        else:
            b, v = conditional_effects(key, Zr, ZtZ, L, sigma, noise), None
        col, n = 0, s.n_marg_real
        effects = dict(effects)
        for i in s.marg_ids:
            k = s.groups[i].k
            effects[i] = b[:n, col:col + k]
            if v is not None:
                var[i] = v[:n, col:col + k]
            if ("shift", i) in vals:  # the prior mean given log sigma's effects
                effects[i] = effects[i] + vals[("shift", i)][:n]
            col += k
    if moments:
        return vals, {i: (e, var[i]) for i, e in effects.items()}
    return vals, effects


def pointwise_loglik(s: Structure, z: jax.Array, key: jax.Array, d: Any, r: Any) -> jax.Array:
    """The log likelihood of each row given the group effects (drawn with ``key`` where
    integrated out); ``r`` the row arrays the statistics path keeps out of ``d``."""
    d = {**d, **r}
    vals, effects = all_effects(s, z, key, d)
    return LOGLIK[(s.family, s.link)](d["y"], linear_predictor(s, vals, effects, d),
                                      aux_values(s, vals, effects, d), d)


def constrain(s: Structure, z: jax.Array, key: jax.Array, d: Any) -> dict[str, jax.Array]:
    """Every parameter and group effect on its constrained scale, by user-facing name."""
    vals, effects = all_effects(s, z, key, d)
    return {**_parameters(s, vals), **_effects(s, effects)}


def constrain_moments(s: Structure, z: jax.Array, key: jax.Array, d: Any
                      ) -> tuple[dict[str, jax.Array], dict[str, jax.Array], dict[str, jax.Array]]:
    """The parameters of :func:`constrain`, and each group effect's conditional mean and
    variance given ``z`` in place of a draw (``key`` unused), by user-facing name."""
    vals, mv = all_effects(s, z, key, d, moments=True)
    return (_parameters(s, vals), _effects(s, {i: m for i, (m, _) in mv.items()}),
            _effects(s, {i: v for i, (_, v) in mv.items()}))


def _parameters(s: Structure, vals: dict) -> dict[str, jax.Array]:
    by_name = {p.name: p for p in s.params}
    out: dict[str, jax.Array] = {}
    for n in s.fixed + s.dpar_fixed + s.aux:
        out[n] = vals[n] if by_name[n].labelled else vals[n][0]
    for g in s.groups:
        for n in g.sds:
            out[n] = vals[n][0]
        if g.corr is not None:
            Lc = vals[g.corr]
            out[g.corr] = Lc @ Lc.T
    return out


def _effects(s: Structure, effects: dict) -> dict[str, jax.Array]:
    out: dict[str, jax.Array] = {}
    for i, g in enumerate(s.groups):
        if g.smooth:  # s_sx_1: the k coefficients of the one level
            out[g.names[0]] = effects[i][0]
            continue
        for j, name in enumerate(g.names):
            out[name] = effects[i][:, j]
    return out
