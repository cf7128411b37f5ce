"""The chunk driver every iterative engine shares: start points, compiled chunks of
iterations with a progress callback between them, and Ctrl-C that keeps the finished draws."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from hbr._runtime.compile import cached
from hbr._runtime.interrupt import check as check_interrupt, keep_draws
from hbr.target import Target

__all__ = ["ProgressFn", "chunk_size", "run_chunks", "run_compiled", "start_points"]


ProgressFn = Callable[[int, int, str], None]


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
            check_interrupt()
            state, out = step(state, done // n, done < tune)
            jax.block_until_ready(state)
            done += n
            if done > tune:
                outs.append(jax.tree_util.tree_map(np.asarray, out))
                keep_draws()  # the command line: a Ctrl-C now keeps these (not exit at once)
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




def run_compiled(names: tuple[str, str], key: tuple, init: Callable[..., Any],
                 init_args: tuple, run_chunk: Callable[[Any, Any], tuple], data: Any,
                 tune: int, draws: int, n: int, progress: ProgressFn | None = None
                 ) -> tuple[list[np.ndarray], dict[str, float], bool]:
    """Compile ``init`` (on ``init_args``) and ``run_chunk(state, data)`` under the cache
    keys ``(names[0],) + key`` and ``(names[1],) + key``, then drive the chunks
    (:func:`run_chunks`). Returns the outputs, the timings with ``compile_s`` (tracing and
    compiling both programs, and the start) and ``interrupted``."""
    t0 = time.perf_counter()
    traced = []

    def init_traced(*a: Any) -> Any:
        traced.append(True)
        return init(*a)

    def chunk_traced(state: Any, d: Any) -> tuple:
        # NumPyro's sample kernel reads settings its init kernel stores when traced; when
        # the init program came from the disk cache and this one did not (a damaged or
        # evicted entry), trace init for its shapes first
        if not traced:
            jax.eval_shape(init_traced, *init_args)
        return run_chunk(state, d)

    init_c = cached((names[0],) + key, init_traced, *init_args)
    state = init_c(*init_args)
    chunk_c = cached((names[1],) + key, chunk_traced, state, data)
    t1 = time.perf_counter()
    _, cat, timings, interrupted = run_chunks(lambda st, i, warm: chunk_c(st, data), state,
                                              tune, draws, n, progress)
    return cat, {"compile_s": t1 - t0, **timings}, interrupted
