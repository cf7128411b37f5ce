"""Crossed Gaussian factors (issue 18): an InstEval-shaped table, hbr against lme4 and PyMC.

The table (simulated, seed 0): 73,421 ratings by 2,972 students of 1,128 lecturers, each
student and lecturer drawn with log-normal popularity (so the design is unbalanced: 1 to
~100 ratings a student, 1 to ~600 a lecturer), ``y = 3.2 - 0.07 service + b_s + b_d + e``
with sds 0.32, 0.52 and 1.18 (about lme4's estimates on the real InstEval). With --insteval
the real InstEval from R's lme4 package is used as well (exported with Rscript).

Each hbr run is a fresh process of ``hbr fit DATA.csv "y ~ service + (1 | s) + (1 | d)" --out
DIR``: the default scheme (each factor integrated out in turn, collapsed Gibbs) with an
empty cache and then a warm one, and the previous default (``--marginalize s``: s
integrated, the 1,128 lecturer effects sampled by NUTS) with a warm cache. Wall seconds,
peak memory, the fit's phases, divergences and the smallest bulk ESS over the
hyperparameters (from summary.csv, ArviZ's definition) are printed, and each
hyperparameter's mean against the previous default's in units of their combined MCSE.
lme4 (``lmer``, REML) runs when Rscript and lme4 are installed (apt install r-cran-lme4);
PyMC + nutpie with --nutpie --python P (non-centred effects; P a Python with both).

Run by hand:  python bench/crossed.py [--repeats 2] [--insteval] [--nutpie --python P]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _proc import timed

FORMULA = "y ~ service + (1 | s) + (1 | d)"
HYPER = ["Intercept", "service", "sigma", "1|s_sigma", "1|d_sigma"]


def simulate(n_rows: int = 73421, n_s: int = 2972, n_d: int = 1128, seed: int = 0
             ) -> pd.DataFrame:
    """The InstEval-shaped table of the module docstring."""
    rng = np.random.default_rng(seed)
    ws, wd = rng.lognormal(0, 0.8, n_s), rng.lognormal(0, 1.0, n_d)
    s = rng.choice(n_s, n_rows, p=ws / ws.sum())
    d = rng.choice(n_d, n_rows, p=wd / wd.sum())
    s[:n_s], d[:n_d] = np.arange(n_s), np.arange(n_d)  # every level rated
    service = (rng.random(n_rows) < 0.4).astype(float)
    bs, bd = 0.32 * rng.standard_normal(n_s), 0.52 * rng.standard_normal(n_d)
    y = 3.2 - 0.07 * service + bs[s] + bd[d] + 1.18 * rng.standard_normal(n_rows)
    return pd.DataFrame({"y": y, "service": service, "s": [f"s{i:04d}" for i in s],
                         "d": [f"d{i:04d}" for i in d]})


def hbr_run(csv: Path, out: Path, cache: Path, extra: list[str]) -> dict:
    env = {**os.environ, "HBR_CACHE_DIR": str(cache)}
    wall, peak, text = timed([sys.executable, "-m", "hbr", "fit", str(csv), FORMULA, "--seed",
                              "1", "--out", str(out), "--force", "--no-progress", *extra], env)
    times = re.search(r"time: [^\n]*", text)
    div = re.search(r"(\d+) divergen", text)
    summ = pd.read_csv(out / "summary.csv", index_col=0).loc[HYPER]
    return {"wall": wall, "peak_mib": peak, "times": times.group(0) if times else "",
            "divergences": int(div.group(1)) if div else 0,
            "min_ess_bulk": float(summ["ess_bulk"].min()),
            "mean": summ["mean"].to_dict(), "mcse": summ["mcse_mean"].to_dict()}


LME4 = r"""
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1])
d$s <- factor(d$s); d$d <- factor(d$d)
t <- system.time(m <- lmer(y ~ service + (1 | s) + (1 | d), data = d))[["elapsed"]]
v <- as.data.frame(VarCorr(m))
cat(sprintf("LME4 %.2f %.4f %.4f %.4f %.4f %.4f\n", t, fixef(m)[1], fixef(m)[2],
            v$sdcor[v$grp == "Residual"], v$sdcor[v$grp == "s"], v$sdcor[v$grp == "d"]))
"""

EXPORT = r"""
suppressMessages(library(lme4))
write.csv(data.frame(y = InstEval$y, service = as.numeric(InstEval$service) - 1,
                     s = paste0("s", InstEval$s), d = paste0("d", InstEval$d)),
          commandArgs(TRUE)[1], row.names = FALSE)
"""

NUTPIE = r"""
import sys, time, json
import numpy as np, pandas as pd, pymc as pm, nutpie, arviz as az
d = pd.read_csv(sys.argv[1])
s, sl = pd.factorize(d["s"]); g, gl = pd.factorize(d["d"])
with pm.Model() as m:
    b0 = pm.Normal("Intercept", d["y"].mean(), 2.5 * d["y"].std())
    b1 = pm.Normal("service", 0, 5)
    ts = pm.HalfNormal("ts", d["y"].std()); td = pm.HalfNormal("td", d["y"].std())
    zs = pm.Normal("zs", 0, 1, shape=len(sl)); zd = pm.Normal("zd", 0, 1, shape=len(gl))
    sig = pm.HalfNormal("sigma", d["y"].std())
    mu = b0 + b1 * d["service"].values + ts * zs[s] + td * zd[g]
    pm.Normal("y", mu, sig, observed=d["y"].values)
tr = nutpie.sample(nutpie.compile_pymc_model(m), chains=4, draws=1000, tune=1000, seed=1,
                   progress_bar=False)
ess = az.ess(tr, var_names=["Intercept", "service", "sigma", "ts", "td"])
print(json.dumps({"min_ess_bulk": float(min(float(ess[v]) for v in ess.data_vars)),
                  "divergences": int(tr.sample_stats["diverging"].sum())}))
"""


def agreement(a: dict, b: dict) -> str:
    z = [(a["mean"][n] - b["mean"][n]) / np.hypot(a["mcse"][n], b["mcse"][n]) for n in HYPER]
    return "max |diff| / combined MCSE " + f"{max(abs(v) for v in z):.1f}"


def table(name: str, csv: Path, tmp: Path, a: argparse.Namespace) -> None:
    cache = tmp / f"cache-{name}"
    rows: list[tuple[str, dict]] = []
    for i in range(1 + a.repeats):
        rows.append(("hbr, empty cache" if i == 0 else "hbr, warm cache",
                     hbr_run(csv, tmp / "out", cache, [])))
        print(rows[-1][0], json.dumps(rows[-1][1]), flush=True)
    if not a.no_previous:
        rows.append(("hbr --marginalize s", hbr_run(csv, tmp / "out", cache,
                                                    ["--marginalize", "s"])))
        print(rows[-1][0], json.dumps(rows[-1][1]), flush=True)
    extra = []
    if shutil.which("Rscript"):
        wall, peak, text = timed(["Rscript", "-e", LME4, str(csv)])
        m = re.search(r"LME4 (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)", text)
        if m:
            extra.append(f"lme4 (REML point estimates): lmer {float(m.group(1)):.1f} s, "
                         f"whole Rscript {wall:.1f} s; Intercept {m.group(2)}, service "
                         f"{m.group(3)}, sigma {m.group(4)}, s sd {m.group(5)}, d sd "
                         f"{m.group(6)}")
    if a.nutpie:
        wall, peak, text = timed([a.python, "-c", NUTPIE, str(csv)])
        r = json.loads(text.strip().splitlines()[-1])
        rows.append(("pymc + nutpie", {"wall": wall, "peak_mib": peak, "times": "",
                                       **r}))
    print(f"\n{name}: {len(pd.read_csv(csv))} rows")
    print(f"{'run':22s} {'wall s':>8s} {'peak MiB':>9s} {'div':>5s} {'min ESS':>8s}  phases")
    for n, r in rows:
        print(f"{n:22s} {r['wall']:8.1f} {r['peak_mib']:9.0f} {r['divergences']:5d} "
              f"{r['min_ess_bulk']:8.0f}  {r['times']}")
    warm = [r["wall"] for n, r in rows if n == "hbr, warm cache"]
    if warm:
        print(f"hbr warm median {np.median(warm):.1f} s")
    prev = [r for n, r in rows if n == "hbr --marginalize s"]
    if prev:
        print("default against --marginalize s:", agreement(rows[0][1], prev[0]))
    for line in extra:
        print(line)
    print("hbr means:", {k: round(v, 4) for k, v in rows[0][1]["mean"].items()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--insteval", action="store_true")
    ap.add_argument("--no-previous", action="store_true", help="skip --marginalize s")
    ap.add_argument("--nutpie", action="store_true")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "crossed.csv"
        simulate().to_csv(csv, index=False)
        table("InstEval-shaped (simulated)", csv, tmp, a)
        if a.insteval:
            real = tmp / "insteval.csv"
            timed(["Rscript", "-e", EXPORT, str(real)])
            table("InstEval (lme4)", real, tmp, a)


if __name__ == "__main__":
    main()
