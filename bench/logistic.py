"""Hierarchical logistic regression: hbr against PyMC + nutpie (and NumPyro) on the same data.

Simulated: 50,000 rows, 500 groups (sizes 20-180), y ~ Bernoulli(logit^-1(eta)),
eta = 0.2 + b0_g + (0.7 + b1_g) x, (b0, b1) ~ N(0, diag(0.6, 0.3) R diag(0.6, 0.3)),
R_01 = -0.3. Model ``y ~ x + (x | g)``, family bernoulli, priors Intercept, x ~ Normal(0, 2.5),
group sds ~ HalfNormal(1), LKJ(2); 4 chains x (1000 tune + 1000 draws).
  * hbr, "auto" (the default for non-Gaussian families: per-group partial centring from a
    pilot fit) and "noncentered";
  * PyMC + nutpie, non-centred (if installed: pip install ".[bench]");
  * NumPyro, non-centred.
Each tool runs in a fresh process (cold), then samples again in the same process (warm).
ESS and R-hat over every parameter (5 hyperparameters and 1000 group effects) come from one
function for all tools. Run by hand:  python bench/logistic.py [--only hbr-auto,pymc+nutpie]
"""

from __future__ import annotations

import argparse
import sys

from anchors import COMMON, run_child

DATA = r"""
def simulate():
    rng = np.random.default_rng(50_000)
    J = 500
    g = np.repeat(np.arange(J), rng.integers(20, 181, J))
    g = g[:50_000] if g.size >= 50_000 else np.concatenate([g, rng.integers(0, J, 50_000 - g.size)])
    g = np.sort(g)
    x = rng.normal(size=g.size)
    s = np.array([0.6, 0.3])
    R = np.array([[1.0, -0.3], [-0.3, 1.0]])
    b = rng.multivariate_normal(np.zeros(2), s[:, None] * R * s[None, :], size=J)
    eta = 0.2 + b[g, 0] + (0.7 + b[g, 1]) * x
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return y, x, g, J
"""

HBR = COMMON + DATA + r"""
import hbr, pandas as pd
par = sys.argv[1]
y, x, g, J = simulate()
d = pd.DataFrame({"y": y, "x": x, "g": [f"g{i:03d}" for i in g]})
priors = {"Intercept": "Normal(0, 2.5)", "x": "Normal(0, 2.5)", "1|g_sigma": "HalfNormal(1)",
          "x|g_sigma": "HalfNormal(1)", "g_corr": "LKJ(2)"}
hbr_runs(lambda seed: hbr.fit("y ~ x + (x | g)", d, family="bernoulli", seed=seed,
                              parameterization=par, priors=priors, log_likelihood=False),
         ("Intercept", "x", "1|g_sigma", "x|g_sigma"), "g_corr", ("1|g", "x|g"))
"""

NUTPIE = COMMON + DATA + r"""
import pymc as pm
y, x, g, J = simulate()
def build():
    with pm.Model() as m:
        icpt = pm.Normal("Intercept", 0, 2.5)
        bx = pm.Normal("x", 0, 2.5)
        chol, corr, sds = pm.LKJCholeskyCov("chol", n=2, eta=2.0, compute_corr=True,
                                           sd_dist=pm.HalfNormal.dist(1.0, shape=2))
        z = pm.Normal("z", 0, 1, shape=(J, 2))
        b = pm.Deterministic("b", z @ chol.T)
        eta = icpt + b[g, 0] + (bx + b[g, 1]) * x
        pm.Bernoulli("y", logit_p=eta, observed=y)
    return m
nutpie_runs(build, ("Intercept", "x"))
"""

NUMPYRO = COMMON + DATA + r"""
import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist
jax.config.update("jax_enable_x64", True)
y, x, g, J = simulate()
def model(g, x, y):
    icpt = numpyro.sample("Intercept", dist.Normal(0, 2.5))
    bx = numpyro.sample("x", dist.Normal(0, 2.5))
    sds = numpyro.sample("sds", dist.HalfNormal(1.0).expand([2]))
    Lc = numpyro.sample("Lc", dist.LKJCholesky(2, 2.0))
    z = numpyro.sample("z", dist.Normal(0, 1).expand([J, 2]))
    b = numpyro.deterministic("b", z @ (sds[:, None] * Lc).T)
    eta = icpt + b[g, 0] + (bx + b[g, 1]) * x
    numpyro.sample("y", dist.Bernoulli(logits=eta), obs=y)
numpyro_runs(model, (jnp.asarray(g), jnp.asarray(x), jnp.asarray(y)), ("Intercept", "x"))
"""

TOOLS = {
    "hbr-auto": (HBR, ["auto"]),
    "hbr-noncentered": (HBR, ["noncentered"]),
    "pymc+nutpie": (NUTPIE, []),
    "numpyro-noncentered": (NUMPYRO, []),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    rows = []
    for name in [n for n in TOOLS if not a.only or n in a.only.split(",")]:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        r = run_child(*TOOLS[name])
        if r is not None:
            rows.append((name, r))
    print("| tool | cold total s | warm total s | sampling s (cold) | min ESS bulk | min ESS tail"
          " | max R-hat | div | ESS bulk / cold s | ESS bulk / warm s | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        c, w = r["cold"], r["warm"]
        print(f"| {name} | {r['cold_total_s']:.1f} | {w['total_s']:.1f} | {c['sampling_s']:.1f}"
              f" | {c['ess_bulk']:.0f} | {c['ess_tail']:.0f} | {c['rhat']:.3f} | "
              f"{c['divergences']}/{w['divergences']} | {c['ess_bulk'] / r['cold_total_s']:.1f}"
              f" | {w['ess_bulk'] / w['total_s']:.1f} | {r['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
