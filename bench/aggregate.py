"""Rows that repeat covariate patterns, collapsed exactly (issue 18): 10^6-row Bernoulli and
Poisson models in seconds.

The table: N rows (default 10^6) in J groups (default 500); a binary ``treat``, a 3-level
``age`` and the group make 6 J covariate patterns; ``y`` is Bernoulli with
``logit p = -0.5 + 0.7 treat + age effect + a_j + b_j treat`` (sds 0.5 and 0.15), ``cnt`` is
Poisson with exposure ``expo`` in {0.5, 1, 2} (``log mu = log expo + eta - 1``).

Each run is a fresh process of what a user types, ``hbr fit DATA FORMULA --family F --out
DIR`` (CSV read by pandas, the patterns found in memory; or Parquet with ``--engine duckdb``,
DuckDB doing the GROUP BY), with an empty cache first and then a warm one; wall time, peak
memory, the fit's phases, divergences and the smallest bulk ESS of the fixed effects and
sds (summary.csv). "rows" runs the same command with the collapse switched off (the log
density reads every row, as before), on a tenth of the rows (--row-path-n). With --nutpie,
PyMC + nutpie fits the (1 | g) Bernoulli model (non-centred) on that tenth too, timed the
same way, ESS by ArviZ; pass --python with a venv that has PyMC and nutpie.

Run by hand:  python bench/aggregate.py [--n 1000000] [--groups 500] [--nutpie --python P]
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

MODELS = {  # name: (formula, family)
    "bernoulli (1|g)": ("y ~ treat + age + (1 | g)", "bernoulli"),
    "bernoulli (treat|g)": ("y ~ treat + age + (treat | g)", "bernoulli"),
    "poisson exposure (1|g)": ("cnt ~ treat + age + offset(log(expo)) + (1 | g)", "poisson"),
}
NO_COLLAPSE = ("import sys, hbr.density.structure as s; s.worth_it = lambda *a: False; "
               "from hbr.cli import main; sys.argv[0] = 'hbr'; main()")


def simulate(N: int, J: int, seed: int = 1) -> pd.DataFrame:
    """The table of the module docstring."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, J, N)
    treat = rng.integers(0, 2, N)
    age = rng.choice(["18-34", "35-54", "55+"], N)
    b = rng.normal(0, 1, (J, 2)) * [0.5, 0.15]
    eta = (-0.5 + 0.7 * treat + np.select([age == "35-54", age == "55+"], [0.3, 0.6], 0.0)
           + b[g, 0] + b[g, 1] * treat)
    expo = rng.choice([0.5, 1.0, 2.0], N)
    return pd.DataFrame({"y": (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(int),
                         "cnt": rng.poisson(expo * np.exp(eta - 1)), "expo": expo,
                         "treat": treat, "age": age, "g": [f"g{j:04d}" for j in g]})


def hbr_run(data: Path, model: str, out: Path, cache: Path, engine: str | None,
            collapse: bool = True) -> dict:
    formula, family = MODELS[model]
    env = {**os.environ, "HBR_CACHE_DIR": str(cache)}
    head = [sys.executable, "-m", "hbr"] if collapse else [sys.executable, "-c", NO_COLLAPSE]
    cmd = head + ["fit", str(data), formula, "--family", family, "--seed", "1", "--out",
                  str(out), "--force", "--no-progress"]
    if engine:
        cmd += ["--engine", engine]
    wall, peak, text = timed(cmd, env)
    times = re.search(r"time: [^\n]*", text)
    div = re.search(r"(\d+) divergen", text)
    pats = re.search(r"repeat ([\d,]+) covariate patterns", text)
    summ = pd.read_csv(out / "summary.csv", index_col=0)
    hyper = summ.loc[[n for n in summ.index if "[" not in n or n.startswith(("age", "g_corr"))]]
    return {"wall": wall, "peak_mib": peak, "times": times.group(0) if times else "",
            "divergences": int(div.group(1)) if div else 0,
            "patterns": pats.group(1) if pats else "-",
            "min_ess_bulk": float(hyper["ess_bulk"].min())}


NUTPIE = r"""
import sys, time, json
T0 = time.perf_counter()
import numpy as np, pandas as pd, pymc as pm, nutpie, arviz as az
d = pd.read_csv(sys.argv[1])
codes, groups = pd.factorize(d["g"])
a1 = (d["age"] == "35-54").values * 1.0; a2 = (d["age"] == "55+").values * 1.0
with pm.Model() as m:
    b0 = pm.Normal("Intercept", 0, 2.5); bt = pm.Normal("treat", 0, 5)
    ba = pm.Normal("age", 0, 5, shape=2); s = pm.HalfNormal("s", 1.0)
    z = pm.Normal("z", 0, 1, shape=len(groups))
    eta = b0 + bt * d["treat"].values + ba[0] * a1 + ba[1] * a2 + s * z[codes]
    pm.Bernoulli("y", logit_p=eta, observed=d["y"].values)
compiled = nutpie.compile_pymc_model(m)
tr = nutpie.sample(compiled, chains=4, draws=1000, tune=1000, seed=1, progress_bar=False)
ess = az.ess(tr, var_names=["Intercept", "treat", "age", "s"])
print(json.dumps({"min_ess_bulk": float(min(float(ess[v].min()) for v in ess.data_vars)),
                  "divergences": int(tr.sample_stats["diverging"].sum()), "patterns": "-",
                  "times": f"inside {time.perf_counter() - T0:.1f} s"}))
"""


def nutpie_run(python: str, csv: Path) -> dict:
    t = time.perf_counter()
    p = subprocess.run([python, "-c", NUTPIE, str(csv)], capture_output=True, text=True)
    if p.returncode:
        sys.exit(p.stderr[-3000:])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return {**r, "wall": time.perf_counter() - t, "peak_mib": float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--groups", type=int, default=500)
    ap.add_argument("--row-path-n", type=int, default=100_000)
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated names of MODELS to run (default: all)")
    ap.add_argument("--no-row-path", default="",
                    help="comma-separated models whose row path is not run (it is slow)")
    ap.add_argument("--nutpie", action="store_true")
    ap.add_argument("--python", default=sys.executable, help="a Python with PyMC + nutpie")
    a = ap.parse_args()
    rows = []

    def record(name: str, r: dict) -> None:
        rows.append((name, r))
        print(name, json.dumps(r), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big, small = simulate(a.n, a.groups), simulate(a.row_path_n, a.groups)
        csv, pq, small_csv = tmp / "big.csv", tmp / "big.parquet", tmp / "small.csv"
        big.to_csv(csv, index=False)
        big.to_parquet(pq)
        small.to_csv(small_csv, index=False)
        print(f"{a.n} rows, {a.groups} groups; row path and nutpie on {a.row_path_n} rows")
        for model in a.models.split(","):
            cache = tmp / f"cache-{len(rows)}"
            for label in ("empty cache", "warm cache"):
                record(f"{model} | pandas {a.n} | {label}",
                       hbr_run(csv, model, tmp / "o", cache, None))
            record(f"{model} | duckdb {a.n} | warm cache",
                   hbr_run(pq, model, tmp / "o", cache, "duckdb"))
            record(f"{model} | pandas {a.row_path_n} | warm cache",
                   hbr_run(small_csv, model, tmp / "o", cache, None))
            if model not in a.no_row_path.split(","):
                record(f"{model} | rows {a.row_path_n} | warm cache",
                       hbr_run(small_csv, model, tmp / "o", cache, None, collapse=False))
        if a.nutpie:
            record(f"bernoulli (1|g) | pymc+nutpie {a.row_path_n}", nutpie_run(a.python,
                                                                              small_csv))
    print(f"\n{'run':58s} {'wall s':>7s} {'MiB':>6s} {'patterns':>9s} {'min ESS':>8s} "
          f"{'div':>4s}  phases")
    for name, r in rows:
        print(f"{name:58s} {r['wall']:7.1f} {r['peak_mib']:6.0f} {r['patterns']:>9s} "
              f"{r['min_ess_bulk']:8.0f} {r['divergences']:4d}  {r['times']}")


if __name__ == "__main__":
    main()
