r"""Predictive draws: posterior predictive for the fitted rows, predictions for new rows
(seen and unseen groups) and the prior predictive.

For every draw :math:`s` of the parameters the linear predictor of each row is rebuilt in
NumPy,

.. math::
    \eta_i^{(s)} = x_i^\top \beta^{(s)} + \sum_g z_{gi}^\top b^{(s)}_{g[i]} + o_i,

(the group effects are the drawn ones, also for an integrated-out factor), with the family's
extra parameters (sigma per row for a ``sigma ~ ...`` formula or known ``se()``), and
:math:`y_i^{(s)}` is drawn by :func:`hbr.model.families.simulate_response`.

A level of a grouping factor that the model was not fitted to (a new county) has no posterior
effect. :func:`predict` draws one from the population distribution of the same draw,
:math:`b^{(s)}_{new} \sim N(0, \mathrm{diag}(s^{(s)}) R^{(s)} \mathrm{diag}(s^{(s)}))`
(``new_groups="sample"``, the default: the prediction carries the between-group spread), or
sets it to its mean 0 (``new_groups="mean"``: the population-average prediction). Either
way its prediction averages, over draws, to the population prediction :math:`x^\top \beta`.
This module does not import JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hbr.design.newdata import Rows, new_rows, training_rows
from hbr.errors import OptionError
from hbr.model.families import FAMILIES, dpar_link, inverse_link, simulate_response
from hbr.model.ordinal import ordinal_mean
from hbr.model.truncation import truncated_draws, truncated_mean, truncation_bounds
from hbr.model.spec import ModelSpec
from hbr.posterior.rao_blackwell import no_effect_draws
from hbr.priors import sample_prior

__all__ = ["linear_predictor", "noise_sd", "expected_response", "posterior_predictive",
           "predict", "prior_draws", "summarize_predictions", "response_draws", "MAX_NUMBERS",
           "KINDS"]

MAX_NUMBERS = 250_000_000  # chains x draws x rows kept in memory at once (2 GB)
KINDS = ("mean", "response", "link")


def _coefficients(post: dict[str, np.ndarray], params: Any) -> np.ndarray:
    cols = [post[p.name][..., None] if p.labels is None else post[p.name] for p in params]
    shape = next(iter(post.values())).shape[:2]
    return np.concatenate(cols, axis=-1) if cols else np.zeros(shape + (0,))


def _group_sum(spec: ModelSpec, post: dict[str, np.ndarray], dpar: str, rows: Rows
               ) -> np.ndarray | float:
    out: np.ndarray | float = 0.0
    for g, index, Z in zip(spec.groups, rows.index, rows.Z):
        blk = g.block
        if blk.dpar != dpar:
            continue
        if blk.names[0] not in post:
            raise no_effect_draws(blk.names[0], "a prediction (the linear predictor)")
        if blk.smooth:  # s_sx_1 (c, d, k) times the basis: f(x) of every row
            out = out + post[blk.names[0]] @ Z.T
            continue
        for c, name in enumerate(blk.names):
            out = out + post[name][..., index] * Z[:, c]
    return out


def linear_predictor(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows | None = None
                     ) -> np.ndarray:
    """:math:`\\eta` (chains, draws, n) of ``rows`` (default: the fitted rows) from the
    constrained draws ``post``."""
    rows = training_rows(spec.design) if rows is None else rows
    eta = _coefficients(post, spec.fixed) @ rows.X.T + _group_sum(spec, post, "", rows)
    if rows.offset is not None:
        eta = eta + rows.offset
    return np.asarray(eta)


def noise_sd(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows | None = None
             ) -> np.ndarray | None:
    """The residual sd, (chains, draws, 1) or (chains, draws, n); None without sigma."""
    rows = training_rows(spec.design) if rows is None else rows
    if any(dd.name == "sigma" for dd in spec.design.dpars):
        return dpar_values(spec, post, rows, "sigma")
    sigma = post["sigma"][..., None] if "sigma" in post else None
    if spec.design.se is None:
        return sigma
    if rows.se is None:
        raise OptionError("the model has known standard errors (se()); the new table needs "
                          "that column to draw responses (kind='mean' does not)")
    return rows.se if sigma is None else np.sqrt(rows.se**2 + sigma**2)


def dpar_values(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows, name: str
                ) -> np.ndarray:
    """The parameter ``name`` of each draw and row (chains, draws, n) from its distributional
    formula: the inverse of its link (exp; the logistic for zi and hu) at its linear
    predictor."""
    col = 0
    for dd in spec.design.dpars:
        if dd.name == name:
            break
        col += dd.X.shape[1]
    own = {t.name for t in dd.terms}
    coefs = _coefficients(post, [p for p in spec.dpar_fixed if p.name in own])
    lp = coefs @ rows.dpar_X[:, col:col + dd.X.shape[1]].T + _group_sum(spec, post, name, rows)
    if dpar_link(name) == "logit":
        from scipy.special import expit  # here: SciPy is off a fit's path

        return expit(lp)
    return np.exp(lp)


def _check_size(post: dict[str, np.ndarray], n: int) -> None:
    chains, draws = next(iter(post.values())).shape[:2]
    size = chains * draws * n
    if size > MAX_NUMBERS:
        raise OptionError(f"the predictive draws would hold {size:.3g} numbers "
                          f"({size * 8 / 2**30:.1f} GiB); keep fewer draws (e.g. every 10th) "
                          "or predict fewer rows at a time")


def response_draws(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows,
                   rng: np.random.Generator) -> np.ndarray:
    eta = linear_predictor(spec, post, rows)
    aux = family_aux(spec, post, rows)
    if rows.trunc_lb is not None or rows.trunc_ub is not None:
        return truncated_draws(spec.family, inverse_link(spec.link, eta), aux, rng,
                               *truncation_bounds(rows.trunc_lb, rows.trunc_ub, rows.n))
    # known se is already inside the sd, so simulate_response gets no se of its own
    return simulate_response(spec.family, spec.link, eta, aux, rng, rows.trials)


def posterior_predictive(spec: ModelSpec, post: dict[str, np.ndarray], seed: int
                         ) -> np.ndarray:
    """Replicated responses (chains, draws, N) of the fitted rows, one per posterior draw.

    Raises
    ------
    OptionError
        When chains x draws x N passes ``MAX_NUMBERS`` (thin the draws first)."""
    _check_size(post, spec.design.n_obs)
    return response_draws(spec, post, training_rows(spec.design), np.random.default_rng(seed))


def _with_new_levels(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows,
                     new_groups: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``post`` with the group-effect arrays extended by one effect per unseen level."""
    out = dict(post)
    for g, levels in zip(spec.groups, rows.new_levels):
        if not levels or (g.partner is not None and g.block.dpar):
            continue  # a pair correlated across formulas is drawn with the mean's term
        _, sds, blocks = g.corr_members(spec.groups)
        if g.block.smooth:  # (prior draws only: its one level is never new in new data)
            name, shape = g.block.names[0], post[sds[0].name].shape[:2] + (g.block.k,)
            out[name] = (np.zeros(shape) if new_groups == "mean" else
                         rng.standard_normal(shape) * post[sds[0].name][..., None])
            continue
        names = [name for b in blocks for name in b.names]
        if names[0] not in post:
            raise no_effect_draws(names[0], "a prediction for new levels")
        shape = post[names[0]].shape[:2] + (len(levels), len(names))
        if new_groups == "mean":
            new = np.zeros(shape)
        else:
            z = rng.standard_normal(shape)
            if g.corr is not None:
                z = np.einsum("cdij,cduj->cdui", np.linalg.cholesky(post[g.corr.name]), z)
            sd = np.stack([post[s.name] for s in sds], axis=-1)
            new = z * sd[..., None, :]
        for c, name in enumerate(names):
            out[name] = np.concatenate([post[name], new[..., c]], axis=-1)
    return out


def predict(spec: ModelSpec, post: dict[str, np.ndarray], data: pd.DataFrame,
            kind: str = "mean", new_groups: str = "sample", seed: int = 0) -> np.ndarray:
    r"""Predictive draws (chains, draws, n) for the rows of ``data``.

    Parameters
    ----------
    kind : {"mean", "response", "link"}
        "mean": the expected response :math:`E[y \mid \theta] = g^{-1}(\eta)` (times the
        trials for the binomial); "response": a new observation :math:`y \sim p(y\mid\theta)`
        (adds the noise); "link": :math:`\eta`.
    new_groups : {"sample", "mean"}
        For levels the model was not fitted to: draw their effects from the population
        distribution of each draw, or use its mean 0.
    seed : int
        Seeds the draws of new group effects and of responses.
    """
    if kind not in KINDS:
        raise OptionError(f"kind={kind!r} is not available; choose one of {', '.join(KINDS)}")
    if new_groups not in ("sample", "mean"):
        raise OptionError(f"new_groups={new_groups!r} is not available; choose 'sample' "
                          "(draw a new level's effect from the population) or 'mean'")
    rows = new_rows(spec.design, data)
    _check_size(post, rows.n)
    rng = np.random.default_rng(seed)
    post = _with_new_levels(spec, post, rows, new_groups, rng)
    if kind == "response":
        return response_draws(spec, post, rows, rng)
    eta = linear_predictor(spec, post, rows)
    if kind == "link":
        return eta
    return expected_response(spec, post, rows, eta)


def expected_response(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows,
                      eta: np.ndarray | None = None) -> np.ndarray:
    r""":math:`E[y \mid \theta]` of each row and draw (the family's ``expected`` of the
    extra parameters: the lognormal's residual sd, a zero-inflated family's ``zi``);
    ``eta`` the linear predictor when known."""
    eta = linear_predictor(spec, post, rows) if eta is None else eta
    fam = FAMILIES[spec.family]
    if fam.ordinal:  # E[y] = sum_k k P(y = k), the categories numbered 1..K
        return ordinal_mean(spec.link, eta, family_aux(spec, post, rows)["Intercept"])
    mu, aux = inverse_link(spec.link, eta), family_aux(spec, post, rows)
    if rows.trunc_lb is not None or rows.trunc_ub is not None:  # E[y | lb < y < ub]
        return truncated_mean(spec.family, mu, aux,
                              *truncation_bounds(rows.trunc_lb, rows.trunc_ub, rows.n))
    return fam.expected(mu, rows.trials, aux)


def family_aux(spec: ModelSpec, post: dict[str, np.ndarray], rows: Rows) -> dict[str, Any]:
    """The family's extra parameters of each draw, broadcastable to (chains, draws, rows):
    ``sigma`` the residual sd of each row (a ``sigma ~`` formula's, or the known se's); an
    ordinal family's thresholds as (chains, draws, 1, K - 1)."""
    aux: dict[str, Any] = {p.name: post[p.name][..., None] if p.labels is None
                           else post[p.name][..., None, :] for p in spec.aux}
    sd = noise_sd(spec, post, rows)
    if sd is not None:
        aux["sigma"] = sd
    for dd in spec.design.dpars:  # modelled by a formula: one value per row
        if dd.name != "sigma":
            aux[dd.name] = dpar_values(spec, post, rows, dd.name)
    return aux


def prior_draws(spec: ModelSpec, draws: int, seed: int) -> tuple[dict[str, np.ndarray],
                                                                  np.ndarray]:
    """Parameters drawn from the priors, shaped (1, draws, ...) like a posterior (group
    effects from their population distribution), and a response (1, draws, N) for the
    fitted rows given each."""
    rows = training_rows(spec.design)
    _check_size({"": np.zeros((1, draws))}, rows.n)  # before drawing anything
    rng = np.random.default_rng(seed)
    post: dict[str, np.ndarray] = {}
    for g in spec.groups:
        if g.corr is not None:
            post[g.corr.name] = sample_prior(g.corr.prior, rng, (1, draws), g.corr.size)
    for p in spec.params:
        if p.name not in post:
            post[p.name] = sample_prior(p.prior, rng, (1, draws) + (
                (p.size,) if p.labels is not None else ()))
            if p.domain == "ordered":  # iid draws, sorted: the prior restricted to order
                post[p.name] = np.sort(post[p.name], axis=-1)
    center = spec.intercept_center
    if center is not None:  # the prior drew the intercept at the predictors' means
        beta = np.concatenate([post[p.name].reshape(1, draws, -1) for p in spec.fixed], axis=2)
        post["Intercept"] = post["Intercept"] - beta @ center
    zero = {name: np.zeros((1, draws, 0)) for g in spec.groups for name in g.block.names}
    as_new = Rows(rows.X, rows.index, rows.Z, tuple(g.block.levels for g in spec.groups),
                  rows.offset, rows.se, rows.trials, rows.dpar_X)
    post = _with_new_levels(spec, {**post, **zero}, as_new, "sample", rng)
    return post, response_draws(spec, post, rows, rng)


def summarize_predictions(draws: np.ndarray) -> pd.DataFrame:
    """Per row: mean, sd and the 3% and 97% quantiles (a 94% interval) over all draws."""
    flat = draws.reshape(-1, draws.shape[-1])
    q = np.quantile(flat, [0.03, 0.97], axis=0)
    return pd.DataFrame({"mean": flat.mean(0), "sd": flat.std(0, ddof=1),
                         "q3%": q[0], "q97%": q[1]})
