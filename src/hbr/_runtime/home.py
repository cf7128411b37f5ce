"""Folders other libraries write to, redirected quietly when the user's home cannot be
written.

ArviZ creates ``$XDG_CACHE_HOME/arviz`` (``~/.cache/arviz``) when it is imported, and fails
with PermissionError where it cannot (a read-only or missing HOME, ``XDG_CACHE_HOME`` a
file); matplotlib warns on every run that its config directory is not writable. hbr imports
both only when it writes outputs or draws figures, so such a fit used to run to its end and
then fail (issue 24), or warn (issue 22). :func:`redirect_unwritable_homes` points each at a
private folder in the temporary directory for this process, before they are imported.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["redirect_unwritable_homes", "writable_dir"]


def writable_dir(path: Path) -> bool:
    """Whether ``path`` is (or can be made) a directory this process can write to."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
    except OSError:
        return False


def _home() -> Path | None:
    try:
        return Path.home()
    except (KeyError, RuntimeError):  # no HOME and no passwd entry
        return None


def redirect_unwritable_homes() -> None:
    """Set ``XDG_CACHE_HOME`` (ArviZ's cache) and ``MPLCONFIGDIR`` (matplotlib's config) to
    folders under the temporary directory when theirs cannot be written; a no-op otherwise,
    and for any variable the user set to a writable folder."""
    private = Path(tempfile.gettempdir()) / f"hbr-{os.getuid() if hasattr(os, 'getuid') else 0}"
    home = _home()
    cache = os.environ.get("XDG_CACHE_HOME") or (str(home / ".cache") if home else "")
    if not cache or not writable_dir(Path(cache) / "arviz"):
        os.environ["XDG_CACHE_HOME"] = str(private / "cache")
    config = os.environ.get("MPLCONFIGDIR") or (
        str(Path(os.environ.get("XDG_CONFIG_HOME") or (home / ".config" if home else ""))
            / "matplotlib") if (os.environ.get("XDG_CONFIG_HOME") or home) else "")
    if not config or not writable_dir(Path(config)):
        os.environ["MPLCONFIGDIR"] = str(private / "matplotlib")
