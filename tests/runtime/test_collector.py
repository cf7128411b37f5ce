"""The command line's garbage-collector thresholds (hbr._runtime.collector): set in the hbr
script's process from its first import and by hbr.cli.main, never by ``import hbr`` in a
user's program; and what they are for, fewer collector passes on a warm fit's imports."""

from __future__ import annotations

import subprocess
import sys

from hbr._runtime.collector import THRESHOLDS


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_only_the_command_line_changes_the_collector() -> None:
    default = _run("import gc; print(gc.get_threshold())")
    assert _run("import gc, hbr; print(gc.get_threshold())") == default
    assert _run("import gc, hbr.cli; print(gc.get_threshold())") == default
    script = _run("import sys; sys.argv = ['/usr/bin/hbr']; import gc, hbr; "
                  "print(gc.get_threshold())")
    assert script == str(THRESHOLDS) != default
    via_main = _run("import sys, gc; sys.argv = ['hbr', '--version']; from hbr.cli import main\n"
                    "try:\n    main()\nexcept SystemExit:\n    pass\n"
                    "print(gc.get_threshold())")
    assert via_main.splitlines()[-1] == str(THRESHOLDS)


def test_the_thresholds_cut_the_passes_of_the_imports() -> None:
    """Importing what a fit imports (hbr.api: pandas, JAX, NumPyro) takes hundreds of young
    passes with Python's thresholds and a few dozen with the command line's."""
    code = ("import gc, sys\n{}\nn = [0]\n"
            "gc.callbacks.append(lambda phase, info: n.__setitem__(0, n[0] + (phase == 'stop')))\n"
            "import hbr.api\nprint(n[0])")
    default = int(_run(code.format("")))
    tuned = int(_run(code.format("from hbr._runtime.collector import tune; tune()")))
    assert default > 100 and tuned * 5 < default, (default, tuned)
