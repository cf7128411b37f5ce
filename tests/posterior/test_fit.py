"""Statistics, not smoke: parameter recovery, agreement of two parameterisations within Monte
Carlo error, reproducibility, and the InferenceData a user gets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hbr
import hbr.posterior.draws
from hbr.errors import OutputExistsError
from hbr._runtime.compile import compile_count

HYPER = ["Intercept", "x", "sigma", "1|g_sigma", "x|g_sigma", "g_corr"]


def _hdi(draws: np.ndarray, prob: float = 0.94) -> tuple[float, float]:
    s = np.sort(draws.ravel())
    n = int(np.floor(prob * s.size))
    widths = s[n:] - s[: s.size - n]
    i = int(np.argmin(widths))
    return float(s[i]), float(s[i + n])


def test_parameter_recovery_on_simulated_data() -> None:
    """True hyperparameters fall inside their 94% HDI. Over 3 datasets x 6 parameters the
    number of misses is Binomial(18, 0.06) if the intervals are calibrated; more than 4 misses
    has probability < 0.3%, so that is the failure threshold (not a widened tolerance)."""
    misses, checks = [], 0
    for seed in (1, 2, 3):
        data, truth = hbr.simulate(60, 15, intercept=1.0, slope=-0.6, sigma=0.7,
                                   group_sd=(0.5, 0.35), corr=-0.4, seed=seed)
        fit = hbr.fit("y ~ x + (x | g)", data, seed=seed, log_likelihood=False)
        assert fit.diagnostics().divergences == 0
        post = fit.posterior
        for name in HYPER:
            d = post[name].values
            if name == "g_corr":
                d = d[..., 0, 1]
            lo, hi = _hdi(d)
            checks += 1
            if not lo <= truth[name] <= hi:
                misses.append((seed, name, truth[name], lo, hi))
        # group effects: the posterior means track the drawn effects
        est = post["1|g"].mean(("chain", "draw")).values
        assert np.corrcoef(est, truth["1|g"])[0, 1] > 0.8
    assert checks == 18
    assert len(misses) <= 4 or stats.binom(18, 0.06).sf(len(misses) - 1) > 0.003, misses


def test_centered_and_noncentered_agree(mn_fits: dict[str, hbr.Fit]) -> None:
    """Every hyperparameter and fixed effect agrees within 4 combined MCSE."""
    a, b = (mn_fits[p].summary(group_effects=False) for p in ("noncentered", "centered"))
    for name in a.index:
        diff = abs(a.loc[name, "mean"] - b.loc[name, "mean"])
        mcse = np.hypot(a.loc[name, "mcse_mean"], b.loc[name, "mcse_mean"])
        assert diff <= 4 * mcse, (name, a.loc[name, "mean"], b.loc[name, "mean"], mcse)


def test_radon_fit_is_healthy_and_named_like_bambi(mn_fits: dict[str, hbr.Fit]) -> None:
    fit = mn_fits["noncentered"]
    diag = fit.diagnostics()
    assert diag.divergences == 0 and diag.max_rhat < 1.01 and diag.min_ess_bulk > 400
    post = fit.posterior
    assert set(post.data_vars) == {"Intercept", "floor", "sigma", "1|county_sigma",
                                   "floor|county_sigma", "county_corr", "1|county",
                                   "floor|county"}
    assert post["1|county"].dims == ("chain", "draw", "county__factor_dim")
    assert post["1|county"].coords["county__factor_dim"].values[0] == "AITKIN"
    assert post.sizes == {"chain": 4, "draw": 1000, "county__factor_dim": 85,
                          "county_corr_dim_0": 2, "county_corr_dim_1": 2}
    assert set(fit.idata.groups()) >= {"posterior", "sample_stats", "observed_data",
                                       "log_likelihood"}
    assert fit.idata.log_likelihood["log_radon"].shape == (4, 1000, 919)
    # Gelman & Hill's estimates of this model: floor about -0.7, sigma about 0.75
    s = fit.summary(group_effects=False)
    assert -0.85 < s.loc["floor", "mean"] < -0.5 and 0.68 < s.loc["sigma", "mean"] < 0.77
    assert list(s.columns) == ["mean", "sd", "hdi_3%", "hdi_97%", "mcse_mean", "ess_bulk",
                               "ess_tail", "r_hat"]
    assert "county_corr[floor, 1]" in s.index and "county_corr[1, 1]" not in s.index
    full = fit.summary()
    assert len(full) == len(s) + 170


def test_log_likelihood_is_pointwise_normal(mn_fits: dict[str, hbr.Fit], mn) -> None:
    fit = mn_fits["noncentered"]
    p = fit.posterior.isel(chain=0, draw=7)
    county = pd.Categorical(mn.county).codes
    mu = (p["Intercept"].values + p["1|county"].values[county]
          + (p["floor"].values + p["floor|county"].values[county]) * mn.floor.values)
    expected = stats.norm(mu, p["sigma"].values).logpdf(mn.log_radon.values)
    got = fit.idata.log_likelihood["log_radon"].isel(chain=0, draw=7).values
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_same_seed_same_draws_and_compiles_once() -> None:
    data, _ = hbr.simulate(20, 8, seed=5)
    kw = dict(draws=100, tune=100, chains=2, log_likelihood=False)
    a = hbr.fit("y ~ x + (x | g)", data, seed=7, **kw)
    before = compile_count()
    b = hbr.fit("y ~ x + (x | g)", data, seed=7, **kw)
    c = hbr.fit("y ~ x + (x | g)", data.assign(y=data.y * 3), seed=8, **kw)
    assert compile_count() == before  # same shapes: nothing compiled again
    for name in a.posterior.data_vars:
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)
    assert not np.array_equal(a.posterior["sigma"].values, c.posterior["sigma"].values)
    assert a.seed == 7 and a.idata.posterior.attrs["seed"] == 7


def test_group_counts_in_one_size_bucket_share_the_sampler(mn) -> None:
    """J is padded to a size bucket on the statistics path: 81 and 85 counties (both padded
    to 96) reuse the pilot and sampler programs; only the programs whose outputs have J or N
    rows (constrained draws) are compiled again."""
    from hbr.density.build import padded_levels

    assert [padded_levels(j) for j in (1, 8, 9, 81, 85, 96, 97, 10_000)] == [
        8, 8, 10, 96, 96, 96, 128, 10_240]
    assert all(padded_levels(j) <= max(8, 4 * j / 3) for j in range(1, 5000))
    assert padded_levels(100_000) == 106_496  # steps of an eighth from 4096 groups
    assert all(padded_levels(j) <= 9 * j / 8 for j in range(4097, 300_000, 997))
    kw = dict(draws=100, tune=100, chains=2, log_likelihood=False)
    counties = mn.county.unique()
    a = hbr.fit("log_radon ~ floor + (1 | county)", mn[mn.county.isin(counties[:85])],
                seed=1, **kw)
    before = compile_count()
    b = hbr.fit("log_radon ~ floor + (1 | county)", mn[mn.county.isin(counties[:81])],
                seed=1, **kw)
    assert compile_count() == before + 1  # the constrain program only
    assert a.posterior["1|county"].shape[-1] == 85 and b.posterior["1|county"].shape[-1] == 81
    assert b.diagnostics().divergences == 0


def test_netcdf_round_trip_opens_in_plain_arviz(mn_fits: dict[str, hbr.Fit], tmp_path) -> None:
    import arviz as az

    fit = mn_fits["noncentered"]
    path = fit.to_netcdf(tmp_path / "radon.nc")
    back = az.from_netcdf(path)
    np.testing.assert_array_equal(back.posterior["floor|county"].values,
                                  fit.posterior["floor|county"].values)
    summary = az.summary(back, var_names=["floor", "sigma"])
    assert summary.loc["floor", "mean"] == pytest.approx(float(fit.posterior["floor"].mean()),
                                                         abs=1e-3)
    assert back.posterior.attrs["formula"] == "log_radon ~ floor + (floor | county)"
    assert back.posterior.attrs["parameterization"] == "noncentered"
    with pytest.warns(UserWarning, match="Pareto"):  # small counties are influential
        loo = az.loo(back)  # the pointwise log likelihood is usable
    assert np.isfinite(loo.elpd_loo)
    # never replaced without overwrite=True; no temporary files left behind
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="exists already.*overwrite=True"):
        fit.to_netcdf(path)
    assert path.read_bytes() == before
    fit.to_netcdf(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["radon.nc"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # ArviZ on the constant corr diagonal
def test_vectorised_summary_matches_arviz(mn_fits: dict[str, hbr.Fit]) -> None:
    """hbr's vectorised R-hat / ESS / MCSE / HDI equal ArviZ's (az.rhat, az.ess, az.mcse,
    az.hdi) to rounding error, on every parameter of the radon fit."""
    import arviz as az

    fit = mn_fits["centered"]  # a hard posterior: low ESS, R-hat away from 1
    mine = fit.summary()
    idata = fit.idata.isel(draw=slice(0, 999))  # an odd number of draws: split drops one
    mine_odd = hbr.posterior.draws.summarize(idata, None, fit.spec)
    for df, data in ((mine, fit.idata), (mine_odd, idata)):
        ref = {
            "r_hat": az.rhat(data), "ess_bulk": az.ess(data, method="bulk"),
            "ess_tail": az.ess(data, method="tail"), "mcse_mean": az.mcse(data, method="mean"),
        }
        hdi = az.hdi(data, hdi_prob=0.94)
        for label in df.index:
            var, _, rest = label.partition("[")
            sel = {}
            if rest:
                dims = [d for d in data.posterior[var].dims if d not in ("chain", "draw")]
                sel = dict(zip(dims, [c.strip() for c in rest[:-1].split(", ")]))
            for col, ds in ref.items():
                want = float(ds[var].sel(sel))
                assert df.loc[label, col] == pytest.approx(want, rel=1e-9, nan_ok=True), (label, col)
            lo, hi = hdi[var].sel(sel).values
            assert (df.loc[label, "hdi_3%"], df.loc[label, "hdi_97%"]) == (lo, hi)


def test_single_column_categorical_term_and_crossed_factors(mn) -> None:
    """C(floor) after an intercept is one treatment column but still a categorical term
    (a vector over C(floor)_dim); crossed factors are integrated out in turn (collapsed
    Gibbs), not Laplace-preconditioned, and say so in the netCDF attrs."""
    fit = hbr.fit("log_radon ~ C(floor) + (1 | county)", mn, seed=3, draws=200, tune=300,
                  chains=2)
    assert fit.posterior["C(floor)"].dims == ("chain", "draw", "C(floor)_dim")
    assert list(fit.posterior["C(floor)"].coords["C(floor)_dim"].values) == ["1"]
    assert fit.idata.posterior.attrs["laplace_preconditioning"] == 1
    with pytest.warns(hbr.HbrWarning, match="dropped 41 of 919 rows"):
        crossed = hbr.fit("log_radon ~ floor + (1 | county) + (1 | basement)", mn, seed=3,
                          draws=200, tune=300, chains=2, dropna=True)
    assert (crossed.idata.posterior.attrs["marginalized_factor"]
            == "county + basement (each in turn)")
    assert crossed.idata.posterior.attrs["laplace_preconditioning"] == 0


def test_extreme_scales_fit_like_the_rescaled_data() -> None:
    """y ~ 1e9 and x ~ 1e-9: every hyperparameter, rescaled, agrees with the fit on the
    original scale within 4 combined MCSE, with a clean verdict (before the fixed effects
    got least-squares coordinates, the slope of ~5e17 never moved: ESS 4)."""
    d, _ = hbr.simulate(20, 30, seed=4)
    e = d.assign(y=d.y * 1e9, x=d.x * 1e-9)
    a = hbr.fit("y ~ x + (x | g)", d, seed=1).summary(group_effects=False)
    fit = hbr.fit("y ~ x + (x | g)", e, seed=2)
    assert fit.diagnostics().ok, str(fit.diagnostics())
    b = fit.summary(group_effects=False)
    scale = {"Intercept": 1e9, "x": 1e18, "sigma": 1e9, "1|g_sigma": 1e9, "x|g_sigma": 1e18}
    for name, s in scale.items():
        z = abs(a.loc[name, "mean"] - b.loc[name, "mean"] / s) / np.hypot(
            a.loc[name, "mcse_mean"], b.loc[name, "mcse_mean"] / s)
        assert z < 4, (name, a.loc[name, "mean"], b.loc[name, "mean"] / s)


def test_draws_that_would_not_fit_in_memory_are_refused_up_front() -> None:
    """Issue 24: --draws 1000000 used to sample, then pass 12 GiB; the size of the draws is
    known before sampling, so the fit is refused at once with the largest number that fits."""
    import time

    from hbr.api import check_draw_memory
    from hbr.design.build import build_design
    from hbr.errors import OptionError
    from hbr.model.spec import build_model
    from hbr.options import FitOptions

    radon = hbr.load_dataset("radon")
    mn = radon[radon.state == "MN"]
    spec = build_model(build_design("log_radon ~ floor + (floor | county)", mn))
    opts = FitOptions.of(chains=4, draws=1_000_000, effect_draws="keep")
    with pytest.raises(OptionError, match=r"hold \d+\.\d GiB.*2\.0 GiB of memory.*at most about "
                                          r"\d+ draws per chain"):
        check_draw_memory(spec, opts, False, available=2 * 2**30)
    check_draw_memory(spec, FitOptions.of(chains=4, draws=1000), False, available=2 * 2**30)
    # "auto" keeps no effect draws at this size (5.4 GB of them): the rest fits
    check_draw_memory(spec, FitOptions.of(chains=4, draws=1_000_000), False,
                      available=2 * 2**30)
    # integrated-out effects are read back once, never among the sampler's positions: at
    # 10^8 rows and 2 x 10^5 effects the old count (everything twice, times three) refused
    # the default 4 x 1000 draws on a 24 GiB machine that fits them in 7 GiB
    params = sum(p.size for p in spec.params)
    effects = sum(g.block.n_levels * g.block.k for g in spec.groups)
    opts = FitOptions.of(chains=4, draws=100_000, effect_draws="keep")
    need = 1.5 * 8 * 4 * 100_000 * (2 * params + effects + 8)
    check_draw_memory(spec, opts, False, available=int(need * 1.01))
    with pytest.raises(OptionError):  # sampled effects are held twice
        check_draw_memory(spec, FitOptions.of(chains=4, draws=100_000, effect_draws="keep",
                                              parameterization="noncentered"), False,
                          available=int(need * 1.01))
    t = time.perf_counter()
    with pytest.raises(OptionError, match="draws per chain"):
        hbr.fit("log_radon ~ floor + (floor | county)", mn, draws=10**9)
    assert time.perf_counter() - t < 10  # before any compilation


def test_progress_true_false_or_a_function(capsys) -> None:
    """progress=False (as a Bambi or PyMC user writes it) used to fail deep inside the
    sampler ('bool' object is not callable); True shows a bar on stderr, a function is
    called, anything else is a named OptionError."""
    import hbr
    from hbr.errors import OptionError

    data, _ = hbr.simulate(10, 5, seed=1)
    kw = dict(seed=1, chains=1, draws=40, tune=40)
    a = hbr.fit("y ~ x + (1 | g)", data, progress=False, **kw)
    calls = []
    b = hbr.fit("y ~ x + (1 | g)", data, progress=lambda *c: calls.append(c), **kw)
    assert calls and calls[-1][:2] == (80, 80)
    np.testing.assert_array_equal(a.posterior["sigma"].values, b.posterior["sigma"].values)
    capsys.readouterr()
    hbr.fit("y ~ x + (1 | g)", data, progress=True, **kw)
    assert "sampling" in capsys.readouterr().err
    with pytest.raises(OptionError, match="progress must be True"):
        hbr.fit("y ~ x + (1 | g)", data, progress="yes", **kw)
