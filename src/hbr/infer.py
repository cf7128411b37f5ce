"""Engines: pure functions over a :class:`~hbr.logdensity.Target`.

:func:`nuts` runs NumPyro's NUTS kernel (``numpyro.infer.hmc.hmc``: windowed adaptation of
the step size and a diagonal mass matrix, as Stan) on every chain at once with ``vmap``.
Iterations run in fixed-size compiled chunks (``lax.scan``), which gives a progress callback
between chunks and lets Ctrl-C stop sampling while keeping the draws finished so far. The
compiled chunk takes the data as an argument, so fitting the same shapes twice compiles once.

Engines never import ``formula`` or ``design``: they see only a Target.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.infer.hmc import hmc

from hbr._programs import load_or_export
from hbr.logdensity import Target

__all__ = ["SamplerResult", "nuts", "run_chunks", "start_points", "chunk_size", "apply_draws",
           "cached", "compiled", "compile_count", "compile_options"]

ProgressFn = Callable[[int, int, str], None]


class _CompiledCache:
    """A small LRU memo of compiled functions keyed by a target's signature and the sampler
    settings. It changes no result, only whether XLA compiles again; ``misses`` counts
    compilations (for the compile-count test)."""

    def __init__(self, size: int = 16) -> None:
        self.size, self.items, self.misses = size, OrderedDict(), 0

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        self.misses += 1
        value = build()
        self.items[key] = value
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


_COMPILED = _CompiledCache()


def compile_options() -> dict[str, Any]:
    """Options for every program hbr compiles. On CPU, XLA's multi-threaded Eigen pool can
    wedge while a large ``vmap`` result is materialised (seen here once in a test run, hung
    for 15 minutes with idle threads; also reported in PyAutoFit issues #1528/#1530, where
    this option took hangs from 14/16 runs to 0/12). It costs nothing measurable on the radon
    model. Passed per executable, so the user's other JAX programs are untouched.

    Cheaper optimisation was measured and not kept (Minnesota radon, first run with empty
    caches, 2 runs each): default 12.1 s inside ``hbr.fit``;
    ``xla_backend_optimization_level=0`` compiled 1 s faster but sampled 8x slower (17.5 s);
    ``xla_llvm_disable_expensive_passes`` made no difference (12.0 s)."""
    return {"xla_cpu_multi_thread_eigen": False} if jax.default_backend() == "cpu" else {}


def compiled(fn: Callable[..., Any], *args: Any, key: tuple | None = None) -> Any:
    """``jax.jit(fn)`` lowered for ``args`` and compiled with :func:`compile_options`. With a
    ``key`` that names the program (structure and settings, not data), the traced program
    is kept on disk (:mod:`hbr._programs`) and a later process skips tracing."""
    exp = load_or_export(key, fn, args) if key is not None else None
    f = jax.jit(exp.call) if exp is not None else jax.jit(fn)
    return f.lower(*args).compile(compiler_options=compile_options() or None)


def cached(key: tuple, fn: Callable[..., Any], *args: Any) -> Any:
    """``compiled(fn, *args, key=key)``, memoised under ``key`` in this process (see
    :class:`_CompiledCache`)."""
    return _COMPILED.get(key, lambda: compiled(fn, *args, key=key))


def compile_count() -> int:
    """How many sampler programs hbr has compiled in this process."""
    return _COMPILED.misses


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


def chunk_size(tune: int, draws: int, target: int = 100) -> int:
    """The largest divisor of both ``tune`` and ``draws`` that is at most ``target`` (one
    compiled chunk length serves warm-up and sampling)."""
    g = math.gcd(tune, draws) if tune else draws
    best = 1
    for c in range(1, min(g, target) + 1):
        if g % c == 0:
            best = c
    return best


def start_points(target: Target, key: jax.Array, chains: int) -> jax.Array:
    """One ``target.initial_point`` per chain, each from its own key split from ``key``."""
    return jnp.asarray(np.stack([target.initial_point(k) for k in
                                 np.asarray(jax.random.split(key, chains))]))


SEQUENTIAL_ROWS = 20_000


def _rows_read(data: Any) -> int:
    """How many rows the log density reads (0 on the statistics path)."""
    y = data.get("y") if isinstance(data, dict) else None
    return 0 if y is None else int(np.shape(y)[0])


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
        Chains run vectorised; ``tune`` warm-up iterations are discarded. When the log density
        reads many rows (at least ``SEQUENTIAL_ROWS``, a likelihood that cannot be reduced
        to statistics), each step runs the chains one after another instead (``lax.map``):
        the row operations are vectorised anyway, and a vectorised NUTS step lasts as long
        as the longest of the chains' trees.
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
    k_init, k_chain = jax.random.split(key)
    z0 = (start_points(target, k_init, chains) if init_positions is None
          else jnp.asarray(init_positions))

    imm = jnp.ones(target.dim) if inverse_mass_matrix is None else jnp.asarray(
        inverse_mass_matrix)

    def init_one(z: jax.Array, k: jax.Array, m: jax.Array, d: Any) -> Any:
        return init_kernel(z, tune, inverse_mass_matrix=m, target_accept_prob=target_accept,
                           max_tree_depth=max_tree_depth, model_args=(d,), rng_key=k)

    n = chunk_size(tune, draws)
    one_by_one = chains > 1 and _rows_read(data) >= SEQUENTIAL_ROWS

    def run_chunk(state: Any, d: Any) -> tuple[Any, tuple]:
        def body(s: Any, _: Any) -> tuple[Any, tuple]:
            step = lambda st: sample_kernel(st, model_args=(d,))  # noqa: E731
            s = lax.map(step, s) if one_by_one else jax.vmap(step)(s)
            return s, (s.z, s.diverging, s.energy, s.potential_energy, s.num_steps,
                       s.accept_prob, s.adapt_state.step_size)
        return lax.scan(body, state, None, length=n)

    t0 = time.perf_counter()
    keys = jax.random.split(k_chain, chains)
    key_base = (target.signature, chains, tune, n, float(target_accept), max_tree_depth,
                one_by_one)
    init_c = cached(("init",) + key_base, jax.vmap(init_one, in_axes=(0, 0, None, None)),
                    z0, keys, imm, data)
    state = init_c(z0, keys, imm, data)
    chunk_c = cached(("chunk",) + key_base, run_chunk, state, data)
    t1 = time.perf_counter()

    state, cat, timings, interrupted = run_chunks(
        lambda s, i, warm: chunk_c(s, data), state, tune, draws, n, progress)
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
    return SamplerResult(z, stats, {"compile_s": t1 - t0, **timings}, interrupted)


def run_chunks(step: Callable[[Any, int, bool], tuple[Any, tuple]], state: Any, tune: int,
               draws: int, n: int, progress: ProgressFn | None = None, stack: bool = True
               ) -> tuple[Any, list[np.ndarray], dict[str, float], bool]:
    """Drive a compiled chunk: ``state, out = step(state, i, warm)`` advances ``n``
    iterations (chunk ``i``; ``warm`` for the first ``tune``), until ``tune + draws``.

    Outputs of the kept chunks are concatenated along their first (iteration) axis and,
    with ``stack``, swapped to (chains, draws, ...). Ctrl-C stops between chunks and keeps
    what was done (``interrupted``); before any kept chunk it propagates. Returns the final
    state, the outputs, ``warmup_s``/``sampling_s`` and ``interrupted``."""
    total = tune + draws
    outs: list[tuple] = []
    done, interrupted, t1, t_warm_end = 0, False, time.perf_counter(), None
    try:
        while done < total:
            state, out = step(state, done // n, done < tune)
            jax.block_until_ready(state)
            done += n
            if done > tune:
                outs.append(jax.tree_util.tree_map(np.asarray, out))
            if done == tune:
                t_warm_end = time.perf_counter()
            if progress is not None:
                progress(done, total, "warmup" if done <= tune else "sampling")
    except KeyboardInterrupt:
        interrupted = True
        if not outs:
            raise
    t2 = time.perf_counter()
    if t_warm_end is None:
        t_warm_end = t1
    cat = [np.concatenate([o[i] for o in outs], axis=0) for i in range(len(outs[0]))]
    if stack:  # scan stacks (n, chains, ...) -> (chains, draws, ...)
        cat = [c.swapaxes(0, 1) for c in cat]
    return state, cat, {"warmup_s": t_warm_end - t1, "sampling_s": t2 - t_warm_end}, interrupted


def _apply_program(fn: Callable[..., Any], flat: np.ndarray, keys: np.ndarray, data: Any,
                   size: int, cache_key: tuple | None) -> Any:
    args = (jax.vmap(fn, in_axes=(0, 0, None)), jnp.asarray(flat[:size]),
            jnp.asarray(keys[:size]), data)
    return compiled(*args) if cache_key is None else cached(("apply", size) + cache_key, *args)


def apply_draws(fn: Callable[[jax.Array, jax.Array, Any], Any], positions: np.ndarray,
                key: jax.Array, data: Any, batch: int = 1000,
                cache_key: tuple | None = None) -> Any:
    """Apply ``fn(position, key, data)`` to every draw of ``positions`` (chains, draws, dim),
    each draw with its own key split from ``key``, in batches of ``batch`` draws. Returns the
    pytree of numpy results shaped (chains, draws, ...). With ``cache_key`` the jitted
    function is reused across calls."""
    c, d, dim = positions.shape
    total = c * d
    flat = positions.reshape(total, dim)
    keys = np.asarray(jax.random.split(key, total))
    size = min(batch, total)
    f = _apply_program(fn, flat, keys, data, size, cache_key)
    # keep one batch's output near 5e6 numbers (40 MB in float64; XLA's temporaries are a
    # few times that: with 25e6 a fit with 2 x 10^4 effects peaked at 1.70 GiB, now 1.49);
    # the program knows its output shapes, so no separate trace is needed to find them
    per_draw = max(1, sum(int(np.prod(a.shape)) for a in
                          jax.tree_util.tree_leaves(f.out_info)) // size)
    if size * per_draw > 5_000_000 and size > 1:
        size = int(max(1, 5_000_000 // per_draw))
        f = _apply_program(fn, flat, keys, data, size, cache_key)
    out = None
    for s in range(0, total, size):
        zs, ks = flat[s:s + size], keys[s:s + size]
        n = zs.shape[0]
        if n < size:  # keep one compiled shape: pad the last batch, then drop the padding
            zs = np.concatenate([zs, np.repeat(zs[-1:], size - n, axis=0)])
            ks = np.concatenate([ks, np.repeat(ks[-1:], size - n, axis=0)])
        res = f(jnp.asarray(zs), jnp.asarray(ks), data)
        if out is None:  # written batch by batch: no list of parts concatenated at the end,
            #              which held the output twice (1.2 GB for 2 x 10^4 effects)
            out = jax.tree_util.tree_map(
                lambda a: np.empty((total,) + a.shape[1:], dtype=a.dtype), res)

        def put(o: np.ndarray, a: jax.Array, s: int = s, n: int = n) -> None:
            o[s:s + n] = np.asarray(a)[:n]
        jax.tree_util.tree_map(put, out, res)
    return jax.tree_util.tree_map(lambda a: a.reshape((c, d) + a.shape[1:]), out)
