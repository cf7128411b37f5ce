"""The ``hbr`` command line: ``hbr fit``, ``hbr datasets`` (:mod:`hbr.cli.fit`) and
``compare``, ``predict``, ``report`` (:mod:`hbr.cli.workflow`), on the app and console of
:mod:`hbr.cli.console`.

The only package that prints or touches files besides explicit save functions. Errors the
user can fix are printed as one message (no traceback) with exit code 2; an unexpected
internal error prints one line (exit 3) unless ``HBR_DEBUG=1`` asks for the traceback.
"""

from __future__ import annotations

import sys

import typer

from hbr.cli import fit as _fit_commands  # noqa: F401  (registers fit, datasets)
from hbr.cli import workflow as _workflow_commands  # noqa: F401  (compare, predict, report)
from hbr.cli.console import app, out

__all__ = ["app", "main"]


def _print_version(value: bool) -> None:
    if value:
        from hbr._version import __version__

        out.print(f"hbr {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True,
                                       callback=_print_version,
                                       help="Print the version and exit.")) -> None:
    """hbr: Bayesian hierarchical regression."""


def main() -> None:
    """Entry point of the ``hbr`` script."""
    from hbr._runtime.collector import tune
    from hbr._runtime.interrupt import install, leave, requested

    from hbr.cli.console import err

    tune()  # a command-line process: fewer garbage-collection passes (python -m hbr)
    install()  # Ctrl-C is never lost, not even in a garbage-collection callback
    if requested():  # pressed while the script was importing
        err.print("interrupted")
        leave(130)
    try:
        app(prog_name="hbr")
    except SystemExit as exc:  # typer ends a KeyboardInterrupt outside hbr's own handling
        if exc.code == 130:  # with a silent exit 130
            err.print("interrupted")
            leave(130)
        if (exc.code is None or isinstance(exc.code, int)) and "jax" in sys.modules:
            # every output is written, closed and renamed by now: skip the interpreter's
            # teardown, which with XLA loaded took 0.3-0.5 s of a 3.8 s fit (JAX's atexit
            # clears its caches and destroys the compiled executables, then every module
            # is torn down); a command that never loaded JAX (--help) exits as usual
            leave(exc.code or 0)
        raise


if __name__ == "__main__":
    main()
