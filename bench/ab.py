"""A/B of two source trees on the user's path: fresh processes that import hbr, load the
bundled radon data, fit the README's model and diagnose it, alternating between the trees so
that the machine's noise falls on both; prints medians of each phase.

Each tree gets its own program cache (``HBR_CACHE_DIR``), warmed by one unmeasured run, so
the numbers are the warm-cache first fit of a new process. Run by hand, e.g. to compare a
refactor with the commit before it::

    git worktree add /tmp/base <commit>
    python bench/ab.py /tmp/base/src src --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, time
t0 = time.perf_counter()
import hbr
t1 = time.perf_counter()
radon = hbr.load_dataset("radon")
mn = radon[radon.state == "MN"]
t2 = time.perf_counter()
fit = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=1)
t3 = time.perf_counter()
d = fit.diagnostics()
t4 = time.perf_counter()
print("RESULT" + json.dumps({"import_s": t1 - t0, "fit_s": t3 - t2, "diagnose_s": t4 - t3,
                             "process_s": t4 - t0, "compile_s": fit.timings["compile_s"],
                             "sampling_s": fit.timings["sampling_s"],
                             "min_ess_bulk": d.min_ess_bulk}))
"""


def run(src: str, cache: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src), "HBR_CACHE_DIR": cache}
    res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         env=env, timeout=900)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")]
    if res.returncode or not line:
        raise SystemExit(f"{src} failed:\n{res.stderr[-2000:]}")
    return json.loads(line[0][6:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("a", help="the first tree's src/ (e.g. the commit before)")
    ap.add_argument("b", help="the second tree's src/")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    caches = {t: tempfile.mkdtemp(prefix="hbr-ab-") for t in (a.a, a.b)}
    for t in (a.a, a.b):
        run(t, caches[t])  # fills the program cache
    rows: dict[str, list[dict[str, float]]] = {a.a: [], a.b: []}
    for _ in range(a.rounds):
        for t in (a.a, a.b):
            rows[t].append(run(t, caches[t]))
    keys = list(rows[a.a][0])
    print(f"radon, 4 chains x 1000 draws, medians of {a.rounds} alternating fresh processes "
          "(warm program cache)")
    print("| tree | " + " | ".join(keys) + " |")
    print("|" + "---|" * (len(keys) + 1))
    for t, rs in rows.items():
        med = [statistics.median(r[k] for r in rs) for k in keys]
        print(f"| {t} | " + " | ".join(f"{m:.3f}" if m < 100 else f"{m:.0f}" for m in med)
              + " |")


if __name__ == "__main__":
    main()
