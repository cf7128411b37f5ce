"""What every figure module shares: matplotlib loaded without pyplot (after an unwritable
HOME is redirected), plain-text labels and the colours."""

from __future__ import annotations

import functools
from typing import Any, Callable

from hbr._runtime.home import redirect_unwritable_homes

redirect_unwritable_homes()  # before matplotlib reads its config directory (issue 22)

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

__all__ = ["Figure", "plain_text", "kde", "COLORS"]

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def plain_text(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw every text of the figure literally: a level named ``$x$`` or ``a$b`` is not
    mathtext (which would typeset or fail on it)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        fig = fn(*args, **kwargs)
        for t in fig.findobj(Text):
            t.set_parse_math(False)
        return fig
    return wrapper


def kde(v: Any, n: int = 200) -> tuple[Any, Any]:
    """A Gaussian kernel density of ``v`` on ``n`` points over its range."""
    import numpy as np
    from scipy.stats import gaussian_kde

    v = np.asarray(v, float).ravel()
    if np.ptp(v) == 0:
        return np.array([v[0], v[0]]), np.array([0.0, 1.0])
    x = np.linspace(v.min(), v.max(), n)
    return x, gaussian_kde(v)(x)
