"""The contract between ``density/`` and ``inference/`` (a leaf, like blackjax's ``base.py``):
the :class:`Target` that :func:`hbr.density.build.make_target` builds and every engine
samples, and the :class:`SamplerResult` every engine returns. It imports JAX and NumPy only,
so an engine that imports it reaches nothing of formula, design or model."""

from __future__ import annotations

from typing import Any, Callable, Hashable, NamedTuple

import jax
import numpy as np

__all__ = ["Target", "GibbsHooks", "Readout", "PilotHooks", "Density", "SamplerResult"]


class Target(NamedTuple):
    """What an engine needs: a log density over a flat vector, its size and start points.

    Attributes
    ----------
    logdensity_fn : callable
        ``logdensity_fn(position, data) -> scalar`` (unnormalised log posterior).
    data : pytree
        The second argument of ``logdensity_fn``.
    dim : int
        Length of the position vector.
    initial_point : callable
        ``initial_point(key) -> position``: a jittered start near a least-squares fit.
    signature : hashable
        The structure of ``logdensity_fn`` (:class:`hbr.density.structure.Structure`
        without the readouts' sizes): with ``data`` of the same shapes, two targets with
        equal signatures run the same compiled programs (sampler, pilot).
    blocks : GibbsHooks, optional
        Blocked updates NUTS runs instead of sampling ``logdensity_fn`` whole (crossed
        Gaussian factors); other engines sample ``logdensity_fn``.
    value_and_grad : callable, optional
        ``value_and_grad(positions) -> (values, gradients)`` for a (n, dim) NumPy batch:
        ``logdensity_fn`` and its gradient from a program already compiled (the pilot's),
        so an engine can start its chains without compiling the log density once more.
    """

    logdensity_fn: Callable[[jax.Array, Any], jax.Array]
    data: Any
    dim: int
    initial_point: Callable[[jax.Array], np.ndarray]
    signature: Hashable
    blocks: "GibbsHooks | None" = None
    value_and_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None


class GibbsHooks(NamedTuple):
    """Blocked updates of a target whose position is hyperparameters (the first
    ``theta_dim`` coordinates) then group effects (:mod:`hbr.density.gibbs`): in block f's
    step NUTS moves the hyperparameters ``theta_index[f]`` with block f's effects integrated
    out, then those effects are drawn exactly.

    Attributes
    ----------
    theta_dim : int
    blocks : int
    theta_index : tuple of tuples of int
        The hyperparameter coordinates NUTS moves in each block's step (the others keep
        their values, as block f's log density prices them given the other blocks).
    stats : callable
        ``stats(f, position, data) -> pytree``: what step f's log density needs of the
        other blocks (fixed during the step).
    logdensity : callable
        ``logdensity(f, theta, position, stats, data) -> scalar``: log density of the
        hyperparameters ``theta`` given the other blocks, block f integrated out.
    draw : callable
        ``draw(f, key, position, stats, data) -> (position, lp)``: block f redrawn exactly
        from its conditional, and the log density (``logdensity_fn``, up to a constant) of
        the new position.
    """

    theta_dim: int
    blocks: int
    theta_index: tuple[tuple[int, ...], ...]
    stats: Callable[..., Any]
    logdensity: Callable[..., jax.Array]
    draw: Callable[..., jax.Array]


class Readout(NamedTuple):
    """The posterior side of a density: positions to named values and log likelihoods.

    Attributes
    ----------
    constrain : callable
        ``constrain(position, key, data) -> {name: value}`` on the constrained scale, with
        the user-facing names of :mod:`hbr.model`; ``key`` draws integrated-out effects.
    pointwise_loglik : callable
        ``pointwise_loglik(position, key, data, rows) -> (N,)`` log likelihood of each
        observation given the group effects (drawn with ``key`` where integrated out).
    rows : pytree
        Row-level arrays (y, X, group indices) that ``pointwise_loglik`` needs but the log
        density does not (the statistics path); empty when ``data`` holds them.
    signature : hashable
        The target's signature plus the real numbers of rows and levels: the key of the
        compiled readout programs, whose outputs have those sizes.
    names : dict, optional
        When ``constrain`` returns a shape bucket's slot names
        (:mod:`hbr.density.bucket`): slot name -> the user's name, or None for an output
        to drop (a dummy). None: the names are the user's already.
    inner : callable, optional
        ``inner(positions, data) -> (positions, data)`` in NumPy: the engine's coordinates
        (..., dim) and the target's data to the readout's, when they differ (a
        Laplace-whitened target is read by the original target's readout, so that a mode of
        the original shares its program).
    serial : bool
        Whether the readout programs must run one at a time (a group term of
        :data:`hbr._runtime.compile.SERIAL_K` or more coefficients).
    moments : callable, optional
        ``moments(position, key, data) -> (parameters, means, variances)``: ``constrain``'s
        parameters, and each group effect's mean and variance given the position (exact
        conditionals for integrated effects, the position's value and 0 for sampled ones),
        by the same names; None where the density has none (the crossed Gibbs scheme): its
        effects' draws are then kept whatever ``effect_draws`` says.
    """

    constrain: Callable[[jax.Array, jax.Array, Any], dict[str, jax.Array]]
    pointwise_loglik: Callable[[jax.Array, jax.Array, Any, Any], jax.Array]
    rows: Any
    signature: Hashable
    names: dict[str, str | None] | None = None
    inner: Callable[[np.ndarray, Any], tuple[np.ndarray, Any]] | None = None
    serial: bool = False
    moments: Callable[[jax.Array, jax.Array, Any], tuple[dict, dict, dict]] | None = None

    def rename(self, values: dict[str, Any]) -> dict[str, Any]:
        """``constrain``'s outputs under the user's names (see ``names``)."""
        if self.names is None:
            return values
        out = {}
        for k, v in values.items():
            name = self.names.get(k, k)
            if name is not None:
                out[name] = v
        return out


class PilotHooks(NamedTuple):
    """What the pilot of "auto" (:mod:`hbr.density.auto`) needs besides the target.

    Attributes
    ----------
    effect_information : callable
        ``effect_information(position, data) -> {group index: (s, I, b)}``: the group sds
        ``s`` (k,), the data precision ``I`` (J, k) about each sampled effect and the
        effects ``b`` (J, k) themselves.
    pilot_logdensity : callable
        ``logdensity_fn`` plus a Laplace correction for the sampled effects, whose mode (with
        the effects centred) estimates the hyperparameters.
    raw_blocks : tuple of (start, J, k)
        Where each sampled group term's raw block (J, k), row-major, sits in the position.
    groups : tuple of int
        Indices (in ``spec.groups``) of the group terms whose effects are sampled.
    """

    effect_information: Callable[[jax.Array, Any], dict[int, tuple]]
    pilot_logdensity: Callable[[jax.Array, Any], jax.Array]
    raw_blocks: tuple[tuple[int, int, int], ...]
    groups: tuple[int, ...]


class Density(NamedTuple):
    """A target with its readouts: what :func:`hbr.density.build.make_target` returns.
    Engines get ``target`` only; ``pilot`` is None once the density has been transformed
    (whitened), as its hooks describe the original coordinates."""

    target: Target
    readout: Readout
    pilot: PilotHooks | None
    parameterization: str
    sampled_effects: int
    collapsed_rows: int = 0  # rows the log density reads when repeated covariate patterns
    #                          are collapsed (hbr.design.aggregate); 0 when it reads the rows


class SamplerResult(NamedTuple):
    """Draws of the flat position and per-draw statistics.

    Attributes
    ----------
    positions : ndarray, shape (chains, draws, dim)
    stats : dict of ndarray, shape (chains, draws)
        ``diverging``, ``energy``, ``lp``, ``n_steps``, ``tree_depth``, ``acceptance_rate``,
        ``step_size``.
    timings : dict of float
        Seconds spent compiling, warming up and sampling.
    interrupted : bool
        True when Ctrl-C stopped sampling early; ``positions`` then has fewer draws.
    """

    positions: np.ndarray
    stats: dict[str, np.ndarray]
    timings: dict[str, float]
    interrupted: bool
