r"""The other engines: random-walk Metropolis, ADVI, Pathfinder, MAP and Laplace.

Each is a pure function over a :class:`~hbr.target.Target` returning a
:class:`~hbr.target.SamplerResult` of flat positions (chains, draws, dim), so every method
leaves the same InferenceData layout as NUTS.

=================  =============================================================================
``metropolis``     Random-walk Metropolis (BlackJAX's additive-step kernel), chains vectorised.
                   During burn-in the proposal is :math:`N(0, \lambda^2 \mathrm{diag}(v))`,
                   :math:`v` the running variance of the chain (from a quarter of the burn-in
                   on), :math:`\log\lambda` moved by Robbins-Monro towards an acceptance rate
                   of 0.234 (Roberts, Gelman & Gilks 1997); then it is frozen.
``advi``           Mean-field ADVI (Kucukelbir et al. 2017): NumPyro SVI with
                   ``AutoDiagonalNormal``, one-draw ELBO gradients, Adam with a learning rate
                   decaying 100-fold. Known to under-estimate posterior sds.
``fullrank_advi``  The same with ``AutoMultivariateNormal``.
``pathfinder``     BlackJAX Pathfinder (Zhang et al. 2022): L-BFGS, then the normal
                   approximation with the best ELBO along the path; one path per chain.
``laplace``        :math:`N(\hat z, H^{-1})` at the mode :math:`\hat z` of the log density
                   (unconstrained scale, Jacobian included), :math:`H` its exact Hessian.
``map``            :math:`\hat z` alone (one draw). Group effects integrated out are set to
                   their conditional mean given :math:`\hat z` (the mode of a Gaussian), so
                   this is the empirical-Bayes estimate, not the joint mode, which for a
                   hierarchical model collapses the group sd to 0.
=================  =============================================================================

For the approximations, ``stats["log_weight"]`` holds :math:`\log p(z) - \log q(z)` of each
draw, whose Pareto :math:`\hat k` (Yao et al. 2018) says how far ``q`` is from the posterior.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from hbr._runtime.keys import fold_in, split
from hbr.errors import OptionError
from hbr._runtime.compile import cached
from hbr.inference.driver import ProgressFn, chunk_size, run_chunks, start_points
from hbr.inference.mode import find_mode
from hbr.target import SamplerResult, Target

__all__ = ["metropolis", "advi", "pathfinder", "laplace", "map_point", "initial_points",
           "INITS", "MAX_DENSE_DIM", "ACCEPT_TARGET", "ADVI_LEARNING_RATE",
           "PATHFINDER_MAXITER"]

MAX_DENSE_DIM = 2000  # laplace/map build the dense Hessian: dim^2 numbers, dim HVPs
ACCEPT_TARGET = 0.234
ADVI_LEARNING_RATE = 0.01  # Adam, decaying exponentially to 1% of it over the steps
PATHFINDER_MAXITER = 100

def metropolis(target: Target, key: jax.Array, *, chains: int = 4, draws: int = 1000,
               tune: int = 1000, thin: int = 1, progress: ProgressFn | None = None
               ) -> SamplerResult:
    """Random-walk Metropolis with an adaptive diagonal proposal during burn-in.

    ``tune`` and ``draws`` count kept iterations; each is ``thin`` Metropolis steps, so
    ``draws * thin`` steps are run after ``tune * thin`` steps of burn-in. ``stats`` holds
    the mean acceptance rate of each kept iteration's steps and the proposal scale.
    """
    from blackjax.mcmc import random_walk as rw

    dim, data = target.dim, target.data
    kernel = rw.build_additive_step()
    k_init, k_run = split(key)
    z0 = start_points(target, k_init, chains)
    collect_from = float((tune * thin) // 4)

    def one_step(carry: tuple, key_t: jax.Array, d: Any, adapt: jax.Array) -> tuple:
        state, log_scale, t, count, mean, m2 = carry
        var = jnp.where(count > 2 * dim + 20, m2 / jnp.maximum(count - 1.0, 1.0), 1.0)
        sigma = jnp.exp(log_scale) * jnp.sqrt(var)
        state, info = kernel(key_t, state, lambda z: target.logdensity_fn(z, d),
                             rw.normal(sigma))
        acc = jnp.minimum(info.acceptance_rate, 1.0)
        log_scale = log_scale + adapt * (t + 1.0) ** -0.6 * (acc - ACCEPT_TARGET)
        use = adapt * (t >= collect_from)  # Welford, from a quarter of the burn-in on
        count = count + use
        delta = state.position - mean
        mean = mean + use * delta / jnp.maximum(count, 1.0)
        m2 = m2 + use * delta * (state.position - mean)
        return (state, log_scale, t + adapt, count, mean, m2), acc

    def init_one(z: jax.Array, d: Any) -> tuple:
        st = rw.init(z, lambda x: target.logdensity_fn(x, d))
        zero, zeros = jnp.zeros((), z.dtype), jnp.zeros_like(z)
        return (st, jnp.log(2.38 / np.sqrt(dim)).astype(z.dtype), zero, zero, zeros, zeros)

    def draw_one(carry: tuple, key_d: jax.Array, d: Any, adapt: jax.Array) -> tuple:
        carry, acc = lax.scan(lambda c, k: one_step(c, k, d, adapt), carry,
                              jax.random.split(key_d, thin))
        return carry, (carry[0].position, carry[0].logdensity, acc.mean(), jnp.exp(carry[1]))

    n = chunk_size(tune, draws, target=max(1, 2000 // thin))

    def run_chunk(carry: tuple, keys: jax.Array, d: Any, adapt: jax.Array) -> tuple:
        return lax.scan(lambda c, k: jax.vmap(lambda cc, kk: draw_one(cc, kk, d, adapt))(c, k),
                        carry, keys)

    def chunk_keys(i: int) -> jax.Array:
        ks = split(fold_in(k_run, i), n * chains)
        return ks.reshape((n, chains) + ks.shape[1:])

    t0 = time.perf_counter()
    sig = (target.signature, chains, n, thin, float(collect_from))
    init_c = cached(("rwm-init",) + sig, jax.vmap(init_one, in_axes=(0, None)), z0, data)
    carry = init_c(z0, data)
    one = jnp.ones((), z0.dtype)
    chunk_c = cached(("rwm-chunk",) + sig, run_chunk, carry, chunk_keys(0), data, one)
    t1 = time.perf_counter()
    _, (z, lp, acc, scale), timings, interrupted = run_chunks(
        lambda c, i, warm: chunk_c(c, chunk_keys(i), data, one * warm), carry, tune, draws, n,
        progress)
    stats = {"lp": lp, "acceptance_rate": acc, "step_size": scale}
    return SamplerResult(z, stats, {"compile_s": t1 - t0, **timings}, interrupted)


def _log_density_of(target: Target, z: np.ndarray) -> np.ndarray:
    """``target.logdensity_fn`` at each row of ``z`` (S, dim)."""
    fn = cached(("logdensity-rows",) + target.signature + (z.shape[0],),
                jax.vmap(target.logdensity_fn, in_axes=(0, None)), jnp.asarray(z), target.data)
    return np.asarray(fn(jnp.asarray(z), target.data))


def _approximation(target: Target, z: np.ndarray, logq: np.ndarray, chains: int,
                   timings: dict[str, float]) -> SamplerResult:
    """Independent draws ``z`` (chains * draws, dim) of an approximation ``q`` as a result;
    ``stats`` carries ``lp`` and the importance log weights log p - log q."""
    lp = _log_density_of(target, z)
    shape = (chains, z.shape[0] // chains)
    stats = {"lp": lp.reshape(shape), "log_weight": (lp - logq).reshape(shape)}
    return SamplerResult(z.reshape(shape + (z.shape[1],)), stats, timings, False)


def _vi_model(target: Target) -> Callable[[Any], None]:
    import numpyro
    import numpyro.distributions as dist

    def model(d: Any) -> None:
        z = numpyro.sample("z", dist.ImproperUniform(dist.constraints.real_vector, (),
                                                     (target.dim,)))
        numpyro.factor("logdensity", target.logdensity_fn(z, d))
    return model


def advi(target: Target, key: jax.Array, *, fullrank: bool = False, chains: int = 4,
         draws: int = 1000, steps: int = 10_000, learning_rate: float = ADVI_LEARNING_RATE,
         progress: ProgressFn | None = None) -> tuple[SamplerResult, np.ndarray]:
    """ADVI by NumPyro SVI.

    Returns ``chains * draws`` independent draws of the fitted normal (arranged as chains,
    so the layout is NUTS's) and the ELBO after each optimisation step (one-draw estimates,
    so noisy). Ctrl-C stops the optimisation and keeps the current approximation.
    """
    import optax
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoDiagonalNormal, AutoMultivariateNormal
    from numpyro.infer.initialization import init_to_value
    from numpyro.optim import optax_to_numpyro

    k_init, k_svi, k_draw = split(key, 3)
    model = _vi_model(target)
    guide_cls = AutoMultivariateNormal if fullrank else AutoDiagonalNormal
    guide = guide_cls(model, init_loc_fn=init_to_value(values={"z": start_points(target, k_init,
                                                                             1)[0]}))
    schedule = optax.exponential_decay(learning_rate, steps, 0.01)
    svi = SVI(model, guide, optax_to_numpyro(optax.adam(schedule)), Trace_ELBO())
    data = target.data
    t0 = time.perf_counter()
    state = svi.init(k_svi, data)
    n = chunk_size(0, steps, target=500)

    def run_chunk(st: Any, d: Any) -> tuple:
        st, loss = lax.scan(lambda s, _: svi.update(s, d), st, None, length=n)
        return st, (loss,)

    chunk_c = cached(("advi-chunk", fullrank, n, steps, float(learning_rate))
                     + target.signature, run_chunk, state, data)
    t1 = time.perf_counter()
    state, (losses,), timings, interrupted = run_chunks(
        lambda st, i, warm: chunk_c(st, data), state, 0, steps, n, progress, stack=False)
    q = guide.get_posterior(svi.get_params(state))
    if q.batch_shape:  # the mean-field posterior is a batch of univariate normals
        q = q.to_event(len(q.batch_shape))
    z = np.asarray(q.sample(k_draw, (chains * draws,)))
    res = _approximation(target, z, np.asarray(q.log_prob(z)), chains,
                         {"compile_s": t1 - t0, **timings})
    return res._replace(interrupted=interrupted), -np.asarray(losses).ravel()


def pathfinder(target: Target, key: jax.Array, *, chains: int = 4, draws: int = 1000,
               maxiter: int = PATHFINDER_MAXITER) -> tuple[SamplerResult, np.ndarray]:
    """Single-path Pathfinder from each chain's start point; each chain holds ``draws``
    draws of its own path's best normal approximation (so R-hat compares paths). Returns
    the result and each path's ELBO."""
    from blackjax.vi import pathfinder as pf

    k_init, k_fit, k_draw = split(key, 3)
    z0 = start_points(target, k_init, chains)

    def one(z: jax.Array, kf: jax.Array, kd: jax.Array, d: Any) -> tuple:
        state, _ = pf.approximate(kf, lambda x: target.logdensity_fn(x, d), z,
                                  maxiter=maxiter)
        samples, logq = pf.sample(kd, state, draws)
        return samples, logq, state.elbo

    def run(z: jax.Array, kf: jax.Array, kd: jax.Array, d: Any) -> tuple:
        # one path after another (lax.map), not vmap: the vmapped L-BFGS while loops
        # deadlocked XLA CPU in 5 of 8 runs here (idle threads; cf. jax issue #24219)
        return lax.map(lambda a: one(a[0], a[1], a[2], d), (z, kf, kd))

    t0 = time.perf_counter()
    args = (z0, split(k_fit, chains), split(k_draw, chains), target.data)
    fn = cached(("pathfinder", chains, draws, maxiter) + target.signature, run, *args)
    t1 = time.perf_counter()
    z, logq, elbo = (np.asarray(a) for a in fn(*args))
    res = _approximation(target, z.reshape(chains * draws, -1), logq.ravel(), chains,
                         {"compile_s": t1 - t0, "warmup_s": 0.0,
                          "sampling_s": time.perf_counter() - t1})
    return res, elbo


def _mode(target: Target, key: jax.Array, method: str) -> Any:
    if target.dim > MAX_DENSE_DIM:
        raise OptionError(f"method={method!r} needs the dense Hessian of {target.dim} "
                          f"parameters (limit {MAX_DENSE_DIM}); integrate the largest factor "
                          "out (parameterization='marginal') or use method='advi'")
    mode = find_mode(target, start_points(target, key, 1)[0])
    if not mode.converged:
        raise OptionError(f"method={method!r}: the optimiser found no mode with a positive-"
                          f"definite Hessian after {mode.iterations} iterations (the "
                          "posterior may have no interior mode); use method='nuts'")
    return mode


def _gaussian_draws(mode: Any, key: jax.Array, n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""``n`` draws of :math:`N(\hat z, H^{-1})` and their log densities."""
    H = 0.5 * (mode.hessian + mode.hessian.T)
    C = np.linalg.cholesky(np.linalg.inv(H))
    eps = np.asarray(jax.random.normal(key, (n, H.shape[0]), dtype=jnp.float64))
    logq = (-0.5 * np.sum(eps**2, axis=1) - np.sum(np.log(np.diag(C)))
            - 0.5 * H.shape[0] * np.log(2 * np.pi))
    return mode.z[None, :] + eps @ C.T, logq


def laplace(target: Target, key: jax.Array, *, chains: int = 4, draws: int = 1000
            ) -> SamplerResult:
    r"""Draws of :math:`N(\hat z, H^{-1})` at the mode of the log density."""
    t0 = time.perf_counter()
    k_mode, k_draw = split(key)
    z, logq = _gaussian_draws(_mode(target, k_mode, "laplace"), k_draw, chains * draws)
    t1 = time.perf_counter()
    return _approximation(target, z, logq, chains,
                          {"compile_s": 0.0, "warmup_s": t1 - t0, "sampling_s": 0.0})


def map_point(target: Target, key: jax.Array) -> SamplerResult:
    """The mode as a single draw (1 chain x 1 draw)."""
    t0 = time.perf_counter()
    mode = _mode(target, key, "map")
    stats = {"lp": np.array([[mode.logdensity]])}
    return SamplerResult(mode.z[None, None, :], stats,
                         {"compile_s": 0.0, "warmup_s": time.perf_counter() - t0,
                          "sampling_s": 0.0}, False)


INITS = ("map", "advi", "pathfinder")


def initial_points(init: str, target: Target, key: jax.Array, chains: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """NUTS start points (chains, dim), one draw of the approximation ``init`` per chain
    ("map": its Laplace approximation), and the approximation's variances (dim,) as the
    starting inverse mass matrix."""
    if init == "map":
        k_mode, k_draw = split(key)
        mode = _mode(target, k_mode, "init='map'")
        z, _ = _gaussian_draws(mode, k_draw, chains)
        return z, np.diag(np.linalg.inv(mode.hessian))
    if init == "advi":
        res, _ = advi(target, key, chains=chains, draws=100)
    elif init == "pathfinder":
        res, _ = pathfinder(target, key, chains=chains, draws=100)
    else:
        raise OptionError(f"init={init!r} is not available; choose one of {', '.join(INITS)}")
    z = res.positions
    return z[:, 0], z.reshape(-1, z.shape[-1]).var(axis=0)
