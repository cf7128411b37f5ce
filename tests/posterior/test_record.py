"""RunRecord is the one schema of a fit's netCDF attrs: written and read by the same code."""

from __future__ import annotations

import json

import pytest

import hbr
from hbr.errors import DataError
from hbr.posterior.record import RunRecord


def _record() -> RunRecord:
    return RunRecord(
        formula="y ~ x + (x | g)", family="gaussian", link="identity", method="nuts",
        seed=7, chains=2, draws=50, tune=60, target_accept=0.9, parameterization="auto",
        user_priors={"sigma": "HalfNormal(sigma=1.0)"}, priors={"sigma": "HalfNormal(1)"},
        dpar_formulas=("sigma ~ 1 + (1 | g)",), init="map", thin=1, vi_steps=0,
        method_settings={"target_accept": 0.9}, marginalized_factor=None,
        centered_fraction={"1|g": {"a": 0.25, "b": 1.0}}, dropna=True, n_obs=12,
        rows_dropped=3, interrupted=True, engine="pandas", laplace_preconditioning=False,
        timings={"compile_s": 1.5, "warmup_s": 0.25, "sampling_s": 0.5, "total_s": 3.0},
        elbo_final=None, data_source="example:radon")


def test_round_trip() -> None:
    r = _record()
    attrs = r.to_attrs()
    assert all(isinstance(v, (str, int, float)) for v in attrs.values())
    assert RunRecord.from_attrs(attrs) == r
    # the attribute names hbr has always written
    assert {"formula", "dpar_formulas", "user_priors", "centered_fraction", "seed",
            "marginalized_factor", "compile_s", "total_s", "data_source"} <= set(attrs)
    assert attrs["dpar_formulas"] == "sigma ~ 1 + (1 | g)" and attrs["interrupted"] == 1


def test_a_fit_writes_what_load_reads(tmp_path) -> None:
    d, _ = hbr.simulate(6, 5, seed=1)
    fit = hbr.fit("y ~ x + (1 | g)", d, chains=1, draws=20, tune=20, seed=3,
                  priors={"sigma": "HalfNormal(2)"})
    attrs = dict(fit.idata.posterior.attrs)
    r = RunRecord.from_attrs(attrs)
    assert (r.seed, r.chains, r.draws, r.formula) == (3, 1, 20, "y ~ x + (1 | g)")
    assert r.user_priors == {"sigma": "HalfNormal(2)"}  # as given (a string here)
    assert r.method_settings["target_accept"] == 0.9
    again = {k: v for k, v in r.to_attrs().items()}
    assert {k: attrs[k] for k in again} == again  # the same attrs, bit for bit
    fit.to_netcdf(tmp_path / "f.nc")
    loaded = hbr.load_fit(tmp_path / "f.nc", data=d)
    assert loaded.seed == 3 and loaded.parameterization.name == fit.parameterization.name


@pytest.mark.parametrize("name,value", [("seed", "abc"), ("seed", 1.5),
                                        ("user_priors", "{not json"),
                                        ("centered_fraction", "[1, 2]"),
                                        ("chains", "two")])
def test_an_edited_attribute_is_named(name: str, value: object) -> None:
    attrs = _record().to_attrs()
    attrs[name] = value
    with pytest.raises(DataError, match=repr(name)):
        RunRecord.from_attrs(attrs, "posterior.nc")


def test_a_missing_attribute_is_named() -> None:
    attrs = _record().to_attrs()
    del attrs["seed"], attrs["family"]
    with pytest.raises(DataError, match="'family', .*'seed'|'seed', .*'family'"):
        RunRecord.from_attrs(attrs, "posterior.nc")


def test_not_an_hbr_file() -> None:
    with pytest.raises(DataError, match="not written by this version of hbr"):
        RunRecord.from_attrs({"inference_library": "pymc"}, "x.nc")
    assert json.loads(_record().to_attrs()["centered_fraction"]) == {"1|g": {"a": 0.25,
                                                                           "b": 1.0}}


def test_a_formula_edited_to_another_column_is_named(tmp_path) -> None:
    """Issue 23: the formula attribute changed to another column of the same table used to
    end in KeyError; the posterior lacks the new parameter, and the message says so."""
    import netCDF4

    d, _ = hbr.simulate(6, 5, seed=1)
    d["z"] = d["x"] * 2
    fit = hbr.fit("y ~ x + (1 | g)", d, chains=1, draws=20, tune=20, seed=3)
    fit.to_netcdf(tmp_path / "f.nc")
    with netCDF4.Dataset(tmp_path / "f.nc", "a") as nc:
        nc.groups["posterior"].setncattr("formula", "y ~ z + (1 | g)")
    with pytest.raises(DataError, match=r"parameter\(s\) 'z' that its posterior lacks"):
        hbr.load_fit(tmp_path / "f.nc", data=d)
