"""fit.update(): a changed table, formula or setting, the rest as before; new data of the
same shape compiles nothing new."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr._runtime.compile import compile_count
from hbr.errors import OptionError


def _table(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 15)
    x = rng.normal(size=g.size)
    return pd.DataFrame({"y": 1 + 0.5 * x + rng.normal(0, 0.7, 12)[g] + rng.normal(size=g.size),
                         "x": x, "g": g.astype(str)})


@pytest.mark.filterwarnings("ignore::hbr.errors.DiagnosticsWarning")  # short chains
def test_update_reuses_settings_and_programs() -> None:
    first = hbr.fit("y ~ x + (1 | g)", _table(0), chains=2, draws=300, tune=300, seed=5)
    before = compile_count()
    new = _table(1)
    again = first.update(data=new)
    assert compile_count() == before  # same structure and shapes: nothing compiled
    assert again.seed == first.seed == 5 and again.formula == first.formula
    assert again.draws.posterior["x"].shape == (2, 300)
    ref = hbr.fit("y ~ x + (1 | g)", new, chains=2, draws=300, tune=300, seed=5)
    np.testing.assert_array_equal(again.draws.posterior["x"], ref.draws.posterior["x"])
    longer = again.update(draws=400)  # the data of the fit it updates: the new table
    assert longer.draws.posterior["x"].shape == (2, 400)
    np.testing.assert_array_equal(longer.spec.design.y, new["y"].to_numpy())
    slope = first.update("y ~ x + (x | g)")
    assert slope.formula == "y ~ x + (x | g)" and slope.seed == 5


def test_update_refuses_unknown_settings_and_loaded_fits(tmp_path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hbr.HbrWarning)
        fit = hbr.fit("y ~ x + (1 | g)", _table(0), chains=1, draws=40, tune=40, seed=1)
    with pytest.raises(OptionError, match="update\\(\\) does not know 'drows'"):
        fit.update(drows=100)
    fit.to_netcdf(tmp_path / "f.nc")
    loaded = hbr.load_fit(tmp_path / "f.nc", data=_table(0))
    with pytest.raises(OptionError, match="loaded from a file"):
        loaded.update(draws=100)


@pytest.mark.filterwarnings("ignore::hbr.errors.DiagnosticsWarning")  # short chains
def test_predict_labelled_names_draws_and_rows() -> None:
    fit = hbr.fit("y ~ x + (1 | g)", _table(0), chains=2, draws=100, tune=100, seed=1)
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["3", "new county"]}, index=["a", "b"])
    bare = fit.predict(new, kind="response")
    lab = fit.predict(new, kind="response", labelled=True)
    assert lab.dims == ("chain", "draw", "row") and list(lab.row.values) == ["a", "b"]
    assert lab.name == "y_response" and lab.attrs["seed"] == 1
    np.testing.assert_array_equal(lab.values, bare)
    assert float(lab.sel(row="a").mean()) == pytest.approx(bare[..., 0].mean())
