"""NUTS: a pure function over a :class:`~hbr.target.Target`.

:func:`nuts` runs NumPyro's NUTS kernel (``numpyro.infer.hmc.hmc``: windowed adaptation of
the step size and a diagonal mass matrix, as Stan) on every chain at once with ``vmap``.
Iterations run in fixed-size compiled chunks (``lax.scan``), which gives a progress callback
between chunks and lets Ctrl-C stop sampling while keeping the draws finished so far. The
compiled chunk takes the data as an argument, so fitting the same shapes twice compiles once.

Engines never import ``formula`` or ``design``: they see only a Target.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax import lax
from numpyro.infer.hmc import hmc
from numpyro.infer.util import ParamInfo

from hbr._runtime.keys import split
from hbr.inference.driver import (ProgressFn, chains_apart, chunk_size, run_chains,
                                  start_points)
from hbr.target import SamplerResult, Target

__all__ = ["nuts", "SEQUENTIAL_ROWS"]


SEQUENTIAL_ROWS = 20_000


def _rows_read(data: Any) -> int:
    """How many rows the log density reads (0 on the statistics path)."""
    y = data.get("y") if isinstance(data, dict) else None
    return 0 if y is None else int(np.shape(y)[0])


def _start_values(target: Target, z0: jax.Array) -> Any:
    """The chains' start: their positions, or with ``target.value_and_grad`` (the pilot's
    compiled program) NumPyro's ``ParamInfo`` of positions, potentials and gradients, so
    that the init program holds no log density (Minnesota radon: 0.6 s to compile instead of
    2.5 s)."""
    if target.value_and_grad is None:
        return z0
    f, g = target.value_and_grad(np.asarray(z0))
    return ParamInfo(np.asarray(z0), -f, -g)  # NumPy: no eager JAX op to compile


def nuts(target: Target, key: jax.Array, *, chains: int = 4, draws: int = 1000,
         tune: int = 1000, target_accept: float = 0.8, max_tree_depth: int = 10,
         progress: ProgressFn | None = None,
         inverse_mass_matrix: np.ndarray | None = None,
         init_positions: np.ndarray | None = None) -> SamplerResult:
    """Sample ``target`` with the No-U-Turn Sampler.

    Parameters
    ----------
    target : Target
    key : jax PRNG key (``jax.random.PRNGKey``)
        All randomness (start points, momenta) derives from it.
    chains, draws, tune : int
        On the CPU each chain runs its own compiled program, the chains side by side on
        threads (:func:`~hbr.inference.driver.chains_apart`); on an accelerator they run
        vectorised, and when the log density reads many rows (at least
        ``SEQUENTIAL_ROWS``, a likelihood that cannot be reduced to statistics) each step
        runs them one after another instead (``lax.map``): the row operations are
        vectorised anyway, and a vectorised NUTS step lasts as long as the longest of the
        chains' trees. ``tune`` warm-up iterations are discarded.
    target_accept : float
        Target mean acceptance probability of step-size adaptation.
    max_tree_depth : int
        At most ``2**max_tree_depth - 1`` leapfrog steps per iteration.
    progress : callable, optional
        ``progress(done, total, phase)`` after each chunk, ``phase`` "warmup" or "sampling".
    inverse_mass_matrix : (dim,) array, optional
        Starting diagonal inverse mass matrix (posterior variances); adaptation refines it.
        Default ones.
    init_positions : (chains, dim) array, optional
        Start points; default ``target.initial_point`` of a key per chain.
    """
    data = target.data
    init_kernel, sample_kernel = hmc(
        potential_fn_gen=lambda d: (lambda z: -target.logdensity_fn(z, d)), algo="NUTS")
    k_init, k_chain = split(key)
    z0 = (start_points(target, k_init, chains) if init_positions is None
          else np.asarray(init_positions))

    imm = np.ones(target.dim) if inverse_mass_matrix is None else np.asarray(
        inverse_mass_matrix, dtype=np.float64)

    def init_one(z: Any, k: jax.Array, m: jax.Array, d: Any) -> Any:
        return init_kernel(z, tune, inverse_mass_matrix=m, target_accept_prob=target_accept,
                           max_tree_depth=max_tree_depth, model_args=(d,), rng_key=k)

    start = _start_values(target, z0)
    n = chunk_size(tune, draws)
    apart = chains_apart()
    one_by_one = not apart and chains > 1 and _rows_read(data) >= SEQUENTIAL_ROWS

    def run_chunk(state: Any, d: Any) -> tuple[Any, tuple]:
        def body(s: Any, _: Any) -> tuple[Any, tuple]:
            step = lambda st: sample_kernel(st, model_args=(d,))  # noqa: E731
            s = step(s) if apart else lax.map(step, s) if one_by_one else jax.vmap(step)(s)
            return s, (s.z, s.diverging, s.energy, s.potential_energy, s.num_steps,
                       s.accept_prob, s.adapt_state.step_size)
        return lax.scan(body, state, None, length=n)

    key_base = (target.signature, chains, tune, n, float(target_accept), max_tree_depth,
                one_by_one)
    names = ("init-values" if start is not z0 else "init", "chunk")
    cat, timings, interrupted = run_chains(names, key_base, init_one,
                                           (start, split(k_chain, chains)),
                                           (imm, data), run_chunk, data, tune, draws, n,
                                           progress)
    z, div, energy, pe, steps, acc, eps = cat
    stats = {
        "diverging": div.astype(bool),
        "energy": energy,
        "lp": -pe,
        "n_steps": steps.astype(np.int64),
        "tree_depth": np.floor(np.log2(np.maximum(steps, 1))).astype(np.int64) + 1,
        "acceptance_rate": acc,
        "step_size": eps,
    }
    return SamplerResult(z, stats, timings, interrupted)


