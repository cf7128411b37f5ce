"""The radon race of issue 17, as a user runs it: fresh processes of hbr and of PyMC + nutpie,
alternating, each fitting Minnesota radon ``log_radon ~ floor + (floor || county)`` with
posteriordb's priors (Normal(0, 10) on the intercept and slope, HalfNormal(1) on the two
group sds and sigma; 4 chains x 1000 + 1000 draws) and computing the minimum bulk ESS over
every parameter with ArviZ (``az.ess`` on the InferenceData), as a user would. The figure of
merit is ESS per second of the whole process, interpreter start to the ESS.

Both tools run with empty caches (hbr: a fresh ``HBR_CACHE_DIR``; PyTensor: a fresh
``compiledir``) and warm ones (a directory each, filled by one unmeasured run). Run by hand,
in a venv with the bench extras (``pip install ".[bench]"``):

    python bench/race.py --rounds 3 [--src src]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _proc import bytecode

HBR = r"""
import json, time
import hbr
radon = hbr.load_dataset("radon")
mn = radon[radon.state == "MN"]
priors = {"Intercept": "Normal(0, 10)", "floor": "Normal(0, 10)", "sigma": "HalfNormal(1)",
          "1|county_sigma": "HalfNormal(1)", "floor|county_sigma": "HalfNormal(1)"}
fit = hbr.fit("log_radon ~ floor + (floor || county)", mn, priors=priors, seed=1)
import arviz as az
ess = az.ess(fit.idata)
print("RESULT" + json.dumps({"ess": float(min(float(ess[v].min()) for v in ess.data_vars)),
                             "divergences": int(fit.draws.stats["diverging"].sum())}))
"""

NUTPIE = r"""
import json
import numpy as np, pandas as pd, pymc as pm, nutpie
from importlib import resources
with resources.files("hbr.datasets").joinpath("radon.csv").open("rb") as fh:
    d = pd.read_csv(fh)
mn = d[d.state == "MN"].reset_index(drop=True)
idx, levels = pd.factorize(mn.county, sort=True)
with pm.Model() as m:
    a = pm.Normal("Intercept", 0, 10)
    b = pm.Normal("floor", 0, 10)
    sa = pm.HalfNormal("sa", 1)
    sb = pm.HalfNormal("sb", 1)
    sigma = pm.HalfNormal("sigma", 1)
    za = pm.Normal("za", 0, 1, shape=len(levels))
    zb = pm.Normal("zb", 0, 1, shape=len(levels))
    ea = pm.Deterministic("1|county", sa * za)  # the effects, as hbr reports them
    eb = pm.Deterministic("floor|county", sb * zb)
    mu = a + ea[idx] + (b + eb[idx]) * mn.floor.to_numpy()
    pm.Normal("y", mu, sigma, observed=mn.log_radon.to_numpy())
tr = nutpie.sample(nutpie.compile_pymc_model(m), draws=1000, tune=1000, chains=4, seed=1,
                   progress_bar=False)
import arviz as az
ess = az.ess(tr, var_names=["Intercept", "floor", "sa", "sb", "sigma", "1|county",
                            "floor|county"])  # the quantities hbr reports (not za, zb)
print("RESULT" + json.dumps({"ess": float(min(float(ess[v].min()) for v in ess.data_vars)),
                             "divergences": int(tr.sample_stats.diverging.values.sum())}))
"""


def run(code: str, env: dict[str, str]) -> dict[str, float]:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=1800)
    wall = time.perf_counter() - t
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")]
    if res.returncode or not line:
        raise SystemExit(f"child failed:\n{res.stderr[-3000:]}")
    out = json.loads(line[0][6:])
    out["wall_s"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--src", default=None, help="an hbr tree's src/ (default: installed)")
    a = ap.parse_args()
    base = {**os.environ}
    if a.src:
        base["PYTHONPATH"] = os.path.abspath(a.src)
    bytecode(a.src)  # as an installed hbr has it
    warm_hbr, warm_pt = tempfile.mkdtemp(), tempfile.mkdtemp()
    warm = {"hbr": {**base, "HBR_CACHE_DIR": warm_hbr},
            "nutpie": {**base, "PYTENSOR_FLAGS": f"compiledir={warm_pt}"}}
    run(HBR, warm["hbr"])  # fill the warm caches
    run(NUTPIE, warm["nutpie"])
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(a.rounds):
        for cache in ("empty", "warm"):
            for tool, code in (("hbr", HBR), ("nutpie", NUTPIE)):
                env = warm[tool] if cache == "warm" else (
                    {**base, "HBR_CACHE_DIR": tempfile.mkdtemp()} if tool == "hbr" else
                    {**base, "PYTENSOR_FLAGS": f"compiledir={tempfile.mkdtemp()}"})
                results.setdefault((tool, cache), []).append(run(code, env))
    print(f"{a.rounds} alternating rounds, medians; ESS = min bulk ESS over every parameter "
          "(ArviZ), per second of the whole process")
    print("| tool | cache | wall s | min ESS bulk | ESS / s | divergences | hbr / nutpie |")
    print("|---|---|---|---|---|---|---|")
    for cache in ("empty", "warm"):
        rate = {}
        for tool in ("hbr", "nutpie"):
            rs = results[(tool, cache)]
            rate[tool] = statistics.median(r["ess"] / r["wall_s"] for r in rs)
        for tool in ("hbr", "nutpie"):
            rs = results[(tool, cache)]
            ratio = f"{rate['hbr'] / rate['nutpie']:.2f}x" if tool == "hbr" else ""
            print(f"| {tool} | {cache} | {statistics.median(r['wall_s'] for r in rs):.1f} | "
                  f"{statistics.median(r['ess'] for r in rs):.0f} | {rate[tool]:.0f} | "
                  f"{max(r['divergences'] for r in rs)} | {ratio} |")


if __name__ == "__main__":
    main()
