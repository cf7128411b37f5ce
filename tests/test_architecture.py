"""DESIGN.md's rules, checked on the transitive graph of module-level imports.

The graph has a node per module of ``src/hbr`` (a package is its ``__init__``) and an edge
for every ``import`` / ``from ... import`` at module level (also inside ``if`` and ``try`` at
module level, not inside functions, and not under ``if TYPE_CHECKING``). Importing
``hbr.a.b`` runs ``hbr/a/__init__.py`` first, so each module also reaches the ``__init__``
of every package above it; the facade ``hbr/__init__.py`` is left out (it imports the whole
public API on purpose). Lazy imports inside functions are for heavy optional dependencies and
a ``Fit``'s delegating methods; they are not edges.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hbr"
ENGINE_LIBS = ("jax", "jaxlib", "numpyro", "blackjax", "optax")

# DESIGN.md "Layers": each imports only from layers above it (a smaller number)
LAYERS = {"errors": 1, "priors": 1, "_runtime": 1, "target": 1, "_version": 1, "io": 1,
          "datasets": 1, "formula": 2, "design": 3, "model": 4, "sources": 5, "density": 6,
          "inference": 7, "posterior": 8, "options": 9, "_pipeline": 9, "api": 9,
          "checks": 10, "plots": 11, "report": 11, "cli": 12, "__main__": 12}


def _name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    return {_name(p): p for p in SRC.rglob("*.py")}


def _top_level_imports(tree: ast.Module) -> list[ast.stmt]:
    """Import statements executed when the module is imported (not in functions or under
    ``if TYPE_CHECKING``)."""
    found: list[ast.stmt] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody):
                    visit(part)
                for h in node.handlers:
                    visit(h.body)
    visit(tree.body)
    return found


def _targets(node: ast.stmt, here: str) -> list[str]:
    """Module names an import statement loads (hbr modules and external top-level names)."""
    mods = modules()
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:  # relative import
        pkg = here.split(".")
        if not modules()[here].name == "__init__.py":
            pkg = pkg[:-1]
        pkg = pkg[:len(pkg) - node.level + 1]
        base = ".".join(pkg + ([base] if base else []))
    out = [base]
    out += [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
    return out


@lru_cache(maxsize=1)
def graph() -> dict[str, set[str]]:
    """module -> modules and external top-level packages it imports at module level."""
    mods = modules()
    g: dict[str, set[str]] = {}
    for name, path in mods.items():
        edges: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text())):
            for t in _targets(node, name):
                edges.add(t if t in mods else t.split(".")[0])
        parts = name.split(".")
        for i in range(2, len(parts)):  # parent packages' __init__ (not the facade "hbr")
            edges.add(".".join(parts[:i]))
        edges.discard(name)
        edges.discard("hbr") if name != "hbr" else None
        g[name] = edges
    return g


def reachable(start: str) -> set[str]:
    g, seen, todo = graph(), set(), [start]
    while todo:
        m = todo.pop()
        for t in g.get(m, ()):
            if t not in seen and t != "hbr":
                seen.add(t)
                todo.append(t)
    return seen


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _in(folder: str) -> list[str]:
    return sorted(m for m in modules() if _folder(m) == folder)


def test_the_graph_sees_the_package() -> None:
    """A broken parser would pass every rule below on an empty graph."""
    g = graph()
    assert len(g) > 60
    assert "hbr.density.build" in reachable("hbr.api")
    assert "jax" in reachable("hbr.density.build")
    assert "hbr.design" in g["hbr.design.stats"]  # the parent package's __init__


@pytest.mark.parametrize("folder", ["formula", "design", "model", "sources", "posterior"])
def test_no_engine_library_reachable_from_the_front_end(folder: str) -> None:
    bad = {m: sorted(t for t in reachable(m) if t in ENGINE_LIBS) for m in _in(folder)}
    bad = {m: v for m, v in bad.items() if v}
    assert not bad, f"JAX reachable at import: {bad}"


def test_inference_reaches_only_target_runtime_and_errors() -> None:
    allowed = ("hbr.target", "hbr._runtime", "hbr.errors", "hbr.inference")
    bad = {}
    for m in _in("inference"):
        leaks = sorted(t for t in reachable(m) if t.startswith("hbr.")
                       and not any(t == a or t.startswith(a + ".") for a in allowed))
        if leaks:
            bad[m] = leaks
    assert not bad, bad


def test_no_import_cycles() -> None:
    """Cycles among module-level imports (edges to a parent package's ``__init__`` excluded:
    Python runs it first by construction)."""
    g = {m: {t for t in ts if t in modules() and not m.startswith(t + ".")}
         for m, ts in graph().items()}
    colour: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        colour[m] = 1
        stack.append(m)
        for t in sorted(g[m]):
            if colour.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif not colour.get(t):
                visit(t)
        stack.pop()
        colour[m] = 2
    for m in sorted(g):
        if not colour.get(m):
            visit(m)
    assert not cycles, cycles


def test_layers_import_only_from_layers_above() -> None:
    bad = []
    for m, ts in graph().items():
        if m == "hbr":
            continue
        lm = LAYERS[m.split(".")[1]]
        for t in ts:
            if t.startswith("hbr.") and _folder(t) != _folder(m) and LAYERS[_folder(t)] > lm:
                bad.append(f"{m} (layer {lm}) imports {t} (layer {LAYERS[_folder(t)]})")
    assert not bad, bad


def test_every_folder_has_a_layer() -> None:
    assert {_folder(m) for m in modules() if m != "hbr"} <= set(LAYERS)


def test_no_private_name_imported_across_folders() -> None:
    """``from hbr.x.y import _name`` only inside folder x (lazy imports included)."""
    bad = []
    for m, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hbr"):
                if _folder(node.module) == _folder(m) and _folder(m):
                    continue
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{m}:{node.lineno} imports {node.module}.{a.name}")
    assert not bad, bad


@pytest.mark.parametrize("module", [m for m in sorted(modules())
                                    if _folder(m) != "cli" and m != "hbr.__main__"])
def test_only_the_cli_prints(module: str) -> None:
    tree = ast.parse(modules()[module].read_text())
    prints = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not prints, f"{module} prints at lines {prints}"


def test_every_module_declares_all() -> None:
    missing = [m for m, p in modules().items() if m != "hbr.__main__"
               and "__all__" not in p.read_text()]
    assert not missing, missing


def test_files_and_functions_stay_small() -> None:
    """DESIGN.md style 9: files under 400 lines, no function over 80."""
    long_files = [f"{m} ({n})" for m, p in modules().items()
                  if (n := len(p.read_text().splitlines())) > 400]
    long_fns = []
    for m, p in modules().items():
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    n.end_lineno - n.lineno + 1 > 80:
                long_fns.append(f"{m}.{n.name} ({n.end_lineno - n.lineno + 1})")
    assert not long_files, long_files
    assert not long_fns, long_fns


def test_import_hbr_is_light_and_plots_are_reachable() -> None:
    """ArviZ (with SciPy stats and matplotlib, 1 s) loads only when InferenceData or a plot is
    asked for; ``hbr.plots`` and ``hbr.report`` are attributes of ``hbr`` all the same."""
    code = ("import sys, hbr; from hbr.posterior import Fit; from hbr.checks import diagnose; "
            "print(sorted(m for m in ('arviz', 'matplotlib', 'xarray') if m in sys.modules)); "
            "print(callable(hbr.plots.plot_trace), callable(hbr.report.write_report), "
            "callable(hbr.summarize_predictions), hbr.Comparison.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True True True Comparison"


def test_import_hbr_and_the_cli_help_load_no_jax() -> None:
    """``import hbr`` and ``hbr --help`` / ``--version`` / ``hbr fit --help`` / an option
    typer refuses / a data file that is not there answer without JAX (1-5 s to import), which ``hbr.fit`` loads on first
    use; ``from hbr import fit`` still gives the function (issue 17)."""
    code = ("import sys, io, contextlib, hbr\n"
            "print('jax' in sys.modules)\n"
            "from hbr.cli import main\n"
            "for args in (['--help'], ['--version'], ['fit', '--help'], ['fit', '--chains', 'x'],\n"
            "             ['fit', 'no-such-file.csv', 'y ~ x']):\n"
            "    sys.argv = ['hbr', *args]\n"
            "    buf = io.StringIO()\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):\n"
            "            main()\n"
            "    except SystemExit as e:\n"
            "        print(args[-1], e.code, 'jax' in sys.modules, buf.getvalue().split()[:2])\n"
            "from hbr import fit\n"
            "print(fit.__module__, hbr.fit is fit, 'jax' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "False"
    assert out[1].startswith("--help 0 False")
    assert out[2].startswith("--version 0 False ['hbr',")
    assert out[3].startswith("--help 0 False")
    assert out[4].startswith("x 2 False")
    assert out[5].startswith("y ~ x 2 False")  # a missing data file, before JAX loads
    assert out[6] == "hbr.api True True"


def test_test_modules_have_unique_basenames() -> None:
    """pytest's default import mode imports a test file by its basename (the tests folders are
    not packages), so two ``test_x.py`` in different folders make collection fail."""
    seen: dict[str, list[str]] = {}
    for p in Path(__file__).resolve().parent.rglob("test_*.py"):
        seen.setdefault(p.name, []).append(str(p.parent.name))
    assert not {k: v for k, v in seen.items() if len(v) > 1}
