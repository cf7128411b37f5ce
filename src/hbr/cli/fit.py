"""``hbr fit`` and ``hbr datasets``."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Optional

import typer

from hbr._runtime.interrupt import check as check_interrupt
from hbr.cli.console import (_TUNE_HELP, _fail, _parse_priors, _print_summary, _progress, _run,
                             app, err, out)
from hbr.datasets import EXAMPLES, load_example
from hbr.io import OutputSet, check_file, check_output_dir, check_writable, write_set

__all__ = ["fit_cmd", "datasets_cmd"]


_HELP = {
    "data": "CSV or Parquet file (omit with --example).",
    "formula": 'Model formula, e.g. "log_radon ~ floor + (floor | county)".',
    "example": "Fit a bundled example instead: 'radon' (Minnesota, "
               "log_radon ~ floor + (floor | county)).",
    "out": "Directory for posterior.nc and summary.csv.",
    "prior": 'Override a prior, repeatable: --prior "sigma=HalfNormal(1)".',
    "parameterization": "marginal (default: group effects integrated out exactly, others "
                        "partially centred), auto (every group partially centred from a pilot "
                        "fit), noncentered or centered.",
    "marginalize": "With marginal: the grouping factor to integrate out (default: the one "
                   "with most levels).",
    "method": "nuts, metropolis, advi, fullrank_advi, pathfinder, map or laplace.",
    "family": "gaussian, lognormal, student_t, bernoulli, binomial (formula 'y | trials(n) ~ ...'), "
              "poisson, negative_binomial, gamma, exponential, weibull, beta, "
              "zero_inflated_poisson, zero_inflated_negbinomial, hurdle_poisson or "
              "hurdle_negbinomial.",
    "link": "The family's link: logit (default) or probit for bernoulli and binomial.",
    "sigma": 'A formula for the residual sd, e.g. "sigma ~ 1 + (1 | zip)" (log sigma varies '
             "by zip; \"1 + (1 | zip)\" means the same). Where sigma varies only by the "
             "integrated factor, the fit reads per-group statistics, not the rows.",
    "engine": "How files are read: duckdb (out of core: sufficient statistics in SQL for "
              "a Gaussian model on one grouping factor; Bernoulli, binomial and Poisson rows "
              "collapsed to covariate patterns), pandas, or auto (duckdb for globs and files "
              ">= 256 MB).",
    "report": "Also write DIR/report.html (needs --out): model, verdict, summary, figures.",
    "effect_draws": "keep, drop or auto: drop keeps each group effect's Rao-Blackwellised "
                    "mean and sd instead of its draws (auto: drop when the draws would exceed "
                    "256 MiB, e.g. 10^4 levels of two coefficients).",
}


@app.command("fit")
def fit_cmd(
    data: Optional[str] = typer.Argument(None, help=_HELP["data"]),
    formula: Optional[str] = typer.Argument(None, help=_HELP["formula"]),
    example: Optional[str] = typer.Option(None, "--example", help=_HELP["example"]),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help=_HELP["out"]),
    chains: int = typer.Option(4, help="Number of chains."),
    draws: int = typer.Option(1000, help="Draws kept per chain."),
    tune: Optional[int] = typer.Option(None, help=_TUNE_HELP),
    seed: Optional[int] = typer.Option(None, help="Random seed (recorded; random if omitted)."),
    prior: list[str] = typer.Option([], "--prior", help=_HELP["prior"]),
    parameterization: Optional[str] = typer.Option(None, "--parameterization", "-p",
                                                   help=_HELP["parameterization"]),
    marginalize: Optional[str] = typer.Option(None, "--marginalize",
                                              help=_HELP["marginalize"]),
    target_accept: float = typer.Option(0.9, help="NUTS target acceptance (0.95 if divergent)."),
    method: str = typer.Option("nuts", help=_HELP["method"]),
    init: Optional[str] = typer.Option(None, help="NUTS start points: map, advi or pathfinder."),
    thin: int = typer.Option(1, help="Metropolis: keep every THIN-th step."),
    vi_steps: int = typer.Option(10_000, help="ADVI optimisation steps."),
    family: str = typer.Option("gaussian", help=_HELP["family"]),
    link: Optional[str] = typer.Option(None, help=_HELP["link"]),
    sigma: Optional[str] = typer.Option(None, "--sigma", help=_HELP["sigma"]),
    dropna: bool = typer.Option(False, "--dropna", help="Drop rows with missing values."),
    engine: str = typer.Option("auto", help=_HELP["engine"]),
    report: bool = typer.Option(False, "--report", help=_HELP["report"]),
    effect_draws: str = typer.Option("auto", "--effect-draws", help=_HELP["effect_draws"]),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs in --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Fit a hierarchical regression (NUTS, or --method), print the summary and a diagnostics
    verdict, and (with --out) write DIR/posterior.nc (ArviZ netCDF) and DIR/summary.csv."""
    data, formula = _check_inputs(data, formula, example, out_dir, report)
    if out_dir is not None:
        outputs = ("posterior.nc", "summary.csv") + (("report.html",) if report else ())
        _run(lambda: [check_writable(out_dir / n, force) for n in outputs])
        _run(lambda: check_output_dir(out_dir))
    settings = dict(family=family, link=link, chains=chains, draws=draws, tune=tune, seed=seed,
                    priors=_parse_priors(prior), parameterization=parameterization,
                    marginalize=marginalize, target_accept=target_accept, method=method,
                    init=init, thin=thin, vi_steps=vi_steps, dropna=dropna, engine=engine,
                    effect_draws=effect_draws)
    table, formula_text, source = _run(lambda: _load(example, data, formula))
    rows = f": {len(table)} rows" if not isinstance(table, str) else ""
    err.print(f"fitting {formula_text!r} to {source}{rows}", markup=False)
    if sigma and "~" not in sigma:  # --sigma "1 + (1 | zip)": the flag names the response
        sigma = f"sigma ~ {sigma}"
    formulas = [formula_text, sigma] if sigma else formula_text
    fit = _run(lambda: _fit_with_progress(formulas, table, settings, progress, out_dir))
    if isinstance(table, str):
        err.print(f"{fit.spec.design.n_obs} rows" + ("" if fit.spec.design.has_rows else
                  " (read out of core by DuckDB)"), markup=False)
    # where the data came from, so that 'hbr report DIR' and 'hbr predict DIR' can rebuild
    fit.draws.attrs["data_source"] = (f"example:{example}" if example is not None
                                      else str(Path(data).resolve()))
    outputs = None
    if out_dir is not None and not fit.interrupted:  # the draws are written (I/O) while the
        outputs = _run(lambda: _start_outputs(fit, out_dir, force, report))  # summary computes
    try:
        summary = _run(fit.summary)
        if not fit.interrupted:  # Ctrl-C after sampling, perhaps swallowed: nothing is written
            _run(check_interrupt)
        _print_fit(fit, summary, method, out_dir)
        if out_dir is not None:
            if fit.interrupted:
                _write_partial(fit, summary, out_dir)
            _write_outputs(fit, summary, outputs, report, progress,
                           None if isinstance(table, str) else table)
        else:
            out.print("(use --out DIR to save posterior.nc and summary.csv)")
    except BaseException:
        if outputs is not None and outputs.jobs:  # not committed: leave the folder as it was
            outputs.abandon()
        raise
    if fit.interrupted:
        raise typer.Exit(130)


def _check_inputs(data: str | None, formula: str | None, example: str | None,
                  out_dir: Path | None, report: bool) -> tuple[str | None, str | None]:
    """The data and formula arguments, with the example's formula in place of a data file."""
    if example is not None:
        if example not in EXAMPLES:
            _fail(f"no example named {example!r}; available: {', '.join(EXAMPLES)}")
        if data is not None and formula is None and "~" in data:
            data, formula = None, data
        if data is not None:
            _fail("give either a data file or --example, not both")
    elif data is None or formula is None:
        _fail("hbr fit needs a data file and a formula, e.g. "
              "hbr fit data.csv \"y ~ x + (1 | g)\", or --example radon")
    if report and out_dir is None:
        _fail("--report writes DIR/report.html: give --out DIR as well")
    return data, formula


def _load(example: str | None, data: str | None, formula: str | None) -> tuple[Any, str, str]:
    """(table or path, formula, where it came from)."""
    if example is not None:
        _, (col, val), default = EXAMPLES[example]
        return load_example(example), formula or default, \
            f"bundled {example} data ({col} == {val!r})"
    if not any(c in data for c in "*?["):  # one file: a typo fails before JAX loads
        check_file(data)
    return data, formula, data  # a path: hbr.fit reads it (pandas, or DuckDB)


def _fit_with_progress(formulas: Any, table: Any, settings: dict[str, Any], progress: bool,
                       out_dir: Path | None) -> Any:
    """hbr.fit with a progress bar; with ``--out``, once the model is built and before it is
    compiled, a check that the outputs will fit on the disk."""
    from hbr.api import fit_with, written_bytes
    from hbr.io import check_free_space
    from hbr.options import FitOptions

    def room(spec: Any, opts: Any, log_likelihood: bool) -> None:
        if out_dir is not None:
            check_free_space(out_dir, written_bytes(spec, opts, log_likelihood),
                             "the outputs (posterior.nc and summary.csv)")

    bar, update = _progress() if progress else (None, None)
    with bar if bar is not None else contextlib.nullcontext():
        opts = FitOptions.of(**settings, progress=update)
        return fit_with(formulas, table, opts, settings["priors"], before_sampling=room)


def _print_fit(fit: Any, summary: Any, method: str, out_dir: Path | None) -> None:
    """The hyperparameters' summary, the centred fractions, the verdict and the times."""
    hyper = summary.loc[[i for i in summary.index if not any(
        i.startswith(f"{n}[") for g in fit.spec.groups for n in g.block.names)]]
    n_group = len(summary) - len(hyper)
    from hbr.posterior.blocks import summary_blocks

    how = f"{fit.parameterization}" + (f", {method}" if method != "nuts" else "")
    out.print(f"{fit.formula}  ({how}, seed {fit.seed})", markup=False)
    for title, rows in summary_blocks(fit.spec, hyper):  # brms's blocks
        _print_summary(rows, title)
    if n_group:
        out.print(f"(+ {n_group} group-effect rows{' in summary.csv' if out_dir else ''})")
    for name, w in fit.parameterization.centered_fraction.items():
        out.print(f"centred fraction of {name}: median {w.median():.2f}, range "
                  f"{w.min():.2f}-{w.max():.2f} over {len(w)} levels (0 = non-centred)",
                  markup=False)
    collapsed = int(fit.draws.attrs.get("collapsed_rows", 0))
    if collapsed:
        out.print(f"the {fit.spec.design.n_obs:,} rows repeat {collapsed:,} covariate patterns: "
                  "the log density reads one row per pattern (exact: counts and exposures "
                  "summed)", markup=False)
    m = fit.parameterization.marginalized or ""
    if m.endswith("(each in turn)"):
        out.print(f"{m.removesuffix(' (each in turn)')}: each factor integrated out in turn "
                  "(collapsed Gibbs: NUTS on the hyperparameters, then that factor's "
                  "effects drawn exactly)", markup=False)
    diag = fit.diagnostics()
    out.print(("[green]" if diag.ok else "[yellow]") + str(diag).replace("[", "\\["))
    if "elbo_final" in fit.draws.attrs:
        out.print(f"ELBO: {fit.draws.attrs['elbo_final']:.2f} (final; trace in fit.info)")
    t = fit.timings
    out.print(f"time: {t['total_s']:.1f} s (compile {t['compile_s']:.1f} s, warm-up "
              f"{t['warmup_s']:.1f} s, sampling {t['sampling_s']:.1f} s)")


def _write_partial(fit: Any, summary: Any, out_dir: Path) -> None:
    """Draws of an interrupted run: beside the outputs, never over them (a complete fit
    there stays as it was), as ``posterior.partial.nc`` and ``summary.partial.csv`` (then
    ``-2``, ``-3``, ... rather than replace an earlier partial run); exit 130."""
    n = 1
    while True:
        tag = "partial" if n == 1 else f"partial-{n}"
        nc, csv = f"posterior.{tag}.nc", f"summary.{tag}.csv"
        if not (out_dir / nc).exists() and not (out_dir / csv).exists():
            break
        n += 1
    _run(lambda: write_set(out_dir, {nc: fit.write_netcdf_to,
                                     csv: lambda p: summary.to_csv(p)}))
    out.print(f"sampling was interrupted: wrote the draws done so far to {out_dir / nc} and "
              f"{out_dir / csv} (the outputs of a complete fit are never replaced by partial "
              "ones)", markup=False)
    raise typer.Exit(130)


def _start_outputs(fit: Any, out_dir: Path, force: bool, report: bool) -> OutputSet:
    """The set of outputs, with ``posterior.nc`` being written on a thread."""
    names = ("posterior.nc", "summary.csv") + (("report.html",) if report else ())
    outputs = OutputSet(out_dir, names, overwrite=force, outdated=("report.html",))
    outputs.start("posterior.nc", fit.write_netcdf_to)
    return outputs


def _write_outputs(fit: Any, summary: Any, outputs: OutputSet, report: bool,
                   progress: bool = False, table: Any = None) -> None:
    """posterior.nc (already being written), summary.csv (and report.html) as one set
    (:class:`hbr.io.OutputSet`): a kill at any moment leaves all the old outputs or all the
    new ones. With ``--force`` and no ``--report``, the report of the fit being replaced is
    removed with it. ``table``: the rows in memory, for the report's conditional effects."""
    _run(lambda: outputs.write("summary.csv", lambda p: summary.to_csv(p)))
    if report:
        from hbr.report import render_report

        text = _run(lambda: render_report(fit, data=table, progress=progress))
        _run(lambda: outputs.write("report.html",
                                   lambda p: p.write_text(text, encoding="utf-8")))
    stale = outputs.overwrite and not report and (outputs.folder / "report.html").exists()
    written = _run(outputs.commit)
    out.print(f"wrote {' and '.join(str(p) for p in written)}", markup=False)
    if stale:
        out.print(f"removed {outputs.folder / 'report.html'}: it described the fit that was "
                  "replaced (add --report for a new one)", markup=False)


@app.command("datasets")
def datasets_cmd() -> None:
    """List the bundled datasets (load them with hbr.load_dataset(name))."""
    from hbr.datasets import list_datasets

    for name, text in list_datasets().items():
        out.print(f"{name}: {text}", markup=False)
