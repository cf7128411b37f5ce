"""``hbr fit`` and ``hbr datasets``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from hbr.cli.console import _fail, _parse_priors, _print_summary, _progress, _run, app, err, out

__all__ = ["fit_cmd", "datasets_cmd"]


@app.command("fit")
def fit_cmd(
    data: Optional[str] = typer.Argument(None, help="CSV or Parquet file (omit with --example)."),
    formula: Optional[str] = typer.Argument(
        None, help='Model formula, e.g. "log_radon ~ floor + (floor | county)".'),
    example: Optional[str] = typer.Option(
        None, "--example", help="Fit a bundled example instead: 'radon' (Minnesota, "
        "log_radon ~ floor + (floor | county))."),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Directory for posterior.nc and summary.csv."),
    chains: int = typer.Option(4, help="Number of chains."),
    draws: int = typer.Option(1000, help="Draws kept per chain."),
    tune: int = typer.Option(1000, help="Warm-up iterations per chain (discarded)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (recorded; random if omitted)."),
    prior: list[str] = typer.Option(
        [], "--prior", help='Override a prior, repeatable: --prior "sigma=HalfNormal(1)".'),
    parameterization: Optional[str] = typer.Option(
        None, "--parameterization", "-p",
        help="marginal (default: group effects integrated out exactly, others partially "
             "centred), auto (every group partially centred from a pilot fit), noncentered "
             "or centered."),
    marginalize: Optional[str] = typer.Option(
        None, "--marginalize", help="With marginal: the grouping factor to integrate out "
        "(default: the one with most levels)."),
    target_accept: float = typer.Option(0.9, help="NUTS target acceptance (0.95 if divergent)."),
    method: str = typer.Option("nuts", help="nuts, metropolis, advi, fullrank_advi, pathfinder, "
                               "map or laplace."),
    init: Optional[str] = typer.Option(None, help="NUTS start points: map, advi or pathfinder."),
    thin: int = typer.Option(1, help="Metropolis: keep every THIN-th step."),
    vi_steps: int = typer.Option(10_000, help="ADVI optimisation steps."),
    family: str = typer.Option("gaussian", help="gaussian, student_t, bernoulli, binomial "
                               "(formula 'y | trials(n) ~ ...'), poisson or negative_binomial."),
    link: Optional[str] = typer.Option(None, help="The family's link: logit (default) or probit "
                                       "for bernoulli and binomial."),
    sigma: Optional[str] = typer.Option(
        None, "--sigma", help='A formula for the residual sd, e.g. "sigma ~ 1 + (1 | zip)" '
        "(log sigma varies by zip)."),
    dropna: bool = typer.Option(False, "--dropna", help="Drop rows with missing values."),
    engine: str = typer.Option("auto", help="How files are read: duckdb (out of core, "
                               "sufficient statistics in SQL; Gaussian, one grouping factor), "
                               "pandas, or auto (duckdb for globs and files >= 256 MB)."),
    report: bool = typer.Option(False, "--report", help="Also write DIR/report.html (needs "
                                "--out): model, verdict, summary, figures."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs in --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Fit a hierarchical regression (NUTS, or --method), print the summary and a diagnostics verdict,
    and (with --out) write DIR/posterior.nc (ArviZ netCDF) and DIR/summary.csv."""
    from hbr.io import check_writable

    if example is not None:
        from hbr.datasets import EXAMPLES

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
    outputs = ("posterior.nc", "summary.csv") + (("report.html",) if report else ())
    if out_dir is not None:
        _run(lambda: [check_writable(out_dir / n, force) for n in outputs])
    priors = _parse_priors(prior)

    def load() -> Any:
        if example is not None:
            from hbr.datasets import EXAMPLES, load_example

            _, (col, val), default = EXAMPLES[example]
            return load_example(example), formula or default, \
                f"bundled {example} data ({col} == {val!r})"
        return data, formula, data  # a path: hbr.fit reads it (pandas, or DuckDB)

    table, formula_text, source = _run(load)
    rows = f": {len(table)} rows" if not isinstance(table, str) else ""
    err.print(f"fitting {formula_text!r} to {source}{rows}", markup=False)
    bar, update = _progress() if progress else (None, None)

    def run_fit() -> Any:
        import contextlib

        import hbr

        with bar if bar is not None else contextlib.nullcontext():
            formulas = [formula_text, sigma] if sigma else formula_text
            return hbr.fit(formulas, table, family=family, link=link, chains=chains, draws=draws, tune=tune,
                           seed=seed, priors=priors, parameterization=parameterization,
                           marginalize=marginalize, target_accept=target_accept,
                           method=method, init=init, thin=thin, vi_steps=vi_steps,
                           dropna=dropna, engine=engine, progress=update)

    fit = _run(run_fit)
    if isinstance(table, str):
        err.print(f"{fit.spec.design.n_obs} rows" + ("" if fit.spec.design.has_rows else
                  " (read out of core by DuckDB)"), markup=False)
    # where the data came from, so that 'hbr report DIR' and 'hbr predict DIR' can rebuild
    fit.draws.attrs["data_source"] = (f"example:{example}" if example is not None
                                      else str(Path(data).resolve()))
    summary = _run(fit.summary)
    hyper = summary.loc[[i for i in summary.index if not any(
        i.startswith(f"{n}[") for g in fit.spec.groups for n in g.block.names)]]
    n_group = len(summary) - len(hyper)
    how = f"{fit.parameterization}" + (f", {method}" if method != "nuts" else "")
    _print_summary(hyper, f"{fit.formula}  ({how}, seed {fit.seed})")
    if n_group:
        out.print(f"(+ {n_group} group-effect rows{' in summary.csv' if out_dir else ''})")
    for name, w in fit.parameterization.centered_fraction.items():
        out.print(f"centred fraction of {name}: median {w.median():.2f}, range "
                  f"{w.min():.2f}-{w.max():.2f} over {len(w)} levels (0 = non-centred)",
                  markup=False)
    diag = fit.diagnostics()
    out.print(("[green]" if diag.ok else "[yellow]") + str(diag).replace("[", "\\["))
    if "elbo_final" in fit.draws.attrs:
        out.print(f"ELBO: {fit.draws.attrs['elbo_final']:.2f} (final; trace in fit.info)")
    t = fit.timings
    out.print(f"time: {t['total_s']:.1f} s (compile {t['compile_s']:.1f} s, warm-up "
              f"{t['warmup_s']:.1f} s, sampling {t['sampling_s']:.1f} s)")
    if out_dir is not None:
        from hbr.io import write_atomic

        def save() -> None:
            fit.to_netcdf(out_dir / "posterior.nc", overwrite=force)
            write_atomic(out_dir / "summary.csv", lambda p: summary.to_csv(p), overwrite=force)
        _run(save)
        out.print(f"wrote {out_dir / 'posterior.nc'} and {out_dir / 'summary.csv'}", markup=False)
        if report:
            _run(lambda: fit.report(out_dir / "report.html", overwrite=force))
            out.print(f"wrote {out_dir / 'report.html'}", markup=False)
    else:
        out.print("(use --out DIR to save posterior.nc and summary.csv)")


@app.command("datasets")
def datasets_cmd() -> None:
    """List the bundled datasets (load them with hbr.load_dataset(name))."""
    from hbr.datasets import list_datasets

    for name, text in list_datasets().items():
        out.print(f"{name}: {text}", markup=False)
