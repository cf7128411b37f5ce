"""``hbr fit --report``, ``hbr report``, ``hbr predict`` and ``hbr compare`` end to end: the
files they write, what they refuse to overwrite, and their errors (exit 2, one message)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import hbr
from hbr.cli.console import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(12), rng.integers(3, 12, 12))
    x = (np.arange(g.size) % 2).astype(float)
    y = 1 + rng.normal(0, 0.5, 12)[g] - 0.6 * x + rng.normal(0, 0.6, g.size)
    pd.DataFrame({"y": y, "x": x, "g": [f"g{j}" for j in g]}).to_csv(d / "train.csv",
                                                                     index=False)
    pd.DataFrame({"x": [0.0, 1.0, 0.0], "g": ["g1", "g1", "brand new"]}).to_csv(
        d / "new.csv", index=False)
    res = invoke("fit", d / "train.csv", "y ~ x + (x | g)", "--out", d / "fit", "--report",
                 "--seed", 2, "--draws", 300, "--tune", 300, "--no-progress")
    assert res.exit_code == 0, res.output
    return d


def test_fit_report_and_report_command(files: Path) -> None:
    html = (files / "fit" / "report.html").read_text(encoding="utf-8")
    assert "y ~ x + (x | g)" in html and 'id="figures"' in html
    res = invoke("report", files / "fit", "--no-map")
    assert res.exit_code == 2 and "exists already" in res.output
    res = invoke("report", files / "fit", "--no-map", "--out", files / "again.html")
    assert res.exit_code == 0, res.output
    assert 'id="diagnostics"' in (files / "again.html").read_text(encoding="utf-8")


def test_predict_writes_the_new_rows_with_their_predictions(files: Path) -> None:
    res = invoke("predict", files / "fit", files / "new.csv", "--out", files / "pred.csv")
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(files / "pred.csv")
    assert list(pred.columns) == ["x", "g", "pred_mean", "pred_sd", "pred_q3%", "pred_q97%"]
    fit = hbr.load_fit(files / "fit")  # the recorded data source
    want = fit.predict(pd.read_csv(files / "new.csv")).mean(axis=(0, 1))
    np.testing.assert_allclose(pred.pred_mean, want, rtol=1e-10)
    # the unseen group is wider than the seen one: it carries the group spread
    assert pred.pred_sd[2] > pred.pred_sd[0]
    res = invoke("predict", files / "fit", files / "new.csv", "--out", files / "pred.csv")
    assert res.exit_code == 2 and "exists already" in res.output
    res = invoke("predict", files / "fit", files / "new.csv", "--kind", "median")
    assert res.exit_code == 2 and "kind='median'" in res.output


def test_predict_refuses_a_numeric_predictor_given_as_text(files: Path) -> None:
    """Issue 24: "0.5ppm" in the numeric column x is named (column, value, fix), exit 2, and
    nothing is written; it is never coded as a 0/1 category."""
    pd.DataFrame({"x": ["0.5ppm", "1", "0"], "g": ["g1", "g1", "g2"]}).to_csv(
        files / "text.csv", index=False)
    res = invoke("predict", files / "fit", files / "text.csv", "--out", files / "text-pred.csv")
    assert res.exit_code == 2, res.output
    assert "'x'" in res.output and "0.5ppm" in res.output and "bug in hbr" not in res.output
    assert not (files / "text-pred.csv").exists()


def test_force_without_report_removes_the_replaced_fits_report(files: Path,
                                                              tmp_path: Path) -> None:
    """Issue 24: --force over a fit with a report, without --report, writes the new
    posterior.nc and summary.csv and removes the old report.html (it described the draws
    that were replaced), saying so; the set is never new draws beside an old report."""
    import shutil

    out = tmp_path / "fit"
    shutil.copytree(files / "fit", out)
    old = (out / "posterior.nc").read_bytes()
    res = invoke("fit", files / "train.csv", "y ~ x + (1 | g)", "--out", out, "--force",
                 "--seed", 3, "--draws", 100, "--tune", 100, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "removed" in res.output and "report.html" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["posterior.nc", "summary.csv"]
    assert (out / "posterior.nc").read_bytes() != old
    assert hbr.load_fit(out).formula == "y ~ x + (1 | g)"


def test_report_with_other_data_is_refused(files: Path, tmp_path: Path) -> None:
    other = pd.read_csv(files / "train.csv").iloc[:20]
    other.to_csv(tmp_path / "other.csv", index=False)
    res = invoke("report", files / "fit", "--data", tmp_path / "other.csv", "--out",
                 tmp_path / "r.html")
    assert res.exit_code == 2 and "differ from those" in res.output
    res = invoke("report", tmp_path / "nothing")
    assert res.exit_code == 2 and "no fit at" in res.output


def test_compare_prints_and_writes(files: Path) -> None:
    out = files / "cmp"
    res = invoke("compare", files / "train.csv", "y ~ x", "--group", "g", "--out", out,
                 "--chains", 2, "--draws", 300, "--tune", 300)
    assert res.exit_code == 0, res.output
    assert "partial pooling" in res.output and "elpd_loo" in res.output
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    assert set(table.index) == {"complete pooling", "no pooling", "partial pooling"}
    assert 'id="comparison"' in (out / "report.html").read_text(encoding="utf-8")
    res = invoke("compare", files / "train.csv")
    assert res.exit_code == 2 and "--group" in res.output


def test_compare_and_report_take_groups_priors_and_record_a_seed(files: Path,
                                                                  tmp_path: Path) -> None:
    import time

    t0 = time.perf_counter()
    res = invoke("compare", files / "train.csv", "y ~ x", "--group", "g", "--groups",
                 "g1,g99", "--chains", 2, "--draws", 100, "--tune", 100)
    assert res.exit_code == 2 and "--groups: 'g' has no level 'g99'" in res.output
    assert time.perf_counter() - t0 < 10  # refused before any model is fitted
    out = tmp_path / "cmp"
    res = invoke("compare", files / "train.csv", "y ~ x", "--group", "g", "--groups",
                 "g1, g4", "--prior", "sigma=HalfNormal(1)", "-p", "noncentered", "--out", out,
                 "--chains", 2, "--draws", 150, "--tune", 150)
    assert res.exit_code == 0, res.output
    seed = int(res.output.split("seed ")[1].split()[0])  # random, printed to repeat the run
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Regression lines of g1, g4" in text and "HalfNormal(sigma=1" in text
    assert "noncentered" in text and f"seed {seed}" in text
    res = invoke("report", files / "fit", "--groups", "g2,g3", "--no-map", "--out",
                 tmp_path / "r.html")
    assert res.exit_code == 0, res.output
    assert "Conditional effect of x" in (tmp_path / "r.html").read_text(encoding="utf-8")
    res = invoke("report", files / "fit", "--groups", "nowhere", "--out", tmp_path / "s.html")
    assert res.exit_code == 2 and "has no level 'nowhere'" in res.output
