"""Simulation-based calibration, the full matrix: every family x parameterisation.

For each case of hbr.checks.calibration.CASES (a varying-intercept model per family) and each
parameterisation that applies (marginal for the Gaussian ones; auto, centered and noncentered
for all), fit REPS simulated data sets (one chain, 49 kept draws after thinning by 4) and test
the uniformity of the true values' ranks (chi-square, 5 bins). The negative control ("biased
x": slope draws shifted by half a posterior sd) must fail everywhere.

Writes OUT/report.md (table: p-values, failures, divergences, seconds) and one PNG of rank
histograms per case and parameterisation. Run by hand:
    python bench/sbc.py [--reps 200] [--out sbc-report] [--only bernoulli,poisson]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hbr.checks.calibration import CASES, rank_pvalue, sbc_ranks

LEVEL = 0.001  # per-parameter test level


def _histograms(ranks: dict[str, np.ndarray], title: str, path: Path, L: int = 49) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ranks), figsize=(2.6 * len(ranks), 2.4), sharey=True)
    for ax, (name, r) in zip(np.atleast_1d(axes), ranks.items()):
        counts = np.histogram(r, bins=10, range=(-0.5, L + 0.5))[0]
        ax.bar(np.arange(10), counts, color="tab:red" if name == "biased x" else "tab:blue")
        expected = len(r) / 10
        band = 3 * np.sqrt(expected * 0.9)
        ax.axhspan(expected - band, expected + band, color="0.85", zorder=0)
        ax.set_title(f"{name}\np = {rank_pvalue(r):.3g}", fontsize=8)
        ax.set_xticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--out", default="sbc-report")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| case | parameterization | min p (parameters) | failing (p < 0.001) | "
             "negative control p | fits with divergences | divergences | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for case, c in CASES.items():
        if a.only and case not in a.only.split(","):
            continue
        pars = (["marginal"] if c.family == "gaussian" else []) + ["auto", "centered",
                                                                    "noncentered"]
        for par in pars:
            t = time.perf_counter()
            ranks, div = sbc_ranks(case, par, reps=a.reps)
            secs = time.perf_counter() - t
            ps = {k: rank_pvalue(v) for k, v in ranks.items() if k != "biased x"}
            fail = [f"{k} ({p:.1g})" for k, p in ps.items() if p < LEVEL]
            row = (f"| {case} | {par} | {min(ps.values()):.3f} | {', '.join(fail) or '-'} | "
                   f"{rank_pvalue(ranks['biased x']):.1g} | {int((div > 0).sum())}/{a.reps} | "
                   f"{int(div.sum())} | {secs:.0f} |")
            print(row, flush=True)
            lines.append(row)
            _histograms(ranks, f"{case}, {par}: {a.reps} replicates", out / f"{case}-{par}.png")
    (out / "report.md").write_text(
        f"# SBC: {a.reps} replicates per row, 49 ranks, chi-square over 5 bins\n\n"
        + "\n".join(lines) + "\n")
    print(f"wrote {out / 'report.md'}")


if __name__ == "__main__":
    main()
