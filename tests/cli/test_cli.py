"""The command line: help, a real fit writing files, and bad input without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
