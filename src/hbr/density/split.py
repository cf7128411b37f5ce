r"""The residual sd and the sd of a factor of one-row levels, sampled as their total and
its split (issue 22).

When most levels of the integrated factor ``g`` of ``y ~ x + (1 | g)`` hold one row, the
rows tell only the total variance :math:`S^2 = \sigma^2 + \tau^2` (:math:`\tau` the sd of
``g``): with :math:`N` rows its log is known to about :math:`\sqrt{2/N}`, while the split
is known only from the priors. In :math:`(\log\sigma, \log\tau)` that posterior is a thin
curved ridge; NUTS needed step sizes of 0.02 and 160 leapfrog steps a draw (ESS 31 of 1200
at :math:`N = 10^4`). The same posterior in

.. math::

    u_1 = \log S, \qquad u_2 = \operatorname{logit} w, \qquad
    \sigma = S\sqrt{1 - w}, \quad \tau = S\sqrt{w},

is a narrow direction and a wide one, at right angles, which a diagonal mass matrix fits.
The change is exact: the log density adds the log Jacobian

.. math::

    \log\left|\frac{\partial(\sigma, \tau)}{\partial(u_1, u_2)}\right|
    = 2\log S + \tfrac12\log w + \tfrac12\log(1 - w) - \log 2,

and the priors on :math:`\sigma` and :math:`\tau` are priced as they are.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["variance_split", "price_split", "split_start"]

ONE_ROW_MEDIAN = 2  # the split is used when the median level has at most this many rows


def variance_split(spec: Any, noise: str, marg: Any, params: tuple
                   ) -> tuple[int, int] | None:
    """``(i, j)``: the indices in ``params`` of sigma and of the integrated factor's sd when
    they are sampled as total and split; None otherwise. That is when the residual sd is one
    scalar, one intercept-only factor is integrated out, both sds have priors on the
    positive reals, and the median level of that factor holds at most
    :data:`ONE_ROW_MEDIAN` rows."""
    if noise != "scalar" or len(marg) != 1:
        return None
    g = spec.groups[min(marg)]
    if (g.block.k != 1 or g.corr is not None or g.block.dpar
            or not g.block.names[0].startswith("1|")):  # a slope's rows tell sigma from tau
        return None
    names = {p.name: i for i, p in enumerate(params)}
    by_name = {p.name: p for p in spec.params}
    pair = ("sigma", g.sds[0].name)
    if not all(n in names and by_name[n].prior.support == "positive" for n in pair):
        return None
    counts = _level_counts(spec, g)
    if counts is None or np.median(counts) > ONE_ROW_MEDIAN:
        return None
    return names[pair[0]], names[pair[1]]


def _level_counts(spec: Any, g: Any) -> np.ndarray | None:
    ts = spec.design.table_stats
    if ts is not None:
        return np.asarray(ts.stats.n)[: g.block.n_levels]
    if spec.design.has_rows:  # weighted rows: the sum of the weights (Z_j' W Z_j)
        return np.bincount(g.block.index, spec.design.weights, minlength=g.block.n_levels)
    return None


def price_split(s: Any, z: jax.Array, d: Any, vals: dict, distribution: Any) -> jax.Array:
    """The log priors of sigma and of the factor's sd and the log Jacobian, at the
    coordinates ``(log S, logit w)`` of ``z``; their values go to ``vals``."""
    i, j = s.split
    ps, pt = s.params[i], s.params[j]
    u1, u2 = z[ps.start:ps.stop], z[pt.start:pt.stop]
    log_w, log_1w = jax.nn.log_sigmoid(u2), jax.nn.log_sigmoid(-u2)
    sigma, tau = jnp.exp(u1 + 0.5 * log_1w), jnp.exp(u1 + 0.5 * log_w)
    vals[ps.name], vals[pt.name] = sigma, tau
    lp = (distribution(ps.domain, ps.size, ps.prior_family, d["prior"][ps.name]).log_prob(sigma)
          + distribution(pt.domain, pt.size, pt.prior_family, d["prior"][pt.name]).log_prob(tau))
    return jnp.sum(lp + 2 * u1 + 0.5 * (log_w + log_1w) - jnp.log(2.0))


def split_start(s: Any, center: np.ndarray) -> np.ndarray:
    """A start point with ``(log sigma, log tau)`` at the split's coordinates turned into
    ``(log S, logit w)``."""
    if s.split is None:
        return center
    i, j = s.split
    a, b = s.params[i].start, s.params[j].start
    ls, lt = float(center[a]), float(center[b])
    out = np.array(center, dtype=np.float64)
    out[a] = 0.5 * np.logaddexp(2 * ls, 2 * lt)
    out[b] = 2 * lt - 2 * ls  # logit(tau^2 / (sigma^2 + tau^2))
    return out


def one_row_note(spec: Any) -> str | None:
    """What a user should know when most levels of a Gaussian model's factor hold a single
    row (median one): the rows tell only the total variance, so the residual sd and that
    factor's intercept sd are told apart by their priors alone. None otherwise."""
    if spec.family != "gaussian" or spec.design.dpars or spec.design.se is not None:
        return None
    for g in spec.groups:
        if g.block.dpar or not g.sds or not g.sds[0].name.startswith("1|"):
            continue
        counts = _level_counts(spec, g)
        if counts is not None and counts.size > 1 and np.median(counts) <= 1:
            return (f"{int(np.sum(counts == 1)):,} of the {counts.size:,} levels of "
                    f"{g.block.factor!r} hold a single row: the rows tell only sigma^2 + "
                    f"{g.sds[0].name}^2, so sigma and {g.sds[0].name} are told apart by "
                    "their priors alone; read their split with care, or leave out the "
                    f"term of {g.block.factor!r} if it only numbers the rows")
    return None
