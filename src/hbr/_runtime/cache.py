"""JAX's persistent compilation cache, in the user's cache directory.

Compilation is most of a cold run's wait (about 3 of 9 s on Minnesota radon), so
:func:`hbr.fit` turns on JAX's on-disk cache before compiling: the next process that fits a
model of the same structure and shapes loads the compiled program instead of compiling it.
Only compiled XLA programs are stored (keyed by JAX on the program and the machine), never data.

Location: ``$HBR_CACHE_DIR``, else ``$XDG_CACHE_HOME/hbr/jax``, else ``~/.cache/hbr/jax``;
the traced programs of :mod:`hbr._runtime.programs` sit beside it (``.../hbr/programs``, or
``$HBR_CACHE_DIR/programs``).
Opt out with ``HBR_NO_COMPILATION_CACHE=1``. If the user has configured a JAX cache directory
already, hbr leaves it alone. This changes JAX configuration for the process, at fit time and
never at import.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "caching_disabled", "enable_compilation_cache"]


def caching_disabled() -> bool:
    """True when the user opted out with ``HBR_NO_COMPILATION_CACHE`` (any value but 0)."""
    return os.environ.get("HBR_NO_COMPILATION_CACHE", "") not in ("", "0")


def cache_dir() -> Path:
    """Where hbr keeps JAX's compilation cache."""
    if os.environ.get("HBR_CACHE_DIR"):
        return Path(os.environ["HBR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hbr" / "jax"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent cache at :func:`cache_dir` unless opted out or already set;
    returns the directory in use, or None."""
    import jax

    if caching_disabled():
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # read-only home: compile every time rather than fail
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
