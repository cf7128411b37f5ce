"""SciPy modules NumPyro and JAX import at start-up but no fit calls load on first use
(:mod:`hbr._runtime.deferred`), and then behave as the real modules; hbr's own fit path
(the summary's normal scores and FFTs) needs no SciPy (issue 17: 0.3 s of a 3.8 s fit)."""

from __future__ import annotations

import statistics
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft
import scipy.special

from hbr.posterior.mcmcstats import ndtri, next_fast_len


def _run(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split()


def test_a_fit_path_loads_no_unused_scipy_and_the_stand_ins_work_when_used() -> None:
    out = _run(
        "import sys, numpy as np\n"
        "import hbr.api, hbr.cli.fit, hbr.posterior.mcmcstats\n"
        "print(type(sys.modules['scipy.fft']).__name__, 'scipy.fft._basic' in sys.modules,\n"
        "      'scipy.special' in sys.modules, type(sys.modules['scipy.sparse.linalg']).__name__)\n"
        "from numpyro.diagnostics import effective_sample_size\n"
        "x = np.random.default_rng(0).standard_normal((2, 200))\n"
        "print(effective_sample_size(x) > 100)\n"  # numpyro's own scipy.fft use
        "import scipy.fft, scipy\n"
        "from scipy.fft import rfft\n"
        "print(type(sys.modules['scipy.fft']).__name__, scipy.fft is sys.modules['scipy.fft'],\n"
        "      np.allclose(rfft(np.arange(8.0)), np.fft.rfft(np.arange(8.0))))\n"
        "import scipy.sparse.linalg as sl, scipy.sparse as sp\n"
        "print(np.allclose(sl.spsolve(sp.csr_matrix(np.diag([2.0, 4.0])), np.ones(2)),\n"
        "                  [0.5, 0.25]), sp.linalg is sys.modules['scipy.sparse.linalg'])\n")
    assert out[:4] == ["_Deferred", "False", "False", "_Deferred"]
    assert out[4] == "True"
    assert out[5:8] == ["module", "True", "True"]
    assert out[8:10] == ["True", "True"]


def test_a_module_imported_before_hbr_is_left_alone() -> None:
    out = _run("import sys, scipy.fft\nreal = sys.modules['scipy.fft']\nimport hbr.api\n"
               "print(sys.modules['scipy.fft'] is real, type(real).__name__)\n")
    assert out == ["True", "module"]


def test_ndtri_equals_scipy_and_the_standard_library() -> None:
    """AS 241 in NumPy (the summary's rank-normal scores) against SciPy's ndtri and
    ``statistics.NormalDist.inv_cdf`` (the same algorithm in pure Python), from the far
    tails to the centre, and SciPy's conventions at 0, 1 and outside [0, 1]."""
    p = np.concatenate([np.linspace(0, 1, 20001), np.logspace(-300, -1, 600),
                        1 - np.logspace(-16, -1, 60), [-0.5, 1.5, np.nan]])
    got, want = ndtri(p), scipy.special.ndtri(p)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin], want[~fin])  # -inf at 0, inf at 1
    np.testing.assert_allclose(got[fin], want[fin], rtol=4e-15, atol=1e-300)
    inner = p[(p > 0) & (p < 1)][::97]
    np.testing.assert_allclose(ndtri(inner), [statistics.NormalDist().inv_cdf(x) for x in inner],
                               rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("start", [1, 1000, 7919, 20000])
def test_next_fast_len_equals_scipy(start: int) -> None:
    assert [next_fast_len(n) for n in range(start, start + 500)] == \
        [scipy.fft.next_fast_len(n) for n in range(start, start + 500)]


def test_lapack_loads_without_the_rest_of_scipy_linalg() -> None:
    """JAX's first lowering imports ``scipy.linalg.cython_blas`` and ``cython_lapack`` for
    LAPACK; under the package stand-in only those load (not ``scipy.linalg._basic``), a
    Cholesky runs, and the first attribute read loads the real package (also from inside
    the real ``scipy.sparse.linalg``, itself a stand-in until used)."""
    out = _run(
        "import sys, numpy as np\n"
        "import hbr.api, jax, jax.numpy as jnp\n"
        "print(type(sys.modules['scipy.linalg']).__name__)\n"
        "with jax.enable_x64(True):\n"
        "    c = jax.jit(jnp.linalg.cholesky)(jnp.eye(2) * 4.0)\n"
        "print(float(c[1, 1]), 'scipy.linalg.cython_lapack' in sys.modules,\n"
        "      'scipy.linalg._basic' in sys.modules, type(sys.modules['scipy.linalg']).__name__)\n"
        "import scipy.sparse.linalg as sl, scipy.sparse as sp\n"
        "print(np.allclose(sl.spsolve(sp.csr_matrix(np.diag([2.0, 4.0])), np.ones(2)),\n"
        "                  [0.5, 0.25]))\n"
        "import scipy.linalg\n"
        "print(float(scipy.linalg.cho_solve((np.array([[2.0]]), True), [8.0])[0]),\n"
        "      type(sys.modules['scipy.linalg']).__name__,\n"
        "      sys.modules['scipy'].linalg is sys.modules['scipy.linalg'])\n")
    assert out == ["_DeferredPackage", "2.0", "True", "False", "_DeferredPackage", "True",
                   "2.0", "module", "True"]


def test_scipy_sparse_waits_for_its_first_use() -> None:
    """``jax.experimental.sparse`` imports ``scipy.sparse`` (0.13-0.19 s with
    ``numpy.f2py``) and reads it only to solve; after a fit's imports it is a stand-in, and
    ``scipy.sparse.csr_matrix`` then loads it, with ``scipy.sparse.linalg`` as its
    attribute."""
    out = _run(
        "import sys\n"
        "import hbr.api, hbr.cli.fit\n"
        "print(type(sys.modules['scipy.sparse']).__name__, 'numpy.f2py' in sys.modules,\n"
        "      'scipy._lib._util' in sys.modules)\n"
        "import scipy, scipy.sparse\n"
        "m = scipy.sparse.csr_matrix([[1.0, 0.0], [0.0, 2.0]])\n"
        "print(m.nnz, type(sys.modules['scipy.sparse']).__name__,\n"
        "      scipy.sparse is sys.modules['scipy.sparse'])\n"
        "import scipy.sparse.linalg\n"
        "print(float(scipy.sparse.linalg.spsolve(m, [1.0, 4.0])[1]),\n"
        "      sys.modules['scipy.sparse'].linalg is sys.modules['scipy.sparse.linalg'])\n")
    assert out == ["_DeferredPackage", "False", "False", "2", "module", "True", "2.0", "True"]
