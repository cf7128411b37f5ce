"""Prior distributions: small immutable specs, parsed from strings, with data-scaled defaults.

A prior is a :class:`Prior` value, made by the constructors here (``hbr.priors.Normal(0, 10)``)
or parsed from text (``"HalfNormal(1)"``, ``"StudentT(nu=3, mu=0, sigma=2.5)"``). The table
``PRIORS`` lists every distribution with its parameters, support and NumPy sampler; engines
translate a prior into their own distribution objects (see :mod:`hbr.density.build`), so this module does not
import JAX.

Default priors (weakly informative, scaled to the data as rstanarm and Bambi do), with
:math:`\\bar y, s_y` the mean and sd of the response and :math:`\\bar x_j, s_{x_j}` those of the
column of fixed-effect term j:

==========================  ===================================================================
``Intercept``               :math:`\\mathrm{Normal}(\\bar y,\\ 2.5 s_y)` on the intercept at the
                            predictors' means, :math:`\\beta_0 + \\sum_j \\bar x_j \\beta_j`
                            (brms's, rstanarm's and Bambi's ``Intercept``); the draws named
                            ``Intercept`` stay :math:`\\beta_0`, the intercept at x = 0
slope of column j           :math:`\\mathrm{Normal}(0,\\ 2.5 s_y / s_{x_j})`
``sigma``                   :math:`\\mathrm{Exponential}(1 / s_y)` (mean :math:`s_y`)
``1|g_sigma``               :math:`\\mathrm{HalfNormal}(s_y)`
``x|g_sigma``               :math:`\\mathrm{HalfNormal}(s_y / s_x)`
``g_corr``                  :math:`\\mathrm{LKJ}(2)` (as in seed 002)
``sds_sx_1`` (``s(x)``)     :math:`\\mathrm{HalfNormal}(s_y / s_Z)`, :math:`s_Z` the root mean
                            square of the penalised columns' sds (:mod:`hbr.design.smooth`);
                            the linear part ``sx_1`` is a slope like any other
==========================  ===================================================================

Without an intercept, every column gets the slope prior (column sd from its own values).
For families with a logit, probit or log link the same rules apply on the link scale with
:math:`s_y = 1` and :math:`\\bar y = 0` (logit, probit) or the log of the mean rate (log); a
``sigma ~ ...`` formula gets :math:`\\mathrm{Normal}(\\log s_y, 1.5)` for ``sigma_Intercept``,
:math:`\\mathrm{Normal}(0, 1 / s_x)` for its slopes and :math:`\\mathrm{HalfNormal}(1 / s_z)` for
its group sds. The extra parameters ``nu`` and ``phi`` are in :mod:`hbr.model.families`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from hbr.errors import PriorError, caret_message

__all__ = [
    "Prior", "PRIORS", "PriorFamily", "FAMILIES", "parse_prior", "as_prior", "sample_prior",
    "Normal", "HalfNormal", "Cauchy", "HalfCauchy", "Exponential", "StudentT", "HalfStudentT",
    "Uniform", "Gamma", "LogNormal", "Beta", "LKJ",
]

class PriorFamily(NamedTuple):
    """One row of :data:`PRIORS`: the parameter names (in positional order), defaults for
    trailing parameters, the support ("real", "positive", "unit" for (0, 1), "interval" from
    lower to upper, "corr" for correlation matrices) and a NumPy sampler ``sample(kwargs, rng, shape, dim)``
    (the JAX counterpart of each row is in :mod:`hbr.density.parts`)."""

    params: tuple[str, ...]
    defaults: dict[str, float]
    support: str
    sample: Callable[[dict[str, Any], np.random.Generator, tuple[int, ...], int], np.ndarray]


PRIORS: dict[str, PriorFamily] = {
    "Normal": PriorFamily(("mu", "sigma"), {"mu": 0.0, "sigma": 1.0}, "real",
                          lambda p, rng, shape, dim: rng.normal(p["mu"], p["sigma"], shape)),
    "StudentT": PriorFamily(
        ("nu", "mu", "sigma"), {"mu": 0.0, "sigma": 1.0}, "real",
        lambda p, rng, shape, dim: p["mu"] + p["sigma"] * rng.standard_t(p["nu"], shape)),
    "Cauchy": PriorFamily(
        ("mu", "sigma"), {"mu": 0.0, "sigma": 1.0}, "real",
        lambda p, rng, shape, dim: p["mu"] + p["sigma"] * rng.standard_cauchy(shape)),
    "HalfNormal": PriorFamily(
        ("sigma",), {"sigma": 1.0}, "positive",
        lambda p, rng, shape, dim: np.abs(rng.normal(0.0, p["sigma"], shape))),
    "HalfCauchy": PriorFamily(
        ("beta",), {"beta": 1.0}, "positive",
        lambda p, rng, shape, dim: np.abs(p["beta"] * rng.standard_cauchy(shape))),
    "HalfStudentT": PriorFamily(
        ("nu", "sigma"), {"sigma": 1.0}, "positive",
        lambda p, rng, shape, dim: np.abs(p["sigma"] * rng.standard_t(p["nu"], shape))),
    "Exponential": PriorFamily(
        ("lam",), {"lam": 1.0}, "positive",
        lambda p, rng, shape, dim: rng.exponential(1.0 / np.asarray(p["lam"], float), shape)),
    "Gamma": PriorFamily(
        ("alpha", "beta"), {}, "positive",
        lambda p, rng, shape, dim: rng.gamma(p["alpha"], 1.0 / np.asarray(p["beta"], float),
                                             shape)),
    "LogNormal": PriorFamily(
        ("mu", "sigma"), {"mu": 0.0, "sigma": 1.0}, "positive",
        lambda p, rng, shape, dim: np.exp(rng.normal(p["mu"], p["sigma"], shape))),
    "Beta": PriorFamily(("alpha", "beta"), {}, "unit",
                        lambda p, rng, shape, dim: rng.beta(p["alpha"], p["beta"], shape)),
    "Uniform": PriorFamily(("lower", "upper"), {}, "interval",
                           lambda p, rng, shape, dim: rng.uniform(p["lower"], p["upper"], shape)),
    "LKJ": PriorFamily(("eta",), {"eta": 1.0}, "corr",
                       lambda p, rng, shape, dim: _lkj(rng, float(p["eta"]), dim, shape)),
}
FAMILIES = PRIORS  # the table's name before issue 16 (it clashed with hbr.model.FAMILIES)
_POSITIVE_PARAMS = {"sigma", "beta", "nu", "lam", "alpha", "eta"}
_ALIASES = {"sd": "sigma", "scale": "sigma", "loc": "mu", "rate": "lam", "df": "nu",
            "low": "lower", "high": "upper"}


@dataclass(frozen=True, eq=False)
class Prior:
    """A prior distribution: family name and parameters (floats or arrays, broadcastable)."""

    family: str
    params: tuple[tuple[str, Any], ...]

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def support(self) -> str:
        return PRIORS[self.family].support

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Prior) and self.family == other.family and
                all(np.array_equal(a, b) for (_, a), (_, b) in zip(self.params, other.params)))

    def __hash__(self) -> int:
        return hash((self.family, str(self)))

    def __str__(self) -> str:
        def fmt(v: Any) -> str:
            a = np.asarray(v)
            if a.ndim == 0:
                return f"{float(a):.4g}"
            lo, hi = float(a.min()), float(a.max())
            return f"{lo:.4g}" if lo == hi else f"[{lo:.4g} .. {hi:.4g}]"
        return f"{self.family}({', '.join(f'{k}={fmt(v)}' for k, v in self.params)})"

    __repr__ = __str__


def _make(family: str, *args: Any, **kwargs: Any) -> Prior:
    names, defaults = PRIORS[family].params, PRIORS[family].defaults
    if len(args) > len(names):
        raise PriorError(f"{family} takes at most {len(names)} parameters ({', '.join(names)}), "
                         f"got {len(args)}")
    vals: dict[str, Any] = dict(zip(names, args))
    for k, v in kwargs.items():
        k = _ALIASES.get(k, k)
        if k not in names:
            raise PriorError(f"{family} has no parameter {k!r}; its parameters are "
                             f"{', '.join(names)}")
        if k in vals:
            raise PriorError(f"{family}: parameter {k!r} given twice")
        vals[k] = v
    for k in names:
        if k not in vals:
            if k not in defaults:
                raise PriorError(f"{family} needs the parameter {k!r} "
                                 f"(write {family}({', '.join(names)}))")
            vals[k] = defaults[k]
    for k, v in vals.items():
        a = np.asarray(v, dtype=float)
        if not np.all(np.isfinite(a)):
            raise PriorError(f"{family}: {k} must be finite, got {v}")
        if k in _POSITIVE_PARAMS and np.any(a <= 0):
            raise PriorError(f"{family}: {k} must be positive, got {v}")
    if family == "Uniform" and np.any(np.asarray(vals["lower"]) >= np.asarray(vals["upper"])):
        raise PriorError(f"Uniform: lower must be below upper, got {vals['lower']}, "
                         f"{vals['upper']}")
    return Prior(family, tuple((k, vals[k]) for k in names))


def Normal(mu: float = 0.0, sigma: float = 1.0) -> Prior:
    """Normal(mu, sigma): density :math:`\\exp(-(x-\\mu)^2 / 2\\sigma^2) / \\sqrt{2\\pi}\\sigma`."""
    return _make("Normal", mu, sigma)


def StudentT(nu: float, mu: float = 0.0, sigma: float = 1.0) -> Prior:
    """Student's t with ``nu`` degrees of freedom, location ``mu`` and scale ``sigma``."""
    return _make("StudentT", nu, mu, sigma)


def Cauchy(mu: float = 0.0, sigma: float = 1.0) -> Prior:
    """Cauchy with location ``mu`` and scale ``sigma``."""
    return _make("Cauchy", mu, sigma)


def HalfNormal(sigma: float = 1.0) -> Prior:
    """Half-normal on :math:`(0, \\infty)` with scale ``sigma``."""
    return _make("HalfNormal", sigma)


def HalfCauchy(beta: float = 1.0) -> Prior:
    """Half-Cauchy on :math:`(0, \\infty)` with scale ``beta``."""
    return _make("HalfCauchy", beta)


def HalfStudentT(nu: float, sigma: float = 1.0) -> Prior:
    """Half Student-t on :math:`(0, \\infty)`."""
    return _make("HalfStudentT", nu, sigma)


def Exponential(lam: float = 1.0) -> Prior:
    """Exponential with rate ``lam`` (mean ``1/lam``)."""
    return _make("Exponential", lam)


def Gamma(alpha: float, beta: float) -> Prior:
    """Gamma with shape ``alpha`` and rate ``beta``."""
    return _make("Gamma", alpha, beta)


def LogNormal(mu: float = 0.0, sigma: float = 1.0) -> Prior:
    """Log-normal: ``log(x) ~ Normal(mu, sigma)``."""
    return _make("LogNormal", mu, sigma)


def Beta(alpha: float, beta: float) -> Prior:
    """Beta on (0, 1), density :math:`\\propto x^{\\alpha - 1}(1 - x)^{\\beta - 1}`: the prior of a
    probability (``zi``, ``hu``; brms's default ``Beta(1, 1)`` is uniform)."""
    return _make("Beta", alpha, beta)


def Uniform(lower: float, upper: float) -> Prior:
    """Uniform on ``(lower, upper)``."""
    return _make("Uniform", lower, upper)


def LKJ(eta: float = 1.0) -> Prior:
    """LKJ prior on a correlation matrix, density :math:`\\propto \\det(R)^{\\eta - 1}`."""
    return _make("LKJ", eta)


def parse_prior(text: str) -> Prior:
    """Parse a prior written as text, e.g. ``"HalfNormal(1)"`` or ``"Normal(mu=0, sigma=10)"``.

    Examples
    --------
    >>> parse_prior("StudentT(3, 0, 2.5)")
    StudentT(nu=3, mu=0, sigma=2.5)
    """
    src = text.strip()
    try:
        node = ast.parse(src, mode="eval").body
    except SyntaxError as exc:
        raise PriorError(caret_message("cannot parse this prior", src,
                                       max(0, (exc.offset or 1) - 1))) from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise PriorError(caret_message(
            f"a prior is written Family(parameters), e.g. HalfNormal(1); known families: "
            f"{', '.join(PRIORS)}", src, 0, len(src)))
    name = node.func.id
    if name not in PRIORS:
        import difflib
        close = difflib.get_close_matches(name, PRIORS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise PriorError(caret_message(f"unknown distribution {name!r}{hint} (known: "
                                       f"{', '.join(PRIORS)})", src, 0, len(name)))

    def num(n: ast.expr) -> float:
        try:
            v = ast.literal_eval(n)
        except ValueError:
            v = None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise PriorError(caret_message("prior parameters must be numbers", src,
                                           n.col_offset, max(1, (n.end_col_offset or 0)
                                                             - n.col_offset)))
        return float(v)

    return _make(name, *[num(a) for a in node.args],
                 **{kw.arg or "": num(kw.value) for kw in node.keywords})


def as_prior(value: Prior | str, parameter: str = "") -> Prior:
    """Accept a :class:`Prior` or its text form; errors name ``parameter``."""
    if isinstance(value, Prior):
        return value
    if isinstance(value, str):
        try:
            return parse_prior(value)
        except PriorError as exc:
            raise PriorError(f"prior for {parameter!r}: {exc}") from None
    raise PriorError(f"prior for {parameter!r} must be a string such as 'Normal(0, 1)' or an "
                     f"hbr.priors distribution, got {type(value).__name__}")


def sample_prior(prior: Prior, rng: np.random.Generator, shape: tuple[int, ...],
                 dim: int = 2) -> np.ndarray:
    """Independent draws of ``prior`` with ``shape`` (vector parameters: their size last).

    ``LKJ(eta)`` draws ``dim x dim`` correlation matrices (shape ``shape + (dim, dim)``) by the
    C-vine method of Lewandowski, Kurowicka & Joe (2009): partial correlations
    :math:`2\\,\\mathrm{Beta}(b, b) - 1` with :math:`b = \\eta + (d - 1 - i)/2` on tree level
    :math:`i`, turned into correlations by the recursion of their eq. (9). Each correlation is
    then marginally :math:`2\\,\\mathrm{Beta}(\\eta - 1 + d/2, \\eta - 1 + d/2) - 1`.
    """
    return PRIORS[prior.family].sample(prior.kwargs, rng, shape, dim)


def _lkj(rng: np.random.Generator, eta: float, d: int, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    P = np.zeros((n, d, d))  # partial correlations, upper triangle
    R = np.broadcast_to(np.eye(d), (n, d, d)).copy()
    b = eta + (d - 1) / 2
    for i in range(d - 1):
        b -= 0.5
        for j in range(i + 1, d):
            P[:, i, j] = 2 * rng.beta(b, b, n) - 1
            r = P[:, i, j]
            for m in range(i - 1, -1, -1):
                r = r * np.sqrt((1 - P[:, m, i] ** 2) * (1 - P[:, m, j] ** 2)) + \
                    P[:, m, i] * P[:, m, j]
            R[:, i, j] = R[:, j, i] = r
    return R.reshape(shape + (d, d))
