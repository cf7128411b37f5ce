"""fit.ranef() and fit.coef(): sleepstudy against lme4, and the algebra of the tables."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.errors import OptionError
from hbr.posterior.effects import interval_columns

# lme4 1.1-31 (Debian r-cran-lme4), REML:
#   m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
#   round(cbind(ranef(m)$Subject, coef(m)$Subject), 4)
# columns: Subject, ranef (Intercept), ranef Days, coef (Intercept), coef Days
LME4 = """308 2.2586 9.1990 253.6637 19.6663
309 -40.3987 -8.6197 211.0064 1.8476
310 -38.9604 -5.4489 212.4447 5.0184
330 23.6906 -4.8144 275.0957 5.6529
331 22.2603 -3.0699 273.6654 7.3974
332 9.0396 -0.2722 260.4447 10.1951
333 16.8405 -0.2236 268.2456 10.2436
334 -7.2326 1.0746 244.1725 11.5419
335 -0.3337 -10.7522 251.0714 -0.2849
337 34.8905 8.6283 286.2956 19.0956
349 -25.2102 1.1734 226.1949 11.6407
350 -13.0700 6.6142 238.3351 17.0815
351 4.5779 -3.0153 255.9830 7.4520
352 20.8637 3.5360 272.2688 14.0033
369 3.2755 0.8722 254.6806 11.3395
370 -25.6130 4.8225 225.7921 15.2898
371 0.8070 -0.9882 252.2122 9.4791
372 12.3146 1.2840 263.7197 11.7513"""

# Posterior means and REML conditional modes differ by the integration over the variance
# parameters (small with 10 rows per subject) plus Monte Carlo error (~0.02 sd at ESS 3000):
# on this fit the largest gap was 0.047 sd; 0.15 sd leaves room for other seeds and CPUs
# while a wrong sign, a missing fixed effect or a swapped level (gaps of 1-20 sd) fails.
TOL_SD = 0.15


@pytest.fixture(scope="module")
def sleep() -> hbr.Fit:
    return hbr.fit("Reaction ~ Days + (Days | Subject)", hbr.load_dataset("sleepstudy"),
                   seed=1)


def test_ranef_and_coef_agree_with_lme4(sleep: hbr.Fit) -> None:
    want = pd.read_csv(io.StringIO(LME4), sep=" ", header=None, dtype={0: str},
                       names=["level", "r_Intercept", "r_Days", "c_Intercept", "c_Days"]
                       ).set_index("level")
    for table, pre in ((sleep.ranef(), "r_"), (sleep.coef(), "c_")):
        assert list(table.columns) == ["factor", "level", "coefficient", "mean", "sd",
                                       "hdi_3%", "hdi_97%"]
        assert len(table) == 36 and set(table.factor) == {"Subject"}
        for name in ("Intercept", "Days"):
            t = table[table.coefficient == name].set_index("level")
            assert list(t.index) == list(want.index)
            gap = ((t["mean"] - want[pre + name]) / t["sd"]).abs()
            assert gap.max() < TOL_SD, (pre + name, gap.idxmax(), gap.max())
            assert (t["hdi_3%"] < t["mean"]).all() and (t["mean"] < t["hdi_97%"]).all()


def test_coef_is_population_plus_deviation_draw_by_draw(sleep: hbr.Fit) -> None:
    post = sleep.draws.posterior
    draws = np.asarray(post["Days"])[..., None] + np.asarray(post["Days|Subject"])
    flat = draws.reshape(-1, draws.shape[-1])
    c = sleep.coef(prob=0.5)
    assert interval_columns(0.5) == ("hdi_25%", "hdi_75%")
    days = c[c.coefficient == "Days"]
    np.testing.assert_allclose(days["mean"], flat.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(days["sd"], flat.std(axis=0, ddof=1), rtol=1e-12)
    # the 50% HDI holds half the draws of each subject
    inside = (flat >= days["hdi_25%"].to_numpy()) & (flat <= days["hdi_75%"].to_numpy())
    np.testing.assert_allclose(inside.mean(axis=0), 0.5, atol=1 / flat.shape[0] + 1e-12)
    # the interval of the sum is not the sum of intervals: coef's sd is not ranef's
    r = sleep.ranef()
    assert not np.allclose(days["sd"], r[r.coefficient == "Days"]["sd"])


def test_names_of_categorical_sigma_and_group_only_terms() -> None:
    rng = np.random.default_rng(0)
    n = 240
    d = pd.DataFrame({"y": rng.normal(size=n), "t": rng.choice(list("abc"), n),
                      "g": rng.choice(list("pqrs"), n), "x": rng.normal(size=n)})
    kw = dict(seed=1, chains=1, draws=40, tune=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hbr.HbrWarning)
        f = hbr.fit("y ~ C(t) + (C(t) + x | g)", d, **kw)
        s = hbr.fit(["y ~ x + (1 | g)", "sigma ~ 1 + (1 | g)"], d, **kw)
    c = f.coef()
    assert list(c.coefficient.unique()) == ["Intercept", "C(t)[b]", "C(t)[c]", "x"]
    post = f.draws.posterior
    b = c[c.coefficient == "C(t)[b]"]["mean"].to_numpy()
    want = (np.asarray(post["C(t)"])[..., 0, None] + np.asarray(post["C(t)[b]|g"])).mean(
        axis=(0, 1))
    np.testing.assert_allclose(b, want, rtol=1e-12)
    # x has no population coefficient: coef is the deviation alone
    np.testing.assert_array_equal(c[c.coefficient == "x"]["mean"],
                                  f.ranef().query("coefficient == 'x'")["mean"])
    sc = s.coef()
    assert set(sc.coefficient) == {"Intercept", "sigma_Intercept"}
    lsig = sc[sc.coefficient == "sigma_Intercept"]["mean"].to_numpy()
    want = (np.asarray(s.draws.posterior["sigma_Intercept"])[..., None]
            + np.asarray(s.draws.posterior["sigma_1|g"])).mean(axis=(0, 1))
    np.testing.assert_allclose(lsig, want, rtol=1e-12)


def test_bad_prob_and_no_groups_are_clear_errors(sleep: hbr.Fit) -> None:
    with pytest.raises(OptionError, match="prob must be between 0 and 1"):
        sleep.ranef(prob=94)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hbr.HbrWarning)
        pooled = hbr.fit("Reaction ~ Days", hbr.load_dataset("sleepstudy"), seed=1,
                         chains=1, draws=40, tune=40)
    with pytest.raises(OptionError, match="no group terms"):
        pooled.coef()
