"""Tables read out of core by DuckDB (issue 4, first part).

- DuckDB's SQL gives the same sufficient statistics, names and levels as the in-memory
  design (to rounding) for Parquet, CSV and a glob of files, for numeric and categorical
  columns, interactions, transforms and uncorrelated terms.
- A fit from those statistics agrees with the fit of the same table in pandas within Monte
  Carlo error, and predicts the same.
- A Parquet table larger than a memory cap is processed in a process whose memory stays
  below the table's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.errors import DataError, OptionError
from hbr.design.stats import suffstats
from hbr.sources.duckdb import duckdb_statistics

pytest.importorskip("duckdb")


def _table(n: int = 4000, J: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, J, n)
    x = rng.uniform(1, 3, n)
    c = rng.choice(["b", "a", "c"], n)
    y = 1 + 0.5 * x + (c == "b") + rng.normal(0, 0.5, J)[g] + rng.normal(0, 0.3, J)[g] * x \
        + rng.normal(0, 0.8, n)
    return pd.DataFrame({"y": y, "x": x, "w": rng.integers(0, 5, n), "c": c, "g": g,
                         "s": [f"s{j % 7}" for j in g]})


FORMULAS = ["y ~ x + (x | g)", "y ~ log(x) * C(c) + scale(w) + (1 + x | g)",
            "I(y * 2) ~ 0 + c + c:x + (c || g)",
            "y ~ center(x) + center(x * w) + scale(log(x)) + w + (1 | s:g)"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tables")
    t = _table()
    t.to_parquet(d / "t.parquet")
    t.to_csv(d / "t.csv", index=False)
    for i, rows in enumerate(np.array_split(np.arange(len(t)), 3)):
        t.iloc[rows].to_parquet(d / f"part-{i}.parquet")
    return d


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "part-*.parquet"])
def test_duckdb_statistics_equal_the_in_memory_ones(files: Path, formula: str, name: str
                                                    ) -> None:
    des = build_design(formula, _table())
    Z = np.concatenate([b.Z for b in des.groups], axis=1)
    want = suffstats(des.y, des.X, Z, des.groups[0].index, des.groups[0].n_levels)
    got = duckdb_statistics(formula, files / name)
    assert got.fixed_names == des.fixed_names
    assert got.levels == des.groups[0].levels
    assert got.coefs == tuple(c for b in des.groups for c in b.coefs)
    for a, b in zip(got.stats, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9)
    assert got.memo.keys() == des.memo.keys()
    for key, v in des.memo.items():  # levels exactly, means and sds to rounding
        if key.startswith(("levels:", "group:")):
            assert got.memo[key] == v
        else:
            np.testing.assert_allclose(got.memo[key], v, rtol=1e-12)


def test_duckdb_keeps_codes_with_leading_zeros(tmp_path: Path) -> None:
    """Issue 24: read out of core, a CSV column of codes "01", "1", "02", "2" keeps four
    levels, spelt as written, and the same levels and statistics as pandas' reading."""
    rng = np.random.default_rng(3)
    codes = np.array(["01", "1", "02", "2", "003"])[rng.integers(0, 5, 200)]
    p = tmp_path / "codes.csv"
    pd.DataFrame({"y": rng.normal(size=200), "g": codes}).to_csv(p, index=False)
    got = duckdb_statistics("y ~ 1 + (1 | g)", p)
    assert got.levels == ("003", "01", "02", "1", "2")
    des = build_design("y ~ 1 + (1 | g)", hbr.read_table(p))
    assert des.groups[0].levels == got.levels
    want = suffstats(des.y, des.X, des.groups[0].Z, des.groups[0].index, des.groups[0].n_levels)
    for a, b in zip(got.stats, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9)


def test_fit_from_statistics_agrees_with_pandas(files: Path) -> None:
    t = _table()
    a = hbr.fit("y ~ x + (x | g)", t, seed=4)
    with pytest.warns(hbr.HbrWarning, match=r"4000 rows stayed out of memory.*fit.loo\(\) reads the rows again"):
        b = hbr.fit("y ~ x + (x | g)", files / "part-*.parquet", seed=4)
    assert b.spec.design.table_stats is not None and b.draws.log_lik is None
    assert {k: str(v) for k, v in a.priors.items()} == {k: str(v) for k, v in b.priors.items()}
    sa, sb = a.summary(), b.summary()
    z = (sa["mean"] - sb["mean"]) / np.sqrt(sa["mcse_mean"] ** 2 + sb["mcse_mean"] ** 2)
    assert z.abs().max() < 4.5, z.abs().sort_values().tail()
    assert b.diagnostics().ok
    new = pd.DataFrame({"x": [1.5, 2.5], "g": [3, 999]})
    np.testing.assert_allclose(b.predict(new, new_groups="mean").mean(axis=(0, 1)),
                               a.predict(new, new_groups="mean").mean(axis=(0, 1)), atol=0.02)
    with pytest.raises(OptionError, match="stayed in the files"):
        b.sample_posterior_predictive()
    b.to_netcdf(files / "b.nc")
    back = hbr.load_fit(files / "b.nc", files / "part-*.parquet")
    assert back.summary().equals(b.summary())
    with pytest.raises(DataError, match="differ from those"):
        hbr.load_fit(files / "b.nc", files / "part-0.parquet")


def test_what_needs_the_rows_is_named(files: Path, tmp_path: Path) -> None:
    glob = files / "part-*.parquet"
    with pytest.raises(OptionError, match="family='negative_binomial'.*read it with pandas"):
        hbr.fit("w ~ x + (1 | g)", glob, family="negative_binomial")
    with pytest.raises(OptionError, match="one grouping factor"):
        hbr.fit("y ~ x + (1 | g) + (1 | c)", glob)
    with pytest.raises(OptionError, match="parameterization='centered'"):
        hbr.fit("y ~ x + (1 | g)", glob, parameterization="centered")
    t = _table()
    t.loc[5, "x"] = np.nan
    t.to_parquet(tmp_path / "na.parquet")
    with pytest.raises(DataError, match="'x' has 1 missing value.*dropna=True"):
        duckdb_statistics("y ~ x + (1 | g)", tmp_path / "na.parquet")
    st = duckdb_statistics("y ~ x + (1 | g)", tmp_path / "na.parquet", dropna=True)
    assert st.stats.N == len(t) - 1
    with pytest.raises(DataError, match="non-finite"):
        duckdb_statistics("y ~ log(w) + (1 | g)", files / "t.parquet")  # w = 0 rows
    with pytest.raises(DataError, match="unknown column 'z'"):
        duckdb_statistics("y ~ z + (1 | g)", files / "t.parquet")
    with pytest.raises(DataError, match="no file matches"):
        duckdb_statistics("y ~ x + (1 | g)", files / "nothing-*.parquet")
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="DuckDB cannot read"):
        duckdb_statistics("y ~ x + (1 | g)", tmp_path / "fake.parquet")


def test_a_table_larger_than_the_memory_cap(tmp_path: Path) -> None:
    """10^7 rows (240 MB as float64 columns) in 10 Parquet files; DuckDB at a 100 MB memory
    limit, in a child process whose peak memory (VmHWM) is measured against its size after
    importing hbr."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    for i in range(10):
        n = 1_000_000
        g = rng.integers(0, 1000, n)
        x = rng.normal(size=n)
        pq.write_table(pa.table({"y": 1 + 0.5 * x + 0.01 * g + rng.normal(size=n), "x": x,
                                 "g": g}), tmp_path / f"big-{i}.parquet")
    code = textwrap.dedent(f"""
        import json
        from hbr.sources import duckdb_statistics

        def mb(key):
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1]) / 1024

        before = mb("VmRSS:")  # after importing hbr (JAX included)
        st = duckdb_statistics("y ~ x + (x | g)", {str(tmp_path / 'big-*.parquet')!r},
                               threads=2, memory_limit="100MB")
        print(json.dumps({{"N": float(st.stats.N), "J": len(st.levels),
                          "grew_mb": mb("VmHWM:") - before, "x_mean": float(st.x_mean[1])}}))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["N"] == 10_000_000 and out["J"] == 1000
    assert abs(out["x_mean"]) < 0.01
    assert out["grew_mb"] < 240, out  # the process grew by less than the table's size


def test_cli_fits_a_glob_out_of_core(files: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hbr.cli.console import app

    res = CliRunner().invoke(app, ["fit", str(files / "part-*.parquet"), "y ~ x + (x | g)",
                                   "--out", str(tmp_path / "fit"), "--draws", "300", "--tune",
                                   "300", "--seed", "1", "--no-progress"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "4000 rows (read out of core by DuckDB)" in res.output
    assert "fit.loo() reads the rows again" in " ".join(res.output.split())
    back = hbr.load_fit(tmp_path / "fit")  # the recorded glob
    assert back.spec.design.n_obs == 4000 and "posterior" in back.idata.groups()


@pytest.fixture(scope="module")
def cluster():
    """A dask.distributed LocalCluster with 2 workers (processes), closed after the tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc, \
            distributed.Client(lc) as client:
        yield client


@pytest.mark.parametrize("formula", FORMULAS)
def test_three_sources_give_the_same_statistics(files: Path, cluster, formula: str) -> None:
    import dask.dataframe as dd

    from hbr.sources.dask import dask_statistics

    t = _table()
    des = build_design(formula, t)
    Z = np.concatenate([b.Z for b in des.groups], axis=1)
    memory = suffstats(des.y, des.X, Z, des.groups[0].index, des.groups[0].n_levels)
    duck = duckdb_statistics(formula, files / "part-*.parquet")
    ddf = dd.read_parquet(str(files / "part-*.parquet"))
    assert ddf.npartitions == 3
    from distributed import get_task_stream

    with get_task_stream(client=cluster) as stream:
        dsk = dask_statistics(formula, ddf)
    assert dsk.engine == "dask"
    # the partitions were processed by the cluster's workers, not in this process
    assert {t["worker"] for t in stream.data} <= set(cluster.scheduler_info()["workers"])
    assert sum("_partial" in t["key"][0] if isinstance(t["key"], tuple) else
               "_partial" in str(t["key"]) for t in stream.data) == ddf.npartitions
    for got in (duck, dsk):
        assert got.fixed_names == des.fixed_names and got.levels == des.groups[0].levels
        for a, b in zip(got.stats, memory):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(dsk.x_mean, duck.x_mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dsk.x_sd, duck.x_sd, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dsk.z_sd, duck.z_sd, rtol=1e-10, atol=1e-12)
    assert dsk.y_sd == pytest.approx(duck.y_sd, rel=1e-12)


def test_dask_fit_on_the_cluster_agrees(files: Path, cluster) -> None:
    import dask.dataframe as dd

    ddf = dd.read_parquet(str(files / "part-*.parquet"))
    from distributed import get_task_stream

    a = hbr.fit("y ~ x + (x | g)", _table(), seed=4)
    with get_task_stream(client=cluster) as stream:
        b = hbr.fit("y ~ x + (x | g)", ddf, seed=4, log_likelihood=False)
    assert b.spec.design.table_stats.engine == "dask" and len(stream.data) >= 3
    sa, sb = a.summary(), b.summary()
    z = (sa["mean"] - sb["mean"]) / np.sqrt(sa["mcse_mean"] ** 2 + sb["mcse_mean"] ** 2)
    assert z.abs().max() < 4.5
    with pytest.raises(OptionError, match="Dask DataFrame"):
        hbr.fit("w ~ x + (1 | g)", ddf, family="poisson")
    with pytest.raises(DataError, match="cannot itself be centred"):
        hbr.fit("y ~ center(scale(x)) + (1 | g)", ddf)
    # LOO streams the partitions again (on the cluster), in the table's order
    r = b.loo(sample=400, seed=2)
    assert r.subsampled and r.elpd == pytest.approx(b.loo(_table(), sample=400, seed=2).elpd,
                                                    abs=1e-8)


def test_report_of_an_out_of_core_fit(files: Path, tmp_path: Path) -> None:
    """The report of a DuckDB fit leaves out what needs the rows (the predictive check) and
    shows the rest: group sizes from the statistics, the marginal mode only."""
    f = hbr.fit("y ~ x + (x | g)", files / "part-*.parquet", seed=2, chains=2, draws=200,
                tune=200, log_likelihood=False)
    table = f.map_vs_mean()
    assert [c for c in table.columns if c.startswith("mode_")] == ["mode_marginal"]
    from hbr.report import render_report

    html = render_report(f)
    assert "not drawn" not in html
    assert "Posterior predictive check: the data against replicates drawn from the fit (a " \
        "random sample of rows, read again from the table)" in html
    # that sample: the rows at the seeded positions, read from the files and coded again
    from hbr.sources.stream import positions, sample_rows
    from hbr.plots.ppc import _ppc_of_a_sample

    rows, y = sample_rows(f, 500, seed=3)
    keep = positions(4000, 500, np.random.default_rng(3))
    t = _table()
    np.testing.assert_array_equal(y, t.y.to_numpy()[keep])
    np.testing.assert_array_equal(rows.X[:, 1], t.x.to_numpy()[keep])
    np.testing.assert_array_equal(np.asarray(f.spec.design.groups[0].levels)[rows.index[0]],
                                  t.g.astype(str).to_numpy()[keep])
    y, rep = _ppc_of_a_sample(f, 40, 3, 500)
    assert rep.shape == (40, 500)  # replicates scatter like the data: mean and sd
    assert abs(rep.mean() - y.mean()) < 4 * y.std() / np.sqrt(500)
    assert 0.85 < rep.std(axis=1).mean() / y.std() < 1.15
    sizes = f.spec.design.groups[0].sizes
    assert sizes.sum() == 4000 and f"{sizes.min()}-" in html
