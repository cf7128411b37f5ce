"""Shared fixtures: the Minnesota radon table and fits reused across tests."""

from __future__ import annotations

import pandas as pd
import pytest

import hbr

RADON_FORMULA = "log_radon ~ floor + (floor | county)"


@pytest.fixture(scope="session")
def mn() -> pd.DataFrame:
    radon = hbr.load_dataset("radon")
    return radon[radon.state == "MN"].reset_index(drop=True)


@pytest.fixture(scope="session")
def mn_fits(mn: pd.DataFrame) -> dict[str, hbr.Fit]:
    """The seed-001 model in both parameterisations (default chains, draws and tune)."""
    return {p: hbr.fit(RADON_FORMULA, mn, seed=11, parameterization=p)
            for p in ("noncentered", "centered")}
