r"""Transforms of a :class:`~hbr.target.Target` into another Target, beside its builder
(they are the only code besides :mod:`hbr.density.build` that knows the data layout).

* :func:`precondition`: with :math:`H = -\nabla^2 \ell(\hat z) = C^{-\top} C^{-1}`
  (:math:`C = \mathrm{chol}(H^{-1})`) at a mode from :func:`hbr.inference.mode.find_mode`,
  sample :math:`w` in :math:`z = \hat z + C w`, where the posterior is close to a standard
  normal; the usual adaptation then only fine-tunes. The constant Jacobian :math:`\log|C|`
  is dropped, so engines are unchanged. The mode and ``C`` travel in the data pytree, so a
  second dataset of the same shapes reuses the compiled code.
* :func:`point_effects`: group effects integrated out come back as their conditional mean
  instead of a draw (for point estimates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from hbr._runtime.keys import key_rng
from hbr.target import Target

if TYPE_CHECKING:
    from hbr.inference.mode import Mode

__all__ = ["precondition", "point_effects"]


def precondition(target: Target, mode: Mode) -> Target:
    """Re-express ``target`` in whitened coordinates ``w``: ``z = mode.z + C w``."""
    H = 0.5 * (mode.hessian + mode.hessian.T)
    C = np.linalg.cholesky(np.linalg.inv(H))
    data = {"inner": target.data, "pre": {"m": np.asarray(mode.z), "C": C}}

    def to_z(w: jax.Array, d: Any) -> jax.Array:
        return d["pre"]["m"] + d["pre"]["C"] @ w

    def logdensity_fn(w: jax.Array, d: Any) -> jax.Array:
        return target.logdensity_fn(to_z(w, d), d["inner"])

    def initial_point(key: jax.Array) -> np.ndarray:
        # over-dispersed around the mode (about two posterior sds), so R-hat can see trouble
        return key_rng(key).uniform(-2.0, 2.0, target.dim)

    def constrain(w: jax.Array, key: jax.Array, d: Any) -> dict:
        return target.constrain(to_z(w, d), key, d["inner"])

    def pointwise_loglik(w: jax.Array, key: jax.Array, d: Any, rows: Any) -> jax.Array:
        return target.pointwise_loglik(to_z(w, d), key, d["inner"], rows)

    return target._replace(
        logdensity_fn=logdensity_fn, data=data, initial_point=initial_point,
        constrain=constrain, pointwise_loglik=pointwise_loglik,
        signature=target.signature + ("laplace",),
        output_signature=target.output_signature + ("laplace",),
        effect_information=None, pilot_logdensity=None)


def point_effects(target: Target) -> Target:
    """``target`` whose group effects integrated out come back as their conditional mean
    instead of a draw (for point estimates)."""
    def quiet(d: Any) -> Any:
        if isinstance(d, dict) and "marg" in d:
            return {**d, "marg": {**d["marg"], "noise": np.zeros_like(d["marg"]["noise"])}}
        if isinstance(d, dict) and "inner" in d:
            return {**d, "inner": quiet(d["inner"])}
        return d
    return target._replace(data=quiet(target.data))
