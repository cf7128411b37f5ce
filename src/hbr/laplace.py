r"""Pilot Laplace fit and preconditioning of small targets.

When the group effects are integrated out, NUTS samples only a handful of parameters, but at
large N their posterior is tiny and correlated (``sigma`` has a posterior sd of 5e-4 at
10^6 rows), and NumPyro's mass-matrix adaptation regularises towards a unit scale that swamps
it: 20+ leapfrog steps per draw instead of 3-7. A pilot fit fixes the geometry first:

1. :func:`find_mode`: damped Newton (Levenberg-Marquardt) on the log density
   :math:`\ell(z)`, from the target's start point, with the exact Hessian (small d).
2. :func:`precondition`: with :math:`H = -\nabla^2 \ell(\hat z) = C^{-\top} C^{-1}`
   (:math:`C = \mathrm{chol}(H^{-1})`), sample :math:`w` in :math:`z = \hat z + C w`, where the
   posterior is close to a standard normal; the usual adaptation then only fine-tunes.

This is a transform of a :class:`~hbr.logdensity.Target` into another Target (the constant
Jacobian :math:`\log|C|` is dropped), so engines are unchanged. The mode and ``C`` travel in
the data pytree, so a second dataset of the same shapes reuses the compiled code.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hbr._target_parts import key_rng
from hbr.infer import cached
from hbr.logdensity import Target

__all__ = ["Mode", "find_mode", "precondition", "MAX_DIM"]

MAX_DIM = 64  # exact Hessians beyond this many parameters cost more than they save


class Mode(NamedTuple):
    """Result of :func:`find_mode`: position, log density, Hessian of the negative log
    density, iterations, and whether it converged to a point with a positive-definite H."""

    z: np.ndarray
    logdensity: float
    hessian: np.ndarray
    iterations: int
    converged: bool


def find_mode(target: Target, start: jax.Array, max_iter: int = 100, tol: float = 1e-8
              ) -> Mode:
    """Maximise ``target.logdensity_fn`` by Levenberg-Marquardt-damped Newton steps."""
    def fgh(z: jax.Array, d: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
        f = lambda x: target.logdensity_fn(x, d)  # noqa: E731
        return f(z), jax.grad(f)(z), jax.hessian(f)(z)

    z = np.asarray(start, dtype=np.float64)
    fgh_c = cached(("laplace-fgh",) + target.signature, fgh, jnp.asarray(z), target.data)

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        # the loop runs in NumPy: eager JAX ops would each be a small program to compile
        f, g, H = fgh_c(x, target.data)
        return float(f), np.asarray(g), np.asarray(H)

    f, g, H = evaluate(z)
    lam, it, converged = 1e-3, 0, False
    eye = np.eye(z.shape[0])
    for it in range(1, max_iter + 1):
        if not np.isfinite(f):
            break
        neg_h = -H
        step_ok = False
        for _ in range(30):  # raise damping until the step improves the log density
            A = neg_h + lam * (np.abs(np.diag(neg_h)).mean() + 1.0) * eye
            try:
                delta = np.linalg.solve(A, g)
            except np.linalg.LinAlgError:
                lam *= 4.0
                continue
            f_new, g_new, H_new = evaluate(z + delta)
            if np.isfinite(f_new) and f_new >= f - 1e-12:
                step_ok = True
                break
            lam *= 4.0
        if not step_ok:
            break
        gain = f_new - f
        z, f, g, H = z + delta, f_new, g_new, H_new
        lam = max(lam / 3.0, 1e-9)
        if gain < tol * (1.0 + abs(f)) and float(np.max(np.abs(g))) < 1e-3:
            converged = True
            break
    neg_h = -np.asarray(H)
    pd = bool(np.all(np.isfinite(neg_h))) and bool(np.all(np.linalg.eigvalsh(
        0.5 * (neg_h + neg_h.T)) > 0))
    return Mode(np.asarray(z), float(f), neg_h, it, converged and pd)


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
