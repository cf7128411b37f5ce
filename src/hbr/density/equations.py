r"""The model's equations as pure functions ``f(s, z, d)`` of a :class:`Structure` ``s``, the
flat unconstrained position ``z`` and the data pytree ``d`` (built by
:func:`hbr.density.build.target_data`).

The position maps to each parameter through the bijection of its prior's support (``exp``
for a standard deviation with a HalfNormal prior, a scaled sigmoid for ``Uniform``, the LKJ
Cholesky transform for a correlation) and the log density includes the log absolute
Jacobian, so NUTS sees a density on :math:`\mathbb{R}^d`. Fixed effects with a real-line prior
are sampled in least-squares coordinates :math:`\beta = b + s\,u`; the intercept's coordinate
is the intercept at the predictors' means, :math:`\alpha = \beta_0 + \bar x^\top\beta`,
whose prior it carries (brms's ``Intercept``), and :math:`\beta_0 = \alpha - \bar
x^\top\beta` (a unit Jacobian). Sampled group effects
come from their raw block through :data:`hbr.density.reparam.REPARAMS`; the effects of the
integrated factor are integrated out by :mod:`hbr.density.marginal` and drawn back from their
conditional given the position.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from hbr.density.likelihoods import LOGLIK
from hbr.model.families import dpar_link
from hbr.density.marginal import effects_logdet, marginal_loglik
from hbr.density.parts import distribution, domain_transform
from hbr.density.reparam import REPARAMS
from hbr.density.classes import class_loglik
from hbr.density.split import price_split
from hbr.density.structure import VECTOR_MIN, Structure

__all__ = ["unpack", "linear_predictor", "noise_sd", "aux_values", "logdensity",
           "dpar_predictor", "dpar_inverse", "joint_mode_profile"]


def unpack(s: Structure, z: jax.Array, d: Any, skip: tuple[int, ...] = ()
           ) -> tuple[jax.Array, dict, dict, dict]:
    """The log prior (with Jacobians) of ``z``, the parameter values by name, the sampled
    group effects ``{term: (J, k)}`` and the Cholesky factors of the group covariances.
    The raw blocks of the group terms in ``skip`` are neither read nor priced (a blocked
    Gibbs step integrates them out: :mod:`hbr.density.gibbs`)."""
    lp = jnp.zeros(())
    vals: dict[Any, jax.Array] = _Values(s)
    runs = {i: (r, j) for r, (i, j) in enumerate(s.fixed_runs)}
    member = {k for i, j in s.fixed_runs for k in range(i, j)}
    for i, p in enumerate(s.params):
        if i in runs:  # a run of fixed effects as one vector (Structure.fixed_runs)
            lp = lp + _price_run(s, z, d, *runs[i], i, vals)
        if s.split is not None and i == s.split[0]:  # sigma and a one-row factor's sd
            lp = lp + price_split(s, z, d, vals, distribution)
        if i in member or (s.split is not None and i in s.split):
            continue
        u = z[p.start:p.stop]
        prior = distribution(p.domain, p.size, p.prior_family, d["prior"][p.name])
        t = domain_transform(p.domain, prior)
        if p.affine:  # beta = b + s u; the constant log s is left out
            v = d["affine"][p.name][0] + d["affine"][p.name][1] * u
            lp = lp + jnp.sum(prior.log_prob(v))
            vals[p.name] = v
            continue
        v = t(u)
        if p.domain == "corr":
            lp = lp + prior.log_prob(v) + t.log_abs_det_jacobian(u, v)
        else:
            lp = lp + jnp.sum(prior.log_prob(v)) + jnp.sum(t.log_abs_det_jacobian(u, v))
        vals[p.name] = v
    if s.centred:  # its coordinate is the intercept at the predictors' means: at x = 0 now
        vals[s.centred] = vals[s.centred] - jnp.atleast_1d(_fixed_beta(s, vals) @ d["center"])
    reparam = REPARAMS[s.reparam]
    Ls, effects = {}, {}
    for i in s.group_order:  # a nested factor's parent first
        g = s.groups[i]
        Ls[i], sd, Lr, shift = _covariance(s, i, vals, effects, d)
        if shift is not None:
            vals[("shift", i)] = shift
        if g.raw is not None and i not in skip:
            a, b, J, k = g.raw
            raw = z[a:b].reshape(J, k)
            m = jnp.stack([vals[n][0] if n else jnp.zeros((), sd.dtype) for n in g.loc])
            if g.level_cols:  # and at the level's predictors' effects, (J, k)
                beta = _fixed_beta(s, vals)
                m = jnp.broadcast_to(m, (J, k)).at[:, g.intercept_col].add(
                    d["level_X"][i] @ beta[jnp.asarray(g.level_cols)])
            if g.parent is not None:  # and at the parent level's effect, (J, k)
                po, co, ci = g.parent
                m = jnp.broadcast_to(m, (J, k)).at[:, ci].add(
                    effects[po][d["parent"][i], co])
            if shift is not None:  # the conditional mean: located there, and added
                m = jnp.broadcast_to(m, (J, k)) + shift
            lp = lp + reparam.log_prior(raw, sd, Lr, d["W"][i], m)
            effects[i] = reparam.effects(raw, sd, Lr, d["W"][i], m)
            if shift is not None:
                effects[i] = effects[i] + shift
    effects = {i: effects[i] for i in sorted(effects)}
    Ls = {i: Ls[i] for i in sorted(Ls)}
    return lp, vals, effects, Ls


def _covariance(s: Structure, i: int, vals: dict, effects: dict, d: Any) -> tuple:
    r"""Group term ``i``'s ``(L, s, L_R, shift)``: L = diag(s) L_R the Cholesky factor of
    its covariance, ``shift`` its prior mean (None: 0). Of a pair across formulas
    (:func:`_pair`): log sigma's marginal, and the mean's given log sigma's effects."""
    g = s.groups[i]
    sd = jnp.concatenate([vals[n] for n in g.sds])
    if g.partner is not None:
        L11, L21, L22 = _pair(s, i, vals)
        if g.dpar:
            return L11, sd, L11 / sd[:, None], None
        shift = jax.scipy.linalg.solve_triangular(L11, effects[g.partner].T, lower=True).T
        sd = jnp.sqrt(jnp.sum(L22 ** 2, axis=1))
        return L22, sd, L22 / sd[:, None], shift @ L21.T
    Lr = vals[g.corr] if g.corr is not None else jnp.eye(g.k, dtype=sd.dtype)
    if g.corr is None:
        return jnp.diag(sd), sd, Lr, None
    if "corr_on" in d:  # a bucket's correlation, switched off (a dummy) or on
        return (sd[:, None] * jnp.where(d["corr_on"][i] > 0, vals[g.corr],
                                        jnp.eye(g.k, dtype=sd.dtype)), sd, Lr, None)
    return sd[:, None] * vals[g.corr], sd, Lr, None


def _pair(s: Structure, i: int, vals: dict) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""The Cholesky factor of the joint covariance of a pair of terms correlated across
    formulas (:attr:`GroupLayout.partner`), in the order (log sigma's coefficients, the
    mean's): :math:`\Sigma = D R D` with the mean's correlation ``R`` (its coefficients
    first) and sds ``D``, permuted, :math:`= L L^\top`, returned as the blocks
    :math:`L_{11}, L_{21}, L_{22}`. Then :math:`b_\sigma = L_{11} u`,
    :math:`b_\mu = L_{21} u + L_{22} v` with :math:`u, v \sim N(0, I)`: given
    :math:`b_\sigma`, :math:`b_\mu \sim N(L_{21} L_{11}^{-1} b_\sigma, L_{22} L_{22}^\top)`,
    which keeps the mean's effects Gaussian, so they are still integrated out exactly."""
    g = s.groups[i]
    mean, other = (s.groups[g.partner], g) if g.dpar else (g, s.groups[g.partner])
    Lc = vals[mean.corr]
    sd = jnp.concatenate([vals[n] for n in mean.sds + other.sds])
    k1, k2 = mean.k, other.k
    perm = jnp.asarray(list(range(k1, k1 + k2)) + list(range(k1)))
    L = jnp.linalg.cholesky((sd[:, None] * (Lc @ Lc.T) * sd[None, :])[perm][:, perm])
    return L[:k2, :k2], L[k2:, :k2], L[k2:, k2:]


class _Values(dict):
    """Parameter values by name; a coefficient of a run (:attr:`Structure.fixed_runs`) is
    cut from the run's vector, ``self[("run", r)]``, only when it is asked for, so the
    traced program does not grow with the number of coefficients."""

    def __init__(self, s: Structure) -> None:
        super().__init__()
        self.cuts = {p.name: (r, p.start - s.params[i].start, p.stop - s.params[i].start)
                     for r, (i, j) in enumerate(s.fixed_runs) for p in s.params[i:j]}

    def __missing__(self, key: Any) -> jax.Array:
        if key not in self.cuts:
            raise KeyError(key)
        r, a, b = self.cuts[key]
        self[key] = self[("run", r)][a:b]
        return self[key]

    def __contains__(self, key: Any) -> bool:
        return super().__contains__(key) or key in self.cuts


def _price_run(s: Structure, z: jax.Array, d: Any, r: int, stop: int, start: int,
               vals: dict[Any, jax.Array]) -> jax.Array:
    """The log prior of the run ``params[start:stop]``, priced as one vector, whose values
    go to ``vals[("run", r)]``."""
    first, a, b = s.params[start], s.params[start].start, s.params[stop - 1].stop
    rd = d["runs"][r]
    v = rd["shift"] + rd["scale"] * z[a:b]  # beta = b + s u, as for one coefficient
    vals[("run", r)] = v
    prior = distribution(first.domain, b - a, first.prior_family, rd["prior"])
    return jnp.sum(prior.log_prob(v))


def _fixed_beta(s: Structure, vals: dict[str, jax.Array]) -> jax.Array:
    """The fixed effects as one vector (a run's vector as it is, not cut and joined)."""
    if not s.fixed:
        return jnp.zeros(0)
    pieces, i = [], 0
    runs = {start: (r, stop) for r, (start, stop) in enumerate(s.fixed_runs)}
    by_name = {p.name: k for k, p in enumerate(s.params)}
    names = list(s.fixed)
    while i < len(names):
        k = by_name[names[i]]
        if k in runs:
            r, stop = runs[k]
            pieces.append(vals[("run", r)])
            i += stop - k
        else:
            pieces.append(jnp.atleast_1d(vals[names[i]]))
            i += 1
    return jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def _times_beta(a: jax.Array, beta: jax.Array) -> jax.Array:
    """sum_c a[:, c, :] beta[c]: one term per coefficient for a few (the draws of smaller
    models stay bit for bit), one contraction for many (Structure.fixed_runs)."""
    if beta.shape[0] < VECTOR_MIN:
        return sum(a[:, c, :] * beta[c] for c in range(beta.shape[0]))
    return jnp.einsum("kcj,c->kj", a, beta)


def _add_groups(s: Structure, out: jax.Array, dpar: str, effects: dict, d: Any) -> jax.Array:
    """``out`` plus z_i' b_g[i] of each group term of the mean (``dpar`` "") or of the
    distributional formula of ``dpar`` whose effects are given (in the order of
    ``effects``)."""
    for i, b in effects.items():
        if s.groups[i].dpar == dpar:
            gd = d["groups"][i]
            out = out + jnp.sum(gd["Z"] * b[gd["index"]], axis=1)
    return out


def linear_predictor(s: Structure, vals: dict, effects: dict, d: Any) -> jax.Array:
    return _add_groups(s, d["X"] @ _fixed_beta(s, vals) + d["offset"], "", effects, d)


def dpar_predictor(s: Structure, name: str, vals: dict, effects: dict, d: Any) -> jax.Array:
    """The linear predictor of the distributional formula of ``name`` (``log sigma``,
    ``logit zi``, ...), one per row of ``d["dpar_X"]``."""
    _, a, b, names = next(x for x in s.dpars if x[0] == name)
    X = d["dpar_X"][:, a:b]
    lp = (X @ jnp.concatenate([jnp.atleast_1d(vals[n]) for n in names]) if names
          else jnp.zeros(X.shape[0], X.dtype))
    return _add_groups(s, lp, name, effects, d)


def noise_sd(s: Structure, vals: dict, effects: dict, d: Any) -> jax.Array:
    """The residual sd: a scalar, or one per row (known se, sigma formula)."""
    if s.sigma_model:
        return jnp.exp(dpar_predictor(s, "sigma", vals, effects, d))
    if not s.has_se:
        return vals["sigma"][0]
    if s.se_sigma:
        return jnp.sqrt(d["se"] ** 2 + vals["sigma"][0] ** 2)
    return d["se"]


def aux_values(s: Structure, vals: dict, effects: dict, d: Any) -> dict[str, jax.Array]:
    """The family's extra parameters: scalars, or a vector (an ordinal family's thresholds)."""
    vector = {p.name for p in s.params if p.labelled}
    out = {n: vals[n] if n in vector else vals[n][0] for n in s.aux}
    if "sigma" in s.family_aux:
        out["sigma"] = noise_sd(s, vals, effects, d)
    for name, *_ in s.dpars:  # modelled by a formula: one value per row
        if name != "sigma":
            out[name] = dpar_inverse(name, dpar_predictor(s, name, vals, effects, d))
    return out


def dpar_inverse(name: str, lp: jax.Array) -> jax.Array:
    """A distributional parameter from its linear predictor: the inverse of its link, log
    for the positive ones (sigma, nu, phi, shape), logit for the probabilities (zi, hu)."""
    return jax.nn.sigmoid(lp) if dpar_link(name) == "logit" else jnp.exp(lp)


def _marg_parts(s: Structure, vals: dict, effects: dict, d: Any) -> tuple:
    """(sum r^2, Z_j' r_j, Z_j' Z_j, sigma, constant) of the residuals without the
    integrated factor, such that the log likelihood is ``marginal_loglik(...)`` plus the
    constant. With a noise sd per row, every row is scaled by 1 / sd and sigma is 1; with
    one per level of the integrated factor (noise "group"), every level's statistics are."""
    m = d["marg"]
    if s.use_stats:  # statistics (weighted by 1/se^2 for known se)
        beta = _fixed_beta(s, vals)
        if s.noise == "group":  # sd_j per level: each level's statistics scaled by 1/sd_j^2
            sd = noise_sd(s, vals, effects, m["by_group"])
            w = sd ** -2
            rr = (m["yty_g"] - 2 * beta @ m["Xty_g"]
                  + jnp.einsum("a,acj,c->j", beta, m["XtX_g"], beta))
            ZtXb = _times_beta(m["ZtX"], beta)
            return (jnp.sum(w * rr), (m["Zty"] - ZtXb) * w, m["ZtZ"] * w, jnp.ones(()),
                    -jnp.sum(m["n"] * jnp.log(sd)))
        rr = m["yty"] - 2 * beta @ m["Xty"] + beta @ m["XtX"] @ beta
        ZtXb = _times_beta(m["ZtX"], beta)
        if s.noise == "se":
            return rr, m["Zty"] - ZtXb, m["ZtZ"], jnp.ones(()), -m["log_se"]
        return rr, m["Zty"] - ZtXb, m["ZtZ"], vals["sigma"][0], jnp.zeros(())
    n_levels = s.n_marg_levels
    r = (d["y_log"] if "y_log" in d else d["y"]) - linear_predictor(s, vals, effects, d)
    w = d.get("weights")  # y | weights(w): Z' W Z, Z' W r, r' W r (m["ZtZ"] is weighted)
    if s.noise == "scalar":
        wr = r if w is None else w * r
        Zr = jax.ops.segment_sum(m["Z"] * wr[:, None], m["index"], n_levels)
        return wr @ r, Zr.T, m["ZtZ"], vals["sigma"][0], jnp.zeros(())
    sd = noise_sd(s, vals, effects, d)
    inv = 1.0 / sd if w is None else jnp.sqrt(w) / sd
    rw, Zw = r * inv, m["Z"] * inv[:, None]
    Zr = jax.ops.segment_sum(Zw * rw[:, None], m["index"], n_levels)
    ZtZ = jax.ops.segment_sum(Zw[:, :, None] * Zw[:, None, :], m["index"], n_levels)
    log_sd = jnp.log(sd) if w is None else w * jnp.log(sd)
    return (rw @ rw, Zr.T, jnp.moveaxis(ZtZ, 0, -1), jnp.ones(()), -jnp.sum(log_sd))


def _shifted(s: Structure, parts: tuple, vals: dict) -> tuple:
    r""":func:`_marg_parts` for effects of the integrated factor whose prior mean is not 0
    (a term correlated with log sigma's: :func:`_pair`), :math:`b_j = m_j + c_j`: the
    residuals become :math:`r_j - Z_j m_j`, so (with the statistics as weighted as they
    are) :math:`\sum r^2 - 2 \sum_j m_j^\top Z_j^\top r_j + \sum_j m_j^\top Z_j^\top Z_j m_j`
    and :math:`Z_j^\top r_j - Z_j^\top Z_j m_j`; :math:`c_j` is integrated out as before."""
    if not any(("shift", i) in vals for i in s.marg_ids):
        return parts
    rr, Zr, ZtZ, sigma, const = parts
    cols = []
    for i in s.marg_ids:  # the shifts as (K, J) beside the other integrated terms' zeros
        k = s.groups[i].k
        m = vals[("shift", i)].T if ("shift", i) in vals else jnp.zeros((k, 0), Zr.dtype)
        cols.append(jnp.pad(m, ((0, 0), (0, Zr.shape[1] - m.shape[1]))))
    M = jnp.concatenate(cols, axis=0)
    ZtZm = jnp.einsum("abj,bj->aj", ZtZ, M)
    return (rr - 2 * jnp.sum(M * Zr) + jnp.sum(M * ZtZm), Zr - ZtZm, ZtZ, sigma, const)


def _marg_L(s: Structure, Ls: dict) -> jax.Array:
    return jax.scipy.linalg.block_diag(*[Ls[i] for i in s.marg_ids])


def logdensity(s: Structure, z: jax.Array, d: Any) -> jax.Array:
    """The unnormalised log posterior of ``z``."""
    lp, vals, effects, Ls = unpack(s, z, d)
    if not s.marg_ids:
        eta = linear_predictor(s, vals, effects, d)
        ll = LOGLIK[(s.lik_family, s.link)]
        out = lp + jnp.sum(ll(d["y"], eta, aux_values(s, vals, effects, d), d))
        return out + d["agg_const"] if s.aggregate else out
    if s.classes:  # one intercept-only factor summed by level size: O(D p^2), not O(J p)
        m, beta = d["marg"], _fixed_beta(s, vals)
        rr = m["yty"] - 2 * beta @ m["Xty"] + beta @ m["XtX"] @ beta
        return lp + class_loglik(m["cls"], rr, beta, Ls[s.marg_ids[0]][0, 0],
                                 vals["sigma"][0], m["N"])
    rr, Zr, ZtZ, sigma, const = _shifted(s, _marg_parts(s, vals, effects, d), vals)
    L = _marg_L(s, Ls)
    out = lp + marginal_loglik(rr, Zr, ZtZ, L, sigma, d["marg"]["N"]) + const
    if "profile" in d["marg"]:  # 1: the joint-mode profile instead (hbr.checks.modes)
        out = out + jnp.where(d["marg"]["profile"] > 0,
                              _profile_terms(d["marg"]["levels"], Zr, ZtZ, L, sigma,
                                             d["marg"]["centred"]), 0.0)
    return out


def _profile_terms(d_levels: jax.Array, Zr: jax.Array, ZtZ: jax.Array, L: jax.Array,
                   sigma: jax.Array, centred: jax.Array) -> jax.Array:
    """What :func:`joint_mode_profile` adds to the log marginal posterior; ``d_levels`` the
    real number of levels J (data: the statistics are padded to a size bucket, and a
    program must not hold J as a constant). The log of L's diagonal is floored at the
    smallest float, so that the term stays finite (and its gradient, which the fit
    multiplies by 0, too) where a correlation nears 1."""
    J, K = d_levels, L.shape[0]
    logdet = effects_logdet(Zr, ZtZ, L, sigma)
    diag = jnp.maximum(jnp.abs(jnp.diagonal(L)), jnp.finfo(L.dtype).tiny)
    return (0.5 * jnp.sum(logdet) - 0.5 * J * K * math.log(2 * math.pi)
            - centred * J * jnp.sum(jnp.log(diag)))


def joint_mode_profile(s: Structure, z: jax.Array, d: Any) -> jax.Array:
    r"""The joint log density of the hyperparameters :math:`\theta` and the integrated
    effects, maximised over the effects in closed form: its maximiser over :math:`\theta`
    is the joint mode (MAP) of the non-centred (``d["centred"] = 0``) or centred (1)
    parameterisation, without sampling or optimising the effects.

    For Gaussian effects :math:`p(y \mid \theta, c)\,N(c; 0, I) = p(y \mid \theta)\,
    p(c \mid y, \theta)`, and the conditional is Gaussian with covariance
    :math:`M_j^{-1}` per group, so

    .. math::
        \max_c \log p(\theta, c \mid y) = \log p(\theta \mid y)
        + \sum_j \big(\tfrac12 \log|M_j| - \tfrac K2 \log 2\pi\big)
        - \text{centred} \cdot J \log|\det L|,

    the last term the Jacobian of :math:`b_j = L c_j` (centred effects). The effects at the
    mode are their conditional mean given :math:`\hat\theta`."""
    lp, vals, effects, Ls = unpack(s, z, d)
    rr, Zr, ZtZ, sigma, const = _shifted(s, _marg_parts(s, vals, effects, d), vals)
    L = _marg_L(s, Ls)
    return (lp + marginal_loglik(rr, Zr, ZtZ, L, sigma, d["marg"]["N"]) + const
            + _profile_terms(d["marg"]["levels"], Zr, ZtZ, L, sigma, d["centred"]))
