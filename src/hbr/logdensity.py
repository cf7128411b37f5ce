r"""ModelSpec x parameterisation -> :class:`Target`, the log density an engine samples.

The position is one flat unconstrained vector. Each parameter is mapped to its support by the
bijection of its prior's support (``exp`` for a standard deviation with a HalfNormal prior, a
scaled sigmoid for ``Uniform``, the LKJ Cholesky transform for a correlation), and the log
density includes the log absolute Jacobian, so NUTS sees a density on :math:`\mathbb{R}^d`.

Group effects :math:`b_j \sim N(0, \Sigma)`, :math:`\Sigma = L L^\top`,
:math:`L = \mathrm{diag}(s)\, L_R`, are parameterised by a transform from the table
:data:`PARAMETERIZATIONS` (DESIGN.md style rule 2, as numpyro's ``LocScaleReparam``):

``noncentered``  :math:`b_j = L z_j`, :math:`z_j \sim N(0, I)`: no funnel when groups are
                 weakly informed.
``centered``     :math:`b_j` sampled directly with density :math:`N(b_j; 0, L L^\top)`: better
                 when every group has much data.
``marginal``     (Gaussian family) the effects of one grouping factor (by default the one with
                 the most levels) are integrated out exactly (:mod:`hbr.marginal`) and drawn
                 back from their conditional after sampling; other factors are non-centred.

The data (response, design matrices, indices and prior parameters) travel as a pytree argument
of ``logdensity_fn``, not as constants baked into the trace, so a second model with the same
shapes reuses the compiled code.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.linalg import solve_triangular
from numpyro.distributions.transforms import biject_to

from hbr.errors import OptionError
from hbr.marginal import conditional_effects, marginal_loglik, suffstats
from hbr.model import ModelSpec, ParamSpec

__all__ = ["Target", "Parameterization", "PARAMETERIZATIONS", "PARAMETERIZATION_NAMES",
           "make_target", "marginal_factor"]

_LOG_2PI = math.log(2 * math.pi)


def _half_student_t(nu: Any, sigma: Any) -> dist.Distribution:
    return dist.FoldedDistribution(dist.StudentT(nu, 0.0, sigma))


# prior family -> numpyro distribution from the prior's parameters (in FAMILIES order)
_DISTRIBUTIONS: dict[str, Callable[..., dist.Distribution]] = {
    "Normal": dist.Normal,
    "StudentT": dist.StudentT,
    "Cauchy": dist.Cauchy,
    "HalfNormal": dist.HalfNormal,
    "HalfCauchy": dist.HalfCauchy,
    "HalfStudentT": _half_student_t,
    "Exponential": dist.Exponential,
    "Gamma": dist.Gamma,
    "LogNormal": dist.LogNormal,
    "Uniform": dist.Uniform,
}

# family -> pointwise log likelihood (y, mu, sigma)
_FAMILIES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "gaussian": lambda y, mu, sigma: dist.Normal(mu, sigma).log_prob(y),
}


class Parameterization(NamedTuple):
    r"""How group effects ``b`` (J, k) are built from the raw position block ``raw`` (J, k).

    ``effects(raw, L) -> b`` and ``log_prior(raw, L)``: the log density of ``raw`` implied by
    :math:`b_j \sim N(0, L L^\top)` (including the Jacobian of ``raw -> b``).
    """

    name: str
    effects: Callable[[jax.Array, jax.Array], jax.Array]
    log_prior: Callable[[jax.Array, jax.Array], jax.Array]
    init_scale: Callable[[float], float]


def _nc_log_prior(raw: jax.Array, L: jax.Array) -> jax.Array:
    return -0.5 * jnp.sum(raw**2) - 0.5 * raw.size * _LOG_2PI


def _c_log_prior(raw: jax.Array, L: jax.Array) -> jax.Array:
    J, k = raw.shape
    w = solve_triangular(L, raw.T, lower=True)
    return (-0.5 * jnp.sum(w**2) - J * jnp.sum(jnp.log(jnp.diagonal(L)))
            - 0.5 * J * k * _LOG_2PI)


PARAMETERIZATIONS: dict[str, Parameterization] = {
    "noncentered": Parameterization("noncentered", lambda raw, L: raw @ L.T, _nc_log_prior,
                                    lambda sd: 1.0),
    "centered": Parameterization("centered", lambda raw, L: raw, _c_log_prior, lambda sd: sd),
}


PARAMETERIZATION_NAMES = ("marginal", "noncentered", "centered")


def marginal_factor(spec: ModelSpec, requested: str | None = None) -> str | None:
    """The grouping factor to integrate out: ``requested`` or the one with most levels."""
    factors = {g.block.factor: g.block.n_levels for g in spec.groups}
    if not factors:
        return None
    if requested is not None:
        if requested not in factors:
            raise OptionError(f"marginalize={requested!r} is not a grouping factor of this "
                              f"model; choose one of {', '.join(factors)}")
        return requested
    return max(factors, key=lambda f: factors[f])


class Target(NamedTuple):
    """What an engine needs: a log density over a flat vector, its size and start points.

    Attributes
    ----------
    logdensity_fn : callable
        ``logdensity_fn(position, data) -> scalar`` (unnormalised log posterior).
    data : pytree
        The second argument of ``logdensity_fn``.
    dim : int
        Length of the position vector.
    initial_point : callable
        ``initial_point(key) -> position``: a jittered start near a least-squares fit.
    constrain : callable
        ``constrain(position, key, data) -> {name: value}`` on the constrained scale, with
        the user-facing names of :mod:`hbr.model`; ``key`` draws integrated-out effects.
    pointwise_loglik : callable
        ``pointwise_loglik(position, key, data) -> (N,)`` log likelihood of each observation
        given the group effects (drawn with ``key`` where integrated out).
    parameterization : str
    signature : tuple
        Hashable structure and shapes of the model (not the data values): two targets with
        equal signatures share compiled code.
    sampled_effects : int
        How many coordinates of the position are group effects (not integrated out).
    """

    logdensity_fn: Callable[[jax.Array, Any], jax.Array]
    data: Any
    dim: int
    initial_point: Callable[[jax.Array], jax.Array]
    constrain: Callable[[jax.Array, jax.Array, Any], dict[str, jax.Array]]
    pointwise_loglik: Callable[[jax.Array, jax.Array, Any], jax.Array]
    parameterization: str
    signature: tuple = ()
    sampled_effects: int = 0


def _prior_dist(p: ParamSpec, params: tuple[Any, ...]) -> dist.Distribution:
    if p.domain == "corr":
        return dist.LKJCholesky(p.size, params[0])
    return _DISTRIBUTIONS[p.prior.family](*params)


def _prior_shape(p: ParamSpec) -> tuple[int, ...]:
    """Shape of each prior parameter: scalar for scalars and correlations, (size,) for the
    columns of a categorical term (even a single treatment column, as ``C(floor)``)."""
    return (p.size,) if p.labels is not None and p.domain != "corr" else ()


def _free_size(p: ParamSpec) -> int:
    return p.size * (p.size - 1) // 2 if p.domain == "corr" else p.size


def make_target(spec: ModelSpec, parameterization: str = "noncentered",
                marginalize: str | None = None) -> Target:
    """Build the :class:`Target` of ``spec`` under ``parameterization``.

    Parameters
    ----------
    spec : ModelSpec
    parameterization : {"marginal", "noncentered", "centered"}
    marginalize : str, optional
        With "marginal": the grouping factor to integrate out (default: most levels).

    Examples
    --------
    >>> import jax, pandas as pd, hbr
    >>> from hbr.design import build_design
    >>> from hbr.model import build_model
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 5], "g": list("aabb")})
    >>> t = make_target(build_model(build_design("y ~ 1 + (1 | g)", d)), "marginal")
    >>> with jax.enable_x64(True):
    ...     float(t.logdensity_fn(t.initial_point(jax.random.key(0)), t.data)) < 0
    True
    """
    if parameterization not in PARAMETERIZATION_NAMES:
        raise OptionError(f"parameterization={parameterization!r} is not available; choose "
                          f"one of {', '.join(PARAMETERIZATION_NAMES)}")
    if parameterization == "marginal" and spec.family != "gaussian":
        raise OptionError(f"parameterization='marginal' needs the gaussian family, not "
                          f"{spec.family!r}")
    mfactor = marginal_factor(spec, marginalize) if parameterization == "marginal" else None
    reparam = PARAMETERIZATIONS["noncentered" if parameterization == "marginal"
                                else parameterization]
    design = spec.design
    params = spec.params
    offsets: dict[str, tuple[int, int]] = {}
    pos = 0
    for p in params:
        offsets[p.name] = (pos, pos + _free_size(p))
        pos += _free_size(p)
    marg_ids = [i for i, g in enumerate(spec.groups) if g.block.factor == mfactor]
    samp_ids = [i for i in range(len(spec.groups)) if i not in marg_ids]
    raw_off: dict[int, tuple[int, int, int, int]] = {}
    for i in samp_ids:
        J, k = spec.groups[i].block.n_levels, spec.groups[i].block.k
        raw_off[i] = (pos, pos + J * k, J, k)
        pos += J * k
    dim = pos
    family_ll = _FAMILIES[spec.family]
    use_stats = bool(marg_ids) and not samp_ids

    data: dict[str, Any] = {
        "y": np.asarray(design.y, dtype=np.float64),
        "X": np.asarray(design.X, dtype=np.float64),
        "groups": [{"index": np.asarray(g.block.index, dtype=np.int32),
                    "Z": np.asarray(g.block.Z, dtype=np.float64)} for g in spec.groups],
        "prior": {p.name: tuple(np.broadcast_to(np.asarray(v, dtype=np.float64),
                                                _prior_shape(p)).copy()
                                for _, v in p.prior.params) for p in params},
    }
    if marg_ids:
        blk0 = spec.groups[marg_ids[0]].block
        Zm = np.concatenate([spec.groups[i].block.Z for i in marg_ids], axis=1)
        st = suffstats(data["y"], data["X"], Zm, blk0.index, blk0.n_levels)
        data["marg"] = {"ZtZ": st.ZtZ, "N": st.N}
        if use_stats:  # everything the likelihood needs: O(J k p) numbers
            data["marg"].update(ZtX=st.ZtX, Zty=st.Zty, XtX=st.XtX, Xty=st.Xty, yty=st.yty)
        else:  # other factors are sampled: residual statistics come from the rows
            data["marg"].update(Z=Zm, index=data["groups"][marg_ids[0]]["index"])
    n_marg_levels = spec.groups[marg_ids[0]].block.n_levels if marg_ids else 0

    def unpack(z: jax.Array, d: Any) -> tuple[jax.Array, dict[str, jax.Array], dict, dict]:
        lp = jnp.zeros(())
        vals: dict[str, jax.Array] = {}
        for p in params:
            a, b = offsets[p.name]
            u = z[a:b]
            prior = _prior_dist(p, d["prior"][p.name])
            t = biject_to(prior.support)
            v = t(u)
            if p.domain == "corr":
                lp = lp + prior.log_prob(v) + t.log_abs_det_jacobian(u, v)
            else:
                lp = lp + jnp.sum(prior.log_prob(v)) + jnp.sum(t.log_abs_det_jacobian(u, v))
            vals[p.name] = v
        Ls, effects = {}, {}
        for i, g in enumerate(spec.groups):
            s = jnp.concatenate([vals[sp.name] for sp in g.sds])
            Ls[i] = s[:, None] * vals[g.corr.name] if g.corr is not None else jnp.diag(s)
            if i in raw_off:
                a, b, J, k = raw_off[i]
                raw = z[a:b].reshape(J, k)
                lp = lp + reparam.log_prior(raw, Ls[i])
                effects[i] = reparam.effects(raw, Ls[i])
        return lp, vals, effects, Ls

    def fixed_part(vals: dict[str, jax.Array], d: Any) -> tuple[jax.Array, jax.Array]:
        beta = (jnp.concatenate([jnp.atleast_1d(vals[p.name]) for p in spec.fixed])
                if spec.fixed else jnp.zeros(0))
        return beta, d["X"] @ beta

    def linear_predictor(vals: dict[str, jax.Array], effects: dict, d: Any) -> jax.Array:
        _, mu = fixed_part(vals, d)
        for i, b in effects.items():
            gd = d["groups"][i]
            mu = mu + jnp.sum(gd["Z"] * b[gd["index"]], axis=1)
        return mu

    def residual_stats(vals: dict, effects: dict, d: Any) -> tuple[jax.Array, jax.Array]:
        """(sum r^2, Z_j' r_j) of the residuals without the integrated factor."""
        m = d["marg"]
        if use_stats:
            beta, _ = fixed_part(vals, d)
            rr = m["yty"] - 2 * beta @ m["Xty"] + beta @ m["XtX"] @ beta
            ZtXb = sum(m["ZtX"][:, c, :] * beta[c] for c in range(beta.shape[0]))
            return rr, m["Zty"] - ZtXb
        r = d["y"] - linear_predictor(vals, effects, d)
        Zr = jax.ops.segment_sum(m["Z"] * r[:, None], m["index"], n_marg_levels)
        return r @ r, Zr.T

    def marg_L(Ls: dict) -> jax.Array:
        return jax.scipy.linalg.block_diag(*[Ls[i] for i in marg_ids])

    def logdensity_fn(z: jax.Array, d: Any) -> jax.Array:
        lp, vals, effects, Ls = unpack(z, d)
        sigma = vals["sigma"][0]
        if not marg_ids:
            return lp + jnp.sum(family_ll(d["y"], linear_predictor(vals, effects, d), sigma))
        rr, Zr = residual_stats(vals, effects, d)
        return lp + marginal_loglik(rr, Zr, d["marg"]["ZtZ"], marg_L(Ls), sigma,
                                    d["marg"]["N"])

    def all_effects(z: jax.Array, key: jax.Array, d: Any) -> tuple[dict, dict]:
        _, vals, effects, Ls = unpack(z, d)
        if marg_ids:
            rr, Zr = residual_stats(vals, effects, d)
            b = conditional_effects(key, Zr, d["marg"]["ZtZ"], marg_L(Ls), vals["sigma"][0])
            col = 0
            effects = dict(effects)
            for i in marg_ids:
                k = spec.groups[i].block.k
                effects[i] = b[:, col:col + k]
                col += k
        return vals, effects

    def pointwise_loglik(z: jax.Array, key: jax.Array, d: Any) -> jax.Array:
        vals, effects = all_effects(z, key, d)
        return family_ll(d["y"], linear_predictor(vals, effects, d), vals["sigma"][0])

    def constrain(z: jax.Array, key: jax.Array, d: Any) -> dict[str, jax.Array]:
        vals, effects = all_effects(z, key, d)
        out: dict[str, jax.Array] = {}
        for p in spec.fixed:
            out[p.name] = vals[p.name] if p.labels is not None else vals[p.name][0]
        out["sigma"] = vals["sigma"][0]
        for i, g in enumerate(spec.groups):
            for sp in g.sds:
                out[sp.name] = vals[sp.name][0]
            if g.corr is not None:
                Lc = vals[g.corr.name]
                out[g.corr.name] = Lc @ Lc.T
            for j, name in enumerate(g.block.names):
                out[name] = effects[i][:, j]
        return out

    center, jitter = _initial_center(spec, params, offsets, raw_off, reparam, data, dim)

    def initial_point(key: jax.Array) -> jax.Array:
        u = jax.random.uniform(key, (dim,), minval=-1.0, maxval=1.0, dtype=center.dtype)
        return center + jitter * u

    signature = (
        parameterization, mfactor, spec.family, design.X.shape,
        tuple((p.name, p.domain, p.size, p.prior.family, p.labels is None) for p in params),
        tuple((g.block.names, g.block.n_levels, g.block.k, g.corr is not None)
              for g in spec.groups),
        str(jnp.zeros(()).dtype),
    )
    n_raw = sum(b - a for a, b, _, _ in raw_off.values())
    return Target(logdensity_fn, data, dim, initial_point, constrain, pointwise_loglik,
                  parameterization, signature, n_raw)


def _initial_center(spec: ModelSpec, params: tuple[ParamSpec, ...], offsets: dict,
                    raw_off: dict, reparam: Parameterization, data: Any, dim: int
                    ) -> tuple[jax.Array, jax.Array]:
    """A start near the least-squares fit, and the size of the jitter around it."""
    X, y = spec.design.X, spec.design.y
    center = np.zeros(dim)
    jitter = np.zeros(dim)
    if X.shape[1]:
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        dof = max(1, len(y) - X.shape[1])
        s = float(np.sqrt(resid @ resid / dof)) or float(np.std(y)) or 1.0
        se = s * np.sqrt(np.clip(np.diag(np.linalg.pinv(X.T @ X)), 0, None))
    else:
        beta, se = np.zeros(0), np.zeros(0)
        s = float(np.std(y)) or 1.0
    sy = float(np.std(y)) or 1.0
    wanted: dict[str, np.ndarray] = {"sigma": np.array([s])}
    col = 0
    for p in spec.fixed:
        wanted[p.name] = beta[col:col + p.size]
        a, b = offsets[p.name]
        jitter[a:b] = 2.0 * np.maximum(se[col:col + p.size], 1e-3 * sy)
        col += p.size
    for g in spec.groups:
        for sp, zc in zip(g.sds, g.block.Z.T):
            sz = float(np.std(zc)) if np.std(zc) > 0 else 1.0
            wanted[sp.name] = np.array([0.5 * s / sz])
    for p in params:
        a, b = offsets[p.name]
        if p.domain == "corr":
            jitter[a:b] = 0.3
            continue
        prior = _prior_dist(p, data["prior"][p.name])
        v = np.asarray(wanted[p.name], dtype=np.float64)
        if p.prior.support == "interval":
            lo = np.asarray(p.prior.kwargs["lower"], dtype=float)
            hi = np.asarray(p.prior.kwargs["upper"], dtype=float)
            v = np.clip(v, lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo))
        center[a:b] = np.asarray(biject_to(prior.support).inv(jnp.asarray(v)))
        if p.domain == "positive":
            jitter[a:b] = 0.5
    for i, (a, b, J, k) in raw_off.items():
        g = spec.groups[i]
        sds = [float(wanted[sp.name][0]) for sp in g.sds]
        jitter[a:b] = 0.5 * np.tile([reparam.init_scale(sd) for sd in sds], J)
    return jnp.asarray(center), jnp.asarray(jitter)
