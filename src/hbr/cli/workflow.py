"""``hbr compare``, ``hbr predict`` and ``hbr report``: the seed-001 workflow from the shell.
Registered on :data:`hbr.cli.console.app`; like :mod:`hbr.cli`, prints and writes files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from hbr.cli.console import _TUNE_HELP, _fail, _parse_priors, _run, app, err, out

__all__: list[str] = []


@app.command("compare")
def compare_cmd(
    data: str = typer.Argument(..., help="CSV or Parquet file."),
    formula: Optional[str] = typer.Argument(
        None, help='A formula without group terms, e.g. "log_radon ~ floor"; with --group it '
        "is fitted with complete, no and partial pooling."),
    group: Optional[str] = typer.Option(None, "--group", "-g", help="The column to pool over."),
    model: list[str] = typer.Option([], "--model", "-m", help="Instead: a formula to compare, "
                                    "repeatable."),
    cv: str = typer.Option("loo", help="loo, or logo (also leave one --group out)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory for "
                                           "comparison.csv and report.html."),
    chains: int = typer.Option(4, help="Chains per model."),
    draws: int = typer.Option(1000, help="Draws kept per chain."),
    tune: Optional[int] = typer.Option(None, help=_TUNE_HELP),
    seed: Optional[int] = typer.Option(None, help="Random seed of every fit (recorded; "
                                       "random if omitted, as for 'hbr fit')."),
    family: str = typer.Option("gaussian", help="gaussian, lognormal, student_t, bernoulli, "
                               "binomial, poisson, negative_binomial, gamma, exponential, "
                               "weibull, beta, zero_inflated_poisson, "
                               "zero_inflated_negbinomial, hurdle_poisson or "
                               "hurdle_negbinomial (brms's names work too)."),
    prior: list[str] = typer.Option([], "--prior", help='Override a prior in every model, '
                                    'repeatable: --prior "sigma=HalfNormal(1)".'),
    parameterization: Optional[str] = typer.Option(
        None, "--parameterization", "-p", help="marginal (default), auto, noncentered or "
        "centered, for every model with group terms."),
    groups: Optional[str] = typer.Option(None, "--groups", help='Levels of --group drawn in '
                                         'the report\'s panels, e.g. "CASS,CROW WING,FREEBORN" '
                                         "(default: the smallest, a middle and the largest)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Fit complete, no and partial pooling (or the --model formulas) and compare them:
    PSIS-LOO elpd, posterior predictive RMSD, parameters, Pareto k."""
    import secrets

    from hbr.io import check_output_dir, check_writable

    seed = secrets.randbits(31) if seed is None else seed
    levels = _levels(groups)

    if formula is None and not model:
        _fail('give a formula and --group (hbr compare data.csv "y ~ x" --group g) or '
              "--model formulas")
    if formula is not None and model:
        _fail("give either a formula with --group or --model formulas, not both")
    names = ("comparison.csv", "report.html")
    if out_dir is not None:
        _run(lambda: [check_writable(out_dir / n, force) for n in names])
        _run(lambda: check_output_dir(out_dir))

    def run() -> Any:
        import hbr

        from hbr.sources import out_of_core_by_default

        if out_of_core_by_default(data):  # a glob or a large file: DuckDB, LOO streamed
            table = data
            err.print(f"fitting {len(model) or 3} models to {data} (out of core)",
                      markup=False)
        else:
            table = hbr.read_table(data)
            err.print(f"fitting {len(model) or 3} models to {data}: {len(table)} rows",
                      markup=False)
        if levels and not isinstance(table, str):
            _check_levels(table, group, levels)
        settings = {k: v for k, v in (("priors", _parse_priors(prior) or None),
                                      ("parameterization", parameterization)) if v is not None}
        comp = hbr.checks.compare(table, formula if formula is not None else model, group,
                                  cv=cv, seed=seed, chains=chains, draws=draws, tune=tune,
                                  family=family, **settings)
        return table, comp

    table, comp = _run(run)
    _print_comparison(comp.table)
    out.print(f"seed {seed}", markup=False)
    for name, f in comp.fits.items():
        out.print(f"{name}: {f.formula}", markup=False)
    if out_dir is not None:
        _write_comparison(comp, table, out_dir, levels, force)


def _write_comparison(comp: Any, table: Any, out_dir: Path, levels: list[str] | None,
                      force: bool) -> None:
    """comparison.csv and report.html as one set: both new or both old
    (:func:`hbr.io.write_set`)."""
    from hbr.io import write_set

    best = comp.fits.get("partial pooling") or comp.fits[comp.table.index[0]]

    def save() -> None:
        from hbr.report import render_report

        text = render_report(best, comp, None if isinstance(table, str) else table,
                             groups=levels)
        write_set(out_dir, {"comparison.csv": lambda p: comp.table.to_csv(p),
                            "report.html": lambda p: p.write_text(text, "utf-8")},
                  overwrite=force)
    _run(save)
    out.print(f"wrote {out_dir / 'comparison.csv'} and {out_dir / 'report.html'}",
              markup=False)


def _levels(groups: str | None) -> list[str] | None:
    """``--groups "A,B,C"`` as a list of level names."""
    if groups is None:
        return None
    levels = [g.strip() for g in groups.split(",") if g.strip()]
    if not levels:
        _fail('--groups needs level names separated by commas, e.g. --groups "CASS,FREEBORN"')
    return levels


def _check_levels(table: Any, group: str | None, levels: list[str]) -> None:
    """Every --groups level is a level of --group, before anything is fitted."""
    if group is None or group not in table.columns:
        _fail("--groups names levels of --group: give --group COLUMN too")
    known = set(table[group].astype(str))
    missing = [lv for lv in levels if lv not in known]
    if missing:
        import difflib

        close = difflib.get_close_matches(missing[0], sorted(known), n=1)
        _fail(f"--groups: {group!r} has no level {missing[0]!r}"
              + (f"; did you mean {close[0]!r}?" if close else ""))


def _print_comparison(t: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    cols = [("elpd_loo", "elpd_loo", ".1f"), ("se", "se", ".1f"), ("elpd_diff", "diff", ".1f"),
            ("se_diff", "se_diff", ".1f"), ("p_loo", "p_loo", ".1f"),
            ("pareto_k_bad", "k>0.7", "d"), ("ppc_rmsd", "ppc_rmsd", ".3f"),
            ("n_params", "params", "d"), ("divergences", "div", "d"),
            ("elpd_logo", "elpd_logo", ".1f"), ("logo_k_bad", "logo k>0.7", "d"),
            ("loo_rows", "LOO rows", "d"), ("subsampling_se", "subsample se", ".2f")]
    table = Table(title=Text("model comparison (best first; PSIS-LOO, higher is better)"),
                  title_justify="left")
    table.add_column("", no_wrap=True)
    cols = [c for c in cols if c[0] in t.columns]
    for _, head, _ in cols:
        table.add_column(head, justify="right")
    for name, row in t.iterrows():
        table.add_row(Text(str(name)), *[format(int(row[c]) if f == "d" else row[c], f)
                                          for c, _, f in cols])
    out.print(table)


def _load(fit_dir: Path, data: Optional[str]) -> Any:
    import hbr

    return _run(lambda: hbr.load_fit(fit_dir, data))


@app.command("report")
def report_cmd(
    fit_dir: Path = typer.Argument(..., help="The --out directory of 'hbr fit' (or a "
                                   "posterior.nc)."),
    data: Optional[str] = typer.Option(None, "--data", help="The table the fit was made "
                                       "from (default: the file hbr fit recorded)."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Default: "
                                            "DIR/report.html."),
    map_vs_mean: bool = typer.Option(True, "--map/--no-map", help="Include the MAP vs mean "
                                     "figure (three optimisations)."),
    groups: Optional[str] = typer.Option(None, "--groups", help='Levels drawn in the '
                                         'conditional-effects figure, e.g. "CASS,FREEBORN" '
                                         "(default: the three with most rows)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing report."),
) -> None:
    """Write a self-contained HTML report of a saved fit."""
    from hbr.io import check_output_dir, check_writable

    target = out_file or ((fit_dir if fit_dir.is_dir() else fit_dir.parent) / "report.html")
    _run(lambda: check_writable(target, force))
    _run(lambda: check_output_dir(target.parent))
    fit = _load(fit_dir, data)
    levels = _levels(groups)
    if levels and fit.spec.factor_groups:
        blk = fit.spec.factor_groups[0].block
        missing = [lv for lv in levels if lv not in set(blk.levels)]
        if missing:
            _fail(f"--groups: {blk.factor!r} has no level {missing[0]!r}")
    _run(lambda: fit.report(target, overwrite=force, map_vs_mean=map_vs_mean, groups=levels))
    out.print(f"wrote {target}", markup=False)


@app.command("predict")
def predict_cmd(
    fit_dir: Path = typer.Argument(..., help="The --out directory of 'hbr fit'."),
    new_data: str = typer.Argument(..., help="CSV or Parquet file of rows to predict (the "
                                   "predictors and grouping columns; no response needed)."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV: the new rows "
                                            "with mean, sd, q3%, q97% of the prediction."),
    kind: str = typer.Option("mean", help="mean (expected response), response (a new "
                             "observation, with noise) or link."),
    new_groups: str = typer.Option("sample", help="Levels not in the training data: sample "
                                   "(effect drawn from the population) or mean (0)."),
    data: Optional[str] = typer.Option(None, "--data", help="The training table (default: "
                                       "the file hbr fit recorded)."),
    seed: Optional[int] = typer.Option(None, help="Seed (default: the fit's)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
) -> None:
    """Predict new rows from a saved fit, for seen and unseen groups."""
    from hbr.io import check_output_dir, check_writable, write_atomic

    if out_file is not None:
        _run(lambda: check_writable(out_file, force))
        _run(lambda: check_output_dir(out_file.parent))
    fit = _load(fit_dir, data)

    def run() -> Any:
        import pandas as pd

        import hbr
        from hbr.posterior.predictive import summarize_predictions

        table = hbr.read_table(new_data)
        pred = fit.predict(table, kind=kind, new_groups=new_groups, seed=seed)
        summ = summarize_predictions(pred)
        summ.index = table.index
        return pd.concat([table, summ.add_prefix("pred_")], axis=1)

    result = _run(run)
    out.print(result.head(20).to_string(max_cols=12), markup=False)
    if out_file is not None:
        _run(lambda: write_atomic(out_file, lambda p: result.to_csv(p, index=False),
                                  overwrite=force))
        out.print(f"wrote {out_file} ({len(result)} rows)", markup=False)
