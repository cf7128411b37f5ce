"""What the benches share: timing a fresh process as the user would start it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

__all__ = ["timed", "bytecode"]


def bytecode(src: str | None = None) -> None:
    """Write the bytecode (``__pycache__``) of hbr's modules, from the tree ``src`` (its
    ``src/``) or the installed package, as ``pip install`` does for a user. A tree installed
    in place and run under ``PYTHONDONTWRITEBYTECODE=1`` (this machine's environment) would
    otherwise compile hbr's sources in every process: 0.1-0.2 s of each command here."""
    import compileall
    import importlib.util

    if src:
        folder = os.path.join(os.path.abspath(src), "hbr")
    else:
        spec = importlib.util.find_spec("hbr")
        folder = os.path.dirname(spec.origin) if spec and spec.origin else ""
    if folder and os.path.isdir(folder):
        compileall.compile_dir(folder, quiet=1)


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB, ``os.wait4``) and the output (stdout and stderr
    together, through a file, so a chatty child never blocks on a full pipe) of ``cmd``;
    exits with the output's tail when the process fails."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        log.seek(0)
        text = log.read()
    if status:
        sys.exit(f"{' '.join(cmd)} failed:\n{text[-3000:]}")
    return wall, ru.ru_maxrss / 1024, text
