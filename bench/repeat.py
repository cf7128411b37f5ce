"""The warm repeat of ``hbr fit --example radon --out D`` (issue 17's "repeat <= 3 s"), many
times, alternating between source trees: this 2-core machine's noise (one tree's repeats
spread over 3.4-5.7 s in one run) hides a 0.4 s change in ``bench/user_path.py``'s three to
five rounds.

Each tree gets its own ``HBR_CACHE_DIR``, warmed by two unmeasured fits; then ``N`` rounds
run one fresh process per tree, the order reversed every other round. Prints each tree's
median, mean, min and max wall seconds.

With ``--report`` each round also runs ``hbr fit --example radon --out D --report``, and the
table adds what the report costs (its median minus the repeat's; issue 17: "--report adds
<= 5 s").

Run by hand: ``python bench/repeat.py --rounds 12 --src OLD/src --src src [--report]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _proc import bytecode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--src", action="append", required=True,
                    help="a tree's src/ (give two to compare them)")
    ap.add_argument("--report", action="store_true", help="also time --report")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hbr-repeat-")
    hbr = os.path.join(os.path.dirname(sys.executable), "hbr")  # the installed script
    envs = {}
    try:
        for i, t in enumerate(a.src):
            bytecode(t)
            envs[t] = {**os.environ, "HBR_CACHE_DIR": os.path.join(work, f"cache{i}"),
                       "PYTHONPATH": os.path.abspath(t)}

        def fit(t: str, report: bool = False) -> float:
            out = tempfile.mkdtemp(dir=work)
            s = time.perf_counter()
            subprocess.run([hbr, "fit", "--example", "radon", "--out", out + "/o",
                            "--no-progress"] + (["--report"] if report else []),
                           env=envs[t], check=True, capture_output=True)
            return time.perf_counter() - s

        for t in a.src:
            fit(t), fit(t, a.report)  # the caches warm
        walls: dict[str, list[float]] = {t: [] for t in a.src}
        reports: dict[str, list[float]] = {t: [] for t in a.src}
        for r in range(a.rounds):
            for t in (a.src if r % 2 == 0 else a.src[::-1]):
                walls[t].append(fit(t))
                if a.report:
                    reports[t].append(fit(t, True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{a.rounds} alternating warm repeats of hbr fit --example radon --out D")
    print("| tree | median s | mean s | min s | max s |")
    print("|---|---|---|---|---|")
    for t, v in walls.items():
        print(f"| {t} | {statistics.median(v):.2f} | {statistics.mean(v):.2f} | {min(v):.2f} | "
              f"{max(v):.2f} |")
    if a.report:
        print("\n| tree | --report median s | min-max s | adds s (median - repeat's) |")
        print("|---|---|---|---|")
        for t, v in reports.items():
            print(f"| {t} | {statistics.median(v):.2f} | {min(v):.2f}-{max(v):.2f} | "
                  f"{statistics.median(v) - statistics.median(walls[t]):.2f} |")


if __name__ == "__main__":
    main()
