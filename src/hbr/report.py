"""A self-contained HTML report of a fit (and of a comparison): model and priors, the
diagnostics verdict with its advice, the summary, group effects by level, and the figures of
:mod:`hbr.plots` embedded as PNG data. No script, no external file, no network: the page
opens offline and shows the same thing everywhere. Every string that comes from the user
(formula, column and level names, priors) is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from hbr._runtime.progressbar import steps, wants_bar
from hbr.io import write_atomic
from hbr.posterior.rao_blackwell import variable_rows

__all__ = ["render_report", "write_report", "SECTIONS"]

SECTIONS = ("model", "diagnostics", "summary", "groups", "figures", "comparison")
MAX_LEVELS = 200  # rows of the group-effects table

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.8em}code{background:#f3f3f3;padding:.1em .3em;border-radius:3px}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:right}th{background:#f6f6f6}
td:first-child,th:first-child{text-align:left}
.ok{background:#e8f6e8;border-left:4px solid #2a2}.warn{background:#fff4e0;border-left:4px solid #e90}
.verdict{padding:.6em 1em;white-space:pre-wrap;font-family:monospace}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.muted{color:#777;font-size:.85em}
.toc{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #eee;
font-size:.9em}details summary{cursor:pointer;margin:.6em 0}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}g}" if abs(v) < 100 else f"{v:.1f}" if abs(v) < 1e5 else f"{v:.0f}"


def _table(df: pd.DataFrame, digits: int = 3) -> str:
    """``df`` as HTML: ESS and other counts as integers, R-hat to 3 decimals, seconds to one,
    every other number to ``digits`` significant digits."""
    def fmt(col: str) -> Callable[[Any], str]:
        name = str(col)
        if name.startswith("ess") or name in ("rows", "pareto_k_bad", "loo_rows", "n_params",
                                              "divergences"):
            return lambda v: "" if pd.isna(v) else f"{v:.0f}"
        if name == "r_hat":
            return lambda v: "" if pd.isna(v) else f"{v:.3f}"
        if name.endswith("_s") or name == "seconds":
            return lambda v: "" if pd.isna(v) else f"{v:.1f}"
        return lambda v: (v if isinstance(v, str) else "" if pd.isna(v)
                          else _number(v, digits) if isinstance(v, (float, np.floating))
                          else str(v))
    if df.index.name is not None:  # the index's name in the header's corner, not a row
        df = df.copy()
        df.columns.name, df.index.name = df.index.name, None
    return df.to_html(escape=True, formatters={c: fmt(c) for c in df.columns}, border=0,
                      na_rep="")


def _figure(make: Callable[[], Any], caption: str) -> str:
    """A figure as an embedded PNG; a figure that fails says why instead of losing the
    report."""
    try:
        fig = make()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
    except Exception as exc:  # one figure must not sink the report; show what went wrong
        return (f'<figure><p class="warn verdict">{_e(caption)}: not drawn '
                f"({_e(type(exc).__name__)}: {_e(exc)})</p></figure>")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _model(fit: Any) -> str:
    d, a = fit.spec.design, fit.draws.attrs
    formulas = [d.formula.text] + [dd.formula.text for dd in d.dpars]
    rows = [("formula", "<br>".join(f"<code>{_e(t)}</code>" for t in formulas)),
            ("family", _e(f"{fit.spec.family} ({fit.spec.link} link)")),
            ("rows", _e(f"{d.n_obs}" + (f" ({d.n_dropped} dropped for missing values)"
                                        if d.n_dropped else ""))),
            ("method", _e(f"{a.get('method', 'nuts')}, {fit.draws.chains} chains x "
                          f"{fit.draws.n_draws} draws, seed {fit.seed}")),
            ("parameterization", _e(str(fit.parameterization) + (
                f" (integrated out: {fit.parameterization.marginalized})"
                if fit.parameterization.marginalized else "")))]
    for blk in d.groups:
        if blk.smooth:
            rows.append((f"smooth term {_e(blk.factor)}", _e(
                f"{blk.k} penalised coefficients {blk.names[0]} with one sd {blk.sd_names[0]}")))
            continue
        n = blk.sizes
        rows.append((f"group term on {_e(blk.factor)}",
                     _e(f"{', '.join(blk.names)}: {blk.n_levels} levels, {n.min()}-"
                        f"{int(np.median(n))}-{n.max()} rows (min-median-max)")))
    t = fit.timings
    if "total_s" in t:
        rows.append(("time", _e(f"{t['total_s']:.1f} s")))
    head = "".join(f"<tr><th>{k}</th><td style='text-align:left'>{v}</td></tr>"
                   for k, v in rows)
    priors = pd.DataFrame({"prior": [str(v) for v in fit.spec.priors.values()]},
                          index=pd.Index(list(fit.spec.priors), name="parameter"))
    return f"<table>{head}</table><h3>Priors</h3>{_table(priors)}"


def _diagnostics(fit: Any) -> str:
    diag = fit.diagnostics()
    cls = "ok" if diag.ok else "warn"
    return f'<div class="verdict {cls}">{_e(diag)}</div>'


def _groups(fit: Any) -> str:
    parts = []
    for g in fit.spec.factor_groups:
        blk = g.block
        n = blk.sizes
        order = np.argsort(-n, kind="stable")[:MAX_LEVELS]
        cols = {"rows": n[order]}
        for name in blk.names:
            if name not in fit.draws.posterior:  # effect_draws="drop": the summary's rows
                rb = variable_rows(fit.draws.effect_summary, name).iloc[order]
                cols[f"{name} mean"], cols[f"{name} sd"] = rb["mean"].values, rb["sd"].values
                continue
            v = fit.draws.posterior[name][..., order].reshape(-1, len(order))
            cols[f"{name} mean"] = v.mean(0)
            cols[f"{name} sd"] = v.std(0, ddof=1)
        df = pd.DataFrame(cols, index=pd.Index([blk.levels[i] for i in order], name=blk.factor))
        more = (f'<p class="muted">the {MAX_LEVELS} largest of {blk.n_levels} levels</p>'
                if blk.n_levels > MAX_LEVELS else "")
        parts.append(f"<details><summary><b>{_e(', '.join(blk.names))}</b>: "
                     f"{blk.n_levels} levels (mean and sd per level; click to open)</summary>"
                     f"{more}{_table(df)}</details>")
    return "".join(parts) or "<p>The model has no group terms.</p>"


def _conditional(fit: Any, data: pd.DataFrame | None, groups: Any) -> str:
    """E[y] against the first smooth's covariate or else the first numeric predictor,
    population and groups of the first factor (``groups``, or the three with most rows);
    nothing when the table is not at hand."""
    from hbr import plots

    table = data if data is not None else fit.call.get("data")
    if not isinstance(table, pd.DataFrame):
        return ""
    names = [m.arg.expr for m in fit.spec.design.formula.smooths]
    names += [t.name for t in fit.spec.design.terms if t.name != "Intercept" and t.labels is None]
    x = next((n for n in names if n in table.columns), None)
    if x is None or not (fit.spec.factor_groups or fit.spec.design.formula.smooths):
        return ""
    by = fit.spec.factor_groups[0].block.factor if fit.spec.factor_groups else None
    if by is not None and by not in table.columns:
        return ""
    levels = f" and for chosen levels of {by}" if by is not None else ""
    return _figure(lambda: plots.plot_predictions(fit, x, by=by, groups=groups, data=table),
                   f"Conditional effect of {x}: E[{fit.spec.design.response}] for the "
                   f"population (group effects 0){levels}, other predictors at their mean, "
                   "with 90% intervals")


def _figures(fit: Any, map_vs_mean: bool, data: pd.DataFrame | None = None,
             groups: Any = None) -> str:
    from hbr import plots

    sampled = "" if fit.spec.design.has_rows else (" (a random sample of rows, read again "
                                                   "from the table)")
    out = [_figure(lambda: plots.plot_trace(fit), "Trace of the fixed effects and "
                   "hyperparameters (left: density per chain; right: draws)")]
    if fit.draws.effect_summary is not None:  # effect_draws="drop": nothing to predict with
        out.append('<p>The group effects\' draws were not kept '
                   "(effect_draws='drop', which 'auto' chooses above 256 MiB of draws), so "
                   "the posterior predictive check, the funnel, the forest of group effects "
                   "and the conditional effects are left out; \"Group effects by level\" "
                   "below gives each effect's Rao-Blackwellised mean and sd. Refit with "
                   "effect_draws='keep' (command line: --effect-draws keep) to draw them.</p>")
        return "".join(out + ([_map_vs_mean(fit)] if map_vs_mean else []))
    out.append(_figure(lambda: plots.plot_ppc(fit), "Posterior predictive check: the data "
                       "against replicates drawn from the fit" + sampled))
    if fit.spec.factor_groups:
        out += [_figure(lambda: plots.plot_funnel(fit), "Funnel: the smallest group's effect "
                        "against log of its group sd; divergent draws in red"),
                _figure(lambda: plots.plot_forest(fit), "Group effects: posterior mean and "
                        "94% interval per level")]
    out.append(_conditional(fit, data, groups))
    if map_vs_mean:
        out.append(_map_vs_mean(fit))
    return "".join(out)


def _map_vs_mean(fit: Any) -> str:
    from hbr import plots

    return _figure(lambda: plots.plot_map_vs_mean(fit.map_vs_mean()),
                   "MAP vs posterior mean: where each mode lies, in posterior sds "
                   "from the mean. The marginal mode maximises the density with the "
                   "group effects integrated out (empirical Bayes: close to the mean "
                   "when groups are informed); the non-centred joint mode maximises "
                   "it over the effects too, which pulls group sds towards 0; the "
                   "centred joint density has no interior mode at all (it grows "
                   "without bound as a group sd goes to 0 with its effects), so an "
                   "optimiser runs to that boundary: marked 'no interior mode', and "
                   "a NaN or a mode tens of sds away means the same. The posterior "
                   "mean is what the summary reports.")


def _comparison(comparison: Any, data: pd.DataFrame | None, groups: Any = None) -> str:
    from hbr import plots

    t = comparison.table
    out = [_table(t, digits=4), '<p class="muted">elpd_loo: expected log predictive density of a new '
           "row by PSIS-LOO (higher is better); elpd_diff and se_diff against the best model; "
           "pareto_k_bad: rows whose LOO estimate is unreliable; ppc_rmsd: in-sample "
           "posterior predictive RMSD"
           + ("; loo_rows: rows evaluated by PSIS (a random sample of a large table, with "
              "the difference estimator), subsampling_se: the part of se due to the sample"
              if "loo_rows" in t.columns else "") + ".</p>"]
    fits, group = comparison.fits, comparison.group
    if group and {"no pooling", "partial pooling"} <= set(fits):
        x = next((t.name for t in fits["partial pooling"].spec.design.terms
                  if t.name != "Intercept" and t.labels is None), None)
        out.append(_figure(lambda: plots.plot_shrinkage(fits["no pooling"],
                                                        fits["partial pooling"], group, x),
                           "Shrinkage: each group's no-pooling estimate moves to its "
                           "partial-pooling estimate"))
        if data is not None and x is not None and x in data.columns:
            out.append(_figure(lambda: plots.plot_group_lines(fits, data, group, x, groups),
                               "Regression lines of " + (", ".join(groups) if groups else
                                                         "three groups")
                               + ", with posterior draws"))
    return "".join(out)


def render_report(fit: Any, comparison: Any = None, data: pd.DataFrame | None = None,
                  figures: bool = True, map_vs_mean: bool = True, title: str | None = None,
                  groups: Any = None, progress: bool | None = False) -> str:
    """The report as one HTML string (see the module docstring).

    Parameters
    ----------
    fit : hbr.Fit
    comparison : hbr.checks.compare.Comparison, optional
        Adds the comparison table, the shrinkage plot and per-group lines.
    data : DataFrame, optional
        The table, for the per-group regression lines of a comparison.
    figures, map_vs_mean : bool
        Leave out all figures, or only the MAP vs mean one (it runs three optimisations).
    groups : list of str, optional
        Levels of the first grouping factor drawn in the group panels (default: the
        smallest, a middle and the largest for the comparison; the three largest for the
        conditional effects).
    progress : bool or None
        A bar of the sections on stderr: True, False (the default here), or None for a bar
        when a person is watching (a terminal or a notebook; :meth:`hbr.Fit.report`'s
        default).
    """
    d = fit.spec.design
    formula = "; ".join([d.formula.text] + [x.formula.text for x in d.dpars])  # sigma ~ too
    if title is None:
        title = (f"hbr: {formula}" if comparison is None else
                 f"hbr: {len(comparison.fits)} models compared; in detail: {formula}")
    body: list[tuple[str, str, Callable[[], str]]] = [
        ("model", "Model and priors", lambda: _model(fit)),
        ("diagnostics", "Diagnostics", lambda: _diagnostics(fit))]
    if comparison is not None:  # a comparison report leads with the comparison
        body.insert(0, ("comparison", "Model comparison",
                        lambda: _comparison(comparison, data, groups)))
    body.append(("summary", "Summary (fixed effects and hyperparameters)",
                 lambda: _table(fit.summary(group_effects=False))))
    if figures:
        body.append(("figures", "Figures", lambda: _figures(fit, map_vs_mean, data, groups)))
    body.append(("groups", "Group effects by level", lambda: _groups(fit)))  # long: last
    done: list[tuple[str, str, str]] = []
    with steps("report", len(body), wants_bar(progress)) as advance:
        for sid, head, make in body:  # in the report's order: the bar counts sections
            done.append((sid, head, make()))
            advance(1)
    from hbr._version import __version__

    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = "".join(f'<section id="{sid}"><h2>{_e(head)}</h2>{content}</section>'
                       for sid, head, content in done)
    toc = ('<nav class="toc">' + " · ".join(f'<a href="#{sid}">{_e(head.split(" (")[0])}</a>'
                                             for sid, head, _ in done) + "</nav>")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=\"muted\">hbr {_e(__version__)}, {_e(when)}</p>"
            f"{toc}{sections}</body></html>")


def write_report(path: str | os.PathLike[str], fit: Any, comparison: Any = None,
                 data: pd.DataFrame | None = None, overwrite: bool = False, **kwargs: Any
                 ) -> Path:
    """Render the report and write it atomically to ``path`` (refuses to replace an existing
    file unless ``overwrite=True``)."""
    text = render_report(fit, comparison, data, **kwargs)
    return write_atomic(path, lambda p: Path(p).write_text(text, encoding="utf-8"), overwrite)
