r"""WAIC, the widely applicable information criterion (Watanabe 2010), as ArviZ's ``waic``
computes it (on the log scale, like :func:`hbr.checks.loo.loo`):

.. math::
    \widehat{elpd}_{waic} = \sum_i \Bigl(\log \frac1S \sum_s p(y_i \mid \theta^{(s)})
    - \mathrm{Var}_s \log p(y_i \mid \theta^{(s)})\Bigr),

with ``p_waic`` the sum of the variances (the effective number of parameters) and
``se`` :math:`\sqrt{n\,\mathrm{Var}_i(\widehat{elpd}_i)}`. A row whose variance exceeds 0.4
is a sign that WAIC is failing (Vehtari, Gelman & Gabry 2017); PSIS-LOO (``fit.loo()``)
then says more, and its Pareto k says where. The pointwise log likelihood is the one the
fit kept, or is computed again in chunks of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp

from hbr.design.newdata import training_rows

if TYPE_CHECKING:
    from hbr.posterior.fit import Fit

__all__ = ["WaicResult", "waic", "VAR_MAX"]

VAR_MAX = 0.4


@dataclass(frozen=True, eq=False)
class WaicResult:
    """``elpd`` (the sum), its ``se``, ``p_waic``, the ``pointwise`` elpd (n,) and how many
    rows have a log-likelihood variance over :data:`VAR_MAX` (``rows_over``)."""

    elpd: float
    se: float
    p_waic: float
    pointwise: np.ndarray
    rows_over: int

    def __str__(self) -> str:
        text = (f"elpd_waic {self.elpd:.2f} (se {self.se:.2f}), p_waic {self.p_waic:.2f}, "
                f"from {self.pointwise.size} rows")
        if self.rows_over:
            text += (f"; {self.rows_over} rows have a log-likelihood variance over {VAR_MAX}:"
                     " WAIC may be failing, prefer fit.loo()")
        return text


def _terms(ll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lppd_i, var_i) of a (S, n) log likelihood."""
    return logsumexp(ll, axis=0) - np.log(ll.shape[0]), ll.var(axis=0)


def waic(fit: Fit) -> WaicResult:
    """WAIC of ``fit`` (see the module's description)."""
    S = fit.draws.chains * fit.draws.n_draws
    if fit.draws.log_lik is not None:
        lppd, var = _terms(np.asarray(fit.draws.log_lik).reshape(S, -1))
    else:
        from hbr.checks.loo import row_chunks, row_loglik

        fit._needs_rows("WAIC (the pointwise log likelihood of the fitted rows)")
        rows, y = training_rows(fit.spec.design), np.asarray(fit.spec.design.y, dtype=float)
        parts = [_terms(row_loglik(fit.spec, fit.draws.posterior, part, y[at]).reshape(S, -1))
                 for at, part in row_chunks(rows, S)]
        lppd, var = (np.concatenate(p) for p in zip(*parts))
    pointwise = lppd - var
    n = pointwise.size
    return WaicResult(float(pointwise.sum()), float(np.sqrt(n * pointwise.var())),
                      float(var.sum()), pointwise, int((var > VAR_MAX).sum()))
