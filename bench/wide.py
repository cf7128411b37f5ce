"""Wide and fragmented designs through the CLI (issue 22): 300 fixed effects, and 10^5
groups of one row each.

- "300 fixed effects": ``y ~ x0 + ... + x299 + (1 | g)`` on 5,000 rows in 50 groups, the
  x's standard normal, beta ~ N(0, 0.3^2), group sd 0.5, sigma 1. Before the fixed effects
  were priced as one vector (Structure.fixed_runs) this was still compiling after 15 minutes.
- "10^5 one-row groups": ``y ~ x + (1 | g)`` on 10^5 rows, every row its own group (group
  sd 0.5, sigma 0.7: only their sum of squares is well identified).

Each run is a fresh process of what a user types, ``hbr fit DATA FORMULA --out DIR``, with
an empty cache first and then a warm one (--repeat times each, medians printed); the table
gives the whole-process wall time, peak RSS, the fit's phases as it printed them, the
verdict and, for the wide design, how often the true coefficients fall inside the 94% HDI.

Run by hand:  python bench/wide.py [--repeat 1] [--cases wide,fragmented]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _proc import timed


def wide(folder: Path) -> tuple[Path, str, dict]:
    rng = np.random.default_rng(0)
    n, p, J = 5000, 300, 50
    X = rng.normal(size=(n, p))
    g = rng.integers(0, J, n)
    beta = rng.normal(0, 0.3, p)
    y = 1 + X @ beta + rng.normal(0, 0.5, J)[g] + rng.normal(0, 1, n)
    t = pd.DataFrame(X, columns=[f"x{i}" for i in range(p)]).assign(g=g, y=y)
    t.to_csv(folder / "wide.csv", index=False)
    formula = "y ~ " + " + ".join(f"x{i}" for i in range(p)) + " + (1 | g)"
    return folder / "wide.csv", formula, {f"x{i}": b for i, b in enumerate(beta)}


def fragmented(folder: Path) -> tuple[Path, str, dict]:
    rng = np.random.default_rng(1)
    n = 100_000
    x = rng.normal(size=n)
    y = 0.5 + 0.3 * x + rng.normal(0, 0.5, n) + rng.normal(0, 0.7, n)
    pd.DataFrame({"y": y, "x": x, "g": np.arange(n)}).to_csv(folder / "frag.csv", index=False)
    return folder / "frag.csv", "y ~ x + (1 | g)", {"Intercept": 0.5, "x": 0.3}


CASES = {"wide": ("300 fixed effects", wide), "fragmented": ("10^5 one-row groups", fragmented)}


def _phases(text: str) -> str:
    m = re.search(r"time: ([\d.]+) s \(compile ([\d.]+) s, warm-up ([\d.]+) s, sampling "
                  r"([\d.]+) s\)", text)
    return "fit {} (compile {}, warm-up {}, sampling {})".format(*m.groups()) if m else "?"


def _covered(out: Path, truth: dict) -> str:
    s = pd.read_csv(out / "summary.csv", index_col=0).loc[list(truth)]
    inside = (s["hdi_3%"] <= pd.Series(truth)) & (pd.Series(truth) <= s["hdi_97%"])
    return f"{int(inside.sum())}/{len(truth)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cases", default="wide,fragmented")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for case in args.cases.split(","):
            label, make = CASES[case]
            data, formula, truth = make(tmp)
            for cache in ("empty", "warm"):
                walls, peaks, text, out = [], [], "", None
                for r in range(args.repeat):
                    cdir = tmp / f"cache-{case}-{cache}-{r}"  # "empty" is really empty
                    out = tmp / f"out-{case}-{cache}-{r}"
                    env = {**os.environ, "HBR_CACHE_DIR": str(cdir)}
                    cmd = [sys.executable, "-m", "hbr", "fit", str(data), formula, "--out",
                           str(out), "--no-progress", "--seed", "1"]
                    if cache == "warm":  # a first run fills this repeat's cache
                        timed([c if c != str(out) else f"{out}-fill" for c in cmd], env)
                    wall, peak, text = timed(cmd, env)
                    walls.append(wall)
                    peaks.append(peak)
                verdict = next((ln for ln in text.splitlines()
                                if ln.startswith(("OK", "WARNING", "PROBLEM"))), "?")
                rows.append((label, cache, statistics.median(walls), max(peaks),
                             _phases(text), verdict.split(" (")[0], _covered(out, truth)))
    print(f"{'design':22} {'cache':6} {'wall s':>7} {'peak MiB':>9}  phases (s) | verdict | "
          "truth in 94% HDI")
    for label, cache, wall, peak, phases, verdict, cov in rows:
        print(f"{label:22} {cache:6} {wall:7.1f} {peak:9.0f}  {phases} | {verdict} | {cov}")


if __name__ == "__main__":
    main()
