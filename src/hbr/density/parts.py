"""Pieces of :func:`hbr.density.build.make_target`: prior distributions of parameters, the
location map and centred fractions of partially centred effects, and the start point."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

from hbr.density.reparam import REPARAMS
from hbr.density.split import split_start
from hbr.design.aggregate import stored_patterns
from hbr.errors import OptionError
from hbr.model.families import FAMILIES, dpar_link
from hbr.model.links import LINKS
from hbr.model.ordinal import ordinal_start, ordinal_thresholds
from hbr.model.spec import ModelSpec, ParamSpec

if TYPE_CHECKING:
    from hbr.density.structure import Structure

__all__ = ["distribution", "least_squares", "fixed_affine", "prior_dist", "prior_shape",
           "free_size", "location_map", "centering_weights", "initial_center", "domain_transform"]


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
    "Beta": dist.Beta,
    "Uniform": dist.Uniform,
}

def distribution(domain: str, size: int, family: str, params: tuple[Any, ...]
                 ) -> dist.Distribution:
    """The NumPyro distribution of a prior ``family`` with ``params`` (an LKJ Cholesky
    factor of a ``size`` x ``size`` correlation for the domain "corr")."""
    if domain == "corr":
        return dist.LKJCholesky(size, params[0])
    return _DISTRIBUTIONS[family](*params)


def domain_transform(domain: str, prior: dist.Distribution) -> Any:
    r"""The bijection from a parameter's unconstrained coordinates to its domain: the prior's
    support, or for an ordinal family's thresholds (domain "ordered") the increasing vectors,
    :math:`\tau_1 = u_1`, :math:`\tau_k = \tau_{k-1} + e^{u_k}` (each threshold keeps its
    own prior; the Jacobian is :math:`\sum_{k>1} u_k`)."""
    if domain == "ordered":
        return biject_to(dist.constraints.ordered_vector)
    return biject_to(prior.support)


def prior_dist(p: ParamSpec, params: tuple[Any, ...]) -> dist.Distribution:
    """The NumPyro distribution of parameter ``p``'s prior with ``params``."""
    return distribution(p.domain, p.size, p.prior.family, params)


def prior_shape(p: ParamSpec) -> tuple[int, ...]:
    """Shape of each prior parameter: scalar for scalars and correlations, (size,) for the
    columns of a categorical term (even a single treatment column, as ``C(floor)``)."""
    return (p.size,) if p.labels is not None and p.domain != "corr" else ()


def free_size(p: ParamSpec) -> int:
    return p.size * (p.size - 1) // 2 if p.domain == "corr" else p.size


def location_map(spec: ModelSpec) -> list[tuple[str | None, ...]]:
    """For each group term and coefficient, the scalar fixed effect with the same column
    (``Intercept`` for ``1|g``, ``x`` for ``x|g``), or None (a smooth's basis columns are
    no fixed effect's): the location that partial centring centres on."""
    out: list[tuple[str | None, ...]] = []
    parts = {"": (spec.design.X, spec.design.terms)}
    parts.update({d.name: (d.X, d.terms) for d in spec.design.dpars})
    for g in spec.groups:
        X, terms = parts[g.block.dpar]
        pre = f"{g.block.dpar}_" if g.block.dpar else ""
        scalar = [(t.name, X[:, t.start]) for t in terms if t.stop - t.start == 1
                  and t.labels is None]
        names: list[str | None] = []
        for c, coef in enumerate(g.block.coefs):
            zc = g.block.Z[:, c]
            same = [n for n, col in scalar if np.array_equal(col, zc)]
            names.append(next((n for n in same if n == pre + coef or
                               (coef == "1" and n == pre + "Intercept")),
                              same[0] if same else None))
        out.append(tuple(names))
    return out


def centering_weights(centering: Mapping[int, np.ndarray] | None, i: int, shape: tuple[int, int],
               reparam: str) -> np.ndarray | None:
    """The centred fractions of sampled group term ``i`` as a (J, k) float array, or None
    when the parameterisation has none."""
    if reparam != "partial":
        if centering:
            raise OptionError("centering= applies to the 'auto' and 'marginal' "
                              "parameterisations only")
        return None
    w = np.zeros(shape) if not centering or i not in centering else np.asarray(
        centering[i], dtype=np.float64)
    if w.shape != shape or not np.all((w >= 0) & (w <= 1)):
        raise OptionError(f"centering[{i}] must be a ({shape[0]}, {shape[1]}) array of "
                          f"fractions in [0, 1], got shape {w.shape}")
    return w


def least_squares(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray, float]:
    """OLS coefficients of y on X, their standard errors and the residual sd. Columns are
    scaled to unit norm first, so predictors on wildly different scales (x ~ 1e-9 next to an
    intercept) keep their standard errors instead of being lost to rounding in X'X. For a
    family with a non-identity link: the penalised IRLS fit of :func:`glm_start` instead."""
    X, y = spec.design.X, spec.y_model  # log y for the lognormal
    if spec.link != "identity":
        return glm_start(spec)
    if not spec.design.has_rows:
        st = spec.design.table_stats.stats
        return _centred(spec, *_least_squares_from_stats(st), float(st.N))
    if spec.design.offset is not None:
        y = y - spec.design.offset
    if not X.shape[1]:
        return np.zeros(0), np.zeros(0), float(np.std(y)) or 1.0
    n_eff = float(len(y))
    if spec.design.weights is not None:  # weighted least squares: rows times sqrt(w)
        sw = np.sqrt(spec.design.weights)
        X, y, n_eff = X * sw[:, None], y * sw, float(np.sum(spec.design.weights))
    raw_norms = np.linalg.norm(X, axis=0)
    norms = np.where(raw_norms > 0, raw_norms, 1.0)
    Xs = X / norms
    bs, *_ = np.linalg.lstsq(Xs, y, rcond=None)
    resid = y - Xs @ bs
    dof = max(1.0, n_eff - X.shape[1])
    s = float(np.sqrt(resid @ resid / dof)) or float(np.std(y)) or 1.0
    se = s * np.sqrt(np.clip(np.diag(np.linalg.pinv(Xs.T @ Xs)), 0, None)) / norms
    # an all-zero column (a county without homes on a floor, in the no-pooling model) has no
    # standard error; pinv leaves rounding noise (3e-16) there, which fixed_affine would take
    # as the coordinate's scale (the coefficient then stuck at 0, R-hat 3.5): 0 -> the prior
    se[raw_norms == 0] = 0.0
    return _centred(spec, bs / norms, se, s, n_eff)


def _centred(spec: ModelSpec, beta: np.ndarray, se: np.ndarray, s: float, n: float
             ) -> tuple[np.ndarray, np.ndarray, float]:
    r"""The least-squares fit with the intercept's entries for its coordinate: with
    :math:`\bar x` (:attr:`ModelSpec.intercept_center`) the intercept at the predictors'
    means, :math:`\hat\alpha = \hat\beta_0 + \bar x^\top\hat\beta`, and its standard error
    :math:`s / \sqrt n` (exact: :math:`a = X^\top 1 / n` gives
    :math:`a^\top (X^\top X)^{-1} a = 1 / n`)."""
    center = spec.intercept_center
    if center is None:
        return beta, se, s
    i = _intercept_column(spec)
    beta, se = beta.copy(), se.copy()
    beta[i] = beta[i] + center @ beta
    se[i] = s / np.sqrt(max(n, 1.0))
    return beta, se, s


def _intercept_column(spec: ModelSpec) -> int:
    return next(t.start for t in spec.design.terms if t.name == "Intercept")


def _least_squares_from_stats(st: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`least_squares` from X'X, X'y, y'y and N (the rows stayed in the files)."""
    p = st.XtX.shape[0]
    N = float(st.N)
    if not p:
        return np.zeros(0), np.zeros(0), float(np.sqrt(max(st.yty / N, 0.0))) or 1.0
    raw = np.sqrt(np.clip(np.diag(st.XtX), 0, None))
    norms = np.where(raw > 0, raw, 1.0)
    A = st.XtX / np.outer(norms, norms)
    b = st.Xty / norms
    Ai = np.linalg.pinv(A)
    bs = Ai @ b
    rss = max(float(st.yty - 2 * bs @ b + bs @ A @ bs), 0.0)
    s = float(np.sqrt(rss / max(1.0, N - p))) or 1.0
    se = s * np.sqrt(np.clip(np.diag(Ai), 0, None)) / norms
    se[raw == 0] = 0.0
    return bs / norms, se, s


def _prior_precision(spec: ModelSpec) -> np.ndarray:
    """1 / (prior scale)^2 of every fixed-effect column (0 for a prior without a scale)."""
    out = []
    for p in spec.fixed:
        sd = np.broadcast_to(np.asarray(p.prior.kwargs.get("sigma", np.inf), dtype=float),
                             (p.size,))
        out.append(1.0 / np.square(sd))
    return np.concatenate(out) if out else np.zeros(0)


def _glm_rows(d: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X, y, trials and offset of the rows, or of the covariate patterns DuckDB collapsed
    them to (the same binomial or Poisson likelihood up to a constant, so the same fit)."""
    r = stored_patterns(d)
    if r is not None:
        return r["X"], r["y"], r.get("trials", np.ones_like(r["y"])), r["offset"]
    y = d.y
    return (d.X, y, d.trials if d.trials is not None else np.ones_like(y),
            d.offset if d.offset is not None else np.zeros_like(y))


def glm_start(spec: ModelSpec, iterations: int = 30) -> tuple[np.ndarray, np.ndarray, float]:
    r"""The mode of the fixed-effects-only model (no group effects) with the fixed effects'
    priors as a ridge penalty, by iteratively reweighted least squares, its standard errors
    :math:`\sqrt{\mathrm{diag}((X^\top W X + P)^{-1})}`, and 1.0 in place of a residual sd.
    The penalty keeps the fit finite when the data separate (logistic regression). NumPy;
    the negative binomial uses the Poisson weights (a start, not an estimate). A positive
    amount on the log link (gamma, Weibull, exponential) is fitted as the exponential family
    (gamma quasi-likelihood: weight 1 per row, Var(y) proportional to mu^2): with Poisson
    weights mu, y spanning 10^5 gave standard errors 300 times too small, the fixed effects'
    coordinates (:func:`fixed_affine`) that much too fine, and NUTS stuck at its start."""
    if FAMILIES[spec.family].ordinal:
        return ordinal_start(spec)
    X, y, n, off = _glm_rows(spec.design)
    pw = spec.design.weights if spec.design.weights is not None else np.ones_like(y)
    b = np.zeros(X.shape[1])
    if not X.shape[1]:
        return b, b.copy(), 1.0
    P, Pm = _ridge(spec)
    link = LINKS[spec.link]
    amounts = spec.link == "log" and FAMILIES[spec.family].response == "positive"

    def loglik(eta: np.ndarray) -> float:
        if amounts:  # the exponential's log likelihood of mean e^eta
            return float(np.sum(pw * (-eta - y * np.exp(-eta))))
        return float(link.loglik(y, n, eta, pw))

    def objective(beta: np.ndarray) -> float:
        return loglik(X @ beta + off) - 0.5 * beta @ P @ beta + beta @ Pm

    # start from the data (mu = y + 1/2, as glm() does), not from beta = 0: with counts in
    # the thousands the first Newton step from 0 overshot to eta ~ 10^3
    eta = link.start(y, n)
    best = -np.inf
    A = X.T @ X + P
    for _ in range(iterations):
        w, z = link.working(eta, link.mean(eta), y, n, off)
        if amounts:  # information about eta per row of an exponential: 1 (z is the same)
            w = np.ones_like(w)
        w = w * pw  # y | weights(w): prior weights times the working weights
        A = X.T @ (w[:, None] * X) + P
        new = np.linalg.solve(A, X.T @ (w * z) + Pm)
        f = objective(new)
        for _ in range(30):  # step halving: never accept a worse penalised fit
            if np.isfinite(f) and f >= best - 1e-12 * abs(best):
                break
            new = 0.5 * (new + b)
            f = objective(new)
        done = np.max(np.abs(new - b)) < 1e-8 * (1 + np.max(np.abs(b)))
        b, best = new, max(best, f)
        eta = X @ b + off
        if done:
            break
    cov = np.linalg.inv(A) if np.all(np.isfinite(b)) else np.linalg.pinv(P)
    if not np.all(np.isfinite(b)):  # fall back to the prior
        b = np.linalg.pinv(P) @ Pm
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    center = spec.intercept_center
    if center is not None:  # the intercept's coordinate: at the predictors' means
        i = _intercept_column(spec)
        a = center.copy()
        a[i] = 1.0
        b, se = b.copy(), se.copy()
        b[i], se[i] = a @ b, float(np.sqrt(max(a @ cov @ a, 0.0)))
    return b, se, 1.0


def _ridge(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    r"""The fixed effects' Normal priors as a ridge penalty
    :math:`\tfrac12 \beta^\top P \beta - \beta^\top P m`: ``(P, P m)``; the Intercept's
    prior on :math:`a^\top\beta` (the intercept at the predictors' means, when
    :attr:`ModelSpec.intercept_center` says so), a rank-one term."""
    prec = _prior_precision(spec)
    mu = np.array([float(np.ravel(p.prior.kwargs.get("mu", 0.0))[0]) if p.name == "Intercept"
                   else 0.0 for p in spec.fixed for _ in range(p.size)])
    center = spec.intercept_center
    if center is None:
        return np.diag(prec), prec * mu
    i = _intercept_column(spec)
    a = center.copy()
    a[i] = 1.0
    d = prec.copy()
    d[i] = 0.0
    return np.diag(d) + prec[i] * np.outer(a, a), prec[i] * mu[i] * a


def fixed_affine(spec: ModelSpec, ols: tuple[np.ndarray, np.ndarray, float]
                 ) -> dict[str, np.ndarray]:
    r"""Coordinates of the fixed effects with a real-line prior: :math:`\beta = b + s\,u`,
    ``{name: stack([b, s])}``, :math:`b` the least-squares fit and :math:`s` its standard
    error (the prior's scale where that is 0). NUTS then sees :math:`u` of order one
    whatever the units: with raw coefficients, y ~ 1e9 and x ~ 1e-9 left the slope (5e17,
    posterior sd 6e16) stuck at its start, ESS 4. ``ols`` is :func:`least_squares`."""
    beta, se, _ = ols
    out, col = {}, 0
    for p in spec.fixed:
        b, s = beta[col:col + p.size], se[col:col + p.size]
        col += p.size
        if p.prior.support != "real":
            continue
        fallback = np.abs(np.broadcast_to(np.asarray(p.prior.kwargs.get("sigma", 1.0), float),
                                          (p.size,)))
        fallback = np.where(fallback > 0, fallback, 1.0)
        s = np.where(np.isfinite(s) & (s > 0), s, fallback)
        out[p.name] = np.stack([b, s]).astype(np.float64)
    return out


def initial_center(spec: ModelSpec, s: Structure, data: Any,
                   ols: tuple[np.ndarray, np.ndarray, float]) -> tuple[np.ndarray, np.ndarray]:
    """A start near the least-squares fit ``ols`` (:func:`least_squares`) in the layout of
    ``s``, and the size of the jitter around it."""
    params, dim, reparam, structure = spec.params, s.dim, REPARAMS[s.reparam], s
    offsets = {p.name: (p.start, p.stop) for p in s.params}
    raw_off = {i: g.raw for i, g in enumerate(s.groups) if g.raw is not None}
    loc = [g.loc for g in s.groups]
    layouts = s.groups

    sy, z_sds = spec.design.moments.start_y_sd, spec.design.moments.start_z_sd
    if FAMILIES[spec.family].log_response:  # the scale of the Gaussian density: log y
        sy = float(np.std(spec.y_model)) or 1.0
    if spec.link != "identity":  # the linear predictor's scale, as the default priors take
        sy = 1.0  # it (sd(y) of amounts up to 10^5 made the fixed effects' jitter 10^3 sds)
    center = np.zeros(dim)
    jitter = np.zeros(dim)
    beta, se, s = ols
    wanted: dict[str, np.ndarray] = {"sigma": np.array([s]), "nu": np.array([10.0]),
                                     "phi": np.array([10.0]), "shape": np.array([2.0]),
                                     "zi": np.array([0.1]), "hu": np.array([0.3])}
    if FAMILIES[spec.family].ordinal:  # the thresholds at the shares of the categories
        wanted["Intercept"] = ordinal_thresholds(spec.link, spec.design, beta)
    for dd in spec.design.dpars:  # the intercept at the start of the parameter, on its link
        start = float(wanted[dd.name][0])
        at = (np.log(start / (1 - start)) if dpar_link(dd.name) == "logit"
              else np.log(start))
        for t in dd.terms:
            wanted[t.name] = np.full(t.stop - t.start, at if t.name.endswith(
                "_Intercept") else 0.0)
    for p in spec.dpar_fixed:
        a, b = offsets[p.name]
        jitter[a:b] = 0.2
    col = 0
    for p in spec.fixed:
        wanted[p.name] = beta[col:col + p.size]
        a, b = offsets[p.name]
        jitter[a:b] = 2.0 * np.maximum(se[col:col + p.size], 1e-3 * sy)
        col += p.size
    for g, sds in zip(spec.groups, z_sds):
        for sp, sz in zip(g.sds, sds):
            wanted[sp.name] = np.array([(0.3 if g.block.dpar else 0.5 * s) / float(sz)])
    for p in params:
        a, b = offsets[p.name]
        if p.domain == "corr":
            jitter[a:b] = 0.3
            continue
        prior = prior_dist(p, data["prior"][p.name])
        v = np.asarray(wanted[p.name], dtype=np.float64)
        if p.prior.support == "interval":
            lo = np.asarray(p.prior.kwargs["lower"], dtype=float)
            hi = np.asarray(p.prior.kwargs["upper"], dtype=float)
            v = np.clip(v, lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo))
        if p.name in data["affine"]:  # u = (beta - b) / s
            shift, scale = data["affine"][p.name]
            center[a:b] = (v - shift) / scale
            jitter[a:b] = jitter[a:b] / scale
        else:
            center[a:b] = np.asarray(domain_transform(p.domain, prior).inv(jnp.asarray(v)))
        if p.domain in ("positive", "unit"):
            jitter[a:b] = 0.5
        elif p.domain == "ordered":  # the first threshold, then the log of each gap
            jitter[a:b] = 0.2
    for i, (a, b, J, k) in raw_off.items():
        g = spec.groups[i]
        sds = [float(wanted[sp.name][0]) for sp in g.sds]
        w = data["W"][i] if data["W"][i] is not None else np.zeros((J, k))
        jitter[a:b] = 0.5 * reparam.init_scale(np.array(sds), w).ravel()
        if reparam.name == "partial":  # centred coordinates sit around w * (fixed effect)
            m = np.broadcast_to(np.array([float(wanted[n][0]) if n else 0.0 for n in loc[i]]),
                                (J, k)).copy()
            lg = layouts[i]
            if lg.level_cols:  # and the level's predictors' effects
                m[:, lg.intercept_col] += data["level_X"][i] @ beta[list(lg.level_cols)]
            center[a:b] = (w * m).ravel()
    return np.asarray(split_start(structure, center)), jitter  # NumPy: no eager programs
