"""Benchmark (issue 3): integrate the fixed effects out too (their prior is Normal), against
hbr's marginal engine, which samples them. Minnesota radon, log_radon ~ floor + (floor | county),
default priors, 4 chains x (1000 + 1000), Laplace-preconditioned NUTS in both.

The integrated log density uses the same per-group statistics: with r = y - X beta,
K = blockdiag(Z_j Sigma Z_j' + sigma^2 I), the quadratic forms X'K^-1X, X'K^-1y, y'K^-1y
come from M_j = I + L'Z_j'Z_j L / sigma^2 applied to L'[Z_j'X_j, Z_j'y_j], and beta ~ N(mu0, V0)
is integrated in closed form (A = X'K^-1X + V0^-1). It is a prototype: batched Cholesky,
not hbr's closed-form 2x2 algebra, so compare leapfrog steps per draw and ESS, not seconds.
Run by hand: python bench/fixed_effects.py
"""
import time, math
import numpy as np, jax, jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to
import hbr
from hbr.design.build import build_design
from hbr.model.spec import build_model
from hbr.density.build import make_target
from hbr.target import Density, Readout, Target
from hbr.inference.mode import find_mode
from hbr.density.transforms import precondition
from hbr.inference.nuts import nuts
from hbr.posterior.mcmcstats import summary_arrays
from hbr._runtime.keys import key_rng
from hbr.density.parts import prior_dist

radon = hbr.load_dataset("radon"); mn = radon[radon.state == "MN"]
spec = build_model(build_design("log_radon ~ floor + (floor | county)", mn))
with jax.enable_x64(True):
    base = make_target(spec, "marginal").target
    d = base.data
    st = d["marg"]
    pri = {p.name: p for p in spec.params}
    mu0 = np.concatenate([np.atleast_1d(np.asarray(d["prior"][p.name][0])) for p in spec.fixed])
    s0 = np.concatenate([np.atleast_1d(np.asarray(d["prior"][p.name][1])) for p in spec.fixed])
    k, p = 2, 2
    N = float(st["N"])
    G0 = np.block([[st["XtX"], st["Xty"][:, None]], [st["Xty"][None, :], np.asarray(st["yty"]).reshape(1, 1)]])
    W = np.concatenate([st["ZtX"], st["Zty"][:, None, :]], axis=1)  # (k, p+1, J)
    data = {"ZtZ": st["ZtZ"], "W": W, "G0": G0, "prior": d["prior"]}
    names = ["sigma", "1|county_sigma", "floor|county_sigma", "county_corr"]

    def unpack(z, dd):
        lp, vals, i = 0.0, {}, 0
        for n in names:
            ps = pri[n]
            size = 1 if ps.domain != "corr" else 1
            prior = dist.LKJCholesky(2, dd["prior"][n][0]) if ps.domain == "corr" else prior_dist(ps, dd["prior"][n])
            t = biject_to(prior.support)
            u = z[i:i + size]; v = t(u)
            lp = lp + jnp.sum(prior.log_prob(v)) + jnp.sum(t.log_abs_det_jacobian(u, v))
            vals[n] = v; i += size
        return lp, vals

    def logdensity_fn(z, dd):
        lp, v = unpack(z, dd)
        sigma = v["sigma"][0]; s2 = sigma**2
        s = jnp.concatenate([v["1|county_sigma"], v["floor|county_sigma"]])
        L = s[:, None] * v["county_corr"]
        ZtZ = jnp.moveaxis(dd["ZtZ"], -1, 0)           # (J,k,k)
        M = jnp.eye(k) + jnp.einsum("ca,jcd,db->jab", L, ZtZ, L) / s2
        V = jnp.einsum("ca,cqj->jaq", L, dd["W"])       # (J,k,p+1)
        C = jnp.linalg.cholesky(M)
        Y = jax.scipy.linalg.solve_triangular(C, V, lower=True)  # C^-1 V
        S = jnp.einsum("jaq,jar->qr", Y, Y)
        Q = (dd["G0"] - S / s2) / s2
        logdetK = N * jnp.log(s2) + 2 * jnp.sum(jnp.log(jnp.diagonal(C, axis1=1, axis2=2)))
        A = Q[:p, :p] + jnp.diag(1 / s0**2)
        bv = Q[:p, p] + mu0 / s0**2
        CA = jnp.linalg.cholesky(A)
        w = jax.scipy.linalg.solve_triangular(CA, bv, lower=True)
        ll = (-0.5 * (Q[p, p] + jnp.sum(mu0**2 / s0**2) - w @ w) - 0.5 * logdetK
              - jnp.sum(jnp.log(s0)) - jnp.sum(jnp.log(jnp.diagonal(CA))) - 0.5 * N * math.log(2 * math.pi))
        return lp + ll

    def constrain(z, key, dd):
        _, v = unpack(z, dd)
        return {"sigma": v["sigma"][0], "s0": v["1|county_sigma"][0], "s1": v["floor|county_sigma"][0],
                "corr": v["county_corr"][1, 0]}

    z0 = np.asarray(base.initial_point(jax.random.PRNGKey(0)))
    # same hyper layout as the base target without the fixed effects (Intercept, floor first)
    hyper0 = z0[2:6]
    tgt = Target(logdensity_fn, data, 4, lambda key: hyper0 + key_rng(key).uniform(-0.3, 0.3, 4),
                 ("beta-integrated-exp",))
    density = Density(tgt, Readout(constrain, None, {}, ("beta-integrated-exp", "out")), None,
                      "marginal", 0)
    for run in range(2):
        t = time.perf_counter()
        mode = find_mode(tgt, tgt.initial_point(jax.random.PRNGKey(2)))
        pt = precondition(density, mode)
        res = nuts(pt.target, jax.random.PRNGKey(1 + run), chains=4, draws=1000, tune=1000,
                   target_accept=0.9)
        pos = res.positions
        vals = jax.vmap(jax.vmap(lambda w: pt.readout.constrain(w, None, pt.target.data)))(
            jnp.asarray(pos))
        tot = time.perf_counter() - t
        dr = np.stack([np.asarray(vals[n]) for n in ("sigma", "s0", "s1", "corr")], axis=2)
        ssum = summary_arrays(dr)
        print(f"beta integrated run {run}: total {tot:.2f} s, warmup {res.timings['warmup_s']:.2f}, sampling {res.timings['sampling_s']:.2f}, "
              f"min ESS bulk (sigma, sds, corr) {ssum['ess_bulk'].min():.0f}, means {np.round(ssum['mean'], 4)}, div {int(res.stats['diverging'].sum())}, steps/draw {res.stats['n_steps'].mean():.2f}")
for run in range(2):
    t = time.perf_counter()
    fit = hbr.fit("log_radon ~ floor + (floor | county)", mn, seed=1 + run, log_likelihood=False)
    tot = time.perf_counter() - t
    post = fit.posterior
    dr = np.stack([post["sigma"].values, post["1|county_sigma"].values, post["floor|county_sigma"].values,
                   post["county_corr"].values[..., 1, 0]], axis=2)
    ssum = summary_arrays(dr)
    print(f"hbr marginal run {run}: total {tot:.2f} s, warmup {fit.timings['warmup_s']:.2f}, sampling {fit.timings['sampling_s']:.2f}, "
          f"min ESS bulk (same 4) {ssum['ess_bulk'].min():.0f}, means {np.round(ssum['mean'], 4)}, steps/draw {fit.idata.sample_stats.n_steps.values.mean():.2f}")
