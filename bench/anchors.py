"""Benchmark hbr against the anchors on the same data, priors, chains and draws.

Minnesota radon, log_radon ~ floor + (floor | county), 4 chains x (1000 tune + 1000 draws),
priors Intercept, floor ~ Normal(0, 10); sigma, group sds ~ HalfNormal(5); LKJ(2):
  * hbr marginal (default), hbr auto (partial centring from a pilot) and hbr noncentered;
  * PyMC + nutpie, non-centred (if pymc and nutpie are installed: pip install ".[bench]");
  * NumPyro, non-centred.
Each runs in a fresh process (cold: start, imports, compilation, sampling), then samples
again in the same process (warm). ESS and R-hat of every parameter (hyperparameters and the
170 county effects) come from one function (hbr's, equal to ArviZ's) for all tools.
``--big`` adds hbr on simulated data with 10^6 rows and 10^4 groups.
Run by hand:  python bench/anchors.py [--big] [--only hbr-marginal,numpyro]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

COMMON = r"""
import json, resource, sys, time
T0 = time.perf_counter()
ENDS = {}
import numpy as np
def load():
    import pandas as pd
    from importlib import resources
    with resources.files("hbr.datasets").joinpath("radon.csv").open("rb") as fh:
        d = pd.read_csv(fh)
    mn = d[d.state == "MN"].reset_index(drop=True)
    idx, levels = pd.factorize(mn.county, sort=True)
    return mn, idx, levels
def report(runs):
    from hbr.posterior.mcmcstats import summary_arrays
    out = {}
    for name, (draws, t_total, t_sample, div) in runs.items():
        st = summary_arrays(draws)
        out[name] = {"total_s": t_total, "sampling_s": t_sample, "divergences": int(div),
                     "ess_bulk": float(np.nanmin(st["ess_bulk"])),
                     "ess_tail": float(np.nanmin(st["ess_tail"])),
                     "rhat": float(np.nanmax(st["r_hat"]))}
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["since_start_s"] = time.perf_counter() - T0
    out["cold_end_s"] = ENDS["cold"]
    print("RESULT" + json.dumps(out))
def timed_runs(sample):
    # sample(seed) -> (collect, sampling_s, divergences), once cold and once warm; the total
    # stops before collect() gathers the (chains, draws, P) block of the scalars, the
    # correlation and both effect vectors
    runs = {}
    for run in ("cold", "warm"):
        t = time.perf_counter()
        collect, t_sample, div = sample(1 + (run == "warm"))
        total = time.perf_counter() - t
        runs[run] = (collect(), total, t_sample, div)
        ENDS[run] = time.perf_counter() - T0
    report(runs)
def hbr_runs(fit, scalars, corr, effects):
    # fit(seed) -> hbr.Fit; fit.draws are NumPy (fit.idata would import ArviZ)
    def sample(seed):
        f = fit(seed)
        def collect():
            p = f.draws.posterior
            cols = [p[v][..., None] for v in scalars] + [p[corr][..., 1, 0][..., None]]
            return np.concatenate(cols + [p[e] for e in effects], axis=2)
        return collect, f.timings["sampling_s"], f.diagnostics().divergences
    timed_runs(sample)
def nutpie_runs(build, scalars):
    # build() -> a non-centred pm.Model with LKJCholeskyCov "chol" and effects "b" (J, 2)
    import nutpie
    def sample(seed):
        compiled = nutpie.compile_pymc_model(build())
        ts = time.perf_counter()
        tr = nutpie.sample(compiled, draws=1000, tune=1000, chains=4, seed=seed,
                           progress_bar=False)
        t_sample = time.perf_counter() - ts
        def collect():
            p = tr.posterior
            cols = [p[v].values[..., None] for v in scalars]
            cols += [p["chol_stds"].values, p["chol_corr"].values[..., 1, 0][..., None],
                     p["b"].values[..., 0], p["b"].values[..., 1]]
            return np.concatenate(cols, axis=2)
        return collect, t_sample, tr.sample_stats.diverging.values.sum()
    timed_runs(sample)
def numpyro_runs(model, args, scalars):
    # model(*args): non-centred, with sites "sds", "Lc" and deterministic "b" (J, 2)
    import jax
    from numpyro.infer import MCMC, NUTS
    def sample(seed):
        t = time.perf_counter()
        mc = MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4,
                  chain_method="vectorized", progress_bar=False)
        mc.run(jax.random.PRNGKey(seed), *args, extra_fields=("diverging",))
        t_sample = time.perf_counter() - t
        def collect():
            s = {k: np.asarray(v) for k, v in mc.get_samples(group_by_chain=True).items()}
            cols = [s[v][..., None] for v in scalars]
            cols += [s["sds"], s["Lc"][..., 1, 0][..., None], s["b"][..., 0], s["b"][..., 1]]
            return np.concatenate(cols, axis=2)
        return collect, t_sample, np.asarray(mc.get_extra_fields()["diverging"]).sum()
    timed_runs(sample)
"""

PRIORS = {"Intercept": "Normal(0, 10)", "floor": "Normal(0, 10)", "sigma": "HalfNormal(5)",
          "1|county_sigma": "HalfNormal(5)", "floor|county_sigma": "HalfNormal(5)",
          "county_corr": "LKJ(2)"}

HBR = COMMON + r"""
import hbr
par = sys.argv[1]
mn, _, _ = load()
hbr_runs(lambda seed: hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=seed,
                              parameterization=par, priors=PRIORS),
         ("Intercept", "floor", "sigma", "1|county_sigma", "floor|county_sigma"),
         "county_corr", ("1|county", "floor|county"))
""".replace("PRIORS", repr(PRIORS))

NUTPIE = COMMON + r"""
import pymc as pm
mn, idx, levels = load()
y, floor = mn.log_radon.values, mn.floor.values.astype(float)
def build():
    with pm.Model(coords={"county": levels, "coef": ["1", "floor"]}) as m:
        icpt = pm.Normal("Intercept", 0, 10)
        fl = pm.Normal("floor", 0, 10)
        chol, corr, sds = pm.LKJCholeskyCov("chol", n=2, eta=2.0, compute_corr=True,
                                           sd_dist=pm.HalfNormal.dist(5.0, shape=2))
        z = pm.Normal("z", 0, 1, dims=("county", "coef"))
        b = pm.Deterministic("b", z @ chol.T, dims=("county", "coef"))
        sigma = pm.HalfNormal("sigma", 5)
        mu = icpt + b[idx, 0] + (fl + b[idx, 1]) * floor
        pm.Normal("y", mu, sigma, observed=y)
    return m
nutpie_runs(build, ("Intercept", "floor", "sigma"))
"""

NUMPYRO = COMMON + r"""
import jax.numpy as jnp, numpyro, numpyro.distributions as dist
mn, idx, levels = load()
y, floor = jnp.asarray(mn.log_radon.values), jnp.asarray(mn.floor.values, dtype=float)
idx = jnp.asarray(idx)
J = len(levels)
def model(idx, floor, y):
    icpt = numpyro.sample("Intercept", dist.Normal(0, 10))
    fl = numpyro.sample("floor", dist.Normal(0, 10))
    sds = numpyro.sample("sds", dist.HalfNormal(5.0).expand([2]))
    Lc = numpyro.sample("Lc", dist.LKJCholesky(2, 2.0))
    z = numpyro.sample("z", dist.Normal(0, 1).expand([J, 2]))
    b = numpyro.deterministic("b", z @ (sds[:, None] * Lc).T)
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    mu = icpt + b[idx, 0] + (fl + b[idx, 1]) * floor
    numpyro.sample("y", dist.Normal(mu, sigma), obs=y)
numpyro_runs(model, (idx, floor, y), ("Intercept", "floor", "sigma"))
"""

BIG = COMMON + r"""
import hbr
data, _ = hbr.simulate(10_000, 100, seed=1)
hbr_runs(lambda seed: hbr.fit("y ~ x + (x | g)", data, seed=seed),
         ("Intercept", "x", "sigma", "1|g_sigma", "x|g_sigma"), "g_corr", ("1|g", "x|g"))
"""

TOOLS = {
    "hbr-marginal": (HBR, ["marginal"]),
    "hbr-auto": (HBR, ["auto"]),
    "hbr-noncentered": (HBR, ["noncentered"]),
    "pymc+nutpie": (NUTPIE, []),
    "numpyro-noncentered": (NUMPYRO, []),
}


def run_child(code: str, args: list[str]) -> dict | None:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")]
    if res.returncode or not line:
        print(f"  failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else '?'}",
              file=sys.stderr)
        return None
    r = json.loads(line[0][6:])
    # cold total: the whole process (interpreter start included) up to the end of the
    # first fit; the warm fit and the report after it are subtracted
    r["cold_total_s"] = wall - (r["since_start_s"] - r["cold_end_s"])
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    names = [n for n in TOOLS if not a.only or n in a.only.split(",")]
    rows = []
    for name in names:
        code, args = TOOLS[name]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        r = run_child(code, args)
        if r is not None:
            rows.append((name, r))
    if a.big:
        print("running hbr-marginal on 10^6 rows ...", file=sys.stderr, flush=True)
        r = run_child(BIG, [])
        if r is not None:
            rows.append(("hbr-marginal 10^6 rows / 10^4 groups", r))
    head = ("tool", "cold total s", "warm total s", "sampling s", "min ESS bulk",
            "min ESS tail", "max R-hat", "divergences", "ESS bulk / cold s", "peak MiB")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, r in rows:
        c, w = r["cold"], r["warm"]
        print(f"| {name} | {r['cold_total_s']:.1f} | {w['total_s']:.1f} | "
              f"{c['sampling_s']:.1f} | {c['ess_bulk']:.0f} | {c['ess_tail']:.0f} | "
              f"{c['rhat']:.3f} | {c['divergences']} | "
              f"{c['ess_bulk'] / r['cold_total_s']:.0f} | {r['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
