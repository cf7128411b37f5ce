"""DESIGN.md's rules, checked on the source: arrows run downstream only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hbr"


def _imports(module: str) -> set[str]:
    tree = ast.parse((SRC / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", ["formula", "_formula_syntax", "_formula_types",
                                    "_formula_eval", "design", "_design_checks", "_factors",
                                    "model", "priors", "errors", "families", "predictive"])
def test_front_end_never_imports_jax(module: str) -> None:
    bad = {n for n in _imports(module) if n.split(".")[0] in ("jax", "jaxlib", "numpyro")}
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", ["infer", "methods", "laplace", "marginal",
                                    "_likelihoods", "_target"])
def test_engines_never_import_formula_or_design(module: str) -> None:
    bad = {n for n in _imports(module) if n in ("hbr.formula", "hbr.design", "hbr.api",
                                                 "hbr.cli")}
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", [p.stem for p in SRC.glob("*.py")
                                    if p.stem not in ("cli", "__main__")])
def test_only_the_cli_prints(module: str) -> None:
    tree = ast.parse((SRC / f"{module}.py").read_text())
    prints = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not prints, f"{module} prints at lines {prints}"


def test_every_module_declares_all() -> None:
    missing = [p.stem for p in SRC.glob("*.py") if p.stem not in ("__main__",)
               and "__all__" not in p.read_text()]
    assert not missing, missing


def test_import_hbr_leaves_arviz_and_matplotlib_unloaded() -> None:
    """ArviZ (with SciPy stats and matplotlib, 1 s) loads only when InferenceData or a plot is
    asked for: the summary and diagnostics read NumPy arrays."""
    import subprocess
    import sys

    code = ("import sys, hbr; from hbr import posterior, diagnostics; "
            "print(sorted(m for m in ('arviz', 'matplotlib', 'xarray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
