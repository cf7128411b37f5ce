"""Child of test_draw_hashes: SHA-256 of the posterior draws of fixed-seed fits, one per case.

Run as ``python tests/_draw_hashes_child.py`` (prints ``case hash`` lines). Kept apart from the
test so that the hashes come from a fresh process, as a user's would.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

import hbr

SMALL = dict(chains=2, draws=100, tune=100, seed=11)


def _hash(fit: "hbr.Fit") -> str:
    h = hashlib.sha256()
    for name in sorted(fit.draws.posterior):
        h.update(name.encode())
        h.update(np.ascontiguousarray(fit.draws.posterior[name], dtype=np.float64).tobytes())
    return h.hexdigest()


def cases() -> dict[str, "hbr.Fit"]:
    radon = hbr.load_dataset("radon")
    mn = radon[radon.state == "MN"]
    f = "log_radon ~ floor + (floor | county)"
    sim, _ = hbr.simulate(30, 10, seed=3)
    sim["k"] = (sim.y > sim.y.median()).astype(int)
    out = {
        "radon-nuts-marginal": lambda: hbr.fit(f, mn, **SMALL),
        "radon-nuts-auto": lambda: hbr.fit(f, mn, parameterization="auto", **SMALL),
        "radon-nuts-noncentered": lambda: hbr.fit(f, mn, parameterization="noncentered",
                                                  **SMALL),
        "radon-metropolis": lambda: hbr.fit(f, mn, method="metropolis", **SMALL),
        "radon-advi": lambda: hbr.fit(f, mn, method="advi", vi_steps=500, **SMALL),
        "radon-laplace": lambda: hbr.fit(f, mn, method="laplace", **SMALL),
        "bernoulli-nuts-auto": lambda: hbr.fit("k ~ x + (x | g)", sim, family="bernoulli",
                                               **SMALL),
    }
    return out


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    for name, run in cases().items():
        print(name, _hash(run()), flush=True)
