"""fit.fixef(), fit.varcorr(), fit.hypothesis() and fit.waic() against direct computations
from the draws and against ArviZ."""

from __future__ import annotations

import numpy as np
import pytest

import hbr
from hbr.errors import OptionError


@pytest.fixture(scope="module")
def sleep() -> hbr.Fit:
    return hbr.fit("Reaction ~ Days + (Days | Subject)", hbr.load_dataset("sleepstudy"),
                   seed=2, log_likelihood=True)


def _flat(fit: hbr.Fit, name: str) -> np.ndarray:
    return np.asarray(fit.draws.posterior[name]).reshape(-1)


def test_fixef_and_varcorr_are_the_summary_rows(sleep: hbr.Fit) -> None:
    s = sleep.summary(group_effects=False)
    f = sleep.fixef()
    assert list(f.index) == ["Intercept", "Days"]
    np.testing.assert_allclose(f.to_numpy(), s.loc[["Intercept", "Days"], list(f.columns)],
                               rtol=1e-12)
    v = sleep.varcorr()
    assert list(v.index) == [("Subject", "sd(Intercept)"), ("Subject", "sd(Days)"),
                             ("Subject", "cor(Intercept,Days)"), ("Residual", "sd")]
    want = s.loc[["1|Subject_sigma", "Days|Subject_sigma", "Subject_corr[Days, 1]",
                  "sigma"], list(v.columns)]
    np.testing.assert_allclose(v.to_numpy(), want.to_numpy(), rtol=1e-12)
    assert v.loc[("Subject", "sd(Intercept)"), "hdi_3%"] > 0


def test_hypotheses_equal_direct_computation(sleep: hbr.Fit) -> None:
    days, icpt, sig = (_flat(sleep, n) for n in ("Days", "Intercept", "sigma"))
    tau = _flat(sleep, "Days|Subject_sigma")
    t = sleep.hypothesis(["Days > 8", "Intercept + 10 * Days = 350", "`Days|Subject_sigma`"
                          " < sigma / 4"], alpha=0.1)
    h = [days - 8, icpt + 10 * days - 350, tau - sig / 4]
    probs = [(0.1, 0.9), (0.05, 0.95), (0.1, 0.9)]  # one-sided: alpha and 1 - alpha
    for row, d, q in zip(t.itertuples(), h, probs):
        assert row.estimate == pytest.approx(d.mean(), rel=1e-12)
        assert row.error == pytest.approx(d.std(ddof=1), rel=1e-12)
        assert (row.ci_lower, row.ci_upper) == pytest.approx(tuple(np.quantile(d, q)))
        assert row.star == ("*" if not row.ci_lower <= 0 <= row.ci_upper else "")
    p = np.mean(days > 8)
    assert t.post_prob[0] == pytest.approx(p) and t.evid_ratio[0] == pytest.approx(p / (1 - p))
    assert t.post_prob[2] == pytest.approx(np.mean(tau - sig / 4 < 0))
    assert np.isnan(t.post_prob[1]) and np.isnan(t.evid_ratio[1])  # a point hypothesis
    assert t.hypothesis[0] == "(Days) - (8) > 0"


@pytest.mark.parametrize("text, match", [
    ("Dys > 0", "'Dys' in the hypothesis 'Dys > 0' is not a parameter; did you mean 'Days'"),
    ("Days", "needs one comparison"), ("Days ** 2 > 1", "only parameter names, numbers"),
    ("Days > ", "needs one comparison")])
def test_bad_hypotheses_are_clear_errors(sleep: hbr.Fit, text: str, match: str) -> None:
    with pytest.raises(OptionError, match=match):
        sleep.hypothesis(text)


def test_waic_matches_arviz_with_and_without_the_kept_log_likelihood(sleep: hbr.Fit) -> None:
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own warning about variances over 0.4
        want = az.waic(sleep.idata, pointwise=True)
    got = sleep.waic()
    assert got.elpd == pytest.approx(float(want["elpd_waic"]), rel=1e-10)
    assert got.se == pytest.approx(float(want["se"]), rel=1e-10)
    assert got.p_waic == pytest.approx(float(want["p_waic"]), rel=1e-10)
    np.testing.assert_allclose(got.pointwise, np.asarray(want["waic_i"]), rtol=1e-10)
    var = np.asarray(sleep.draws.log_lik).reshape(4000, -1).var(axis=0)
    assert got.rows_over == int((var > 0.4).sum())
    assert (got.rows_over > 0) == bool(want["warning"])
    again = hbr.fit("Reaction ~ Days + (Days | Subject)", hbr.load_dataset("sleepstudy"),
                    seed=2, log_likelihood=False)
    assert again.draws.log_lik is None
    np.testing.assert_allclose(again.waic().pointwise, got.pointwise, rtol=1e-9)
    assert "elpd_waic" in str(got) and "p_waic" in str(got)
