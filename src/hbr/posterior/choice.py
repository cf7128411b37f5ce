"""What a fit chose for its group effects: :class:`ParameterizationChoice` (marginal,
non-centred, centred or per level partially centred)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

__all__ = ["ParameterizationChoice"]


@dataclass(frozen=True, eq=False)
class ParameterizationChoice:
    r"""How a fit handled its group effects; compares equal to its name (``== "marginal"``).

    Attributes
    ----------
    name : str
        "marginal", "auto", "noncentered" or "centered".
    marginalized : str or None
        The grouping factor integrated out ("marginal").
    centered_fraction : dict of pandas.Series
        For each sampled, partially centred effect (``"1|floor"``), the centred fraction
        :math:`w_j \in [0, 1]` chosen per level by the pilot fit (0 = non-centred,
        1 = centred; :func:`hbr.density.reparam.centered_fraction`).
    """

    name: str
    marginalized: str | None = None
    centered_fraction: Mapping[str, pd.Series] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name == other
        if isinstance(other, ParameterizationChoice):
            return (self.name, self.marginalized) == (other.name, other.marginalized)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def rounded_fractions(self) -> dict[str, dict[str, float]]:
        """The centred fractions as ``{effect: {level: w}}``, to 4 decimals (for the
        netCDF attrs, through :class:`~hbr.posterior.record.RunRecord`)."""
        return {k: {str(lv): round(float(w), 4) for lv, w in v.items()}
                for k, v in self.centered_fraction.items()}
