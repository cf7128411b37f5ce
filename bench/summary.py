"""The posterior summary of many parameters (issue 17: summary never longer than sampling):
hbr's vectorised R-hat / ESS / MCSE / HDI (``hbr.posterior.mcmcstats.summary_arrays``)
against ArviZ's ``az.summary`` on the same draws, 4 chains x 1000 draws of AR(1) series.

ArviZ runs on the first ``--arviz`` parameters only (about 2.5 ms each) and its time is
scaled to P; both agree to 1e-9 (tests/posterior/test_mcmcstats.py). Medians of --repeat
runs in this process.

Run by hand:  python bench/summary.py [--sizes 1000,10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def draws(P: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0, 0.9, P)
    x = np.empty((4, 1000, P))
    x[:, 0] = rng.normal(size=(4, P))
    for t in range(1, 1000):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=(4, P))
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--arviz", type=int, default=200)
    args = ap.parse_args()
    import arviz as az

    from hbr.posterior.mcmcstats import summary_arrays

    print(f"{'parameters':>10} {'hbr s':>8} {'ArviZ s (scaled)':>17} {'ratio':>7}")
    for P in (int(s) for s in args.sizes.split(",")):
        x = draws(P)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            summary_arrays(x)
            times.append(time.perf_counter() - t)
        m = min(P, args.arviz)
        idata = az.from_dict(posterior={"p": np.ascontiguousarray(x[:, :, :m])})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            az.summary(idata)
            a = (time.perf_counter() - t) * P / m
        h = statistics.median(times)
        print(f"{P:>10} {h:>8.2f} {a:>17.1f} {a / h:>7.1f}x")


if __name__ == "__main__":
    main()
