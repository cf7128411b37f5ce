"""Simulate data from a Gaussian hierarchical regression with known parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hbr.errors import OptionError

__all__ = ["simulate"]


def simulate(n_groups: int = 50, n_per_group: int | np.ndarray = 20, *,
             intercept: float = 1.0, slope: float = -0.5, sigma: float = 0.7,
             group_sd: tuple[float, float] = (0.4, 0.25), corr: float = -0.3,
             sigma_group_sd: float = 0.0, seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    r"""Draw a table from :math:`y_i = (\beta_0 + b_{0g}) + (\beta_1 + b_{1g}) x_i + e_i`.

    With :math:`b_g \sim N(0, \mathrm{diag}(s) R\,\mathrm{diag}(s))`, :math:`R_{01} =`
    ``corr``, :math:`e_i \sim N(0, \sigma^2)` and :math:`x_i \sim \mathrm{Bernoulli}(0.3)`
    (like radon's ``floor``). ``n_per_group`` may be an array of group sizes. With
    ``sigma_group_sd`` > 0 the noise sd varies by group too, :math:`e_i \sim N(0,
    \sigma_{g[i]}^2)`, :math:`\log\sigma_g \sim N(\log\sigma,` ``sigma_group_sd``
    :math:`^2)`, the model ``["y ~ x + (x | g)", "sigma ~ 1 + (1 | g)"]`` (the truth then has
    ``sigma_Intercept`` and ``sigma_1|g_sigma`` in place of ``sigma``, and ``sigma_1|g``).

    Returns
    -------
    data : DataFrame with columns ``y``, ``x``, ``g`` (levels ``g000`` ...)
    truth : dict of the true values under hbr's parameter names for
        ``y ~ x + (x | g)``, including the drawn group effects ``1|g`` and ``x|g``.

    Examples
    --------
    >>> d, truth = simulate(10, 5, seed=1)
    >>> d.shape, truth["sigma"]
    ((50, 3), 0.7)
    """
    if n_groups < 2:
        raise OptionError(f"n_groups must be at least 2, got {n_groups}")
    if sigma_group_sd < 0:
        raise OptionError(f"sigma_group_sd must be >= 0, got {sigma_group_sd}")
    rng = np.random.default_rng(seed)
    sizes = np.broadcast_to(np.asarray(n_per_group, dtype=int), (n_groups,))
    if np.any(sizes < 1):
        raise OptionError("every group needs at least one row (n_per_group >= 1)")
    s = np.asarray(group_sd, dtype=float)
    R = np.array([[1.0, corr], [corr, 1.0]])
    cov = s[:, None] * R * s[None, :]
    b = rng.multivariate_normal(np.zeros(2), cov, size=n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    x = (rng.random(g.size) < 0.3).astype(float)
    mu = intercept + b[g, 0] + (slope + b[g, 1]) * x
    eps = rng.standard_normal(g.size)
    ls = sigma_group_sd * rng.standard_normal(n_groups) if sigma_group_sd else np.zeros(n_groups)
    y = mu + sigma * np.exp(ls[g]) * eps
    width = len(str(n_groups - 1))
    levels = np.array([f"g{i:0{max(3, width)}d}" for i in range(n_groups)])
    data = pd.DataFrame({"y": y, "x": x, "g": levels[g]})
    truth = {"Intercept": intercept, "x": slope, "sigma": sigma, "1|g_sigma": float(s[0]),
             "x|g_sigma": float(s[1]), "g_corr": corr, "1|g": b[:, 0], "x|g": b[:, 1]}
    if sigma_group_sd:
        del truth["sigma"]
        truth.update({"sigma_Intercept": float(np.log(sigma)),
                      "sigma_1|g_sigma": float(sigma_group_sd), "sigma_1|g": ls})
    return data, truth
