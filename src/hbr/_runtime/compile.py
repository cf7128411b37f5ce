"""Compiled programs: one way to compile, one in-process memo, one loop over draws.

:func:`compiled` lowers and compiles a jitted function with hbr's XLA options and, given a
key, keeps the traced program on disk (:mod:`hbr._runtime.programs`); :func:`cached` memoises
it in this process under that key (a target's structure and the sampler settings, never
data values), so fitting the same shapes twice compiles once; :func:`apply_draws` maps a
function over every posterior draw in fixed-size batches.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import jax
import numpy as np

from hbr._runtime.keys import split
from hbr._runtime.programs import discard, load_or_export

__all__ = ["apply_draws", "cached", "compiled", "compile_count", "compile_options", "cpu_workers",
           "SERIAL_K"]


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


# Programs that run a handful of times per fit (the pilot's Newton steps, a chain's start,
# the readout over the draws), named by their key's first entry: compiled with XLA's
# classic CPU emitters (see compile_options)
ONCE = frozenset({"laplace-vg", "init", "init-values", "gibbs-init", "rwm-init", "apply",
                  "pilot-info", "pilot-hvp", "logdensity-rows"})


def compile_options(once: bool = False) -> dict[str, Any]:
    """Options for every program hbr compiles. On CPU, XLA's multi-threaded Eigen pool can
    wedge while a large ``vmap`` result is materialised (seen here once in a test run, hung
    for 15 minutes with idle threads; also reported in PyAutoFit issues #1528/#1530, where
    this option took hangs from 14/16 runs to 0/12). It costs nothing measurable on the radon
    model. Passed per executable, so the user's other JAX programs are untouched.

    ``once``: a program that runs a handful of times per fit (:data:`ONCE`) is compiled
    with XLA's classic elemental emitters (``xla_cpu_use_fusion_emitters=False``), which
    compile in about 70% of the time of the default fusion emitters; the program runs
    about 25% slower, which only the sampler's chunk, run for every iteration, would feel.
    Minnesota radon ``(floor | county)``, no caches, two runs each (jax 0.10.2): the pilot's
    program 2.3 -> 2.0 s, the start 0.32 -> 0.22 s, the readout 1.1 -> 0.8 s; the NUTS
    chunk 3.0 -> 2.2 s to compile but warm-up and sampling 1.05 -> 1.3 s, so it keeps the
    default.

    Cheaper optimisation was measured and not kept (Minnesota radon, first run with empty
    caches, 2 runs each): default 12.1 s inside ``hbr.fit``;
    ``xla_backend_optimization_level=0`` compiled 1 s faster but sampled 8x slower (17.5 s);
    ``xla_llvm_disable_expensive_passes`` made no difference (12.0 s)."""
    if jax.default_backend() != "cpu":
        return {}
    return {"xla_cpu_multi_thread_eigen": False,
            **({"xla_cpu_use_fusion_emitters": False} if once else {})}


def compiled(fn: Callable[..., Any], *args: Any, key: tuple | None = None) -> Any:
    """``jax.jit(fn)`` lowered for ``args`` and compiled with :func:`compile_options` (for
    the program ``key`` names). With a ``key`` that names the program (structure and
    settings, not data), the traced program is kept on disk (:mod:`hbr._runtime.programs`)
    and a later process skips tracing."""
    opts = compile_options(key is not None and key[0] in ONCE) or None
    exp = load_or_export(key, fn, args) if key is not None else None
    if exp is not None:
        try:
            return jax.jit(exp.call).lower(*args).compile(compiler_options=opts)
        except Exception:  # noqa: BLE001 - a damaged program that passed its checks: a miss
            discard(key)
            exp = load_or_export(key, fn, args)  # traced again and stored afresh
    f = jax.jit(exp.call) if exp is not None else jax.jit(fn)
    return f.lower(*args).compile(compiler_options=opts)


def cached(key: tuple, fn: Callable[..., Any], *args: Any) -> Any:
    """``compiled(fn, *args, key=key)``, memoised under ``key`` in this process (see
    :class:`_CompiledCache`)."""
    return _COMPILED.get(key, lambda: compiled(fn, *args, key=key))


def compile_count() -> int:
    """How many sampler programs hbr has compiled in this process."""
    return _COMPILED.misses


def _apply_program(fn: Callable[..., Any], flat: np.ndarray, keys: np.ndarray, data: Any,
                   size: int, cache_key: tuple | None) -> Any:
    pad = lambda a: np.concatenate([a[:size], np.repeat(a[:1], size - min(size, len(a)),  # noqa: E731
                                                        axis=0)])
    # NumPy arguments: only their shapes are read (an eager jnp.asarray is a program)
    args = (jax.vmap(fn, in_axes=(0, 0, None)), pad(flat), pad(keys), data)
    return compiled(*args) if cache_key is None else cached(("apply", size) + cache_key, *args)


def apply_draws(fn: Callable[[jax.Array, jax.Array, Any], Any], positions: np.ndarray,
                key: jax.Array, data: Any, batch: int = 1000,
                cache_key: tuple | None = None, serial: bool = False,
                summed: bool = False) -> Any:
    """Apply ``fn(position, key, data)`` to every draw of ``positions`` (chains, draws, dim),
    each draw with its own key split from ``key``, in batches. Returns the pytree of numpy
    results shaped (chains, draws, ...). With ``cache_key`` the jitted function is reused
    across calls.

    The batch size depends on the function's output per draw, never on how many draws there
    are: ``batch`` draws, fewer when that would exceed about 5e6 output numbers (40 MB in
    float64; XLA's temporaries are a few times that: with 25e6 a fit with 2 x 10^4 effects
    peaked at 1.70 GiB, with 5e6 1.49). So a single point (a mode for the report) runs the
    fit's own compiled program, padded, instead of compiling one of its own.

    ``serial``: the batches one after another, for programs that XLA's CPU runtime can
    deadlock when two run at once (:data:`SERIAL_K`).

    ``summed``: ``fn`` returns a pair ``(kept, added)``; ``kept`` comes back per draw as
    above, ``added`` summed over each chain's draws, shaped (chains, ...), so that per-draw
    quantities that would not fit in memory (every group effect's conditional moments) are
    reduced batch by batch."""
    c, d, dim = positions.shape
    total = c * d
    flat = positions.reshape(total, dim)
    keys = np.asarray(split(key, total))
    size = batch
    f = _apply_program(fn, flat, keys, data, size, cache_key)
    # the program knows its output shapes, so no separate trace is needed to find them
    per_draw = max(1, sum(int(np.prod(a.shape)) for a in
                          jax.tree_util.tree_leaves(f.out_info)) // size)
    if size * per_draw > 5_000_000:
        size = int(max(1, 5_000_000 // per_draw))
        f = _apply_program(fn, flat, keys, data, size, cache_key)
    # the output, allocated from the program's shapes and written batch by batch: no list
    # of parts concatenated at the end, which held it twice (1.2 GB for 2 x 10^4 effects)
    kept_info, added_info = f.out_info if summed else (f.out_info, ())
    out = jax.tree_util.tree_map(
        lambda a: np.empty((total,) + tuple(a.shape[1:]), dtype=a.dtype), kept_info)
    sums = jax.tree_util.tree_map(lambda a: np.zeros((c,) + tuple(a.shape[1:]), a.dtype),
                                  added_info)
    lock = threading.Lock()
    x64 = bool(jax.config.read("jax_enable_x64"))  # thread-local: the workers follow ours

    def run(s: int) -> None:
        zs, ks = flat[s:s + size], keys[s:s + size]
        n = zs.shape[0]
        if n < size:  # keep one compiled shape: pad the last batch, then drop the padding
            zs = np.concatenate([zs, np.repeat(zs[-1:], size - n, axis=0)])
            ks = np.concatenate([ks, np.repeat(ks[-1:], size - n, axis=0)])
        with jax.enable_x64(x64):
            res = f(zs, ks, data)  # NumPy in: jnp.asarray would be an eager program

        def put(o: np.ndarray, a: jax.Array) -> None:
            o[s:s + n] = np.asarray(a)[:n]

        def add(o: np.ndarray, a: jax.Array) -> None:  # the batch's draws, chain by chain
            a = np.asarray(a)
            for ch in range(s // d, (s + n - 1) // d + 1):
                lo, hi = max(s, ch * d) - s, min(s + n, (ch + 1) * d) - s
                part = a[lo:hi].sum(axis=0)
                with lock:
                    o[ch] += part
        jax.tree_util.tree_map(put, out, res[0] if summed else res)
        if summed:
            jax.tree_util.tree_map(add, sums, res[1])

    starts = range(0, total, size)
    # batches side by side on the cores (each program runs on one; disjoint output slices):
    # 10^5 one-row groups' effects, 4000 draws, in 9 s instead of 15
    with ThreadPoolExecutor(1 if serial else cpu_workers(len(starts))) as pool:
        list(pool.map(run, starts))
    kept = jax.tree_util.tree_map(lambda a: a.reshape((c, d) + a.shape[1:]), out)
    return (kept, sums) if summed else kept


# A batched triangular solve of 7 x 7 or larger (jax.scipy.linalg.solve_triangular under
# vmap, as the exact draw of a group term with 7+ coefficients does: a smooth s(x) has 8)
# hangs XLA's CPU runtime (jax 0.10.2) when two such programs run at once on two threads:
# every thread idle, for ever; 6 x 6 and smaller do not (1000 x 8 batches, 6 runs each).
# Such readouts run their batches serially.
SERIAL_K = 7


def cpu_workers(n: int) -> int:
    """Threads for ``n`` independent compiled runs: the cores this process may use, at
    most ``n`` (XLA runs each of hbr's programs on one core: ``compile_options``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(n, cores))
