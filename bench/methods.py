"""Benchmark: every method against a long NUTS run, Minnesota radon varying intercepts.

log_radon ~ floor + (1 | county), 919 homes, 85 counties. The reference is NUTS with
4 chains x 10,000 draws (marginal). Each method runs twice in this process: the first time
includes compilation ("first s"), the second is warm. For each, over all 89 parameters:
the largest |mean - reference mean| in reference sds, the range of sd / reference sd (below 1:
under-dispersed), min bulk ESS (MCMC only) and Pareto k (approximations).

Each method runs under the default "marginal" parameterisation (4 parameters left after
integrating the county effects out) and under "noncentered" (all 89 sampled), where
mean-field ADVI's known under-dispersion shows. Run by hand:
    python bench/methods.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import hbr

FORMULA = "log_radon ~ floor + (1 | county)"
METHODS = ["nuts", "metropolis", "advi", "fullrank_advi", "pathfinder", "laplace", "map"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="reference of 4 x 2000 draws")
    a = ap.parse_args()
    radon = hbr.load_dataset("radon")
    mn = radon[radon.state == "MN"].reset_index(drop=True)
    t = time.perf_counter()
    ref = hbr.fit(FORMULA, mn, seed=100, draws=2000 if a.quick else 10_000, tune=1000)
    print(f"reference NUTS: {ref.draws.n_draws} draws x 4 chains in "
          f"{time.perf_counter() - t:.1f} s; {ref.diagnostics()}\n")
    r = ref.summary()
    print("| method | parameterization | first s | warm s | max abs mean error / sd "
          "| sd / ref sd (min-max) | min ESS bulk | Pareto k | max R-hat |")
    print("|---|---|---|---|---|---|---|---|---|")
    for par in ("marginal", "noncentered"):
        for m in METHODS:
            kw = dict(method=m, parameterization=par, log_likelihood=False)
            if m == "metropolis":
                kw.update(draws=20_000, tune=10_000)
            times = []
            for seed in (1, 2):
                t = time.perf_counter()
                try:
                    fit = hbr.fit(FORMULA, mn, seed=seed, **kw)
                except hbr.HbrError as e:  # e.g. no interior mode for map/laplace
                    fit = None
                    print(f"| {m} | {par} | failed: {str(e)[:80]} | | | | | | |")
                    break
                times.append(time.perf_counter() - t)
            if fit is None:
                continue
            s = fit.summary()
            d = fit.diagnostics()
            err = ((s["mean"] - r["mean"]) / r["sd"]).abs().max()
            ratio = s["sd"] / r["sd"]
            sd_col = ("-" if m == "map" else f"{ratio.min():.2f}-{ratio.max():.2f}")
            ess = f"{d.min_ess_bulk:.0f}" if m in ("nuts", "metropolis") else "-"
            k = f"{d.pareto_k:.2f}" if np.isfinite(d.pareto_k) else "-"
            rhat = f"{d.max_rhat:.3f}" if np.isfinite(d.max_rhat) else "-"
            print(f"| {m} | {par} | {times[0]:.1f} | {times[1]:.1f} | {err:.2f} | {sd_col} "
                  f"| {ess} | {k} | {rhat} |", flush=True)


if __name__ == "__main__":
    main()
