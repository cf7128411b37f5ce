"""Traced programs on disk (hbr._runtime.programs): a new process that loads them gets the same draws
as one that traced them, and a damaged or foreign file is replaced, never trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, numpy as np, hbr
data, _ = hbr.simulate(15, 6, seed=3)
fit = hbr.fit("y ~ x + (x | g)", data, seed=5, chains=2, draws=50, tune=50)
print("RESULT" + json.dumps({"sigma": fit.posterior["sigma"].values.ravel().tolist(),
                             "b": fit.posterior["1|g"].values.ravel().tolist()}))
"""


def _run(cache: Path, **env: str) -> dict:
    full = {**os.environ, "HBR_CACHE_DIR": str(cache), **env}
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         env=full, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[6:])


def test_loaded_programs_give_the_same_draws(tmp_path: Path) -> None:
    first = _run(tmp_path)
    programs = sorted((tmp_path / "programs").glob("*.jaxexport"))
    assert len(programs) >= 3  # pilot, NUTS init and chunk, constrained draws ...
    again = _run(tmp_path)
    assert again == first
    for p in programs:  # damage every file: the next process re-traces and agrees
        p.write_bytes(b"not a program")
    damaged = _run(tmp_path)
    assert damaged == first
    assert all(p.read_bytes() != b"not a program" for p in programs)
    # opting out writes nothing and changes nothing
    off = _run(tmp_path / "off", HBR_NO_COMPILATION_CACHE="1")
    assert off == first and not (tmp_path / "off").exists()
    assert np.isfinite(first["sigma"]).all()
