"""hbr against brms, family by family (issue 20): the same model, data and priors, and every
fixed effect, group sd and family parameter compared as |mean_hbr - mean_brms| / sd_brms
(agreement: <= 0.5, within Monte Carlo error of two 4000-draw fits).

Data: brms's ``kidney`` (time to infection recurrence, 76 rows in 38 patients, 18 of them
right-censored: the survival families with ``cens()``; the uncensored rows for the plain
lognormal and gamma), brms's ``epilepsy`` (seizure counts, 236 rows in 59 patients: the
negative binomial, zero-inflated and hurdle families, and Poisson with ``weights()``),
brms's ``inhaler`` (ordinal ratings 1-4: ``cumulative``, logit and probit), lme4's
``sleepstudy`` (Gaussian with ``weights()``: the weighted statistics), formulas for ``zi``
(epilepsy) and ``shape`` (kidney), smooths ``s(x)`` on MASS's ``mcycle``, sleepstudy and
epilepsy (the curve E[y] compared row by row too), and, for ``beta``, a
simulated table (no proportion data ships with brms or lme4). Debian's ``r-cran-brms`` (bench only, never
CI: ``apt install r-cran-brms``); each brms model compiles Stan C++ first (about a minute).

Run by hand:  python bench/brms_families.py [--cases weibull,gamma,...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
EXPORT = """suppressMessages(library(brms)); a <- commandArgs(TRUE)
k <- kidney; k$female <- as.numeric(k$sex == "female"); k$age10 <- (k$age - 40) / 10
write.csv(k[, c("time", "censored", "patient", "age10", "female")], a[1], row.names = FALSE)
e <- epilepsy; e$treat <- as.numeric(as.character(e$Trt))
e$w <- as.numeric(as.character(e$visit))
write.csv(e[, c("count", "zAge", "zBase", "treat", "patient", "visit", "w")], a[2], row.names = FALSE)
write.csv(inhaler, a[3], row.names = FALSE)
m <- MASS::mcycle; m$accel <- m$accel / 50; write.csv(m, a[4], row.names = FALSE)
"""
# one prior set in both tools: (hbr name, hbr prior, brms prior)
PRIORS = {
    "b": ("Normal(0, 2)", "prior(normal(0, 2), class = b)"),
    "Intercept": ("Normal(0, 5)", "prior(normal(0, 5), class = Intercept)"),
    "sd": ("HalfNormal(1)", "prior(normal(0, 1), class = sd)"),
    "sigma": ("Exponential(1)", "prior(exponential(1), class = sigma)"),
    "shape": ("Gamma(0.01, 0.01)", "prior(gamma(0.01, 0.01), class = shape)"),
    "phi": ("Gamma(0.01, 0.01)", "prior(gamma(0.01, 0.01), class = phi)"),
    "zi": ("Beta(1, 1)", "prior(beta(1, 1), class = zi)"),
    "sds": ("HalfStudentT(3, 2.5)", "prior(student_t(3, 0, 2.5), class = sds)"),
    "hu": ("Beta(1, 1)", "prior(beta(1, 1), class = hu)"),
}
KIDNEY = "time | cens(censored) ~ age10 + female + (1 | patient)"
KIDNEY_PLAIN = "time ~ age10 + female + (1 | patient)"
EPI = "count ~ zAge + zBase * treat + (1 | patient)"
# case: (table, formula, hbr family, brms family, hbr aux params -> brms class)
CASES = {
    "weibull": ("kidney", KIDNEY, "weibull", "weibull()", {"shape": "shape"}),
    "exponential": ("kidney", KIDNEY, "exponential", "exponential()", {}),
    "lognormal": ("kidney", KIDNEY, "lognormal", "lognormal()", {"sigma": "sigma"}),
    "gamma": ("kidney", KIDNEY_PLAIN, "gamma", "Gamma(link = 'log')", {"shape": "shape"}),
    "negative_binomial": ("epilepsy", EPI, "negative_binomial", "negbinomial()",
                          {"phi": "shape"}),
    "zero_inflated_poisson": ("epilepsy", EPI, "zero_inflated_poisson",
                              "zero_inflated_poisson()", {"zi": "zi"}),
    "hurdle_negbinomial": ("epilepsy", EPI, "hurdle_negbinomial", "hurdle_negbinomial()",
                           {"phi": "shape", "hu": "hu"}),
    "zero_inflated_negbinomial": ("epilepsy", EPI, "zero_inflated_negbinomial",
                                  "zero_inflated_negbinomial()", {"phi": "shape", "zi": "zi"}),
    "hurdle_poisson": ("epilepsy", EPI, "hurdle_poisson", "hurdle_poisson()", {"hu": "hu"}),
    "beta": ("beta", "y ~ x + (1 | g)", "beta", "Beta()", {"phi": "phi"}),
    # ordinal: brms's inhaler ratings (1-4, 572 rows in 286 subjects); Intercept[k]
    "cumulative": ("inhaler", "rating ~ treat + period + carry + (1 | subject)", "cumulative",
                   "cumulative()", {}),
    "cumulative-probit": ("inhaler", "rating ~ treat + period + carry + (1 | subject)",
                          "cumulative", "cumulative('probit')", {}),
    # weights(): visit number as a weight, on the counts and on a Gaussian response (the
    # weighted statistics of the integrated factor)
    "poisson-weights": ("epilepsy", "count | weights(w) ~ zAge + zBase * treat + (1 | patient)",
                        "poisson", "poisson()", {}),
    "gaussian-weights": ("sleep", "y | weights(w) ~ Days + (Days | Subject)", "gaussian",
                         "gaussian()", {"sigma": "sigma"}),
    # a formula for a family parameter: the zero-inflation probability by baseline count
    "zi-formula": ("epilepsy", EPI + "; zi ~ zBase", "zero_inflated_poisson",
                   "zero_inflated_poisson()", {}),
    "shape-formula": ("kidney", KIDNEY_PLAIN + "; shape ~ female", "gamma",
                      "Gamma(link = 'log')", {}),
    # smooths: MASS's mcycle (head acceleration / 50 against time, 133 rows: the classic
    # wiggly curve), and a smooth beside a grouping factor on sleepstudy; the penalised
    # coefficients' signs are LAPACK's choice in R, so the curve E[y] is compared row by
    # row instead of s_sx_1
    "smooth": ("mcycle", "accel ~ s(times)", "gaussian", "gaussian()", {"sigma": "sigma"}),
    "smooth-group": ("sleep", "y ~ s(Days, k = 5) + (1 | Subject)", "gaussian", "gaussian()",
                     {"sigma": "sigma"}),
    "smooth-poisson": ("epilepsy", "count ~ s(zBase) + treat + (1 | patient)", "poisson",
                       "poisson()", {}),
}
# priors of a distributional formula's coefficients: (hbr prior, brms prior with DPAR)
DPAR_PRIORS = {"Intercept": ("Normal(0, 1.5)", "prior(normal(0, 1.5), class = Intercept, "
                                               "dpar = DPAR)"),
               "b": ("Normal(0, 1)", "prior(normal(0, 1), class = b, dpar = DPAR)")}


def _beta_table() -> pd.DataFrame:
    rng = np.random.default_rng(20)
    g = np.repeat(np.arange(25), 12)
    x = rng.normal(size=g.size)
    mu = 1 / (1 + np.exp(-(-0.4 + 0.6 * x + rng.normal(0, 0.5, 25)[g])))
    return pd.DataFrame({"y": rng.beta(mu * 12, (1 - mu) * 12), "x": x, "g": g})


def _sleep_table() -> pd.DataFrame:
    """lme4's sleepstudy on a unit scale (the bench's priors are on that scale), each row
    weighted by its day (1..10): the later days count more."""
    import hbr

    d = hbr.load_dataset("sleepstudy")
    return pd.DataFrame({"y": (d["Reaction"] - 300) / 50, "Days": d["Days"],
                         "Subject": d["Subject"].astype(str), "w": d["Days"] + 1.0})


def _brms_name(name: str, aux: dict[str, str], smooths: list[str]) -> str:
    m = re.fullmatch(r"(\w+)\|(\w+)_sigma", name)
    if m:
        return f"sd_{m.group(2)}__{'Intercept' if m.group(1) == '1' else m.group(1)}"
    if name.startswith("sds_"):
        return name
    if name in smooths:  # the smooth's linear part: brms's bs_sx_1
        return f"bs_{name}"
    return aux.get(name, f"b_{name.replace(':', ':')}")


def compare(case: str, tables: dict[str, pd.DataFrame], tmp: Path) -> list[dict]:
    import hbr

    table, formula, fam, bfam, aux = CASES[case]
    link = "probit" if "probit" in bfam else None
    d = tables[table]
    csv = tmp / f"{case}.csv"
    d.to_csv(csv, index=False)
    priors = {"Intercept": PRIORS["Intercept"][0]}
    bpri = [PRIORS["b"][1], PRIORS["Intercept"][1]]
    if re.search(r"\([^()]*\|[^()]*\)", formula):  # a group term: its sds
        bpri.append(PRIORS["sd"][1])
    if re.search(r"\((?!1 )\w+ \| ", formula):  # a correlated slope: hbr's default LKJ(2)
        bpri.append("prior(lkj(2), class = cor)")
    smooths = [m.name for m in hbr.parse_formula(formula.split(";")[0]).smooths]
    for name in smooths:
        priors[f"sds_{name}"] = PRIORS["sds"][0]
    if smooths:
        bpri.append(PRIORS["sds"][1])
    for p in aux:
        priors[p] = PRIORS[p][0]
        bpri.append(PRIORS[p][1].replace(f"class = {p}", f"class = {aux[p]}"))
    formulas = [f.strip() for f in formula.split(";")]
    response = formulas[0].split("~")[0].split("|")[0].strip()
    for extra in formulas[1:]:  # e.g. "zi ~ zBase": its intercept and slopes
        dpar = extra.split("~")[0].strip()
        slopes = _slopes(extra.replace(dpar, response, 1), d, fam)
        priors[f"{dpar}_Intercept"] = DPAR_PRIORS["Intercept"][0]
        bpri.append(DPAR_PRIORS["Intercept"][1].replace("DPAR", dpar))
        for t in slopes:
            priors[f"{dpar}_{t}"] = DPAR_PRIORS["b"][0]
        if slopes:
            bpri.append(DPAR_PRIORS["b"][1].replace("DPAR", dpar))
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hbr.fit(formulas, d, family=fam, link=link, seed=1, log_likelihood=False,
                      priors={**priors, **{n: PRIORS["b"][0]
                                           for n in _slopes(formulas[0], d, fam)},
                              **{f"1|{g}_sigma": PRIORS["sd"][0]
                                 for g in re.findall(r"\(1 \| (\w+)\)", formula)},
                              **{f"{c}|{g}_sigma": PRIORS["sd"][0]
                                 for c, g in re.findall(r"\((\w+) \| (\w+)\)", formula)
                                 for c in ("1", c)}})
    t_hbr = time.perf_counter() - t
    s = fit.summary(group_effects=False)
    out = tmp / f"{case}.brms.csv"
    p = subprocess.run(["Rscript", str(HERE / "brms_families.R"), str(csv), formula, bfam,
                        f"c({', '.join(bpri)})", str(out)] + (["fitted"] if smooths else []),
                       capture_output=True, text=True, check=False)
    if p.returncode:
        hint = ("\nDebian's r-cran-bh is an empty shell: ln -s /usr/include/boost "
                "/usr/lib/R/site-library/BH/include" if "Boost not found" in p.stderr else "")
        raise SystemExit(f"{case}: brms failed\n{p.stderr[-3000:]}{hint}")
    b = pd.read_csv(out, index_col=0)
    div_b = int(float(re.search(r"divergences (\S+)", p.stdout).group(1)))
    t_b = float(re.search(r"seconds (\S+)", p.stdout).group(1))
    rows = []
    if smooths:  # the curve: E[y] of every row, as brms's fitted()
        fb = pd.read_csv(f"{out}.fitted.csv", index_col=0)
        mu = fit.predict(d, kind="mean").reshape(-1, len(d))
        z = np.abs(mu.mean(axis=0) - fb["Estimate"].to_numpy()) / fb["Est.Error"].to_numpy()
        worst = int(np.argmax(z))
        rows.append({"case": case, "parameter": f"E[y] (worst of {len(d)} rows)",
                     "hbr mean": mu.mean(axis=0)[worst],
                     "brms mean": fb["Estimate"].iloc[worst],
                     "brms sd": fb["Est.Error"].iloc[worst], "|diff| / sd": z.max(),
                     "hbr div": fit.diagnostics().divergences, "brms div": div_b,
                     "hbr s": t_hbr, "brms s (compile + fit)": t_b})
    for name in s.index:
        bn = _brms_name(name, aux, smooths)
        if bn not in b.index:
            continue
        z = (s.loc[name, "mean"] - b.loc[bn, "Estimate"]) / b.loc[bn, "Est.Error"]
        rows.append({"case": case, "parameter": name, "hbr mean": s.loc[name, "mean"],
                     "brms mean": b.loc[bn, "Estimate"], "brms sd": b.loc[bn, "Est.Error"],
                     "|diff| / sd": abs(z), "hbr div": fit.diagnostics().divergences,
                     "brms div": div_b, "hbr s": t_hbr, "brms s (compile + fit)": t_b})
    return rows


def _slopes(formula: str, d: pd.DataFrame, fam: str) -> list[str]:
    from hbr.design.build import build_design

    return [t.name for t in build_design(formula, d).terms if t.name != "Intercept"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=",".join(CASES))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["Rscript", "-e", EXPORT, str(tmp / "kidney.csv"),
                        str(tmp / "epilepsy.csv"), str(tmp / "inhaler.csv"),
                        str(tmp / "mcycle.csv")], check=True)
        tables = {"kidney": pd.read_csv(tmp / "kidney.csv"),
                  "epilepsy": pd.read_csv(tmp / "epilepsy.csv"), "beta": _beta_table(),
                  "inhaler": pd.read_csv(tmp / "inhaler.csv"), "sleep": _sleep_table(),
                  "mcycle": pd.read_csv(tmp / "mcycle.csv")}
        tables["inhaler"]["subject"] = tables["inhaler"]["subject"].astype(str)
        tables["epilepsy"]["patient"] = tables["epilepsy"]["patient"].astype(str)
        tables["kidney"]["patient"] = tables["kidney"]["patient"].astype(str)
        rows = []
        for case in a.cases.split(","):
            rows += compare(case, tables, tmp)
            print(pd.DataFrame(rows[-8:]).to_string(index=False), flush=True)
    df = pd.DataFrame(rows)
    print("\nall cases:")
    print(df.round(3).to_string(index=False))
    worst = df.groupby("case")["|diff| / sd"].max()
    print("\nworst |diff| / sd per case:\n" + worst.round(3).to_string())
    print(f"\nagreement (every parameter <= 0.5 sd): {bool((worst <= 0.5).all())}")


if __name__ == "__main__":
    main()
