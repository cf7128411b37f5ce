"""Each plot returns a matplotlib Figure with the artists it promises, touches no global
matplotlib state, and says what went wrong on bad arguments."""

from __future__ import annotations

import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure

import hbr
from hbr import plots
from hbr.errors import OptionError


def _data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), rng.integers(2, 15, 10))
    x = (np.arange(g.size) % 2).astype(float)  # both values in every group
    y = 1 + rng.normal(0, 0.5, 10)[g] + (-0.6 + rng.normal(0, 0.2, 10)[g]) * x + \
        rng.normal(0, 0.7, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"c{j}" for j in g]})


@pytest.fixture(scope="module")
def two() -> tuple[hbr.Fit, hbr.Fit]:
    d = _data()
    kw = dict(seed=1, chains=2, draws=200, tune=300)
    return (hbr.fit("y ~ 0 + C(g) + C(g):x", d, **kw), hbr.fit("y ~ x + (x | g)", d, **kw))


@pytest.fixture(autouse=True)
def no_global_state():
    before = dict(matplotlib.rcParams)
    yield
    assert dict(matplotlib.rcParams) == before
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_trace_has_a_density_and_a_trace_per_chain(mn_fits) -> None:
    f = mn_fits["centered"]
    fig = plots.plot_trace(f, ["Intercept", "floor", "county_corr"])
    assert isinstance(fig, Figure) and len(fig.axes) == 6  # corr: its one off-diagonal
    density, trace = fig.axes[0], fig.axes[1]
    assert len(density.lines) == 4 and len(trace.lines) >= 4
    assert fig.axes[4].get_ylabel() == "county_corr[floor, 1]"  # as the summary labels it
    with pytest.raises(OptionError, match="no variable 'slope'"):
        plots.plot_trace(f, ["slope"])


def test_funnel_marks_divergent_draws(mn_fits) -> None:
    from eight_schools import SCHOOLS

    f = hbr.fit("y | se(s) ~ 1 + (1 | school)", SCHOOLS, seed=1, parameterization="centered")
    n_div = int(f.draws.stats["diverging"].sum())
    assert n_div > 0  # the centred eight schools fall into the funnel
    ax = plots.plot_funnel(f, level="C").axes[0]
    pts = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(pts) == 2 and len(pts[1].get_offsets()) == n_div
    assert len(pts[0].get_offsets()) + n_div == f.draws.chains * f.draws.n_draws
    assert ax.get_xlabel() == "1|school[C]  (1 rows)"
    ax = plots.plot_funnel(mn_fits["noncentered"]).axes[0]
    assert "(1 rows)" in ax.get_xlabel()  # by default the smallest county
    # and the slope, whose weakly determined sd shows the funnel (the intercept's sd is
    # pinned by the data: its log spans too little to show one)
    assert ax.get_xlabel().startswith("floor|county[") and "floor|county_sigma" in \
        ax.get_ylabel()
    with pytest.raises(OptionError, match="no level 'NOWHERE'"):
        plots.plot_funnel(f, level="NOWHERE")


def test_shrinkage_draws_one_arrow_per_group(two) -> None:
    unpooled, pooled = two
    ax = plots.plot_shrinkage(unpooled, pooled, "g", "x").axes[0]
    pts = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(pts) == 2 and len(pts[1].get_offsets()) == 10
    arrows = [t for t in ax.texts if t.arrow_patch is not None]
    assert len(arrows) == len(pts[0].get_offsets()) and len(arrows) >= 8
    # the arrows end at the partial-pooling estimates: intercept of c0 at x = 0
    eta0 = pooled.predict(pd.DataFrame({"x": [0.0], "g": ["c0"]}), kind="link").mean()
    assert any(np.isclose(a.xy[0], eta0) for a in arrows)
    one = plots.plot_shrinkage(unpooled, pooled, "g").axes[0]
    assert one.get_yscale() == "log"


def test_group_lines_per_panel(two) -> None:
    d = _data()
    fig = plots.plot_group_lines({"no": two[0], "partial": two[1]}, d, "g", "x",
                                 levels=["c0", "c3"], draws=5)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.lines) == 2 * (5 + 1)
        assert len(ax.collections) == 1  # the group's rows
    assert fig.axes[0].get_title().startswith("c0 (")
    with pytest.raises(OptionError, match="no level 'zz'"):
        plots.plot_group_lines(two[1], d, "g", "x", levels=["zz"])


def test_ppc_real_and_counts(two) -> None:
    fig = plots.plot_ppc(two[1], n=20, seed=3)
    assert len(fig.axes[0].lines) == 20 + 2  # replicates, observed, legend entry
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(6), 10)
    d = pd.DataFrame({"y": rng.poisson(np.exp(0.5 + rng.normal(0, 0.3, 6)[g])), "g": g})
    f = hbr.fit("y ~ 1 + (1 | g)", d, family="poisson", seed=1, chains=1, draws=100, tune=200)
    ax = plots.plot_ppc(f, n=30, seed=1).axes[0]
    assert len(ax.patches) == int(np.quantile(d.y, 0.99)) + 2  # bars 0..top


def test_forest_and_map_vs_mean(two) -> None:
    pooled = two[1]
    fig = plots.plot_forest(pooled)
    assert len(fig.axes) == 2
    segs = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    assert len(segs[0].get_segments()) == 10
    table = pooled.map_vs_mean()
    ax = plots.plot_map_vs_mean(table).axes[0]
    modes = [c for c in table.columns if c.startswith("z_")]
    assert len(ax.lines) == len(modes) + 1 and len(ax.get_yticklabels()) == len(table)
    with pytest.raises(OptionError, match="map_vs_mean"):
        plots.plot_map_vs_mean(pooled.summary())


def test_plot_predictions_population_and_groups(two) -> None:
    from matplotlib.collections import PolyCollection

    from hbr.plots.predictions import POPULATION, prediction_grid

    fit, d = two[1], _data()
    fig = plots.plot_predictions(fit, "x", by="g", groups=["c3", "c7"], prob=0.8)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["population", "g c3",
                                                                    "g c7"]
    assert len(ax.lines) == 3 and len([c for c in ax.collections
                                       if isinstance(c, PolyCollection)]) == 3
    grid = prediction_grid(fit, "x", d)
    assert (grid["g"] == POPULATION).all() and len(grid) == 50
    pop = fit.predict(grid, kind="mean", new_groups="mean").reshape(-1, 50)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), pop.mean(axis=0), rtol=1e-12)
    # the population curve is the fixed part alone: Intercept + x * slope, draw by draw
    post = fit.draws.posterior
    fixed = (np.asarray(post["Intercept"]).reshape(-1, 1)
             + np.asarray(post["x"]).reshape(-1, 1) * grid["x"].to_numpy())
    # rounding only: the curve crosses 0, where a relative tolerance alone would ask for
    # more than float64 holds (2.6e-17 apart at -3e-6 on an AVX-512 CPU)
    np.testing.assert_allclose(pop, fixed, rtol=1e-12, atol=1e-14)
    c7 = fit.predict(grid.assign(g="c7"), kind="mean").reshape(-1, 50)
    np.testing.assert_allclose(ax.lines[2].get_ydata(), c7.mean(axis=0), rtol=1e-12)
    assert "80% interval" in ax.get_ylabel()


def test_plot_predictions_categorical_and_errors(two, tmp_path) -> None:
    d = _data()
    cat = hbr.fit("y ~ C(x) + (1 | g)", d, seed=1, chains=2, draws=200, tune=300)
    fig = plots.plot_predictions(cat, "x")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.0", "1.0"]
    assert len(ax.containers) == 1  # one errorbar series: population at each level
    fit = two[1]
    with pytest.raises(OptionError, match="'z' is not a predictor"):
        plots.plot_predictions(fit, "z")
    with pytest.raises(OptionError, match="by='x' is not a grouping factor"):
        plots.plot_predictions(fit, "x", by="x")
    with pytest.raises(OptionError, match="'g' has no level 'nowhere'"):
        plots.plot_predictions(fit, "x", by="g", groups=["nowhere"])
    fit.to_netcdf(tmp_path / "f.nc")
    loaded = hbr.load_fit(tmp_path / "f.nc", data=d)  # keeps the table it read
    assert isinstance(plots.plot_predictions(loaded, "x"), Figure)
    import dataclasses
    bare = dataclasses.replace(fit, call={})  # e.g. a fit made from a file, out of core
    with pytest.raises(OptionError, match="pass data="):
        plots.plot_predictions(bare, "x")
    assert isinstance(plots.plot_predictions(bare, "x", data=d), Figure)


@pytest.fixture(scope="module")
def gauss() -> tuple[hbr.Fit, hbr.Fit]:
    """A well-specified Gaussian fit, and one whose noise prior pins sigma far too small
    (its predictive intervals too narrow: the negative control of LOO-PIT)."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(15), 20)
    x = rng.normal(size=g.size)
    d = pd.DataFrame({"y": 1 + 0.5 * x + rng.normal(0, 0.5, 15)[g] + rng.normal(0, 1, g.size),
                      "x": x, "g": g.astype(str)})
    kw = dict(seed=2, chains=2, draws=500, tune=500)
    return (hbr.fit("y ~ x + (1 | g)", d, **kw),
            hbr.fit("y ~ x + (1 | g)", d, priors={"sigma": "HalfNormal(0.02)"}, **kw))


def test_ppc_stat_and_intervals_equal_direct_computation(gauss) -> None:
    fit = gauss[0]
    rep = fit.sample_posterior_predictive(7).reshape(-1, 300)
    y = fit.spec.design.y
    fig = plots.plot_ppc(fit, kind="stat", stat="sd", seed=7)
    p = np.mean(rep.std(axis=1, ddof=1) >= y.std(ddof=1))
    assert fig.axes[0].get_title() == f"all rows: p = {p:.2f}"
    fig = plots.plot_ppc(fit, kind="stat", stat="max", group="g", seed=7)
    assert len([a for a in fig.axes if a.get_visible()]) == 9
    fig = plots.plot_ppc(fit, kind="intervals", seed=7)
    lo, hi = np.quantile(rep, [0.05, 0.95], axis=0)
    share = np.mean((y >= lo) & (y <= hi))
    assert f"{share:.0%} of the observed values inside the 90%" in fig.axes[0].get_title()
    with pytest.raises(OptionError, match="kind='pit' is not available"):
        plots.plot_ppc(fit, kind="pit")
    with pytest.raises(OptionError, match="stat='var' is not available"):
        plots.plot_ppc(fit, kind="stat", stat="var")


def test_loo_pit_is_uniform_when_calibrated_and_not_when_too_narrow(gauss) -> None:
    from scipy import stats

    from hbr.plots.ppc import loo_pit

    good, narrow = gauss
    y = good.spec.design.y
    pits = []
    for f in (good, narrow):
        rep = f.sample_posterior_predictive(3).reshape(-1, y.size)
        pits.append(loo_pit(f, rep, y, seed=0))
    assert stats.kstest(pits[0], "uniform").pvalue > 0.001
    assert stats.kstest(pits[1], "uniform").pvalue < 1e-6  # mass piles up at 0 and 1
    assert np.mean((pits[1] < 0.05) | (pits[1] > 0.95)) > 0.3
    # one row by hand: PSIS weights of -log p(y_0 | theta) times 1[y_rep < y_0]
    import arviz as az
    from hbr.checks.loo import row_loglik
    from hbr.design.newdata import training_rows

    rep = good.sample_posterior_predictive(3).reshape(-1, y.size)
    ll = row_loglik(good.spec, good.draws.posterior, training_rows(good.spec.design), y)
    lw, _ = az.psislw(-ll.reshape(-1, y.size).T[:1], reff=1.0)
    assert loo_pit(good, rep, y, seed=0)[0] == pytest.approx(
        float(np.sum(np.exp(lw[0]) * (rep[:, 0] < y[0]))), rel=1e-9)
    assert isinstance(plots.plot_ppc(good, kind="loo_pit", seed=3), Figure)


def test_plot_compare_draws_each_model() -> None:
    t = pd.DataFrame({"elpd_loo": [-100.0, -110.0, -130.0], "se": [5.0, 6.0, 7.0],
                      "elpd_diff": [0.0, -10.0, -30.0], "se_diff": [0.0, 3.0, 4.0]},
                     index=["partial pooling", "complete pooling", "no pooling"])
    fig = plots.plot_compare(t)
    ax = fig.axes[0]
    assert [x.get_text() for x in ax.get_yticklabels()] == list(t.index)
    assert len(ax.containers) == 2  # elpd ± se, and the differences ± se_diff
    np.testing.assert_allclose(np.asarray(ax.containers[0].lines[0].get_xdata(), float),
                               t["elpd_loo"].to_numpy())
    with pytest.raises(OptionError, match="result of hbr.compare"):
        plots.plot_compare(pd.DataFrame({"a": [1]}))


def test_kde_is_scipys_gaussian_kde() -> None:
    """The plots' density (NumPy, no scipy.stats import) is SciPy's ``gaussian_kde`` with
    Scott's bandwidth, to rounding; a bandwidth 5% off is told apart (negative control)."""
    from scipy.stats import gaussian_kde

    from hbr.plots._base import kde

    rng = np.random.default_rng(0)
    for v in (rng.normal(size=4000), rng.gamma(2.0, size=919), rng.standard_t(3, size=45_001)):
        x, d = kde(v)
        want = gaussian_kde(v)(x)
        np.testing.assert_allclose(d, want, rtol=0, atol=1e-12 * want.max())
        off = gaussian_kde(v, bw_method=1.05 * len(v) ** -0.2)(x)
        assert np.max(np.abs(d - off)) > 1e-3 * want.max()


def test_a_report_of_a_fresh_fit_needs_no_arviz() -> None:
    """The report's predictive check draws its replicates without building the
    InferenceData (ArviZ with xarray and scipy.stats: 1.6 s of ``hbr fit --report``); the
    replicates equal ``fit.sample_posterior_predictive()``'s, which adds them to
    ``fit.idata`` as before."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", (
        "import sys, numpy as np, hbr\n"
        "from hbr.plots.ppc import _replicates\n"
        "from hbr.report import render_report\n"
        "data, _ = hbr.simulate(12, 5, seed=3)\n"
        "fit = hbr.fit('y ~ x + (x | g)', data, seed=5, chains=2, draws=40, tune=60,\n"
        "              progress=False)\n"
        "html = render_report(fit, data=data)\n"
        "rep = _replicates(fit, None)\n"
        "print(len(html) > 10_000, 'arviz' in sys.modules, 'scipy.stats' in sys.modules,\n"
        "      'idata' in vars(fit))\n"
        "same = np.array_equal(rep, fit.sample_posterior_predictive().reshape(rep.shape))\n"
        "print(same, 'posterior_predictive' in fit.idata.groups())\n"
        "print(np.array_equal(_replicates(fit, None), rep))\n")],
        capture_output=True, text=True, check=True, timeout=600)
    assert out.stdout.split() == ["True", "False", "False", "False", "True", "True", "True"]
