"""An integrated intercept-only factor summed by level size (hbr.density.classes): exact
algebra against the level-by-level marginal likelihood, and where it is chosen."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.design.build import build_design
from hbr.density import classes
from hbr.density.build import make_target
from hbr.density.structure import Structure
from hbr.model.spec import build_model


def _table(sizes: list[int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    n = g.size
    x, w = rng.normal(size=n), rng.uniform(size=n)
    y = 1 + 0.4 * x - w + rng.normal(0, 0.6, len(sizes))[g] + rng.normal(0, 0.5, n)
    return pd.DataFrame({"y": y, "x": x, "w": w, "g": g})


@pytest.mark.parametrize("sizes", [[1] * 300, [1, 2, 3] * 100, [1] * 250 + [7] * 50])
def test_size_classes_give_the_level_by_level_log_density(sizes, monkeypatch) -> None:
    spec = build_model(build_design("y ~ x + w + (1 | g)", _table(sizes)))
    s = Structure.of(spec, "marginal", None, "float64")
    assert s.classes == len(set(sizes))
    rng = np.random.default_rng(4)
    with jax.enable_x64(True):
        t = make_target(spec, "marginal").target
        monkeypatch.setattr(classes, "MAX_FRACTION", 0.0)  # level by level
        t0 = make_target(spec, "marginal").target
        assert Structure.of(spec, "marginal", None, "float64").classes == 0
        for _ in range(4):
            z = np.asarray(t.initial_point(jax.random.PRNGKey(1))) + 0.5 * rng.normal(
                size=t.dim)
            v, g = jax.value_and_grad(t.logdensity_fn)(z, t.data)
            v0, g0 = jax.value_and_grad(t0.logdensity_fn)(z, t0.data)
            np.testing.assert_allclose(float(v), float(v0), rtol=1e-10)
            np.testing.assert_allclose(np.asarray(g), np.asarray(g0), rtol=1e-7, atol=1e-7)


def test_size_classes_only_where_sizes_repeat() -> None:
    radon = hbr.load_dataset("radon")
    mn = radon[radon.state == "MN"]  # 85 counties, many distinct sizes
    for formula, data, want in [("log_radon ~ floor + (1 | county)", mn, 0),
                                ("y ~ x + (x | g)", _table([1, 2] * 100), 0),
                                ("y ~ x + (1 | g)", _table([1, 2] * 100), 2)]:
        spec = build_model(build_design(formula, data))
        assert Structure.of(spec, "marginal", None, "float64").classes == want
