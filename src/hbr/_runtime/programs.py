"""Traced programs kept on disk, so a new process skips tracing as well as compiling.

JAX's persistent compilation cache (:mod:`hbr._runtime.cache`) skips XLA compilation, but every new
process still traces the Python code to find the cache key: on Minnesota radon, tracing
NumPyro's NUTS chunk alone took 1.9 s of a 7.4 s cold fit. :func:`load_or_export` stores each
program hbr compiles as a ``jax.export`` artifact (serialised StableHLO, no Python objects, no
data) under ``<cache dir>/programs``, named by a hash of the program's key (the model's
structural signature and the sampler settings), the JAX and NumPyro versions, the backend
and hbr's own source. A later process deserialises it (milliseconds) and hands the module to
XLA, whose own persistent cache then usually has the executable.

Opt out with ``HBR_NO_COMPILATION_CACHE=1`` (as for the compilation cache). A file that
cannot be read or does not fit the arguments is ignored and replaced; writes are atomic.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import jax
from jax import export

from hbr._runtime.cache import cache_dir, caching_disabled

__all__ = ["load_or_export", "program_dir"]


def program_dir() -> Path | None:
    """``<cache dir>/programs``, or None when caching is off."""
    if caching_disabled():
        return None
    # beside JAX's cache (.../hbr/jax), or inside the folder the user named
    return cache_dir() / "programs" if os.environ.get("HBR_CACHE_DIR") else (
        cache_dir().parent / "programs")


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """Versions of everything that shapes a traced program: JAX, NumPyro, hbr's source."""
    import numpyro

    h = hashlib.sha256(f"{jax.__version__}|{numpyro.__version__}".encode())
    package = Path(__file__).resolve().parents[1]  # src/hbr: every module, not this folder only
    for f in sorted(package.rglob("*.py")):
        h.update(f.relative_to(package).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _register_state_types() -> None:
    """NumPyro's sampler state is a tree of namedtuples; export needs their names."""
    from numpyro.infer.hmc import HMCState
    from numpyro.infer.hmc_util import HMCAdaptState

    for cls in (HMCState, HMCAdaptState):
        try:
            export.register_namedtuple_serialization(cls, serialized_name=f"hbr.{cls.__name__}")
        except ValueError:  # already registered in this process
            pass


def load_or_export(key: tuple, fn: Callable[..., Any], args: tuple) -> Any:
    """The ``jax.export.Exported`` program of ``jax.jit(fn)`` for ``args``: loaded from disk
    when a matching one is there, else traced and saved. Returns None when the program
    cannot be exported (it is then traced and compiled as usual)."""
    folder = program_dir()
    if folder is None:
        return None
    _register_state_types()
    digest = hashlib.sha256(
        f"{key!r}|{jax.default_backend()}|{jax.config.jax_enable_x64}|{_code_version()}"
        .encode()).hexdigest()[:32]
    path = folder / f"{digest}.jaxexport"
    avals = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jax.numpy.shape(a),
                                                                  jax.numpy.result_type(a)),
                                   args)
    if path.is_file():
        try:
            exp = export.deserialize(bytearray(path.read_bytes()))
            if (exp.in_tree == jax.tree_util.tree_structure((args, {}))
                    and [(a.shape, a.dtype) for a in exp.in_avals]
                    == [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(avals)]):
                return exp
        except Exception:  # noqa: BLE001 - a stale or foreign file is simply replaced
            pass
    try:
        exp = export.export(jax.jit(fn))(*avals)
        blob = exp.serialize()
    except Exception:  # noqa: BLE001 - not exportable: the caller compiles as usual
        if os.environ.get("HBR_DEBUG"):
            raise
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only cache: still use the program in this process
    return exp
