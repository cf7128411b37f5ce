"""Bundled datasets.

``radon``: Gelman & Hill's radon measurements, 12,573 homes in all states (columns idnum,
state, county, fips, floor, basement, activity, log_radon, uppm, log_uppm); Minnesota,
``state == "MN"``, has 919 homes in 85 counties (seed 001).

``sleepstudy``: Belenky et al. (2003) as lme4 ships it: reaction times (ms) of 18 subjects
over 10 days of sleep deprivation (columns Reaction, Days, Subject; 180 rows), the data of
lme4's ``Reaction ~ Days + (Days | Subject)``.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from hbr.datasets.simulate import simulate
from hbr.errors import OptionError

__all__ = ["load_dataset", "load_example", "list_datasets", "simulate", "DATASETS", "EXAMPLES"]

DATASETS = {
    "radon": "Gelman & Hill radon data: 12,573 homes, all states (Minnesota: 919 homes, 85 "
             "counties)",
    "sleepstudy": "Belenky et al. (2003), from lme4: reaction times of 18 subjects over 10 "
                  "days of sleep deprivation (180 rows)",
}
# name -> (dataset, row filter as (column, value), formula) for `hbr fit --example`
EXAMPLES = {
    "radon": ("radon", ("state", "MN"), "log_radon ~ floor + (floor | county)"),
}


def list_datasets() -> dict[str, str]:
    """Names and one-line descriptions of the bundled datasets."""
    return dict(DATASETS)


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a pandas DataFrame.

    Examples
    --------
    >>> radon = load_dataset("radon")
    >>> len(radon), int((radon.state == "MN").sum())
    (12573, 919)
    """
    if name not in DATASETS:
        raise OptionError(f"no dataset named {name!r}; available: {', '.join(DATASETS)}")
    with resources.files(__name__).joinpath(f"{name}.csv").open("rb") as fh:
        return pd.read_csv(fh)


def load_example(name: str) -> pd.DataFrame:
    """The table of the example ``name`` of :data:`EXAMPLES` (``hbr fit --example``): its
    dataset filtered to its rows, e.g. Minnesota for ``radon``."""
    if name not in EXAMPLES:
        raise OptionError(f"no example named {name!r}; available: {', '.join(EXAMPLES)}")
    ds, (col, val), _ = EXAMPLES[name]
    table = load_dataset(ds)
    return table[table[col] == val].reset_index(drop=True)
