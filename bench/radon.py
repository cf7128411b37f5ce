"""Benchmark: Minnesota radon, log_radon ~ floor + (floor | county), each parameterisation.

Each configuration runs in a fresh Python process (cold: interpreter start, imports, JIT
compilation and sampling all count), then fits again in the same process (warm). Prints a
table; run by hand:  python bench/radon.py [--chains 4 --draws 1000 --tune 1000 --seeds 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import hbr
radon = hbr.load_dataset("radon")
mn = radon[radon.state == "MN"]
par, seed, chains, draws, tune = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:6])
out = {}
for run in ("cold", "warm"):
    t = time.perf_counter()
    fit = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=seed + (run == "warm"),
                  parameterization=par, chains=chains, draws=draws, tune=tune)
    d = fit.diagnostics()
    out[run] = {"fit_s": time.perf_counter() - t, "since_start_s": time.perf_counter() - t0,
                "sampling_s": fit.timings["sampling_s"], "compile_s": fit.timings["compile_s"],
                "ess_bulk": d.min_ess_bulk, "ess_tail": d.min_ess_tail, "rhat": d.max_rhat,
                "div": d.divergences}
print("RESULT" + json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=1, help="repeat with seeds 1..N")
    a = ap.parse_args()
    rows = []
    for par in ("marginal", "auto", "noncentered", "centered"):
        for seed in range(1, a.seeds + 1):
            t = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", CHILD, par, str(seed), str(a.chains),
                                  str(a.draws), str(a.tune)], capture_output=True, text=True)
            wall = time.perf_counter() - t
            line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")]
            if res.returncode or not line:
                print(res.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{par} seed {seed} failed")
            r = json.loads(line[0][6:])
            cold_total = wall - (r["warm"]["since_start_s"] - r["cold"]["since_start_s"])
            rows.append((par, seed, cold_total, r["warm"]["fit_s"], r["cold"]["compile_s"],
                         r["cold"]["sampling_s"], r["cold"]["ess_bulk"], r["cold"]["ess_tail"],
                         r["cold"]["rhat"], r["cold"]["div"],
                         r["cold"]["ess_bulk"] / cold_total))
    head = ("parameterization", "seed", "cold total s", "warm total s", "compile s",
            "sampling s", "min ESS bulk", "min ESS tail", "max R-hat", "divergences",
            "ESS bulk / cold s")
    print(f"Minnesota radon, {a.chains} chains x {a.draws} draws (+{a.tune} tune)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | "
              f"{r[6]:.0f} | {r[7]:.0f} | {r[8]:.3f} | {r[9]} | {r[10]:.0f} |")


if __name__ == "__main__":
    main()
