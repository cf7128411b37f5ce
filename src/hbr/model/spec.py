"""ModelSpec: a design plus family and priors, frozen and engine-agnostic.

:func:`build_model` fills in the default priors (see :mod:`hbr.priors`), applies the user's
overrides by parameter name, and checks that each prior's support fits its parameter
(a standard deviation needs a prior on positive numbers, a correlation needs ``LKJ``).

Parameter names (as in Bambi), for ``log_radon ~ floor + (floor | county)``:

=======================  =========================================================
``Intercept``, ``floor``  fixed effects, one variable per term (a categorical term is
                          a vector over its levels, dimension ``<term>_dim``)
``sigma``                 residual standard deviation (gaussian, student_t)
``nu``, ``phi``           student_t degrees of freedom, negative-binomial shape (beta:
                          precision)
``shape``                 gamma and Weibull shape (:mod:`hbr.model.families`)
``sigma_Intercept`` ...   with a formula ``sigma ~ 1 + x + (1 | g)``: the coefficients of
                          ``log sigma`` (and ``sigma_1|g``, ``sigma_1|g_sigma``); then there
                          is no scalar ``sigma``
``1|county``              county deviations of the intercept (dimension ``county``)
``floor|county``          county deviations of the ``floor`` slope
``1|county_sigma``        their standard deviations
``county_corr``           correlation matrix of the county coefficients (``(a + b | g)``
                          terms only; ``||`` terms are uncorrelated)
=======================  =========================================================

Nested factors are named after the interaction: ``(1 | state/county)`` gives ``1|state``
and ``1|state:county``. This module does not import JAX.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from hbr.design.aggregate import stored_patterns
from hbr.design.types import Design, GroupBlock, TermSlice
from hbr.design.stats import row_moments
from hbr.errors import DataError, PriorError
from hbr.model.families import (AUX_DOMAINS, AUX_PRIORS, FAMILIES, Family, dpar_link,
                                resolve_family)
from hbr.model.response_checks import check_censoring, check_response, check_truncation
from hbr.model.links import LINKS
from hbr.priors import LKJ, PRIORS, HalfNormal, Normal, Prior, StudentT, as_prior

__all__ = ["ParamSpec", "GroupSpec", "ModelSpec", "build_model"]
_DOMAIN_SUPPORTS = {"real": ("real", "interval"), "positive": ("positive", "interval"),
                    "unit": ("unit", "interval"), "corr": ("corr",),
                    "ordered": ("real",)}  # ordinal thresholds: a prior per threshold
# the bounds an interval (Uniform) prior must keep within, by domain
_DOMAIN_BOUNDS = {"positive": (0.0, np.inf), "unit": (0.0, 1.0)}


@dataclass(frozen=True, eq=False)
class ParamSpec:
    """One named model parameter: ``size`` scalars in ``domain`` with ``prior``."""

    name: str
    domain: str  # "real" | "positive" | "corr"
    size: int
    prior: Prior
    labels: tuple[str, ...] | None = None  # coordinate labels for vector parameters


@dataclass(frozen=True, eq=False)
class GroupSpec:
    """A group block with the names of its standard deviations and correlation.

    ``partner``: the index of the other formula's term of the same factor whose effects
    are correlated with this one's (brms's ``(x |p| g)`` with ``sigma ~ (1 |p| g)``). The
    mean's term then holds the correlation of both (``corr`` of size k + k', its labels the
    mean's coefficients and then the other's, e.g. ``("1", "x", "sigma_1")``), and the
    other term has none."""

    block: GroupBlock
    sds: tuple[ParamSpec, ...]
    corr: ParamSpec | None
    partner: int | None = None

    def corr_members(self, groups: tuple["GroupSpec", ...]
                     ) -> tuple[tuple[str, ...], tuple[ParamSpec, ...], tuple[GroupBlock, ...]]:
        """The labels and sds of the coefficients ``corr`` correlates, and their blocks (this
        one, then the partner's)."""
        if self.partner is None or self.block.dpar:
            return self.block.coefs, self.sds, (self.block,)
        other = groups[self.partner]
        pre = f"{other.block.dpar}_"
        return (self.block.coefs + tuple(pre + c for c in other.block.coefs),
                self.sds + other.sds, (self.block, other.block))


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """Everything an engine needs to know about a model, as plain values."""

    design: Design
    family: str
    fixed: tuple[ParamSpec, ...]
    aux: tuple[ParamSpec, ...]  # the family's extra parameters (sigma, nu, phi)
    groups: tuple[GroupSpec, ...]
    link: str = "identity"
    dpar_fixed: tuple[ParamSpec, ...] = ()  # coefficients of ``log sigma`` (sigma ~ ...)

    @property
    def params(self) -> tuple[ParamSpec, ...]:
        out = list(self.fixed) + list(self.dpar_fixed) + list(self.aux)
        for g in self.groups:
            out.extend(g.sds)
            if g.corr is not None:
                out.append(g.corr)
        return tuple(out)

    @property
    def factor_groups(self) -> tuple[GroupSpec, ...]:
        """The group terms of grouping factors: :attr:`groups` less the smooths' penalised
        parts (which the density treats as one-level group terms)."""
        return tuple(g for g in self.groups if not g.block.smooth)

    @property
    def thresholds(self) -> tuple[ParamSpec, ...]:
        """An ordinal family's thresholds (``Intercept[1]``, ...; brms lists them among the
        population-level effects), or nothing."""
        return tuple(p for p in self.aux if p.domain == "ordered")

    @property
    def priors(self) -> dict[str, Prior]:
        return {p.name: p.prior for p in self.params}

    @property
    def y_model(self) -> np.ndarray:
        r"""The response on the scale of the family's Gaussian density: :math:`\log y` for the
        lognormal (:attr:`hbr.model.families.Family.log_response`), else y itself."""
        y = self.design.y
        return np.log(y) if FAMILIES[self.family].log_response else y

    @property
    def intercept_center(self) -> np.ndarray | None:
        r"""The means :math:`\bar x` of the fixed-effect columns (0 at the Intercept's) when
        the model has an ``Intercept`` and other fixed columns whose means are not all 0;
        else None. The prior named ``Intercept`` is then on the intercept at these means,
        :math:`\alpha = \beta_0 + \bar x^\top \beta` (brms's, rstanarm's and Bambi's
        ``Intercept``), while the draws of ``Intercept`` stay :math:`\beta_0`, the
        intercept at x = 0."""
        if not any(p.name == "Intercept" for p in self.fixed) or len(self.fixed) < 2:
            return None
        center = np.array(self.design.moments.x_mean, dtype=np.float64, copy=True)
        start = next(t.start for t in self.design.terms if t.name == "Intercept")
        center[start] = 0.0
        return center if np.any(center != 0) else None


def _fitting_priors(domain: str) -> str:
    """The distributions of :data:`hbr.priors.PRIORS` that fit a parameter's domain, as the
    fix of an error ("Normal, StudentT, Cauchy or Uniform" for a real number)."""
    names = [n for n, row in PRIORS.items() if row.support == domain.replace("ordered", "real")]
    if domain == "corr":
        return " or ".join(f"{n}({', '.join(PRIORS[n].params)})" for n in names)
    return ", ".join(names) + {"real": " or Uniform", "unit": " or Uniform(0, 1)"}.get(
        domain, " or Uniform(0, upper)")


def _link_location(design: Design, fam: Family, link: str) -> tuple[float, float]:
    """Centre and scale of the linear predictor the default priors are built on
    (:attr:`hbr.model.links.Link.location`)."""
    m = design.moments
    my, sy = (m.y_mean, m.y_sd) if link == "identity" else (0.0, 1.0)
    if fam.log_response:  # the lognormal: the Gaussian family of log y (the rows are here)
        m = row_moments(np.log(design.y), np.zeros((len(design.y), 0)), [], design.weights)
        return m.y_mean, m.y_sd
    r = stored_patterns(design)  # the patterns DuckDB collapsed the rows to, if it did
    if r is not None:
        return LINKS[link].location(r["y"], r["offset"], my, sy)
    return LINKS[link].location(design.y, design.offset, my, sy, design.weights)


def default_priors(design: Design, family: str = "gaussian", link: str | None = None
                   ) -> dict[str, Prior]:
    """The data-scaled default priors (documented in :mod:`hbr.priors` and
    :mod:`hbr.model.families`)."""
    fam, link = resolve_family(family, link)
    my, sy = _link_location(design, fam, link)
    m = design.moments
    x_sd, z_sd = m.x_sd, m.z_sd
    out: dict[str, Prior] = {}
    has_icpt = any(t.name == "Intercept" for t in design.terms)
    for t in design.terms:
        if t.name == "Intercept":
            continue
        sx = x_sd[t.start:t.stop]
        scale = 2.5 * sy / sx
        out[t.name] = Normal(0.0, scale if t.labels is not None else float(scale[0]))
    if has_icpt:  # first, in the order of the design; on the intercept at the predictors'
        #           means (ModelSpec.intercept_center), where the data say most about it
        out = {"Intercept": Normal(my, 2.5 * sy), **out}
    for dd in design.dpars:  # log sigma: centred on log sd(y), a factor e^3 either way
        for t in dd.terms:
            cols = dd.X[:, t.start:t.stop]
            if t.name == f"{dd.name}_Intercept" and dd.name == "sigma":
                out[t.name] = Normal(float(np.log(sy)), 1.5)  # sd(y) (of log y: lognormal)
            elif t.name == f"{dd.name}_Intercept":  # brms's: on the log (logit) scale
                out[t.name] = (Normal(0.0, 1.5) if dpar_link(dd.name) == "logit"
                               else StudentT(3.0, 0.0, 2.5))
            else:
                sx = row_moments(np.zeros(len(cols)), cols, [], design.weights).x_sd
                out[t.name] = Normal(0.0, 1.0 / sx if t.labels is not None else
                                     float(1.0 / sx[0]))
    se_only = design.se is not None and not design.formula.se_sigma
    for name in fam.aux:
        if (name == "sigma" and se_only) or any(d.name == name for d in design.dpars):
            continue  # modelled by its own formula (its coefficients above)
        out[name] = AUX_PRIORS[name](sy)
    for blk, sds in zip(design.groups, z_sd):
        if blk.smooth:  # one sd for the k columns: the scale of f = Z b over a typical column
            out[blk.sd_names[0]] = HalfNormal(sy / float(np.sqrt(np.mean(sds ** 2))))
            continue
        for sz, name in zip(sds, blk.sd_names):
            out[name] = HalfNormal((1.0 if blk.dpar else sy) / float(sz))
    for name in _corr_names(design.groups, design.joint):
        if name:
            out[name] = LKJ(2.0)
    return out


def _corr_names(groups: tuple[GroupBlock, ...], joint: tuple[tuple[int, int], ...] = ()
                ) -> list[str | None]:
    """The correlation's name of each group term (None without one): a correlated term of
    k > 1 coefficients, and the mean's term of a pair correlated across formulas
    (``joint``), whose partner has none."""
    mean_of_pair, other_of_pair = {a for a, _ in joint}, {b for _, b in joint}
    names: list[str | None] = []
    for i, blk in enumerate(groups):
        if i in other_of_pair:
            names.append(None)
        elif (blk.correlated and blk.k > 1) or i in mean_of_pair:
            base, n = f"{blk.dpar + '_' if blk.dpar else ''}{blk.factor}_corr", 2
            name = base
            while name in names:
                name, n = f"{base}_{n}", n + 1
            names.append(name)
        else:
            names.append(None)
    return names


def _check_fits(design: Design, fam: Family) -> None:
    """The response, its additions and the distributional formulas against the family."""
    if design.has_rows:  # out of core, hbr.sources.stats_design refused a constant response
        check_response(fam, design.response, design.y, design.trials, design.se)
        check_censoring(fam, design.response, design.y, design.cens, design.cens_y2, design.se)
        check_truncation(fam, design.response, design.y, design.trunc_lb, design.trunc_ub,
                         design.se)
    for d in design.dpars:
        if d.name not in fam.aux:
            has = (f"its parameters are {', '.join(fam.aux)}" if fam.aux
                   else "it has no parameter besides the mean")
            raise DataError(f"family={fam.name!r} has no {d.name}, so '{d.name} ~ ...' does "
                            f"not apply ({has})")


def _without_intercept(design: Design) -> Design:
    """``design`` without its ``Intercept`` column (an ordinal family's thresholds take its
    place); its formula then has no intercept, so new rows are coded the same way."""
    t = next((t for t in design.terms if t.name == "Intercept"), None)
    if t is None:
        return design
    width = t.stop - t.start
    keep = [c for c in range(design.X.shape[1]) if not t.start <= c < t.stop]
    terms = tuple(TermSlice(u.name, u.start - width * (u.start >= t.stop),
                            u.stop - width * (u.start >= t.stop), u.labels)
                  for u in design.terms if u is not t)
    return replace(design, formula=replace(design.formula, intercept=False),
                   X=design.X[:, keep], terms=terms, derived={})


def build_model(design: Design, priors: Mapping[str, Prior | str] | None = None,
                family: str = "gaussian", link: str | None = None) -> ModelSpec:
    """Combine ``design`` with ``family`` and priors into a :class:`ModelSpec`.

    Parameters
    ----------
    design : Design
    priors : mapping of parameter name to Prior or str, optional
        Overrides of the defaults, e.g. ``{"sigma": "HalfNormal(1)"}``.
    family, link : str
        A family of :mod:`hbr.model.families` and one of its links (default: its first).

    Raises
    ------
    OptionError
        Unknown family or link.
    DataError
        A response that does not fit the family (see :func:`hbr.model.response_checks.check_response`).
    PriorError
        Unknown parameter name (the message lists the valid names), malformed prior, or a
        prior whose support does not fit the parameter.
    """
    fam, link = resolve_family(family, link)
    family = fam.name  # an alias (brms's "negbinomial") becomes hbr's name
    if fam.ordinal:  # the thresholds are the intercepts (brms's Intercept[k])
        design = _without_intercept(design)
    _check_fits(design, fam)
    chosen = default_priors(design, family, link)
    valid = list(chosen)
    for name, value in (priors or {}).items():
        if name not in chosen:
            import difflib
            close = difflib.get_close_matches(str(name), valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PriorError(f"there is no parameter named {name!r} in this model.{hint} "
                             f"Parameters with priors: {', '.join(valid)}")
        chosen[name] = as_prior(value, name)

    def spec(name: str, domain: str, size: int, labels: tuple[str, ...] | None = None
             ) -> ParamSpec:
        prior = chosen[name]
        lo, hi = _DOMAIN_BOUNDS.get(domain, (-np.inf, np.inf))
        if prior.support not in _DOMAIN_SUPPORTS[domain] or (
                prior.support == "interval" and (float(np.min(prior.kwargs["lower"])) < lo
                                                 or float(np.max(prior.kwargs["upper"])) > hi)):
            need = {"real": "a real number", "positive": "a positive number",
                    "unit": "a probability between 0 and 1",
                    "corr": "a correlation matrix"}[domain]
            fix = _fitting_priors(domain)
            raise PriorError(f"prior for {name!r}: {prior} does not fit, because {name!r} is "
                             f"{need}; use {fix}")
        for k, v in prior.params:
            a = np.asarray(v)
            if a.ndim and a.shape != (size,):
                raise PriorError(f"prior for {name!r}: parameter {k} has shape {a.shape}, "
                                 f"expected a number or shape ({size},)")
        return ParamSpec(name, domain, size, prior, labels)

    n_cut = int(np.max(design.y)) - 1 if fam.ordinal else 0  # thresholds: categories - 1
    fixed = tuple(spec(t.name, "real", t.stop - t.start, t.labels) for t in design.terms)
    dpar_fixed = tuple(spec(t.name, "real", t.stop - t.start, t.labels)
                       for d in design.dpars for t in d.terms)
    aux = tuple(spec(n, AUX_DOMAINS.get(n, "positive"), 1) if n != "Intercept" else
                spec(n, "ordered", n_cut, tuple(str(k) for k in range(1, n_cut + 1)))
                for n in fam.aux if n in chosen)
    groups = []
    partner = {a: b for a, b in design.joint} | {b: a for a, b in design.joint}
    for i, (blk, cname) in enumerate(zip(design.groups,
                                         _corr_names(design.groups, design.joint))):
        sds = tuple(spec(n, "positive", 1) for n in dict.fromkeys(blk.sd_names))
        labels = blk.coefs
        if i in partner and not blk.dpar:  # the mean's term holds the pair's correlation
            other = design.groups[partner[i]]
            labels = blk.coefs + tuple(f"{other.dpar}_{c}" for c in other.coefs)
        corr = spec(cname, "corr", len(labels), labels) if cname else None
        groups.append(GroupSpec(blk, sds, corr, partner.get(i)))
    return ModelSpec(design, family, fixed, aux, tuple(groups), link, dpar_fixed)
