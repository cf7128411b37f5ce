"""The user's wait on the command line (issue 17): wall seconds and peak memory of the CLI
commands a user types, each in a fresh process, as a table of medians.

Steps of one round (a fresh ``HBR_CACHE_DIR`` each round, so "empty cache" is empty):

1. ``hbr --help``;
2. ``hbr fit --example radon --out D1`` with an empty cache;
3. the same again (``--out D2``): a repeat with a warm cache;
4. a new model structure on the same data, ``log_radon ~ floor + (1 | county) +
   (0 + floor | county)``, from a CSV of the Minnesota rows (``--out D3``): the issue's
   example, which shares the shape bucket of step 2's ``(floor | county)``;
5. another new structure, ``log_radon ~ floor + (1 | county)`` (one coefficient: a bucket
   of its own, so its programs are compiled here);
6. a third, ``log_radon ~ floor + log_uppm + (1 | county)`` (Gelman & Hill's county-level
   uranium: three fixed effects, a shape no earlier step had, compiled here too);
7. ``hbr fit --example radon --out D4 --report``: the report's cost is this minus step 3.

Run by hand (not in CI): ``python bench/user_path.py --rounds 3``. ``--src DIR`` times another
source tree (its ``src/``) with the same interpreter; give it twice (``--src OLD/src --src
src``) for a before/after table whose rounds alternate between the trees, so the machine's
noise falls on both.
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

STEPS = ("help", "fit, empty cache", "fit, repeat", "new structure", "other structure",
         "third structure", "fit --report")
TARGETS = {"help": "<= 1", "fit, empty cache": "<= 15", "fit, repeat": "<= 3",
           "new structure": "<= 6", "other structure": "<= 6", "third structure": "<= 6",
           "fit --report": "repeat + 5"}


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    out, err = proc.communicate()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(args)} failed:\n{err.decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def one_round(src: str | None, work: str) -> dict[str, tuple[float, float]]:
    cache = tempfile.mkdtemp(prefix="cache-", dir=work)
    env = {**os.environ, "HBR_CACHE_DIR": cache}
    if src:
        env["PYTHONPATH"] = os.path.abspath(src)
    hbr = [os.path.join(os.path.dirname(sys.executable), "hbr")]  # the installed script
    csv = os.path.join(work, "mn.csv")
    if not os.path.exists(csv):
        subprocess.run([sys.executable, "-c", "import hbr.datasets as d, sys; "
                        "d.load_example('radon').to_csv(sys.argv[1], index=False)", csv],
                       env=env, check=True)
    out = lambda name: os.path.join(work, f"{name}-{os.path.basename(cache)}")  # noqa: E731
    return {
        "help": timed(hbr + ["--help"], env),
        "fit, empty cache": timed(hbr + ["fit", "--example", "radon", "--out", out("d1")], env),
        "fit, repeat": timed(hbr + ["fit", "--example", "radon", "--out", out("d2")], env),
        "new structure": timed(hbr + ["fit", csv, "log_radon ~ floor + (1 | county) + "
                                      "(0 + floor | county)", "--out", out("d3")], env),
        "other structure": timed(hbr + ["fit", csv, "log_radon ~ floor + (1 | county)",
                                        "--out", out("d5")], env),
        "third structure": timed(hbr + ["fit", csv, "log_radon ~ floor + log_uppm + (1 | county)",
                                        "--out", out("d6")], env),
        "fit --report": timed(hbr + ["fit", "--example", "radon", "--out", out("d4"),
                                     "--report"], env),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--src", action="append", default=None,
                    help="a tree's src/ to time (twice: alternate two trees)")
    a = ap.parse_args()
    trees = a.src or [None]
    for t in trees:
        bytecode(t)  # as an installed hbr has it
    work = tempfile.mkdtemp(prefix="hbr-user-path-")
    try:
        rounds: dict = {t: [] for t in trees}
        for _ in range(a.rounds):
            for t in trees:
                rounds[t].append(one_round(t, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{a.rounds} rounds, medians (each a fresh process; empty cache = a fresh "
          "HBR_CACHE_DIR; trees alternate within each round)")
    print("| tree | step | wall s | min-max s | peak MiB | target s |")
    print("|---|---|---|---|---|---|")
    for t in trees:
        for step in STEPS:
            walls = [r[step][0] for r in rounds[t]]
            mem = statistics.median(r[step][1] for r in rounds[t])
            print(f"| {t or 'installed'} | {step} | {statistics.median(walls):.2f} | "
                  f"{min(walls):.2f}-{max(walls):.2f} | {mem:.0f} | {TARGETS[step]} |")


if __name__ == "__main__":
    main()
