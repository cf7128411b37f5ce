"""hbr.fit warns (DiagnosticsWarning, an HbrWarning) when the verdict is not OK, naming the
problem and the fix, and stays quiet on a clean fit; repr(fit) carries the verdict."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.errors import DiagnosticsWarning, HbrWarning


def _funnel_table() -> pd.DataFrame:
    """Eight groups of two rows with a group sd near 0: a funnel for the centred form."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(8), 2)
    return pd.DataFrame({"y": rng.normal(0, 0.1, 8)[g] + rng.normal(0, 1, 16),
                         "g": g.astype(str)})


def test_divergent_fit_warns_with_the_fix() -> None:
    with pytest.warns(DiagnosticsWarning) as record:
        fit = hbr.fit("y ~ 1 + (1 | g)", _funnel_table(), parameterization="centered",
                      chains=2, draws=300, tune=300, seed=3, target_accept=0.6)
    diag = fit.diagnostics()
    assert diag.divergences > 0 and not diag.ok
    (w,) = [r for r in record if r.category is DiagnosticsWarning]
    text = str(w.message)
    assert f"{diag.divergences} divergent transitions" in text
    assert "parameterization='auto'" in text  # the fix for a centred fit
    assert w.filename == __file__  # attributed to the caller's line, not to hbr
    assert issubclass(DiagnosticsWarning, HbrWarning) and hbr.DiagnosticsWarning is \
        DiagnosticsWarning
    assert "WARNING: " in repr(fit) and f"{diag.divergences} divergences" in repr(fit)


def test_clean_fit_does_not_warn_and_says_ok() -> None:
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(20), 20)
    t = pd.DataFrame({"y": rng.normal(0, 1, 20)[g] + rng.normal(0, 1, g.size),
                      "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DiagnosticsWarning)
        fit = hbr.fit("y ~ 1 + (1 | g)", t, chains=2, draws=500, tune=500, seed=2)
    assert fit.diagnostics().ok
    assert repr(fit).startswith("<hbr.Fit 'y ~ 1 + (1 | g)': 400 rows, marginal")
    assert "; OK: 0 divergences" in repr(fit)


class _Terminal:
    """A stderr that says it is a terminal and keeps what is written to it."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_bar_by_default_in_a_terminal_only(monkeypatch) -> None:
    from hbr._runtime.progressbar import interactive

    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(10), 10)
    t = pd.DataFrame({"y": rng.normal(0, 1, 10)[g] + rng.normal(0, 1, g.size),
                      "g": g.astype(str)})
    kw = dict(chains=2, draws=100, tune=100, seed=1)
    assert not interactive()  # pytest captures stderr: no terminal, no bar
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    assert interactive()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbrWarning)
        shown = hbr.fit("y ~ 1 + (1 | g)", t, **kw)
        assert "sampling" in "".join(term.parts)
        assert "200/200" in "".join(term.parts)  # tune + draws iterations, all done
        term.parts.clear()
        quiet = hbr.fit("y ~ 1 + (1 | g)", t, progress=False, **kw)
    assert term.parts == []
    np.testing.assert_array_equal(shown.draws.posterior["Intercept"],
                                  quiet.draws.posterior["Intercept"])  # the bar draws nothing


def test_loo_and_report_show_their_bars_in_a_terminal_only(monkeypatch, tmp_path) -> None:
    """fit.loo() and fit.report() draw a bar of rows and sections when a person watches,
    none otherwise (or with progress=False), with the same results; a bad value is named."""
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(8), 6)
    t = pd.DataFrame({"y": rng.normal(0, 1, 8)[g] + rng.normal(0, 1, g.size),
                      "g": g.astype(str)})
    with warnings.catch_warnings():  # a short run: its verdict is not the point here
        warnings.simplefilter("ignore", DiagnosticsWarning)
        fit = hbr.fit("y ~ 1 + (1 | g)", t, chains=2, draws=100, tune=100, seed=1,
                      progress=False)
    quiet = fit.loo()  # pytest captures stderr: no terminal, no bar
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    shown = fit.loo()
    text = "".join(term.parts)
    assert "LOO" in text and "100%" in text  # every row read
    np.testing.assert_array_equal(shown.pointwise, quiet.pointwise)
    term.parts.clear()
    assert fit.loo(progress=False).elpd == quiet.elpd and term.parts == []
    fit.report(tmp_path / "a.html", map_vs_mean=False)
    assert "report" in "".join(term.parts) and "100%" in "".join(term.parts)
    term.parts.clear()
    fit.report(tmp_path / "b.html", map_vs_mean=False, progress=False)
    assert term.parts == []
    a, b = ((tmp_path / n).read_text() for n in ("a.html", "b.html"))
    strip = [line for line in a.splitlines() if "UTC" not in line]
    assert len(a) > 10_000 and strip == [line for line in b.splitlines() if "UTC" not in line]
    with pytest.raises(hbr.errors.OptionError, match="progress must be True"):
        fit.loo(progress="yes")
