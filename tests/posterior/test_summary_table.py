"""print(fit.summary()) in a script shows every column, ESS as integers and R-hat to three
decimals; the table is still a DataFrame with the full-precision values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hbr.posterior.summary_table import SummaryTable


def _table(rows: int) -> SummaryTable:
    rng = np.random.default_rng(0)
    return SummaryTable(pd.DataFrame({
        "mean": rng.normal(size=rows), "sd": rng.uniform(0.1, 1, rows),
        "hdi_3%": rng.normal(size=rows) - 2, "hdi_97%": rng.normal(size=rows) + 2,
        "mcse_mean": rng.uniform(1e-4, 1e-2, rows), "ess_bulk": rng.uniform(100, 4000, rows),
        "ess_tail": rng.uniform(100, 4000, rows), "r_hat": 1 + rng.uniform(0, 0.02, rows)},
        index=[f"1|a_very_long_grouping_factor_name[level {i}]" for i in range(rows)]))


def test_prints_every_column_rounded_in_a_narrow_terminal() -> None:
    t = _table(6)
    with pd.option_context("display.width", 40, "display.max_columns", 3):
        text = str(t)
    lines = text.splitlines()
    assert lines[0].split() == list(t.columns)  # one header line: no column left out
    assert len(lines) == 7 and "..." not in text
    first = lines[1].split()[-8:]  # the label has spaces: the 8 cells are the last words
    assert first[5] == f"{t['ess_bulk'].iloc[0]:.0f}" and first[7] == f"{t['r_hat'].iloc[0]:.3f}"
    assert first[0] == f"{t['mean'].iloc[0]:.3f}"
    assert repr(t) == text


def test_long_tables_print_head_and_tail_and_keep_full_values() -> None:
    t = _table(500)
    with pd.option_context("display.max_rows", 60):
        text = str(t)
    assert "[500 rows x 8 columns]" in text and "level 0]" in text and "level 499]" in text
    assert "level 250]" not in text
    assert isinstance(t, pd.DataFrame) and isinstance(t.loc[t.index[:3]], SummaryTable)
    assert t["ess_bulk"].iloc[0] != round(t["ess_bulk"].iloc[0])  # only printing rounds


@pytest.mark.filterwarnings("ignore::hbr.errors.DiagnosticsWarning")  # short chains
def test_print_fit_shows_brms_blocks_with_every_hyperparameter_once() -> None:
    import hbr
    from hbr.posterior.blocks import summary_blocks

    rng = np.random.default_rng(0)
    n = 240
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                      "g": rng.choice(list("abcdef"), n), "h": rng.choice(list("pqrs"), n),
                      "t": rng.choice(list("uv"), n)})
    # t[v] is a fixed element and t[v]|h_sigma the sd of its group effect: one row each
    fit = hbr.fit(["y ~ x + t + (x | g) + (1 + t | h)", "sigma ~ 1 + (1 | g)"], d, seed=1,
                  chains=2, draws=150, tune=150)
    hyper = fit.summary(group_effects=False)
    blocks = summary_blocks(fit.spec, hyper)
    assert [t for t, _ in blocks] == ["Population-level effects",
                                      "Group-level effects: ~g (6 levels)",
                                      "Group-level effects: ~h (4 levels)"]
    rows = [r for _, b in blocks for r in b.index]
    assert sorted(rows) == sorted(hyper.index)  # every row once, none invented
    assert "sigma_Intercept" in blocks[0][1].index and "sigma_1|g_sigma" in blocks[1][1].index
    assert "t[v]" in blocks[0][1].index and "t[v]|h_sigma" in blocks[2][1].index
    text = str(fit)
    assert text.index("Population-level effects:") < text.index("~g (6 levels)") \
        < text.index("~h (4 levels)")
    assert "OK:" in text or "WARNING:" in text
