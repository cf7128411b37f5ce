"""What the benches share: timing a fresh process as the user would start it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

__all__ = ["timed"]


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
