"""The command line: help, a real fit writing files, and bad input without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hbr.cli.console import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_is_complete() -> None:
    res = invoke("--help")
    assert res.exit_code == 0 and "fit" in res.output and "datasets" in res.output
    res = invoke("fit", "--help")
    for option in ["--example", "--out", "--chains", "--draws", "--tune", "--seed", "--prior",
                   "--parameterization", "--target-accept", "--dropna", "--force",
                   "--method", "--init", "--thin", "--vi-steps", "--family", "--link",
                   "--sigma"]:
        assert option in res.output, option


def test_fit_example_writes_outputs_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "radon-fit"
    cmd = [sys.executable, "-m", "hbr", "fit", "--example", "radon", "--out", str(out),
           "--draws", "200", "--tune", "300", "--seed", "3", "--prior", "sigma=HalfNormal(1)"]
    env = {**os.environ, "COLUMNS": "150"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "floor|county_sigma" in res.stdout and "county_corr[floor, 1]" in res.stdout
    assert "divergences, max R-hat" in res.stdout  # the one-line verdict
    assert "sampling" in res.stderr  # the progress bar
    assert (out / "posterior.nc").exists() and (out / "summary.csv").exists()
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    assert len(summary) == 6 + 170
    import arviz as az

    idata = az.from_netcdf(out / "posterior.nc")
    assert idata.posterior.attrs["priors"].count("HalfNormal(sigma=1)") == 1
    stamp = (out / "posterior.nc").stat().st_mtime_ns
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 2 and "exists already" in res.stderr and "--force" in res.stderr
    assert "Traceback" not in res.stderr
    assert (out / "posterior.nc").stat().st_mtime_ns == stamp


@pytest.fixture()
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "d.csv"
    pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "x": [0, 1, 0, 1, 0, 1],
                  "g": list("aabbcc")}).to_csv(p, index=False)
    return p


@pytest.mark.parametrize("args, message", [
    (["{csv}", "y ~ xx + (1 | g)"], "unknown column 'xx'"),
    (["{csv}", "y ~ x +"], "ends where a term was expected"),
    (["{dir}/missing.csv", "y ~ x"], "no such file"),
    (["{csv}", "y ~ x", "--prior", "sigma"], "is not NAME=PRIOR"),
    (["{csv}", "y ~ x", "--prior", "sigm=HalfNormal(1)"], "no parameter named 'sigm'"),
    (["{csv}", "y ~ x", "--chains", "0"], "chains must be an integer >= 1"),
    (["{csv}", "y ~ x", "-p", "sideways"], "parameterization='sideways'"),
    (["{csv}", "y ~ x", "--method", "gibbs"], "method='gibbs' is not available"),
    (["--example", "nope"], "no example named 'nope'"),
    (["{csv}"], "needs a data file and a formula"),
    (["{csv}", "y ~ x", "--effect-draws", "some"], "effect_draws='some' is not available"),
])
def test_bad_input_exits_2_without_traceback(args: list[str], message: str, csv: Path) -> None:
    args = [a.format(csv=csv, dir=csv.parent) for a in args]
    res = invoke("fit", *args, "--no-progress")
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_formula_error_shows_caret(csv: Path) -> None:
    res = invoke("fit", str(csv), "y ~ x + (1 | g", "--no-progress")
    lines = res.output.splitlines()
    i = next(i for i, line in enumerate(lines) if line.strip() == "y ~ x + (1 | g")
    assert lines[i + 1].strip() == "^" and lines[i + 1].index("^") == lines[i].index("(")


def test_datasets_lists_radon() -> None:
    res = invoke("datasets")
    assert res.exit_code == 0 and "radon" in res.output


def test_fit_auto_reports_the_centred_fractions(csv: Path) -> None:
    res = invoke("fit", str(csv), "y ~ x + (1 | g)", "-p", "auto", "--draws", "100",
                 "--tune", "100", "--chains", "2", "--seed", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "(auto, seed 1)" in res.output
    assert "centred fraction of 1|g: median" in res.output and "over 3 levels" in res.output


def test_fit_with_advi_prints_the_elbo_and_the_approximation_verdict(csv: Path) -> None:
    res = invoke("fit", str(csv), "y ~ x + (1 | g)", "--method", "advi", "--vi-steps", "500",
                 "--draws", "100", "--seed", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "(marginal, advi, seed 1)" in res.output and "ELBO: " in res.output
    assert "(advi, an approximation): Pareto k" in res.output


def test_fit_with_a_family_and_a_sigma_formula(tmp_path: Path) -> None:
    d = pd.DataFrame({"k": [0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1], "x": range(12),
                      "g": list("aaabbbcccddd"), "y": [0.1, 0.5, 0.2, 1.5, 1.9, 2.2, 0.3, 0.9,
                                                       0.4, 2.0, 1.1, 1.4]})
    csv = tmp_path / "d.csv"
    d.to_csv(csv, index=False)
    res = invoke("fit", str(csv), "k ~ 1 + (1 | g)", "--family", "bernoulli", "--link",
                 "probit", "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "1",
                 "--no-progress")
    assert res.exit_code == 0, res.output
    assert "(auto, seed 1)" in res.output and "1|g_sigma" in res.output
    res = invoke("fit", str(csv), "y ~ 1 + (1 | g)", "--sigma", "1 + (1 | g)",  # "sigma ~" implied
                 "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "1",
                 "--no-progress")
    assert res.exit_code == 0, res.output
    assert "sigma_Intercept" in res.output and "sigma_1|g_sigma" in res.output
    res = invoke("fit", str(csv), "y ~ 1 + (1 | g)", "--family", "poisson", "--no-progress")
    assert res.exit_code == 2 and "whole numbers" in res.output


def test_an_unwritable_out_is_refused_before_the_fit(csv: Path, tmp_path: Path) -> None:
    """Issue 22: an --out that cannot be written (here a directory under a file, which even
    root cannot create) is exit 2 within seconds, in a fresh process, before anything is
    fitted; nothing is written."""
    import time

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for out in (blocker / "fit", blocker):
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "hbr", "fit", str(csv), "y ~ x + (1 | g)",
                              "--out", str(out), "--no-progress"], capture_output=True,
                             text=True, timeout=120)
        took = time.perf_counter() - t
        assert res.returncode == 2, res.stderr
        assert "nothing was fitted" in res.stderr and "Traceback" not in res.stderr
        assert "fitting" not in res.stderr  # refused before the table was read
        assert took < 15, took  # the import alone takes a few seconds on a busy machine
    assert blocker.read_text() == "not a directory"


def test_a_write_removes_the_temporaries_a_killed_write_left(tmp_path: Path) -> None:
    """Issue 22: a killed write leaves ``.posterior.nc.*.tmp`` beside the outputs; the next
    write there removes those untouched for 10 minutes (not a fresh one, maybe another
    process's) and never leaves its own."""
    from hbr.io import write_atomic

    old, new = tmp_path / ".posterior.nc.abc123.tmp", tmp_path / ".posterior.nc.def456.tmp"
    old.write_bytes(b"half a file")
    new.write_bytes(b"being written")
    os.utime(old, (0, 0))
    write_atomic(tmp_path / "posterior.nc", lambda p: p.write_bytes(b"complete"))
    assert not old.exists() and new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".posterior.nc.def456.tmp",
                                                         "posterior.nc"]


@pytest.mark.parametrize("delay", [0.5, 1.0, 2.0])
def test_ctrl_c_before_sampling_exits_130_and_writes_nothing(delay: float, tmp_path: Path
                                                             ) -> None:
    """Issue 22: Ctrl-C at any moment of a first fit (importing, reading, compiling, with
    an empty cache) ends the process within seconds with "interrupted", exit 130, no
    traceback and no output, even when Python delivers it inside JAX's garbage-collection
    callback, where it used to be ignored (the fit then ran on and wrote its outputs). Until
    draws are kept nothing is raised: a watcher thread ends the process (a KeyboardInterrupt
    raised inside JAX about 1 s in had crashed it with SIGSEGV under load)."""
    import signal
    import time

    script = Path(sys.executable).parent / "hbr"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "hbr"]
    out = tmp_path / "fit"
    p = subprocess.Popen(head + ["fit", "--example", "radon", "--out", str(out),
                                 "--no-progress"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "HBR_CACHE_DIR": str(tmp_path / "cache")})
    time.sleep(delay)
    t = time.perf_counter()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert time.perf_counter() - t < 10
    assert "interrupted" in err and "Traceback" not in err and "Exception ignored" not in err
    assert not out.exists()


def test_a_home_that_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    """Issues 22 and 24: with HOME and XDG_CACHE_HOME pointing at a file (nothing can be
    created under them, not even by root), a fit with a report runs, writes its outputs and
    prints no warning of matplotlib's about its config directory; ArviZ's cache and
    matplotlib's config go to a private temporary folder."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {**os.environ, "HOME": str(blocker), "XDG_CACHE_HOME": str(blocker),
           "HBR_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("MPLCONFIGDIR", None)
    out = tmp_path / "o"
    res = subprocess.run([sys.executable, "-m", "hbr", "fit", "--example", "radon", "--out",
                          str(out), "--draws", "100", "--tune", "100", "--no-progress",
                          "--report"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert {p.name for p in out.iterdir()} == {"posterior.nc", "summary.csv", "report.html"}
    assert "Matplotlib" not in res.stderr and "mkdir" not in res.stderr


def test_ctrl_c_during_sampling_writes_beside_a_complete_fit(tmp_path: Path) -> None:
    """Issue 24: Ctrl-C while sampling with --force over a complete fit used to replace it
    with the partial draws (exit 0). The partial draws now go beside it, as
    posterior.partial.nc and summary.partial.csv, the complete fit stays byte for byte, and
    the exit status is 130."""
    import signal
    import time

    out = tmp_path / "fit"
    env = {**os.environ, "HBR_CACHE_DIR": str(tmp_path / "cache")}
    base = [sys.executable, "-m", "hbr", "fit", "--example", "radon", "--out", str(out),
            "--no-progress", "--seed", "2"]
    t = time.perf_counter()
    first = subprocess.run(base + ["--draws", "100", "--tune", "100"], env=env,
                           capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # warm cache: sampling starts well within the first run's wall time, then lasts ~20 s
    p = subprocess.Popen(base + ["--draws", "60000", "--tune", "100", "--force"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(wall + 2)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 130, stderr
    assert "interrupted" in stdout + stderr
    assert {n: (out / n).read_bytes() for n in before} == before  # the complete fit
    assert (out / "posterior.partial.nc").exists() and (out / "summary.partial.csv").exists()
    back = hbr_load(out / "posterior.partial.nc")
    assert back.draws.attrs["interrupted"] == 1 and back.draws.posterior["sigma"].shape[1] < 60000


def hbr_load(path: Path):
    import hbr

    return hbr.load_fit(path)


def test_effect_draws_drop_writes_the_summary_rows_not_the_draws(tmp_path: Path) -> None:
    import h5netcdf

    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(6), 5)
    d = pd.DataFrame({"y": rng.normal(size=30) + g * 0.3, "g": [f"g{i}" for i in g]})
    csv = tmp_path / "d.csv"
    d.to_csv(csv, index=False)
    out = tmp_path / "fit"
    res = invoke("fit", str(csv), "y ~ 1 + (1 | g)", "--effect-draws", "drop", "--draws", "200",
                 "--tune", "200", "--seed", "1", "--out", str(out), "--no-progress")
    assert res.exit_code == 0, res.output
    with h5netcdf.File(out / "posterior.nc", "r") as f:
        assert "1|g" not in f["posterior"].variables and "1|g_sigma" in f["posterior"].variables
        labels = [x.decode() if isinstance(x, bytes) else x
                  for x in f["effect_summary"]["effect"][...]]
        assert labels == [f"1|g[g{i}]" for i in range(6)]
    table = pd.read_csv(out / "summary.csv", index_col=0)
    assert table.loc["1|g[g5]", "mean"] > table.loc["1|g[g0]", "mean"]
    assert np.isnan(table.loc["1|g[g0]", "hdi_3%"]) and table.loc["1|g[g0]", "sd"] > 0
