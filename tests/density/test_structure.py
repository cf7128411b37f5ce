"""The Structure is the compile key: equal structures mean the same program, and a change
of what the program computes changes the structure.

For many model variants (formulas, data values and sizes, priors, parameterisations, known
se, a sigma formula, a crossed factor) the log density is lowered to StableHLO. Whenever two
targets have equal signatures, their data must have the same tree, shapes and dtypes and
the lowered programs must be identical; so nothing a program depends on can hide outside
the structure (as the hand-kept signature once missed the location map of partial centring).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from hbr.density.build import make_target
from hbr.density.structure import Structure
from hbr.design.build import build_design
from hbr.model.spec import build_model


def _data(seed: int, n_groups: int = 6, n: int = 60, z_is_x: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    g[:n_groups] = np.arange(n_groups)
    x = rng.normal(size=n)
    return pd.DataFrame({"y": 1 + 0.5 * x + rng.normal(size=n) + 0.3 * g,
                         "x": x, "z": x if z_is_x else rng.normal(size=n),
                         "s": rng.uniform(0.5, 2, n), "g": [f"g{i}" for i in g],
                         "h": [f"h{i % 3}" for i in range(n)]})


CASES = [  # (formula or formulas, data seed, kwargs of the data, parameterization, priors)
    ("y ~ x + (x | g)", 0, {}, "marginal", None),
    ("y ~ x + (x | g)", 1, {}, "marginal", None),  # other values: same structure
    ("y ~ x + (x | g)", 0, {"n_groups": 7}, "marginal", None),  # 7 levels pad to 8 as 6 do
    ("y ~ x + (x | g)", 0, {"n_groups": 9}, "marginal", None),  # 9 pads to 10
    ("y ~ x + (x | g)", 0, {}, "noncentered", None),
    ("y ~ x + (x | g)", 1, {}, "noncentered", None),
    ("y ~ x + (x | g)", 0, {}, "centered", None),
    ("y ~ x + (x | g)", 0, {}, "auto", None),
    ("y ~ x + (x | g)", 0, {}, "marginal", {"sigma": "HalfNormal(1)"}),
    ("y ~ x + (x | g)", 0, {}, "marginal", {"x": "StudentT(3, 0, 1)"}),
    ("y ~ x + (z | g)", 0, {"z_is_x": True}, "auto", None),  # z's effect located at x
    ("y ~ x + (z | g)", 0, {"z_is_x": False}, "auto", None),  # ... and not
    ("y ~ x + (1 | g) + (1 | h)", 0, {}, "marginal", None),
    ("y ~ x + (1 | g) + (1 | h)", 1, {}, "marginal", None),
    ("y | se(s) ~ x + (1 | g)", 0, {}, "marginal", None),
    (["y ~ x + (1 | g)", "sigma ~ 1 + (1 | g)"], 0, {}, "marginal", None),
    (["y ~ x + (1 | g)", "sigma ~ 1 + (1 | g)"], 1, {}, "marginal", None),
]


def _density(formula, seed, kw, parameterization, priors):
    formulas = [formula] if isinstance(formula, str) else formula
    spec = build_model(build_design(formulas[0], _data(seed, **kw), dpars=tuple(formulas[1:])),
                       priors)
    return make_target(spec, parameterization)


def _avals(tree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return str(treedef), tuple((np.shape(a), np.asarray(a).dtype.str) for a in leaves)


@pytest.fixture(scope="module")
def lowered() -> list[tuple[tuple, tuple, str, str]]:
    out = []
    with jax.enable_x64(True):
        for case in CASES:
            t = _density(*case).target
            z = jnp.zeros(t.dim)
            hlo = jax.jit(t.logdensity_fn).lower(z, t.data).as_text()
            out.append((t.signature, _avals(t.data), hlo, repr(case)))
    return out


def test_equal_structures_are_the_same_program(lowered) -> None:
    pairs = 0
    for (sa, da, ha, ca), (sb, db, hb, cb) in itertools.combinations(lowered, 2):
        if sa == sb:
            pairs += 1
            assert da == db, f"equal structure, different data layout: {ca} / {cb}"
            assert ha == hb, f"equal structure, different program: {ca} / {cb}"
    assert pairs >= 5  # the cases above do share structures


def test_a_different_program_has_a_different_structure(lowered) -> None:
    """The converse on these cases: distinct programs never share a signature, and the
    cases meant to differ (location map, prior family, padding bucket) do differ."""
    by_program: dict[str, set] = {}
    for sig, _, hlo, _ in lowered:
        by_program.setdefault(hlo, set()).add(sig)
    sigs = [sig for sig, _, _, _ in lowered]
    assert len(set(sigs)) >= len(by_program)
    assert sigs[10] != sigs[11]  # (z | g) located at x or not
    assert sigs[0] != sigs[9]  # a StudentT prior on x instead of the Normal
    assert sigs[0] == sigs[2] != sigs[3]  # 6 and 7 levels share the bucket 8; 9 does not


def test_structure_is_hashable_and_pure_data() -> None:
    with jax.enable_x64(True):
        d = _density(*CASES[12])
    key, out = d.target.signature, d.readout.signature
    assert hash(key) != hash(out)
    # the readouts' key is the density's with the real sizes (rows, levels) in place of ()
    assert Structure._fields[-1] == "sizes"
    assert key[:-1] == out[:-1] and key[-1] == () and out[-1] == (60, (6, 3))
