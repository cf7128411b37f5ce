"""Issue 24: the outputs of one command are written as one set, all new or all old.

A process killed while the files are being written leaves the old set byte for byte (and
temporaries that a later run removes); one killed between the renames leaves a journal that
the next write or :func:`hbr.load_fit` completes, so nobody reads a new ``posterior.nc``
beside an old ``report.html``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hbr.io import JOURNAL, finish_set, write_set

OLD = {"posterior.nc": b"old draws", "summary.csv": b"old summary", "report.html": b"old"}
NEW = {"posterior.nc": b"new draws", "summary.csv": b"new summary", "report.html": b"new"}


def _old_set(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for name, data in OLD.items():
        (folder / name).write_bytes(data)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _writers(data: dict[str, bytes]) -> dict:
    return {n: (lambda b: lambda p: p.write_bytes(b))(b) for n, b in data.items()}


def test_a_failure_while_writing_leaves_the_old_set(tmp_path: Path) -> None:
    _old_set(tmp_path)
    writers = _writers(NEW)

    def broken(p: Path) -> None:
        p.write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C, or a full disk, half way through the set
    writers["summary.csv"] = broken
    with pytest.raises(KeyboardInterrupt):
        write_set(tmp_path, writers, overwrite=True)
    assert _files(tmp_path) == OLD  # nothing new, and no temporaries


def test_a_file_written_in_the_background_joins_the_set_or_none(tmp_path: Path) -> None:
    """OutputSet.start writes on a thread while the caller writes the rest: committed, the
    set is all new; a failure on the thread is raised by commit and leaves the old set, as
    does abandoning the set part way (hbr fit --out writes posterior.nc so)."""
    import threading

    from hbr.io import OutputSet

    _old_set(tmp_path)
    names = ("posterior.nc", "summary.csv")
    release = threading.Event()

    def slow(p: Path) -> None:
        release.wait(5)
        p.write_bytes(NEW["posterior.nc"])
    out = OutputSet(tmp_path, names, overwrite=True)
    out.start("posterior.nc", slow)
    out.write("summary.csv", _writers(NEW)["summary.csv"])
    assert _files(tmp_path).keys() - OLD.keys()  # temporaries only, the old set untouched
    release.set()
    out.commit()
    assert _files(tmp_path) == {**OLD, **{n: NEW[n] for n in names}}

    _old_set(tmp_path)

    def full_disk(p: Path) -> None:
        p.write_bytes(b"half")
        raise OSError(28, "No space left on device")
    out = OutputSet(tmp_path, names, overwrite=True)
    out.start("posterior.nc", full_disk)
    out.write("summary.csv", _writers(NEW)["summary.csv"])
    with pytest.raises(OSError, match="No space"):
        out.commit()
    assert _files(tmp_path) == OLD

    out = OutputSet(tmp_path, names, overwrite=True)
    out.start("posterior.nc", _writers(NEW)["posterior.nc"])
    out.abandon()  # the summary failed, or Ctrl-C: nothing changes
    assert _files(tmp_path) == OLD


def test_an_existing_set_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    _old_set(tmp_path)
    with pytest.raises(Exception, match="exists already"):
        write_set(tmp_path, _writers(NEW))
    assert _files(tmp_path) == OLD
    write_set(tmp_path, _writers({k: NEW[k] for k in ("posterior.nc", "summary.csv")}),
              overwrite=True, outdated=("report.html",))
    # the report of the replaced fit goes with it: it would describe other draws
    assert _files(tmp_path) == {k: NEW[k] for k in ("posterior.nc", "summary.csv")}


def _writer_process(folder: Path, stall_on: str) -> subprocess.Popen:
    """A process writing NEW into ``folder`` that stalls in writing ``stall_on``, or (for
    "rename") is killed by os._exit after the first of the renames."""
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        import hbr.io as io
        new = {NEW!r}
        stall_on = {stall_on!r}
        if stall_on == "rename":
            real, calls = os.replace, []
            def replace(a, b):
                if Path(b).name != io.JOURNAL and Path(b).name != "posterior.nc":
                    os._exit(9)  # killed between the renames: posterior.nc is new
                real(a, b)
            io.os.replace = replace
        def writer(name):
            def write(p):
                p.write_bytes(new[name])
                if name == stall_on:
                    print("stalled", flush=True)
                    time.sleep(60)
            return write
        io.write_set(Path({str(folder)!r}), {{n: writer(n) for n in new}}, overwrite=True)
    """)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def test_sigkill_while_writing_leaves_the_old_set(tmp_path: Path) -> None:
    """The test issue 22 asks for: SIGKILL during the write, the old output intact; the
    next run removes the temporaries the killed one left (once they are stale)."""
    _old_set(tmp_path)
    p = _writer_process(tmp_path, "summary.csv")
    assert p.stdout.readline().strip() == "stalled"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    left = _files(tmp_path)
    assert {n: left[n] for n in OLD} == OLD
    debris = sorted(n for n in left if n not in OLD)
    assert len(debris) == 2 and all(n.endswith(".tmp") for n in debris), debris
    for n in debris:  # as if ten minutes had passed
        os.utime(tmp_path / n, (time.time() - 3600,) * 2)
    write_set(tmp_path, _writers(NEW), overwrite=True)
    assert _files(tmp_path) == NEW


def test_a_kill_between_the_renames_is_completed_by_the_next_reader(tmp_path: Path) -> None:
    _old_set(tmp_path)
    p = _writer_process(tmp_path, "rename")
    assert p.wait(timeout=60) == 9
    left = _files(tmp_path)
    assert left["posterior.nc"] == NEW["posterior.nc"] and JOURNAL in left  # mixed, for now
    assert left["summary.csv"] == OLD["summary.csv"]
    assert finish_set(tmp_path)
    assert _files(tmp_path) == NEW  # all new, journal and temporaries gone
    assert not finish_set(tmp_path)


def test_load_fit_completes_a_set_before_reading(tmp_path: Path) -> None:
    """A half-committed set is completed by hbr.load_fit (hbr report, hbr predict), which
    then reads the new posterior.nc, not a mix."""
    import hbr

    _old_set(tmp_path)
    p = _writer_process(tmp_path, "rename")
    assert p.wait(timeout=60) == 9
    with pytest.raises(hbr.DataError, match="not an ArviZ netCDF"):  # our bytes are no fit
        hbr.load_fit(tmp_path)
    assert _files(tmp_path) == NEW


def test_too_little_free_space_is_refused_before_compiling(tmp_path: Path, monkeypatch) -> None:
    """Issue 22: an --out whose disk cannot hold the estimated outputs is refused with exit
    2 once the model is built, before anything is compiled or sampled, and nothing is
    written."""
    import shutil
    from collections import namedtuple

    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    from hbr.cli.console import app

    rng = np.random.default_rng(0)
    g = rng.integers(0, 10, 200)
    pd.DataFrame({"y": rng.normal(size=200) + g, "g": g}).to_csv(tmp_path / "d.csv",
                                                                 index=False)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 ** 9, 10 ** 9 - 50_000,
                                                              50_000))
    t = time.perf_counter()
    res = CliRunner().invoke(app, ["fit", str(tmp_path / "d.csv"), "y ~ 1 + (1 | g)",
                                   "--out", str(tmp_path / "fit"), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "need about" in res.output and "48.8 KiB is free" in res.output
    assert "nothing was fitted" in res.output and "time:" not in res.output
    assert not (tmp_path / "fit").exists()
    assert time.perf_counter() - t < 20  # no compiling (that alone takes longer)


def test_the_size_estimate_is_the_size_written(tmp_path: Path) -> None:
    """api.written_bytes against the file a fit writes: within 25%, with and without the
    pointwise log likelihood."""
    import hbr
    from hbr.api import written_bytes
    from hbr.options import FitOptions

    data, _ = hbr.simulate(40, 12, seed=2)
    for ll in (True, False):
        fit = hbr.fit("y ~ x + (x | g)", data, seed=1, chains=2, draws=300, tune=200,
                      log_likelihood=ll)
        size = fit.to_netcdf(tmp_path / f"f{ll}.nc").stat().st_size
        est = written_bytes(fit.spec, FitOptions.of(chains=2, draws=300), ll)
        assert 0.75 < est / size < 1.25, (ll, est, size)
