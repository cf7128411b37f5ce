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
    # issue 24: a cache directory that cannot be made (a file in the way; root ignores
    # permissions, so this stands for one the user may not open) is no cache, not an error
    (tmp_path / "a-file").write_text("in the way")
    assert _run(tmp_path / "a-file" / "cache") == first
    assert np.isfinite(first["sigma"]).all()


def _flip(p: Path) -> None:
    """Invert 64 bytes in the middle of ``p``: a file that still looks like a program."""
    b = bytearray(p.read_bytes())
    mid = len(b) // 2
    b[mid:mid + 64] = bytes(x ^ 0xFF for x in b[mid:mid + 64])
    p.write_bytes(bytes(b))


def _intact(raw: bytes) -> bool:
    """Whether ``raw`` is a program file whose checksum matches (hbr._runtime.programs)."""
    import hashlib

    magic = b"hbr-program-1\n"
    return raw.startswith(magic) and hashlib.sha256(raw[len(magic) + 32:]).digest() == raw[
        len(magic):len(magic) + 32]


def test_one_damaged_entry_is_a_cache_miss(tmp_path: Path) -> None:
    """Issue 22: one damaged program (the largest, the NUTS chunk, whose init still loads)
    or one damaged XLA entry: the fit succeeds, twice, with the draws of an intact cache,
    and the program is written again, intact. Temporaries a killed writer left (older than
    10 minutes) are removed; a fresh one, maybe another process's, stays."""
    first = _run(tmp_path)
    programs = sorted((tmp_path / "programs").glob("*.jaxexport"),
                      key=lambda p: p.stat().st_size)
    good = {p: p.read_bytes() for p in programs}
    stale, fresh = tmp_path / "programs" / "old.tmp", tmp_path / "programs" / "new.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (0, 0))
    for p in (programs[-1], programs[0]):
        _flip(p)
        damaged = p.read_bytes()
        assert _run(tmp_path) == first
        assert _run(tmp_path) == first
        raw = p.read_bytes()  # written again, intact (not byte-equal: export embeds ids)
        assert raw != damaged and _intact(raw) and _intact(good[p])
    assert not stale.exists() and fresh.exists()
    xla = max((q for q in tmp_path.iterdir() if q.name.endswith("-cache")),
              key=lambda q: q.stat().st_size)
    _flip(xla)
    assert _run(tmp_path) == first
    assert _run(tmp_path) == first


EAGER_CHILD = r"""
import jax._src.compiler as jc, jax._src.interpreters.pxla as px
names = []
orig = jc.compile_or_get_cached
def counted(backend, computation, *a, **k):
    names.append(str(computation.operation.attributes["sym_name"]).strip('"'))
    return orig(backend, computation, *a, **k)
jc.compile_or_get_cached = px.compiler.compile_or_get_cached = counted
import hbr
data, _ = hbr.simulate(15, 6, seed=3)
fit = hbr.fit("y ~ x + (x | g)", data, seed=5, chains=2, draws=50, tune=50)
print("NAMES " + " ".join(names))
"""


def test_a_warm_fit_loads_its_programs_and_almost_nothing_else(tmp_path: Path) -> None:
    """Issue 17: in a fresh process every eager JAX operation is traced, lowered and loaded
    from the compilation cache (5-15 ms each). With a warm cache a fit loads its own
    programs (``jit_call``: the pilot, the chains' start and chunk, the readout) and, of
    eager operations, only the start point's inverse transform of a positive parameter
    (``jit_stage``, ``jit_log``): the keys are derived in NumPy (hbr._runtime.keys) and
    the programs' example arguments are NumPy arrays."""
    env = {**os.environ, "HBR_CACHE_DIR": str(tmp_path)}

    def names() -> list[str]:
        res = subprocess.run([sys.executable, "-c", EAGER_CHILD], capture_output=True,
                             text=True, env=env, timeout=600, check=False)
        assert res.returncode == 0, res.stderr[-3000:]
        return next(ln for ln in res.stdout.splitlines() if ln.startswith("NAMES")).split()[1:]

    cold = names()  # traces and compiles (the same programs, from a cold cache)
    warm = names()
    assert cold.count("jit_call") == warm.count("jit_call")
    programs = [n for n in warm if n == "jit_call"]
    assert len(programs) >= 4, warm
    assert set(warm) - {"jit_call"} <= {"jit_stage", "jit_log"}, warm
    assert len(warm) - len(programs) <= 2, warm
