"""Sampling diagnostics and a verdict that says what to do.

Checks (Vehtari et al. 2021; Betancourt 2017): divergent transitions after warm-up, rank-
normalised split R-hat (bad above 1.01), bulk and tail effective sample size (bad below 100
per chain), E-BFMI per chain (bad below 0.3) and hits of the maximum tree depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hbr.inference import METHODS
from hbr.posterior.draws import Draws, as_draws, summarize

if TYPE_CHECKING:
    import arviz as az

__all__ = ["Diagnostics", "diagnose", "pareto_k", "psis_loo", "APPROXIMATIONS"]

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3
PARETO_K_MAX = 0.7
PATHS_RHAT_MAX = 1.1
# the engines whose draws are of an approximation (Pareto k instead of R-hat and ESS)
APPROXIMATIONS = tuple(name for name, m in METHODS.items() if m.approximate)


@dataclass(frozen=True)
class Diagnostics:
    """Summary numbers of a run and advice when something is wrong."""

    divergences: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    min_ebfmi: float
    max_treedepth_hits: int
    chains: int
    draws: int
    advice: tuple[str, ...] = field(default=())
    method: str = "nuts"
    pareto_k: float = float("nan")
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.advice

    def __str__(self) -> str:
        head = "OK" if self.ok else "WARNING"
        if self.method == "map":
            line = f"{head} (map, a point estimate)"
        elif self.method in APPROXIMATIONS:
            line = (f"{head} ({self.method}, an approximation): Pareto k "
                    f"{self.pareto_k:.2f} ({self.chains} x {self.draws} draws)")
        else:
            line = (f"{head}: {self.divergences} divergences, max R-hat {self.max_rhat:.3f}, "
                    f"min ESS bulk {self.min_ess_bulk:.0f} / tail {self.min_ess_tail:.0f}")
            line += (f", min E-BFMI {self.min_ebfmi:.2f}" if np.isfinite(self.min_ebfmi)
                     else "") + f" ({self.method}, {self.chains} chains x {self.draws} draws)"
        return (line + "".join(f"\n  - {a}" for a in self.advice)
                + "".join(f"\n  note: {a}" for a in self.notes))


def _ebfmi(energy: np.ndarray) -> np.ndarray:
    num = np.sum(np.diff(energy, axis=1) ** 2, axis=1) / energy.shape[1]
    den = np.var(energy, axis=1)
    return num / np.where(den > 0, den, np.inf)


# what to try first against divergences, by parameterisation
_DIVERGENCE_FIX = {
    "noncentered": "parameterization='auto' (or 'centered' if every group has much data)",
    "centered": "parameterization='auto' or 'noncentered'",
    "auto": "parameterization='noncentered'",
    "marginal": "marginalize= another grouping factor (the sampled one diverges)",
    # every group effect integrated out: the divergences are in the hyperparameters
    # themselves (e.g. a residual sd near 0 with noise-free data)
    "marginal-exact": "target_accept=0.99 (CLI: --target-accept 0.99); every group effect "
                      "is already integrated out, so the hard region is in the "
                      "hyperparameters, typically a standard deviation near 0 (noise-free "
                      "data pins the intercept as sigma shrinks: a funnel). A prior that "
                      "keeps it away from 0 also helps, e.g. priors={'sigma': "
                      "'Gamma(2, 10)'}",
    "": "another parameterization",
}


def diagnose(idata: Draws | az.InferenceData, var_names: list[str] | None = None,
             max_tree_depth: int = 10, parameterization: str = "",
             summary: pd.DataFrame | None = None) -> Diagnostics:
    """Compute :class:`Diagnostics` for the posterior of ``idata`` (from ``summary``, a
    table with ``r_hat``, ``ess_bulk`` and ``ess_tail`` columns, when given)."""
    source = as_draws(idata)
    names = list(source.posterior) if var_names is None else list(var_names)
    chains, draws = source.chains, source.n_draws
    ss = source.stats
    method = str(source.attrs.get("method", "nuts"))
    div = int(ss["diverging"].sum()) if "diverging" in ss else 0
    max_rhat = min_bulk = min_tail = float("nan")
    if draws >= 4:
        if summary is None:
            summary = summarize(source, names)
        st = {k: summary[k].to_numpy(dtype=float) for k in ("r_hat", "ess_bulk", "ess_tail")}
        ok = lambda a: a[np.isfinite(a)]  # noqa: E731
        rh, eb, et = ok(st["r_hat"]), ok(st["ess_bulk"]), ok(st["ess_tail"])
        max_rhat = float(rh.max()) if rh.size else float("nan")
        min_bulk = float(eb.min()) if eb.size else float("nan")
        min_tail = float(et.min()) if et.size else float("nan")
    ebfmi = (float(np.min(_ebfmi(np.asarray(ss["energy"]))))
             if draws > 1 and "energy" in ss else float("nan"))
    hits = int((np.asarray(ss["tree_depth"]) > max_tree_depth).sum()) \
        if "tree_depth" in ss else 0
    if method in APPROXIMATIONS:
        return _approximate(source, method, chains, draws, max_rhat, min_bulk, min_tail)
    advice = []
    if source.attrs.get("interrupted"):
        advice.append(f"sampling was interrupted: {draws} draws per chain instead of "
                      f"{source.attrs.get('draws', '?')}; the estimates below rest on those")
    if div:
        advice.append(f"{div} divergent transitions: the posterior has regions the sampler "
                      f"cannot follow, so estimates may be biased. Try "
                      + (_DIVERGENCE_FIX["marginal-exact"] if parameterization ==
                         "marginal-exact" else
                         f"{_DIVERGENCE_FIX.get(parameterization, _DIVERGENCE_FIX[''])} or "
                         "target_accept=0.95 (CLI: --target-accept 0.95)"))
    if chains < 2 and draws >= 4:
        advice.append("one chain: R-hat needs two or more to tell whether the chains agree; "
                      "run chains=4 (CLI: --chains 4)")
    elif not max_rhat <= RHAT_MAX:
        advice.append(f"max R-hat {max_rhat:.3f} > {RHAT_MAX}: chains disagree; run more tune "
                      "and draws, or check the model for multimodality")
    need = ESS_PER_CHAIN_MIN * chains
    if not min(min_bulk, min_tail) >= need:
        advice.append(f"min ESS {min(min_bulk, min_tail):.0f} < {need}: too few effective "
                      "draws for reliable intervals; run more draws"
                      + (" (or thin less), or use method='nuts', which needs far fewer"
                         if method == "metropolis" else ""))
    if "energy" in ss and not ebfmi >= EBFMI_MIN:
        advice.append(f"E-BFMI {ebfmi:.2f} < {EBFMI_MIN}: the sampler explores the energy "
                      "poorly (often a funnel); try the other parameterization")
    if hits:
        advice.append(f"{hits} iterations hit the maximum tree depth: sampling is inefficient; "
                      "consider rescaling predictors")
    return Diagnostics(div, max_rhat, min_bulk, min_tail, ebfmi, hits, chains, draws,
                       tuple(advice), method)


def _approximate(source: Draws, method: str, chains: int, draws: int, max_rhat: float,
                 min_bulk: float, min_tail: float) -> Diagnostics:
    """Diagnostics of draws from an approximation: R-hat and ESS describe the draws, not
    the approximation's error; Pareto k of the importance weights does."""
    notes = []
    if method == "map":
        notes.append("a point estimate (the posterior mode on the unconstrained scale, group "
                     "effects integrated out set to their conditional mean): no uncertainty")
        k = float("nan")
    else:
        k = pareto_k(source.stats["log_weight"]) if "log_weight" in source.stats \
            else float("nan")
        notes.append(f"draws from the {method} approximation, not MCMC: R-hat and ESS say "
                     "nothing about its error; Pareto k below 0.5 means it is close to the "
                     "posterior")
        if method == "advi":
            notes.append("mean-field ADVI ignores posterior correlations and is known to "
                         "under-estimate posterior sds")
    advice = []
    if k > PARETO_K_MAX:
        advice.append(f"Pareto k {k:.2f} > {PARETO_K_MAX}: the {method} approximation is far "
                      "from the posterior, so its means and sds are unreliable; use "
                      "method='nuts'")
    # paths end at slightly different approximations (L-BFGS stops early): on Minnesota
    # (1 | county) their max R-hat is 1.003-1.01; modes apart give far more than 1.1
    if method == "pathfinder" and not max_rhat <= PATHS_RHAT_MAX:
        advice.append(f"the {chains} Pathfinder paths disagree (max R-hat {max_rhat:.3f}): "
                      "the posterior may be multimodal; use method='nuts'")
    return Diagnostics(0, max_rhat, min_bulk, min_tail, float("nan"), 0, chains, draws,
                       tuple(advice), method, k, tuple(notes))


def pareto_k(log_weight: np.ndarray) -> float:
    r"""Pareto :math:`\hat k` of the importance weights :math:`\exp(\log p - \log q)` of
    draws from an approximation ``q`` (PSIS, Vehtari et al. 2024; Yao et al. 2018), fitted to
    the largest :math:`\min(S/5, 3\sqrt S)` weights. Below 0.5 ``q`` is close to the
    posterior; above 0.7 its estimates are unreliable."""
    from blackjax.diagnostics import pareto_khat

    lw = np.asarray(log_weight, dtype=float).ravel()
    lw = lw[np.isfinite(lw)]
    if lw.size < 20:
        return float("nan")
    frac = min(0.2, 3.0 / np.sqrt(lw.size))
    return float(pareto_khat(np.exp(lw - lw.max()), tail="upper", tail_frac=frac))


def psis_loo(log_lik: np.ndarray) -> dict[str, object]:
    r"""Pareto-smoothed importance-sampling leave-one-out (Vehtari, Gelman & Gabry 2017) by
    ArviZ, from a pointwise log likelihood (chains, draws, n): one column per left-out unit
    (a row for LOO, a group's marginal likelihood for leave-one-group-out).

    Returns
    -------
    dict
        ``elpd`` :math:`\sum_i \log p(y_i \mid y_{-i})`, its ``se``, ``p_loo`` (effective
        number of parameters), ``pointwise`` (n,) and ``pareto_k`` (n,): above 0.7 the
        estimate of that unit is unreliable.
    """
    import warnings

    from hbr.posterior.draws import load_arviz

    az = load_arviz()
    # the posterior group only tells ArviZ the number of chains and draws
    idata = az.from_dict(posterior={"_": np.zeros(log_lik.shape[:2])},
                         log_likelihood={"y": log_lik})
    with warnings.catch_warnings():  # high Pareto k is reported in the result, not warned
        warnings.simplefilter("ignore", UserWarning)
        res = az.loo(idata, pointwise=True)
    return {"elpd": float(res["elpd_loo"]), "se": float(res["se"]),
            "p_loo": float(res["p_loo"]), "pointwise": np.asarray(res["loo_i"]),
            "pareto_k": np.asarray(res["pareto_k"])}
