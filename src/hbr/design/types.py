"""The values a design is made of: :class:`TermSlice` (a term's columns of X),
:class:`GroupBlock` (one group term: levels, index, Z), :class:`DparDesign` (a distributional
formula) and :class:`Design` itself, with its moments always there and its rows optional.
:mod:`hbr.design.build` makes them from a pandas table, :mod:`hbr.sources` from statistics.

This module never imports JAX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from hbr.design.stats import Moments, row_moments, table_moments
from hbr.errors import OptionError
from hbr.formula import Formula

__all__ = ["GroupBlock", "TermSlice", "Design", "DparDesign", "DPARS"]


@dataclass(frozen=True, eq=False)
class TermSlice:
    """Columns ``start:stop`` of ``X`` belong to fixed term ``name``; ``labels`` names each
    column within the term (level names for categorical terms, ``None`` for a scalar term)."""

    name: str
    start: int
    stop: int
    labels: tuple[str, ...] | None


@dataclass(frozen=True, eq=False)
class GroupBlock:
    """The group-specific coefficients of one term on one grouping factor.

    Attributes
    ----------
    factor : str
        Grouping factor name; nested inner levels are named ``"state:county"``.
    levels : tuple of str
        Level names, in the order of ``index``.
    index : ndarray of int, shape (N,)
        Level of each row.
    Z : ndarray, shape (N, k)
        Varying-coefficient columns (``1`` for the intercept).
    coefs : tuple of str
        Coefficient names, e.g. ``("1", "floor")``; the posterior variables are
        ``f"{coef}|{factor}"``.
    correlated : bool
        True for ``(a + b | g)`` (LKJ prior on the correlation), False for ``||`` terms.
    """

    factor: str
    levels: tuple[str, ...]
    index: np.ndarray
    Z: np.ndarray
    coefs: tuple[str, ...]
    correlated: bool
    dpar: str = ""  # "" for the mean; "sigma" for a term of the ``sigma ~ ...`` formula
    counts: np.ndarray | None = None  # rows per level, when ``index`` is not kept (DuckDB)
    smooth: bool = False  # the penalised part of s(x) (hbr.design.smooth): one level, the k
    #   columns of Z its basis, one sd shared by all k coefficients (``sds_<factor>``), the
    #   coefficients one variable ``s_<factor>`` of k values

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def sizes(self) -> np.ndarray:
        """Rows per level."""
        return (self.counts if self.counts is not None
                else np.bincount(self.index, minlength=self.n_levels))

    @property
    def k(self) -> int:
        return self.Z.shape[1]

    @property
    def names(self) -> tuple[str, ...]:
        """The posterior variables: one per coefficient (``x|g``, a value per level), or for a
        smooth one variable ``s_sx_1`` of its k coefficients."""
        if self.smooth:
            return (f"s_{self.factor}",)
        pre = f"{self.dpar}_" if self.dpar else ""
        return tuple(f"{pre}{c}|{self.factor}" for c in self.coefs)

    @property
    def sd_names(self) -> tuple[str, ...]:
        """The sd of each coefficient: ``x|g_sigma``, or a smooth's one ``sds_sx_1``."""
        if self.smooth:
            return (f"sds_{self.factor}",) * self.k
        return tuple(f"{n}_sigma" for n in self.names)


@dataclass(frozen=True, eq=False)
class DparDesign:
    """The design of a distributional formula such as ``sigma ~ 1 + (1 | g)``: the model of
    ``log sigma``. Its fixed terms are named ``sigma_Intercept``, ``sigma_x``."""

    name: str
    formula: Formula
    X: np.ndarray
    terms: tuple[TermSlice, ...]


@dataclass(frozen=True, eq=False)
class Design:
    """Response, fixed-effect matrix and group blocks of a formula on a table."""

    formula: Formula
    response: str
    y: np.ndarray
    X: np.ndarray
    terms: tuple[TermSlice, ...]
    groups: tuple[GroupBlock, ...]
    n_dropped: int = 0
    se: np.ndarray | None = None  # known standard errors, ``y | se(s)``
    trials: np.ndarray | None = None  # ``y | trials(n)``
    offset: np.ndarray | None = None  # sum of the ``offset()`` terms
    dpars: tuple[DparDesign, ...] = ()  # e.g. ``sigma ~ 1 + (1 | g)``; its groups are in
    #                                     ``groups`` with ``dpar="sigma"``
    memo: dict = field(default_factory=dict)  # what transforms learnt: levels, means, sds
    #                                           (:func:`hbr.design.transforms.evaluate`), for new data
    table_stats: object = None  # hbr.sources.tablestats.TableStats when the rows stayed in DuckDB;
    #                             then y, X, index and Z are empty
    derived: dict = field(default_factory=dict, repr=False)  # arrays derived from the rows
    #                             once, by key (hbr.design.aggregate.design_patterns)
    joint: tuple[tuple[int, int], ...] = ()  # (mean term, sigma term) of one factor whose
    #   effects are correlated across the formulas (brms's shared id, ``(x |p| g)`` and
    #   ``sigma ~ (1 |p| g)``): indices into ``groups``
    cens: np.ndarray | None = None  # ``y | cens(c)``: -1 left, 0 none, 1 right, 2 interval
    cens_y2: np.ndarray | None = None  # ``cens(c, y2)``: the upper end of interval rows
    trunc_lb: np.ndarray | None = None  # ``y | trunc(lb = ., ub = .)``: the bounds of each
    trunc_ub: np.ndarray | None = None  # row's truncated distribution (None: unbounded)
    weights: np.ndarray | None = None  # ``y | weights(w)``: each row's log likelihood times w

    @property
    def n_obs(self) -> int:
        return int(self.table_stats.stats.N) if self.table_stats is not None else self.y.shape[0]

    @property
    def limits(self) -> str:
        """Which row arrays of ``cens()`` and ``trunc()`` the likelihood reads ("cens",
        "cens+y2", "trunc", "cens+trunc", ...; "" for none): part of the compile key."""
        trunc = self.trunc_lb if self.trunc_lb is not None else self.trunc_ub
        return "+".join(k for k, a in (("cens", self.cens), ("y2", self.cens_y2),
                                       ("trunc", trunc)) if a is not None)

    @property
    def dpar_X(self) -> np.ndarray:
        """The fixed-effect columns of every distributional formula side by side, in the
        order of :attr:`dpars` ((N, 0) without one)."""
        return (np.concatenate([d.X for d in self.dpars], axis=1) if self.dpars
                else np.zeros((self.y.shape[0], 0)))

    @property
    def weighted(self) -> bool:
        """Whether the rows carry weights (``y | weights(w)``): part of the compile key."""
        return self.weights is not None

    @property
    def limited(self) -> bool:
        """Whether some row's likelihood is a probability, not a density of y alone
        (``cens()``, ``trunc()``): never Gaussian in the group effects."""
        return bool(self.limits)

    @property
    def has_rows(self) -> bool:
        return self.table_stats is None

    @property
    def engine(self) -> str:
        """Who read the table: ``"pandas"`` (rows in memory), ``"duckdb"`` or ``"dask"``."""
        return "pandas" if self.table_stats is None else self.table_stats.engine

    @cached_property
    def moments(self) -> Moments:
        """The column moments (:class:`hbr.design.stats.Moments`), rows or not."""
        ts = self.table_stats
        if ts is None:
            return row_moments(self.y, self.X, [b.Z for b in self.groups], self.weights)
        return table_moments(int(ts.stats.N), ts.y_mean, ts.y_sd, ts.x_mean, ts.x_sd,
                             ts.z_sd, tuple(b.k for b in self.groups))

    def require_rows(self, what: str, instead: str | None = None) -> None:
        """Raise an OptionError saying that ``what`` needs the rows in memory, when they
        stayed in the files (DuckDB) or in the Dask DataFrame; ``instead`` is the fix the
        message suggests (by default: read the table with pandas)."""
        if self.table_stats is not None:
            where = "in the files" if self.engine == "duckdb" else "in the Dask DataFrame"
            raise OptionError(
                f"{what} needs the fitted rows in memory, but they stayed {where} ("
                f"{self.engine} statistics); "
                f"{instead or 'read the table with pandas: hbr.fit(formula, hbr.read_table(path))'}")

    @property
    def fixed_names(self) -> tuple[str, ...]:
        out: list[str] = []
        for t in self.terms:
            out.extend([t.name] if t.labels is None else [f"{t.name}[{lab}]" for lab in t.labels])
        return tuple(out)


# parameters a second formula may model: any extra parameter of a family (which ones the
# chosen family has is checked by hbr.model.spec.build_model)
DPARS = ("sigma", "nu", "phi", "shape", "zi", "hu")
