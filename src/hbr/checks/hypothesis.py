r"""brms's ``hypothesis()``: tests of one-sided and point hypotheses about the parameters.

A hypothesis is ``"lhs < rhs"``, ``"lhs > rhs"`` or ``"lhs = rhs"`` where each side is
arithmetic (``+ - * /``, numbers, parentheses) of scalar parameters: ``floor``,
``Intercept``, ``sigma``, ``C(t)[b]``, and any name in backticks (```1|county_sigma```). Per
posterior draw :math:`s` it is rewritten as :math:`h^{(s)} = \mathrm{lhs}^{(s)} -
\mathrm{rhs}^{(s)}` compared with 0, and reported as brms does:

* ``estimate`` and ``error``: the mean and sd of :math:`h`;
* ``ci_lower``, ``ci_upper``: equal-tailed quantiles, :math:`\alpha/2` and
  :math:`1-\alpha/2` for ``=``, :math:`\alpha` and :math:`1-\alpha` for ``<`` and ``>``
  (brms's convention: a 90% interval for a one-sided test at the default
  :math:`\alpha = 0.05`);
* ``post_prob``: :math:`P(h < 0 \mid y)` for ``<`` (:math:`P(h > 0)` for ``>``), and
  ``evid_ratio``, its odds :math:`P / (1 - P)` (infinite when every draw agrees);
  for ``=`` both need the prior density at 0 (Savage-Dickey) and are left NaN, as brms
  does without prior draws;
* ``star``: ``"*"`` where 0 lies outside the interval.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from hbr.errors import OptionError

if TYPE_CHECKING:
    from hbr.posterior.fit import Fit

__all__ = ["hypothesis"]

_OPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}


def _scalars(fit: Fit) -> dict[str, np.ndarray]:
    """Every scalar parameter's draws (chains * draws,) by name; vectors as ``name[label]``."""
    out = {}
    for name, vals in fit.draws.posterior.items():
        vals = np.asarray(vals)
        flat = vals.reshape(vals.shape[0] * vals.shape[1], -1)
        if vals.ndim == 2:
            out[name] = flat[:, 0]
            continue
        dims = fit.draws.dims.get(name) or []
        if vals.ndim == 3 and dims and dims[0] in fit.draws.coords:
            labels = [str(c) for c in fit.draws.coords[dims[0]]]
        else:
            labels = [str(i) for i in range(flat.shape[1])]
        for i, label in enumerate(labels):
            out[f"{name}[{label}]"] = flat[:, i]
    return out


def _side(text: str, expr: str, values: dict[str, np.ndarray]) -> np.ndarray | float:
    """The draws of one side of a hypothesis: names in backticks, then names that are not
    Python identifiers (``C(t)[b]``) as literal text, longest first; then arithmetic."""
    names: dict[str, str] = {}

    def key(name: str) -> str:
        names.setdefault(name, f"__p{len(names)}__")
        return names[name]

    src = re.sub(r"`([^`]+)`", lambda m: key(m.group(1)), text.strip())
    for name in sorted((n for n in values if "`" not in n), key=len, reverse=True):
        if not name.isidentifier():  # C(t)[b]: literal text, not Python
            src = src.replace(name, key(name))
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError:
        raise OptionError(f"cannot read {text.strip()!r} in the hypothesis {expr!r}: write "
                          "arithmetic of parameter names, e.g. 'floor < 0' or "
                          "'Intercept + floor = 1'") from None
    back = {v: k for k, v in names.items()}

    def ev(node: ast.expr) -> np.ndarray | float:
        if isinstance(node, ast.Name):
            name = back.get(node.id, node.id)
            if name not in values:
                import difflib
                close = difflib.get_close_matches(name, list(values), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise OptionError(f"{name!r} in the hypothesis {expr!r} is not a parameter"
                                  f"{hint} (names with '|' go in backticks: "
                                  "`1|county_sigma`)")
            return values[name]
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        raise OptionError(f"{ast.unparse(node)!r} in the hypothesis {expr!r}: only parameter "
                          "names, numbers, + - * / and parentheses are allowed")

    return ev(tree)


def _one(expr: str, values: dict[str, np.ndarray], alpha: float, S: int) -> dict:
    if not isinstance(expr, str):
        raise OptionError(f"a hypothesis is a string such as 'floor < 0', got {expr!r}")
    parts = re.split(r"(<=|>=|==|<|>|=)", expr)
    if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
        raise OptionError(f"the hypothesis {expr!r} needs one comparison: 'a < b', 'a > b' "
                          "or 'a = b', e.g. 'floor < 0'")
    lhs, op, rhs = parts
    op = {"<=": "<", ">=": ">", "==": "="}.get(op, op)
    h = np.broadcast_to(_side(lhs, expr, values) - _side(rhs, expr, values), (S,))
    two_sided = op == "="
    lo, hi = np.quantile(h, [alpha / 2, 1 - alpha / 2] if two_sided else [alpha, 1 - alpha])
    p = np.nan if two_sided else float(np.mean(h < 0) if op == "<" else np.mean(h > 0))
    with np.errstate(divide="ignore"):
        ratio = np.nan if two_sided else float(np.float64(p) / (1 - p))
    return {"hypothesis": f"({lhs.strip()}) - ({rhs.strip()}) {op} 0", "estimate": h.mean(),
            "error": h.std(ddof=1), "ci_lower": lo, "ci_upper": hi, "evid_ratio": ratio,
            "post_prob": p, "star": "*" if not lo <= 0 <= hi else ""}


def hypothesis(fit: Fit, hypotheses: str | Sequence[str], alpha: float = 0.05
               ) -> pd.DataFrame:
    """One row per hypothesis (columns as in the module's description)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise OptionError(f"alpha must be between 0 and 0.5 (e.g. 0.05), got {alpha!r}")
    values = _scalars(fit)
    S = fit.draws.chains * fit.draws.n_draws
    items = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    return pd.DataFrame([_one(h, values, alpha, S) for h in items])
