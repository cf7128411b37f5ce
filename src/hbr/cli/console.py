"""The app, the two consoles and the helpers every ``hbr`` command uses: one message and exit
code 2 for an error the user can fix, exit 3 for an internal error, warnings printed once,
the progress bar and the summary table."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["app", "err", "out"]


app = typer.Typer(
    name="hbr", no_args_is_help=True, add_completion=False,
    help="Bayesian hierarchical regression from a formula: fit, summarise, save as ArviZ "
         "netCDF. Example: hbr fit --example radon --out radon-fit")
err = Console(stderr=True, highlight=False)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
_TUNE_HELP = ("Warm-up iterations per chain (discarded). Default: 500 when the Laplace pilot "
              "whitened the model (every group factor integrated out), else 1000.")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True) \
        if "\n" not in message else err.print("error: " + message, markup=False)
    raise typer.Exit(code)


def _run(fn: Callable[[], Any]) -> Any:
    from hbr.errors import HbrError, HbrWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HbrWarning)
        try:
            result = fn()
        except HbrError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            from hbr._runtime.interrupt import leave

            err.print("interrupted")
            leave(130)  # the command line: at once (see hbr._runtime.interrupt)
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as exc:  # an internal error: short message unless debugging
            if os.environ.get("HBR_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}). "
                  "This is a bug in hbr; rerun with HBR_DEBUG=1 to see the traceback and "
                  "please report it.", code=3)
    for w in caught:
        if issubclass(w.category, HbrWarning):
            err.print(f"warning: {w.message}", markup=False)
    return result


def _parse_priors(items: list[str]) -> dict[str, str]:
    priors: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            _fail(f"--prior {item!r} is not NAME=PRIOR; write e.g. --prior \"sigma=HalfNormal(1)\"")
        priors[name.strip()] = value.strip()
    return priors


def _progress() -> tuple[Any, Callable[[int, int, str], None]]:
    from hbr._runtime.progressbar import progress_bar

    return progress_bar(err)


def _print_summary(df: Any, title: str) -> None:
    table = Table(title=Text(title), title_justify="left")
    table.add_column("", no_wrap=True)
    for c in df.columns:
        table.add_column(c, justify="right")
    for name, row in df.iterrows():
        cells = []
        for c, v in row.items():
            cells.append(f"{v:.0f}" if c.startswith("ess") else f"{v:.3g}"
                         if c.startswith("mcse") else f"{v:.3f}")
        table.add_row(Text(str(name)), *cells)
    out.print(table)
