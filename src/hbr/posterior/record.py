"""The one schema of what a fit records in its netCDF attrs: :class:`RunRecord`, written by
:func:`hbr.fit` (:meth:`RunRecord.to_attrs`) and read back by :func:`hbr.load_fit`
(:meth:`RunRecord.from_attrs`) with the same code, so the two cannot drift apart
(``tests/posterior/test_record.py`` round-trips it).

The attribute names are those hbr has always written (files from earlier versions load).
An attribute that is missing or does not parse is a :class:`~hbr.errors.DataError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Mapping

from hbr._version import __version__
from hbr.errors import DataError

__all__ = ["RunRecord", "TIMINGS"]

TIMINGS = ("compile_s", "warmup_s", "sampling_s", "pilot_s", "total_s")


@dataclass(frozen=True)
class RunRecord:
    """How a fit was made: the model, the settings, the sizes and the timings."""

    formula: str
    family: str
    link: str
    method: str
    seed: int
    chains: int
    draws: int
    tune: int
    target_accept: float
    parameterization: str
    user_priors: Mapping[str, str]  # the priors as given: what rebuilds the model
    priors: Mapping[str, str] = field(default_factory=dict)  # every prior, as used
    dpar_formulas: tuple[str, ...] = ()
    init: str | None = None
    thin: int = 1
    vi_steps: int = 0
    method_settings: Mapping[str, Any] = field(default_factory=dict)
    marginalized_factor: str | None = None
    centered_fraction: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    dropna: bool = False
    n_obs: int = 0
    rows_dropped: int = 0
    interrupted: bool = False
    engine: str = "pandas"
    data_check: str = ""  # "N:y'y" of a fit whose rows stayed out of memory
    laplace_preconditioning: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)
    elbo_final: float | None = None
    data_source: str | None = None  # recorded by ``hbr fit``: a path or "example:NAME"
    collapsed_rows: int = 0  # the covariate patterns the log density read (0: the rows)

    def to_attrs(self) -> dict[str, Any]:
        """The netCDF attrs (strings and numbers; mappings as JSON)."""
        a: dict[str, Any] = {"inference_library": "hbr", "inference_library_version": __version__}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "timings":
                a.update({k: round(float(t), 4) for k, t in v.items()})
            elif f.name in ("elbo_final", "data_source"):
                if v is not None:
                    a[f.name] = v
            elif f.name == "dpar_formulas":
                a[f.name] = "; ".join(v)
            elif f.name in ("init", "marginalized_factor"):
                a[f.name] = v or ""
            elif isinstance(v, bool):
                a[f.name] = int(v)
            elif isinstance(v, Mapping):
                a[f.name] = json.dumps(dict(v), default=str)
            else:
                a[f.name] = v
        return a

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], where: str = "the file") -> "RunRecord":
        """Parse attrs written by :meth:`to_attrs`; DataError naming a bad attribute."""
        if attrs.get("inference_library") != "hbr" or "user_priors" not in attrs:
            raise DataError(f"{where} was not written by this version of hbr (no model "
                            "attributes); refit to load it")
        missing = [f.name for f in fields(cls) if f.default is MISSING
                   and f.default_factory is MISSING and f.name not in attrs]
        if missing:
            raise DataError(f"{where} lacks the attribute(s) {', '.join(map(repr, missing))}; "
                            "it was edited or damaged: restore it or refit")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "timings":
                kw[f.name] = {k: _parse(attrs, k, float, where) for k in TIMINGS if k in attrs}
            elif f.name in attrs:
                kw[f.name] = _parse(attrs, f.name, _READERS.get(f.name, str), where)
        return cls(**kw)


def _json(text: Any) -> Any:
    value = json.loads(str(text))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _strings(text: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _json(text).items()}


def _integer(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not an integer")
    return int(value)


_READERS: dict[str, Callable[[Any], Any]] = {
    "seed": _integer, "chains": _integer, "draws": _integer, "tune": _integer,
    "thin": _integer, "vi_steps": _integer, "n_obs": _integer, "collapsed_rows": _integer, "rows_dropped": _integer,
    "target_accept": float, "elbo_final": float,
    "dropna": lambda v: bool(_integer(v)), "interrupted": lambda v: bool(_integer(v)),
    "laplace_preconditioning": lambda v: bool(_integer(v)),
    "user_priors": _strings, "priors": _strings, "method_settings": _json,
    "centered_fraction": _json,
    "dpar_formulas": lambda v: tuple(t for t in str(v).split("; ") if t),
    "init": lambda v: str(v) or None, "marginalized_factor": lambda v: str(v) or None,
}


def _parse(attrs: Mapping[str, Any], name: str, read: Callable[[Any], Any], where: str) -> Any:
    try:
        return read(attrs[name])
    except (TypeError, ValueError) as exc:
        raise DataError(f"attribute {name!r} of {where} is {str(attrs[name])[:80]!r}, which "
                        f"does not parse ({exc}); it was edited or damaged: restore it or "
                        "refit") from None
