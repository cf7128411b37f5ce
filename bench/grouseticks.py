"""Non-Gaussian nested factors (issue 18): lme4's grouseticks, Poisson, default settings.

``TICKS ~ C(YEAR) + cHEIGHT + (1 | BROOD) + (1 | LOCATION)`` (YEAR is read as a number; 403 chicks, 118 broods nested in
63 locations; brms gave 551 divergences on it). The table is exported from R's lme4 package
(``apt install r-cran-lme4``). Each seed is a fresh process of ``hbr fit grouseticks.csv
FORMULA --family poisson --seed S --out DIR``; the table gives wall seconds, divergences,
max R-hat and the smallest bulk ESS over the hyperparameters (summary.csv), per seed and
as medians. With --src OLD/src the same runs use another source tree first (A/B).

Run by hand:  python bench/grouseticks.py [--seeds 1,2,3] [--src OLD/src]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA = "TICKS ~ C(YEAR) + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
EXPORT = ('suppressMessages(library(lme4)); data(grouseticks); '
          'write.csv(grouseticks, commandArgs(TRUE)[1], row.names = FALSE)')


def run(csv: Path, out: Path, seed: int, src: str | None) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "hbr", "fit", str(csv), FORMULA, "--family",
                        "poisson", "--seed", str(seed), "--out", str(out), "--force",
                        "--no-progress"], env=env, capture_output=True, text=True,
                       check=False)
    wall = time.perf_counter() - t
    if p.returncode:
        sys.exit(p.stdout[-2000:] + p.stderr[-2000:])
    text = p.stdout + p.stderr
    div = re.search(r"(\d+) divergen", text)
    s = pd.read_csv(out / "summary.csv", index_col=0)
    hyper = s.loc[[i for i in s.index if "[" not in i or i.startswith("C(YEAR)[")]]
    return {"wall": wall, "div": int(div.group(1)) if div else 0,
            "rhat": float(hyper["r_hat"].max()), "ess": float(hyper["ess_bulk"].min()),
            "low": hyper["ess_bulk"].idxmin()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--src", action="append", default=[])
    a = ap.parse_args()
    seeds = [int(x) for x in a.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "grouseticks.csv"
        subprocess.run(["Rscript", "-e", EXPORT, str(csv)], check=True)
        trees = a.src or [None]
        print(f"{'tree':28s} {'seed':>4s} {'wall s':>7s} {'div':>4s} {'max R-hat':>9s} "
              f"{'min ESS':>8s}  lowest")
        for src in trees:
            rows = [run(csv, tmp / "out", s, src) for s in seeds]
            for s, r in zip(seeds, rows):
                print(f"{str(src or 'installed'):28s} {s:4d} {r['wall']:7.1f} {r['div']:4d} "
                      f"{r['rhat']:9.3f} {r['ess']:8.0f}  {r['low']}")
            print(f"{'median':28s} {'':4s} {np.median([r['wall'] for r in rows]):7.1f} "
                  f"{int(np.median([r['div'] for r in rows])):4d} "
                  f"{np.median([r['rhat'] for r in rows]):9.3f} "
                  f"{np.median([r['ess'] for r in rows]):8.0f}")


if __name__ == "__main__":
    main()
