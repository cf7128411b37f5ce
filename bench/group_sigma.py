"""Per-group sigma on the integrated factor (issue 18): seed 002's model on seed-002-shaped data.

The table: J ZIP codes (default 200) of 1-400 homes each (log-normal sizes, ~9k rows),
``price = (1 + a_j) + (0.6 + b_j) area + e``, ``(a_j, b_j)`` correlated (sds 0.5, 0.3,
correlation -0.4) and ``e ~ N(0, sigma_j^2)`` with ``log sigma_j ~ N(log 0.4, 0.5^2)``.

The model, as the seed wrote it in brms terms: ``price ~ area + (area | zip)``, ``sigma ~ 1 + (1 |
zip)``. Each run is a fresh process of what a user types,
``hbr fit DATA.csv FORMULA --sigma "1 + (1 | zip)" --seed S --out DIR``, with an empty
cache first (a fresh HBR_CACHE_DIR) and then a warm one (--repeats times), with its wall
time, peak memory (``os.wait4``), the fit's own phases from its printed times line, the
divergences, the smallest bulk ESS over the hyperparameters and whether each true value is
inside the 94% interval of summary.csv.

With --nutpie, PyMC + nutpie fits the same model (non-centred intercepts and slopes with an
LKJ correlation, log sigma_j = mu + tau z_j) in a fresh process, timed the same way, ESS by
ArviZ; pass --python with a venv that has PyMC and nutpie.

Run by hand:  python bench/group_sigma.py [--groups 200] [--repeats 3] [--nutpie --python P]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _proc import timed

TRUTH = {"Intercept": 1.0, "area": 0.6, "1|zip_sigma": 0.5, "area|zip_sigma": 0.3,
         "sigma_Intercept": float(np.log(0.4)), "sigma_1|zip_sigma": 0.5}
FORMULA = "price ~ area + (area | zip)"
SIGMA = "sigma ~ 1 + (1 | zip)"


def simulate(J: int, seed: int) -> pd.DataFrame:
    """The seed-002-shaped table of the module docstring."""
    rng = np.random.default_rng(seed)
    n = np.clip(np.round(np.exp(rng.normal(3.2, 1.2, J))), 1, 400).astype(int)
    s = np.array([TRUTH["1|zip_sigma"], TRUTH["area|zip_sigma"]])
    R = np.array([[1.0, -0.4], [-0.4, 1.0]])
    b = rng.multivariate_normal(np.zeros(2), s[:, None] * R * s[None, :], size=J)
    ls = TRUTH["sigma_Intercept"] + TRUTH["sigma_1|zip_sigma"] * rng.standard_normal(J)
    g = np.repeat(np.arange(J), n)
    area = rng.standard_normal(g.size)
    mu = TRUTH["Intercept"] + b[g, 0] + (TRUTH["area"] + b[g, 1]) * area
    price = mu + np.exp(ls[g]) * rng.standard_normal(g.size)
    return pd.DataFrame({"price": price, "area": area, "zip": [f"z{j:04d}" for j in g]})


def hbr_run(csv: Path, out: Path, cache: Path, joint: bool = False) -> dict:
    env = {**os.environ, "HBR_CACHE_DIR": str(cache)}
    formula, sigma = ((FORMULA.replace("| zip", "|p| zip"), SIGMA.replace("| zip", "|p| zip"))
                      if joint else (FORMULA, SIGMA))
    cmd = [sys.executable, "-m", "hbr", "fit", str(csv), formula, "--sigma", sigma, "--seed",
           "1", "--out", str(out), "--force"]
    wall, peak, text = timed(cmd, env)
    times = re.search(r"compile[^\n]*", text)
    div = re.search(r"(\d+) divergen", text)
    summ = pd.read_csv(out / "summary.csv", index_col=0)
    hyper = summ.loc[[n for n in summ.index if "[" not in n or n.startswith("zip_corr")]]
    lo, hi = [c for c in summ.columns if c.startswith("hdi_")][:2]
    inside = {n: bool(summ.loc[n, lo] <= v <= summ.loc[n, hi]) for n, v in TRUTH.items()}
    return {"wall": wall, "peak_mib": peak, "times": times.group(0) if times else "",
            "divergences": int(div.group(1)) if div else 0,
            "min_ess_bulk": float(hyper["ess_bulk"].min()), "inside": inside}


NUTPIE = r"""
import sys, time, json
T0 = time.perf_counter()
import numpy as np, pandas as pd, pymc as pm, nutpie, arviz as az
d = pd.read_csv(sys.argv[1])
codes, zips = pd.factorize(d["zip"])
with pm.Model() as m:
    b0 = pm.Normal("Intercept", 0, 10); b1 = pm.Normal("area", 0, 10)
    chol, _, sds = pm.LKJCholeskyCov("L", n=2, eta=1.0, sd_dist=pm.HalfNormal.dist(1.0),
                                     compute_corr=True)
    z = pm.Normal("z", 0, 1, shape=(len(zips), 2))
    b = pm.Deterministic("b", z @ chol.T)
    ls0 = pm.Normal("sigma_Intercept", 0, 2); tau = pm.HalfNormal("tau", 1.0)
    zs = pm.Normal("zs", 0, 1, shape=len(zips))
    sig = pm.math.exp(ls0 + tau * zs)
    mu = b0 + b[codes, 0] + (b1 + b[codes, 1]) * d["area"].values
    pm.Normal("y", mu, sig[codes], observed=d["price"].values)
compiled = nutpie.compile_pymc_model(m)
tr = nutpie.sample(compiled, chains=4, draws=1000, tune=1000, seed=1, progress_bar=False)
ess = az.ess(tr, var_names=["Intercept", "area", "L_stds", "sigma_Intercept", "tau"])
div = int(tr.sample_stats["diverging"].sum())
print(json.dumps({"min_ess_bulk": float(min(float(ess[v].min()) for v in ess.data_vars)),
                  "divergences": div, "inside": time.perf_counter() - T0}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nutpie", action="store_true")
    ap.add_argument("--joint", action="store_true", help="also the model whose mean and "
                    "sigma terms share an id, (area |p| zip) and (1 |p| zip): one correlation "
                    "over both (its true cross-correlations are 0)")
    ap.add_argument("--python", default=sys.executable, help="a Python with PyMC + nutpie")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d = simulate(a.groups, 0)
        csv = tmp / "prices.csv"
        d.to_csv(csv, index=False)
        print(f"{len(d)} rows, {a.groups} groups of {d.groupby('zip').size().min()}-"
              f"{d.groupby('zip').size().max()} rows")
        rows = []
        cache = tmp / "cache"
        for i in range(1 + a.repeats):
            r = hbr_run(csv, tmp / "out", cache)
            rows.append(("hbr " + ("empty cache" if i == 0 else "warm cache"), r))
            print(rows[-1][0], json.dumps(r), flush=True)
        for i in range(1 + a.repeats if a.joint else 0):
            r = hbr_run(csv, tmp / "out", cache, joint=True)
            rows.append(("hbr |p| " + ("new model" if i == 0 else "warm"), r))
            print(rows[-1][0], json.dumps(r), flush=True)
        if a.nutpie:
            for _ in range(a.repeats):
                t = time.perf_counter()
                p = subprocess.run([a.python, "-c", NUTPIE, str(csv)], capture_output=True,
                                   text=True)
                wall = time.perf_counter() - t
                if p.returncode:
                    sys.exit(p.stderr[-3000:])
                r = json.loads(p.stdout.strip().splitlines()[-1])
                r["wall"] = wall
                rows.append(("pymc+nutpie", r))
                print(rows[-1][0], json.dumps(r), flush=True)
        print(f"\n{'run':18s} {'wall s':>8s} {'min ESS':>8s} {'div':>4s}  truth in 94% HDI")
        for name, r in rows:
            ok = r["inside"] if isinstance(r["inside"], dict) else {}
            miss = [n for n, v in ok.items() if not v]
            print(f"{name:18s} {r['wall']:8.1f} {r['min_ess_bulk']:8.0f} {r['divergences']:4d}  "
                  f"{'all' if ok and not miss else ('missed ' + ', '.join(miss)) if ok else '-'}")
        warm = [r["wall"] for n, r in rows if n == "hbr warm cache"]
        if warm:
            print(f"hbr warm median {np.median(warm):.1f} s; phases: {rows[-1][1].get('times', '')}")


if __name__ == "__main__":
    main()
