r"""The static structure of a log density: a hashable value, and the compile key.

:class:`Structure` holds everything the log density and its readouts depend on besides
the data pytree: the layout of the flat position (which coordinates are which parameter,
where each sampled group term's raw block sits), the family and link, how the residual
noise is modelled, which group terms are integrated out and where each partially centred
effect is located. The equations of :mod:`hbr.density.equations` are pure functions
``f(structure, position, data)``; nothing else is captured, so two targets with equal
structures and data of equal shapes run the same compiled program (blackjax's
``build_kernel(config)``: static configuration as a value, DESIGN.md style rule 2).

Sizes that only the readouts see (the real number of rows and of levels) are in
:attr:`Structure.sizes`, which joins the key of the ``constrain`` / pointwise programs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hbr.design.aggregate import AGGREGATED_FAMILY, design_patterns, stored_patterns, worth_it
from hbr.density.parts import free_size, location_map, prior_shape
from hbr.design.levels import constant_within, first_rows, nested_in
from hbr.density.classes import size_classes
from hbr.density.split import variance_split
from hbr.errors import OptionError
from hbr.model.families import FAMILIES
from hbr.model.integrated import PARAMETERIZATION_NAMES, integrated_ids, marginal_factor
from hbr.model.spec import ModelSpec

__all__ = ["ParamLayout", "GroupLayout", "Structure", "SAMPLED_REPARAM", "padded_levels",
           "noise_by_group", "nesting_parents", "parent_levels", "level_columns",
           "level_values", "layout_rows"]

# how the group effects that NUTS samples are parameterised, per parameterisation
VECTOR_MIN = 16  # fixed effects in a run priced as one vector (Structure.fixed_runs)
SAMPLED_REPARAM = {"marginal": "partial", "auto": "partial", "noncentered": "noncentered",
                   "centered": "centered"}


class ParamLayout(NamedTuple):
    """One parameter in the flat position: coordinates ``start:stop``; ``affine`` when it is
    sampled in least-squares coordinates (a fixed effect with a real-line prior);
    ``labelled`` for a vector term (a categorical), kept as a vector in the output."""

    name: str
    domain: str
    size: int
    prior_family: str
    prior_shape: tuple[int, ...]
    start: int
    stop: int
    affine: bool
    labelled: bool


class GroupLayout(NamedTuple):
    """One group term: its coefficient names, levels as the log density sees them
    (``n_levels``: padded to a size bucket on the statistics path, so that similar tables
    share programs; the real count is in :attr:`Structure.sizes`), sds and correlation by
    name, the mean or ``log sigma`` (``dpar``),
    whether it is integrated out, its raw block ``(start, stop, J, k)`` when sampled, and the
    fixed effect each coefficient is located at under partial centring (``loc``), and
    ``parent`` ``(group term, its intercept column, this term's intercept column)`` when
    this factor's levels are nested in a sampled factor's: its partially centred intercepts
    are then located at the parent level's effect plus the fixed effect (hierarchical
    centring, Gelfand, Sahu & Carlin 1995; the data carry each level's parent level), and
    ``level_cols``: the columns of X besides the intercept that are constant within each
    level (predictors of the level, such as a brood's year), at whose fixed effects the
    intercepts are located too (the data carry their values per level)."""

    names: tuple[str, ...]
    n_levels: int
    k: int
    dpar: str
    sds: tuple[str, ...]
    corr: str | None
    integrated: bool
    raw: tuple[int, int, int, int] | None
    loc: tuple[str | None, ...]
    parent: tuple[int, int, int] | None = None
    level_cols: tuple[int, ...] = ()
    partner: int | None = None  # the other formula's term of this factor correlated with
    # this one (GroupSpec.partner); the mean's term holds the correlation of both
    smooth: bool = False  # the penalised part of s(x): ``names`` is its one variable of k
    # values, ``sds`` its one sd repeated k times (GroupBlock.smooth)

    @property
    def intercept_col(self) -> int:
        """The column of this mean term's intercept (its coefficient named ``1|...``)."""
        return next(c for c, n in enumerate(self.names) if n.startswith("1|"))


class Structure(NamedTuple):
    """Everything the log density depends on besides data (see the module docstring)."""

    parameterization: str
    reparam: str
    mfactor: str | None
    family: str
    link: str
    noise: str  # "scalar" (one sigma), "se" (known se), "rows" (an sd per row), "group" (an
    # sd per level of the integrated factor: sigma ~ (1 | g) with g integrated, read from
    # per-group statistics)
    use_stats: bool  # the likelihood reads sufficient statistics only, no rows
    sigma_model: bool  # a sigma ~ ... formula
    has_se: bool
    se_sigma: bool  # se(s, sigma=True)
    params: tuple[ParamLayout, ...]
    groups: tuple[GroupLayout, ...]
    fixed: tuple[str, ...]
    dpar_fixed: tuple[str, ...]
    aux: tuple[str, ...]
    family_aux: tuple[str, ...]
    dim: int
    x_shape: tuple[int, ...]
    dtype: str
    aggregate: str = ""  # the family of the collapsed rows the log density reads (rows
    # repeating a covariate pattern, hbr.design.aggregate), "" when it reads the rows
    split: tuple[int, int] | None = None  # params of sigma and of a one-row factor's sd,
    # sampled as their total and its split (hbr.density.split), or None
    classes: int = 0  # distinct level sizes when the integrated intercept-only factor is
    # summed by size class (hbr.density.classes), or 0
    centred: str = ""  # the intercept's name when its coordinate is the intercept at the
    # predictors' means (ModelSpec.intercept_center; the data carry the means), or ""
    limits: str = ""  # Design.limits: the row arrays of cens() and trunc() it reads
    dpars: tuple = ()  # per distributional formula: (parameter, first and last + 1 column
    #                    of the rows' dpar_X, its fixed effects' names)
    weighted: bool = False  # y | weights(w): each row's log likelihood (and statistic) times w
    sizes: tuple = ()  # (rows, levels per group term): the readouts' output sizes (last)

    @property
    def lik_family(self) -> str:
        """The family of the rows in the log density's data: :attr:`family`, or the family
        of the collapsed rows (binomial for Bernoulli rows)."""
        return self.aggregate or self.family

    @property
    def marg_ids(self) -> tuple[int, ...]:
        return tuple(i for i, g in enumerate(self.groups) if g.integrated)

    @property
    def raw_ids(self) -> tuple[int, ...]:
        return tuple(i for i, g in enumerate(self.groups) if g.raw is not None)

    @property
    def n_marg_levels(self) -> int:
        """Levels of the integrated factor as the log density sees them (padded)."""
        ids = self.marg_ids
        return self.groups[ids[0]].n_levels if ids else 0

    @property
    def n_marg_real(self) -> int:
        """The real number of levels of the integrated factor (a readout size)."""
        ids = self.marg_ids
        return self.sizes[1][ids[0]] if ids else 0

    @property
    def fixed_runs(self) -> tuple[tuple[int, int], ...]:
        """Runs ``params[i:j]`` of :data:`VECTOR_MIN` or more consecutive fixed effects in
        least-squares coordinates with one prior family: the log density prices each run
        as one vector (one slice, one log density), where one set of operations per
        coefficient made a 300-term formula compile for over 15 minutes (issue 22). Shorter
        runs keep their own operations, so the draws of smaller models stay bit for bit."""
        fixed, runs, i = set(self.fixed) - {self.centred}, [], 0
        while i < len(self.params):
            j = i
            while (j < len(self.params) and self.params[j].name in fixed
                   and self.params[j].affine and self.params[j].domain == "real"
                   and self.params[j].prior_family == self.params[i].prior_family):
                j += 1
            if j - i >= VECTOR_MIN:
                runs.append((i, j))
            i = max(j, i + 1)
        return tuple(runs)

    @property
    def group_order(self) -> tuple[int, ...]:
        """The group terms with every parent before its children (then by index), and the
        ``log sigma`` term of a pair correlated across formulas before the mean's (whose
        prior is conditional on it)."""
        def depth(i: int) -> int:
            p = self.groups[i].parent
            return 0 if p is None else 1 + depth(p[0])

        def after_partner(i: int) -> int:
            g = self.groups[i]
            return int(g.partner is not None and not g.dpar)
        return tuple(sorted(range(len(self.groups)),
                            key=lambda i: (depth(i), after_partner(i), i)))

    @property
    def sampled_effects(self) -> int:
        return sum(g.raw[1] - g.raw[0] for g in self.groups if g.raw is not None)

    @property
    def key(self) -> tuple:
        """The compile key of the log density (the structure without the readouts' sizes)."""
        # the runs depend on VECTOR_MIN too: named when there are any
        runs = self.fixed_runs
        return tuple(self._replace(sizes=())) + ((("runs", runs),) if runs else ())

    @classmethod
    def of(cls, spec: ModelSpec, parameterization: str, marginalize: str | None,
           dtype: str, group_stats: bool = True, aggregate: bool = True) -> "Structure":
        """The structure of ``spec`` under ``parameterization`` (checked here). A residual sd
        that varies only between levels of the integrated factor is read from per-group
        statistics (noise "group") unless ``group_stats`` is False (the row path, which the
        tests compare it with). Bernoulli, binomial and Poisson rows that repeat covariate
        patterns are collapsed to one row per pattern (:mod:`hbr.design.aggregate`) unless
        ``aggregate`` is False."""
        _check(spec, parameterization)
        mfactor = marginal_factor(spec, marginalize) if parameterization == "marginal" else None
        design = spec.design
        marg = set(integrated_ids(spec, mfactor))
        mean_ids = {i for i, g in enumerate(spec.groups) if not g.block.dpar}
        has_se = design.se is not None
        dpars, col = [], 0
        for dd in design.dpars:
            dpars.append((dd.name, col, col + dd.X.shape[1], tuple(t.name for t in dd.terms)))
            col += dd.X.shape[1]
        sigma_model = any(dd.name == "sigma" for dd in design.dpars)
        noise = ("rows" if sigma_model or (has_se and design.formula.se_sigma) else
                 "se" if has_se else "scalar")
        if (noise == "rows" and group_stats and not has_se and marg and marg == mean_ids
                and noise_by_group(spec, spec.groups[min(marg)].block.index)):
            noise = "group"
        use_stats = bool(marg) and marg == mean_ids and noise != "rows"
        agg, x_shape = "", tuple(design.X.shape[1:] if use_stats else design.X.shape)
        stored = stored_patterns(design)
        if stored is not None:  # collapsed by DuckDB (hbr.sources.patterns): rows stayed out
            agg, x_shape = AGGREGATED_FAMILY[spec.family], stored["X"].shape
        elif (aggregate and not marg and spec.family in AGGREGATED_FAMILY and design.has_rows
              and not design.weighted):
            pats = design_patterns(design, spec.family)
            if worth_it(pats, design.n_obs):
                agg, x_shape = AGGREGATED_FAMILY[spec.family], (pats.n,) + x_shape[1:]
        params, pos = _param_layouts(spec)
        groups, dim = _group_layouts(spec, marg, use_stats, pos,
                                     SAMPLED_REPARAM[parameterization] == "partial")
        return cls(
            parameterization, SAMPLED_REPARAM[parameterization], mfactor, spec.family,
            spec.link, noise, use_stats, sigma_model, has_se,
            bool(has_se and design.formula.se_sigma), params, groups,
            tuple(p.name for p in spec.fixed), tuple(p.name for p in spec.dpar_fixed),
            tuple(p.name for p in spec.aux), tuple(FAMILIES[spec.family].aux), dim,
            x_shape, dtype, agg, variance_split(spec, noise, marg, params) if marg else None,
            size_classes(spec, noise, use_stats, marg) if marg else 0,
            "Intercept" if spec.intercept_center is not None else "",
            design.limits, tuple(dpars), design.weighted, (design.n_obs, tuple(g.block.n_levels for g in spec.groups)))


def noise_by_group(spec: ModelSpec, index: np.ndarray) -> bool:
    """Whether every row's ``log sigma`` depends on its level of ``index`` alone: the
    columns of the ``sigma ~`` design and the group index and columns of each of its group
    terms are constant within every level (``sigma ~ 1 + (1 | g)`` with ``g`` the
    integrated factor, or a predictor of ``g``'s levels). Needs the rows."""
    design = spec.design
    if not design.has_rows or [d.name for d in design.dpars] != ["sigma"]:
        return False
    first = first_rows(index)
    return (constant_within(design.dpars[0].X, first)
            and all(constant_within(g.block.index, first) and constant_within(g.block.Z, first)
                    for g in spec.groups if g.block.dpar))


def _check(spec: ModelSpec, parameterization: str) -> None:
    if parameterization not in PARAMETERIZATION_NAMES:
        raise OptionError(f"parameterization={parameterization!r} is not available; choose "
                          f"one of {', '.join(PARAMETERIZATION_NAMES)}")
    if parameterization == "marginal" and not FAMILIES[spec.family].marginal:
        raise OptionError(f"parameterization='marginal' needs the gaussian family, not "
                          f"{spec.family!r}: only Gaussian group effects can be integrated "
                          "out exactly; use 'auto' (the default for other families)")
    if parameterization == "marginal" and spec.design.limited:
        raise OptionError("parameterization='marginal' needs every row observed in full: a "
                          "censored or truncated row's likelihood is not Gaussian in the group "
                          "effects, so they cannot be integrated out; use 'auto' (the default "
                          "with cens() or trunc())")


def _param_layouts(spec: ModelSpec) -> tuple[tuple[ParamLayout, ...], int]:
    affine = {p.name for p in spec.fixed if p.prior.support == "real"}
    out, pos = [], 0
    for p in spec.params:
        n = free_size(p)
        out.append(ParamLayout(p.name, p.domain, p.size, p.prior.family, prior_shape(p), pos,
                               pos + n, p.name in affine, p.labels is not None))
        pos += n
    return tuple(out), pos


def layout_rows(spec: ModelSpec) -> tuple[np.ndarray, list[np.ndarray]]:
    """X and the level index of each group term, as the layout reads them: the rows, or the
    covariate patterns when DuckDB collapsed them and the rows stayed in the files (each
    pattern lies within one level of every factor, so nesting and what is constant within
    levels read the same)."""
    r = stored_patterns(spec.design)
    if r is not None:
        return r["X"], [g["index"] for g in r["groups"]]
    return spec.design.X, [g.block.index for g in spec.groups]


def nesting_parents(spec: ModelSpec, sampled: set[int]) -> dict[int, tuple[int, int, int]]:
    """For each sampled group term with an intercept whose factor is nested in the factor of
    another sampled term with an intercept (every level of it within one level of the
    other, and fewer levels there), ``(that term, its intercept column, this term's
    intercept column)``; the closest such factor (most levels) when there are several."""
    out = {}
    index = layout_rows(spec)[1]
    for i in sampled:
        gi = spec.groups[i].block
        if "1" not in gi.coefs:
            continue
        best = None
        for o in sampled:
            go = spec.groups[o].block
            if (o == i or "1" not in go.coefs or go.dpar != gi.dpar
                    or go.n_levels >= gi.n_levels or go.factor == gi.factor):
                continue
            if nested_in(index[i], index[o]) and (
                    best is None or go.n_levels > spec.groups[best].block.n_levels):
                best = o
        if best is not None:
            out[i] = (best, spec.groups[best].block.coefs.index("1"), gi.coefs.index("1"))
    return out


def level_columns(spec: ModelSpec, i: int, loc: tuple[str | None, ...]) -> tuple[int, ...]:
    """The columns of X, other than the one the intercept of group term ``i`` is already
    located at, that are constant within every level of the term's factor (and not
    constant overall); empty for a term without an intercept located at a fixed effect."""
    blk = spec.groups[i].block
    if blk.dpar or "1" not in blk.coefs or loc[blk.coefs.index("1")] is None:
        return ()
    X, index = layout_rows(spec)
    own = next(t.start for t in spec.design.terms if t.name == loc[blk.coefs.index("1")])
    first = first_rows(index[i])
    return tuple(c for c in range(X.shape[1]) if c != own and np.ptp(X[:, c]) > 0
                 and constant_within(X[:, c], first))


def level_values(spec: ModelSpec, i: int, cols: tuple[int, ...]) -> np.ndarray:
    """The values of X's columns ``cols`` at each level of group term ``i`` (J, len(cols))."""
    X, index = layout_rows(spec)
    out = np.zeros((spec.groups[i].block.n_levels, len(cols)))
    out[index[i]] = np.asarray(X, dtype=np.float64)[:, list(cols)]
    return out


def parent_levels(spec: ModelSpec, i: int, parent: int) -> np.ndarray:
    """The parent level of each level of group term ``i`` (int32, (J,))."""
    index = layout_rows(spec)[1]
    out = np.zeros(spec.groups[i].block.n_levels, dtype=np.int32)
    out[index[i]] = index[parent]
    return out


def _group_layouts(spec: ModelSpec, marg: set[int], use_stats: bool, pos: int,
                   partial: bool) -> tuple[tuple[GroupLayout, ...], int]:
    loc = location_map(spec)
    parents = nesting_parents(spec, {i for i in range(len(spec.groups)) if i not in marg}
                              ) if partial else {}
    out = []
    for i, g in enumerate(spec.groups):
        J, k = g.block.n_levels, g.block.k
        raw = None
        if i not in marg:
            raw = (pos, pos + J * k, J, k)
            pos += J * k
        padded = padded_levels(J) if (use_stats and i in marg) else J
        out.append(GroupLayout(tuple(g.block.names), padded, k, g.block.dpar,
                               g.block.sd_names,
                               g.corr.name if g.corr is not None else None, i in marg, raw,
                               tuple(loc[i]), parents.get(i),
                               level_columns(spec, i, loc[i]) if partial and raw else (),
                               g.partner, g.block.smooth))
    return tuple(out), pos


def padded_levels(J: int) -> int:
    """The size bucket of J: the smallest of 8, 10, 12, 16, 20, 24, 32, ... >= J; from 4096 on
    steps of an eighth (4608, 5120, ...), as 10^5 groups padded to 131,072 cost 31% more."""
    b = 8
    while True:
        for m in ((8, 10, 12) if b < 4096 else range(8, 16)):
            if b * m // 8 >= J:
                return b * m // 8
        b *= 2


