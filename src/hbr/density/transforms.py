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

from functools import partial
from typing import TYPE_CHECKING, Any, Callable

import jax
import numpy as np

from hbr._runtime.keys import key_rng
from hbr.target import Density, Target

if TYPE_CHECKING:
    from hbr.inference.mode import Mode

__all__ = ["precondition", "point_effects"]

BatchVG = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]


def _to_z(w: jax.Array, d: Any) -> jax.Array:
    return d["pre"]["m"] + d["pre"]["C"] @ w


def _whitened_logdensity(inner: Callable, w: jax.Array, d: Any) -> jax.Array:
    return inner(_to_z(w, d), d["inner"])


def _to_z_host(m: np.ndarray, C: np.ndarray, W: np.ndarray, d: Any) -> tuple[np.ndarray, Any]:
    return m + W @ C.T, d["inner"]


def _whitened_vg(inner: BatchVG, m: np.ndarray, C: np.ndarray, W: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    f, G = inner(m + W @ C.T)
    return f, G @ C


def _overdispersed_start(dim: int, key: jax.Array) -> np.ndarray:
    # about two posterior sds around the mode, so R-hat can see trouble
    return key_rng(key).uniform(-2.0, 2.0, dim)


def precondition(density: Density, mode: Mode, value_and_grad: BatchVG | None = None
                 ) -> Density:
    """Re-express ``density`` in whitened coordinates ``w``: ``z = mode.z + C w``. Given
    ``value_and_grad`` of the original target over a batch (the pilot's program), the new
    target carries its whitened counterpart, :math:`\nabla_w = C^\top \nabla_z`."""
    t, r = density.target, density.readout
    H = 0.5 * (mode.hessian + mode.hessian.T)
    C = np.linalg.cholesky(np.linalg.inv(H))
    data = {"inner": t.data, "pre": {"m": np.asarray(mode.z), "C": C}}
    vg = None if value_and_grad is None else partial(_whitened_vg, value_and_grad,
                                                     np.asarray(mode.z), C)
    target = Target(partial(_whitened_logdensity, t.logdensity_fn), data, t.dim,
                    partial(_overdispersed_start, t.dim), t.signature + ("laplace",),
                    value_and_grad=vg)
    # the draws are read by the original readout, at z = m + C w (NumPy), so the modes of
    # the original target (hbr.checks.modes) run the same readout program
    readout = r._replace(inner=partial(_to_z_host, np.asarray(mode.z), C))
    return density._replace(target=target, readout=readout, pilot=None)


def _quiet(d: Any) -> Any:
    """The data with the draw-back noise of integrated-out effects set to 0."""
    if isinstance(d, dict) and "marg" in d:
        return {**d, "marg": {**d["marg"], "noise": np.zeros_like(d["marg"]["noise"])}}
    if isinstance(d, dict) and "inner" in d:
        return {**d, "inner": _quiet(d["inner"])}
    return d


def point_effects(density: Density) -> Density:
    """``density`` whose group effects integrated out come back as their conditional mean
    instead of a draw (for point estimates)."""
    return density._replace(target=density.target._replace(data=_quiet(density.target.data)))
