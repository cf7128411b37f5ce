"""Traced programs kept on disk, so a new process skips tracing as well as compiling.

JAX's persistent compilation cache (:mod:`hbr._runtime.cache`) skips XLA compilation, but every new
process still traces the Python code to find the cache key: on Minnesota radon, tracing
NumPyro's NUTS chunk alone took 1.9 s of a 7.4 s cold fit. :func:`load_or_export` stores each
program hbr compiles as a ``jax.export`` artifact (serialised StableHLO, no Python objects, no
data) under ``<cache dir>/programs``, named by a hash of the program's key (the model's
structural signature and the sampler settings), the JAX and NumPyro versions, the backend
and hbr's own source. A later process deserialises it (milliseconds) and hands the module to
XLA, whose own persistent cache then usually has the executable.

Opt out with ``HBR_NO_COMPILATION_CACHE=1`` (as for the compilation cache). The cache heals
itself: each file carries a SHA-256 checksum of its program, and a file that cannot be read,
fails its checksum, does not deserialise, does not fit the arguments or (in
:func:`hbr._runtime.compile.compiled`) does not compile is a cache miss, removed and written
again. Writes are atomic; temporaries a killed process left are removed (:func:`discard`,
:func:`hbr.io.remove_stale_temporaries`).
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

__all__ = ["load_or_export", "program_dir", "discard"]

_MAGIC = b"hbr-program-1\n"  # then the 32-byte SHA-256 of the serialised program, then it


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
    from numpyro.infer.util import ParamInfo

    for cls in (HMCState, HMCAdaptState, ParamInfo):
        try:
            export.register_namedtuple_serialization(cls, serialized_name=f"hbr.{cls.__name__}")
        except ValueError:  # already registered in this process
            pass


def _path(key: tuple) -> Path | None:
    folder = program_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(
        f"{key!r}|{jax.default_backend()}|{jax.config.jax_enable_x64}|{_code_version()}"
        .encode()).hexdigest()[:32]
    return folder / f"{digest}.jaxexport"


def discard(key: tuple) -> None:
    """Remove the stored program of ``key`` (it failed to compile: damaged)."""
    path = _path(key)
    try:
        if path is not None:
            path.unlink()
    except OSError:
        pass


@functools.lru_cache(maxsize=1)
def _tidy(folder: Path) -> None:
    """Once per process: remove the temporaries that killed writers left in ``folder``."""
    from hbr.io import remove_stale_temporaries

    remove_stale_temporaries(folder, "*.tmp")


def _read(path: Path) -> Any:
    """The Exported program in ``path``, or None (missing, damaged, foreign: then removed)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    blob = raw[len(_MAGIC) + 32:]
    try:
        if (not raw.startswith(_MAGIC)
                or hashlib.sha256(blob).digest() != raw[len(_MAGIC):len(_MAGIC) + 32]):
            raise ValueError("checksum")
        return export.deserialize(bytearray(blob))
    except Exception:  # noqa: BLE001 - damaged or foreign: a cache miss, written again
        try:
            path.unlink()
        except OSError:
            pass
        return None


def load_or_export(key: tuple, fn: Callable[..., Any], args: tuple) -> Any:
    """The ``jax.export.Exported`` program of ``jax.jit(fn)`` for ``args``: loaded from disk
    when a matching, intact one is there, else traced and saved. Returns None when the
    program cannot be exported (it is then traced and compiled as usual)."""
    path = _path(key)
    if path is None:
        return None
    folder = path.parent
    _register_state_types()
    try:
        if folder.is_dir():
            _tidy(folder)
        stored = path.is_file()
    except OSError:  # a cache folder this process may not read: compile as usual
        return None
    avals = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jax.numpy.shape(a),
                                                                  jax.numpy.result_type(a)),
                                   args)
    exp = _read(path) if stored else None
    if exp is not None and (exp.in_tree == jax.tree_util.tree_structure((args, {}))
                            and [(a.shape, a.dtype) for a in exp.in_avals]
                            == [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(avals)]):
        return exp
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
            fh.write(_MAGIC + hashlib.sha256(blob).digest() + blob)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only cache: still use the program in this process
    return exp
