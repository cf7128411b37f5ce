"""Out-of-core scaling: hbr fits simulated Parquet tables that DuckDB reads (issue 4).

For each size N rows / J groups (default 10^6/10^3, 10^7/10^4, 10^8/10^5) the script writes
a varying intercept + slope table, y = 1 + 0.5 x + b0[g] + b1[g] x + e, in Parquet files of
10^6 rows (generation time reported apart, files kept under --dir for reruns), then fits
``y ~ x + (x | g)`` from the glob in a fresh process (4 chains x 1000 + 1000 draws): the
process is timed from its start (imports, SQL statistics, compilation, sampling) to the
end of the fit ("start to fit"), and whole (with the diagnostics over all group effects and
the interpreter), with its peak memory. The first run of each size has an
empty compilation cache (cold: tracing and XLA compilation included); with --warm a second
process reuses the cache the first filled. ESS and R-hat are over the
hyperparameters and, where the fit keeps the group effects' draws (``effect_draws="auto"``
keeps them up to 256 MiB, so below 10^4 groups), 200 of the group effects.
``--effect-draws keep`` makes every fit (and the CLI) keep them, as before that option.

PyMC + nutpie (its own weakly informative priors) runs at the sizes up to --nutpie-rows,
reading the table into pandas, with a 15-minute limit ("did not finish" otherwise),
non-centred, centred (each group has ~1000 rows, so centred is what an expert would
write here: the group coefficients centred on the population means) or both
(--nutpie-param).

With --loo the child also times ``fit.loo()`` (the rows read again from the files: the
plug-in pass over every row and PSIS on a sample of 10^4 rows), reported apart.

With --cli the script also times what a user runs (issue 17): ``hbr fit GLOB "y ~ x + (x | g)"
--out DIR`` in a fresh process, empty cache then warm, with its wall time and peak memory
(``os.wait4``), the fit's own phases from its printed times line, and the size of DIR.

Run by hand:  python bench/scale.py [--sizes 1e6:1e3,1e7:1e4] [--nutpie-rows 1e6] [--warm] [--loo]
              [--cli [--effect-draws auto,keep]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
T0 = time.perf_counter()
import numpy as np
import hbr
from hbr.posterior.mcmcstats import summary_arrays
glob = sys.argv[1]
f = hbr.fit("y ~ x + (x | g)", glob, seed=1, engine="duckdb", log_likelihood=False)
total = time.perf_counter() - T0
peak_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
p = f.draws.posterior
cols = [p[v][..., None] for v in ("Intercept", "x", "sigma", "1|g_sigma", "x|g_sigma")]
cols += [p["g_corr"][..., 1, 0][..., None]]
if "1|g" in p:  # effect_draws kept ("auto" drops them above 256 MiB: from 10^4 groups)
    pick = np.linspace(0, p["1|g"].shape[-1] - 1, 100).astype(int)
    cols += [p["1|g"][..., pick], p["x|g"][..., pick]]
st = summary_arrays(np.concatenate(cols, axis=2))
loo = {}
if len(sys.argv) > 2:  # --loo: LOO from the files again (a sample of rows)
    t = time.perf_counter()
    r = f.loo()
    loo = {"loo_s": time.perf_counter() - t, "elpd": r.elpd, "elpd_se": r.se,
           "sub_se": r.subsampling_se, "loo_rows": len(r.rows),
           "k_bad": r.pareto_k_bad, "peak_loo_mib":
           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
print("RESULT" + json.dumps({**loo,
    "total_s": total, "sampling_s": f.timings["sampling_s"],
    "compile_s": f.timings["compile_s"], "warmup_s": f.timings["warmup_s"],
    "divergences": int(f.diagnostics().divergences),
    "ess_bulk": float(np.nanmin(st["ess_bulk"])), "rhat": float(np.nanmax(st["r_hat"])),
    "peak_mib": peak_fit, "x": float(p["x"].mean()), "x_sd": float(p["x|g_sigma"].mean()),
    "effect_draws": "1|g" in p}))
"""

NUTPIE = r"""
import json, resource, sys, time
T0 = time.perf_counter()
import numpy as np, pandas as pd, pymc as pm, nutpie
d = pd.read_parquet(sys.argv[1])
idx, levels = pd.factorize(d.g, sort=True)
y, x = d.y.to_numpy(), d.x.to_numpy()
with pm.Model() as m:
    a = pm.Normal("Intercept", 0, 10)
    bx = pm.Normal("x", 0, 10)
    chol, corr, sds = pm.LKJCholeskyCov("chol", n=2, eta=2.0, compute_corr=True,
                                       sd_dist=pm.HalfNormal.dist(5.0, shape=2))
    sigma = pm.HalfNormal("sigma", 5)
    if sys.argv[2] == "centered":  # every group has ~1000 rows: the data pin each group's
        # coefficients, so they are sampled directly, centred on the population means
        # (hierarchical centring: the intercept is not a shift shared by every group)
        beta = pm.MvNormal("beta", mu=pm.math.stack([a, bx]), chol=chol,
                           shape=(len(levels), 2))
        pm.Normal("y", beta[idx, 0] + beta[idx, 1] * x, sigma, observed=y)
    else:
        z = pm.Normal("z", 0, 1, shape=(len(levels), 2))
        b = z @ chol.T
        pm.Normal("y", a + b[idx, 0] + (bx + b[idx, 1]) * x, sigma, observed=y)
tr = nutpie.sample(nutpie.compile_pymc_model(m), draws=1000, tune=1000, chains=4, seed=1,
                   progress_bar=False)
total = time.perf_counter() - T0
from hbr.posterior.mcmcstats import summary_arrays
post = tr.posterior
cols = [post[v].values[..., None] for v in ("Intercept", "x", "sigma")]
cols += [post["chol_stds"].values, post["chol_corr"].values[..., 1, 0][..., None]]
st = summary_arrays(np.concatenate(cols, axis=2))
print("RESULT" + json.dumps({
    "total_s": total, "divergences": int(tr.sample_stats.diverging.values.sum()),
    "ess_bulk": float(np.nanmin(st["ess_bulk"])), "rhat": float(np.nanmax(st["r_hat"])),
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(folder: Path, n: int, J: int, seed: int = 0) -> float:
    """Write the table in Parquet files of 10^6 rows; returns seconds (0 if it exists)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = folder.parent / f"{folder.name}.done"  # beside it: the folder holds only Parquet
    if done.exists():
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    b0, b1 = rng.normal(0, 0.5, J), rng.normal(0, 0.3, J)
    chunk = 1_000_000
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        g = rng.integers(0, J, m)
        x = rng.normal(size=m)
        y = 1 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(0, 0.8, m)
        pq.write_table(pa.table({"y": y, "x": x, "g": g}), folder / f"part-{i // chunk:05d}.parquet")
    done.write_text("ok")
    return time.perf_counter() - t


def child(code: str, arg: str, timeout: float, *extra: str, env: dict | None = None
          ) -> dict | None:
    t = time.perf_counter()
    try:
        res = subprocess.run([sys.executable, "-c", code, arg, *extra], capture_output=True,
                             text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout / 60:.0f} min"}
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")]
    if res.returncode or not line:
        tail = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "no message"
        return {"error": f"exit {res.returncode}: {tail[:200]}"}
    out = json.loads(line[0][6:])
    out["process_s"] = time.perf_counter() - t - out.get("loo_s", 0.0)
    return out


def cli_run(glob: str, env: dict, out: Path, effect_draws: str = "auto") -> dict:
    """``hbr fit GLOB FORMULA --out OUT`` in a fresh process: wall s, peak MiB, the fit's
    times line and the bytes written."""
    import re
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    hbr = os.path.join(os.path.dirname(sys.executable), "hbr")
    t = time.perf_counter()
    proc = subprocess.Popen([hbr, "fit", glob, "y ~ x + (x | g)", "--out", str(out), "--seed",
                             "1", "--effect-draws", effect_draws], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    stdout, stderr = proc.communicate()
    if os.waitstatus_to_exitcode(status):
        return {"error": f"exit {os.waitstatus_to_exitcode(status)}: {stderr[-300:]}"}
    times = re.search(r"time: ([\d.]+) s \(compile ([\d.]+) s, warm-up ([\d.]+) s, "
                      r"sampling ([\d.]+) s\)", stdout)
    size = sum(f.stat().st_size for f in out.iterdir())
    return {"wall_s": wall, "peak_mib": usage.ru_maxrss / 1024,
            "fit_s": float(times.group(1)) if times else float("nan"),
            "compile_s": float(times.group(2)) if times else float("nan"),
            "sampling_s": float(times.group(4)) if times else float("nan"),
            "out_mb": size / 1e6}


def cli_table(results: list[tuple[int, int, str, dict]]) -> None:
    print("\n| hbr fit --out (CLI) | rows | groups | wall s | fit s (its times line) | "
          "compile s | sampling s | after the fit s | peak MiB | DIR MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    # kind: "<cache> cache, --effect-draws <choice>"
    for n, J, kind, r in results:
        if "error" in r:
            print(f"| {kind} | {n:.0e} | {J:.0e} | {r['error']} | | | | | | |")
            continue
        print(f"| {kind} | {n:.0e} | {J:.0e} | {r['wall_s']:.1f} | {r['fit_s']:.1f} | "
              f"{r['compile_s']:.1f} | {r['sampling_s']:.1f} | "
              f"{r['wall_s'] - r['fit_s']:.1f} | {r['peak_mib']:.0f} | {r['out_mb']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1e6:1e3,1e7:1e4,1e8:1e5")
    ap.add_argument("--dir", default=os.environ.get("HBR_SCALE_DIR", "/tmp/hbr-scale"))
    ap.add_argument("--nutpie-rows", type=float, default=1e6)
    ap.add_argument("--nutpie-param", default="both",
                    choices=["both", "noncentered", "centered"])
    ap.add_argument("--warm", action="store_true", help="run hbr a second time with the "
                    "compilation cache the first run filled")
    ap.add_argument("--loo", action="store_true", help="also time fit.loo() (after the fit, "
                    "not in 'process s')")
    ap.add_argument("--cli", action="store_true", help="time 'hbr fit GLOB ... --out DIR' "
                    "through the command line (empty cache, then warm) instead of the fit")
    ap.add_argument("--effect-draws", default="auto", help="with --cli: comma-separated "
                    "--effect-draws choices to run side by side, e.g. auto,keep")
    a = ap.parse_args()
    rows = []
    if a.cli:
        results = []
        for spec in a.sizes.split(","):
            n, J = (int(float(v)) for v in spec.split(":"))
            folder = Path(a.dir) / f"n{n}-j{J}"
            print(f"== {n:.0e} rows, {J:.0e} groups", file=sys.stderr, flush=True)
            generate(folder, n, J)
            for choice in a.effect_draws.split(","):
                with tempfile.TemporaryDirectory() as cache:
                    env = {**os.environ, "HBR_CACHE_DIR": cache}
                    for kind in ("empty", "warm"):
                        results.append((n, J, f"{kind} cache, --effect-draws {choice}",
                                        cli_run(str(folder / "part-*.parquet"), env,
                                                Path(cache) / "out", choice)))
        cli_table(results)
        return
    for spec in a.sizes.split(","):
        n, J = (int(float(v)) for v in spec.split(":"))
        folder = Path(a.dir) / f"n{n}-j{J}"
        print(f"== {n:.0e} rows, {J:.0e} groups", file=sys.stderr, flush=True)
        gen = generate(folder, n, J)
        with tempfile.TemporaryDirectory() as cache:  # cold: no compiled program cached
            env = {**os.environ, "HBR_CACHE_DIR": cache}
            for kind in ("cold", "warm")[:1 + a.warm]:
                r = child(CHILD, str(folder / "part-*.parquet"), 3600,
                          *(["loo"] if a.loo and kind == "cold" else []), env=env)
                rows.append((f"hbr (DuckDB), {kind} cache", n, J, gen, r))
        if n <= a.nutpie_rows:
            try:
                import nutpie  # noqa: F401
            except ImportError:
                continue
            for param in (["noncentered", "centered"] if a.nutpie_param == "both"
                          else [a.nutpie_param]):
                rows.append((f"pymc+nutpie ({param})", n, J, gen,
                             child(NUTPIE, str(folder), 900, param)))
    print("| tool | rows | groups | generation s | start to fit s | whole process s | "
          "compile s | sampling s | min ESS bulk | max R-hat | div | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for tool, n, J, gen, r in rows:
        if r is None or "error" in r:
            print(f"| {tool} | {n:.0e} | {J:.0e} | {gen:.0f} | {(r or {}).get('error', '?')} "
                  "| | | | | | | |")
            continue
        print(f"| {tool} | {n:.0e} | {J:.0e} | {gen:.0f} | {r['total_s']:.1f} | "
              f"{r['process_s']:.1f} | "
              f"{r.get('compile_s', float('nan')):.1f} | "
              f"{r.get('sampling_s', float('nan')):.1f} | {r['ess_bulk']:.0f} | "
              f"{r['rhat']:.3f} | {r['divergences']} | {r['peak_mib']:.0f} |")
    looed = [(n, r) for tool, n, J, gen, r in rows if r and "loo_s" in r]
    if looed:
        print("\n| rows | fit.loo() s | rows evaluated | elpd_loo | se | subsampling se | "
              "k > 0.7 | peak MiB after |")
        print("|---|---|---|---|---|---|---|---|")
        for n, r in looed:
            print(f"| {n:.0e} | {r['loo_s']:.1f} | {r['loo_rows']} | {r['elpd']:.1f} | "
                  f"{r['elpd_se']:.1f} | {r['sub_se']:.2f} | {r['k_bad']} | "
                  f"{r['peak_loo_mib']:.0f} |")


if __name__ == "__main__":
    main()
