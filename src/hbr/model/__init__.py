"""Design + family + priors -> :class:`ModelSpec` (NumPy; no JAX).

:mod:`hbr.model.families` is the table of response families and links,
:mod:`hbr.model.spec` builds the spec with its data-scaled default priors, and
:mod:`hbr.model.integrated` says which group terms a parameterisation integrates out.
"""

from hbr.model.families import FAMILIES, Family, resolve_family
from hbr.model.integrated import PARAMETERIZATION_NAMES, integrated_ids, marginal_factor
from hbr.model.spec import GroupSpec, ModelSpec, ParamSpec, build_model

__all__ = ["ModelSpec", "ParamSpec", "GroupSpec", "build_model", "FAMILIES", "Family",
           "resolve_family", "PARAMETERIZATION_NAMES", "integrated_ids", "marginal_factor"]
