"""Which group terms a parameterisation integrates out: pure Python over a ModelSpec, shared
by the density builder, the pipeline and the posterior's diagnostics."""

from __future__ import annotations

from hbr.errors import OptionError
from hbr.model.spec import ModelSpec

__all__ = ["PARAMETERIZATION_NAMES", "marginal_factor", "integrated_ids"]


PARAMETERIZATION_NAMES = ("marginal", "auto", "noncentered", "centered")


def marginal_factor(spec: ModelSpec, requested: str | None = None) -> str | None:
    """The grouping factor to integrate out: ``requested`` or the one with most levels
    (among the factors of the mean; those of ``sigma ~ ...`` are sampled)."""
    factors = {g.block.factor: g.block.n_levels for g in spec.groups if not g.block.dpar}
    if not factors:
        return None
    if requested is not None:
        if requested not in factors:
            raise OptionError(f"marginalize={requested!r} is not a grouping factor of this "
                              f"model; choose one of {', '.join(factors)}")
        return requested
    return max(factors, key=lambda f: factors[f])


def integrated_ids(spec: ModelSpec, mfactor: str | None) -> list[int]:
    """Indices (in ``spec.groups``) of the group terms integrated out when ``mfactor`` is
    the marginal factor: its terms in the mean (a ``sigma ~ (1 | g)`` term is sampled)."""
    return [i for i, g in enumerate(spec.groups)
            if g.block.factor == mfactor and not g.block.dpar]


