"""Same seed, same draws, across refactors: the SHA-256 of every posterior variable's draws
for fixed-seed fits (NUTS marginal / auto / non-centred, Metropolis, ADVI and Laplace on the
Minnesota radon example, and a Bernoulli model with NUTS auto) equals the value recorded
before the redesign of issue 16.

The draws are floating point from JAX's XLA CPU backend, so the hashes hold for the JAX,
NumPyro, BlackJAX and optax versions they were recorded with; the test extras pin those
versions (pyproject.toml), so ``pip install ".[test]"`` builds the environment they hold for.
A deliberate change of the draws (a new algorithm, a new dependency version) re-records them
with ``python tests/_draw_hashes_child.py`` and says why in its commit.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

CHILD = Path(__file__).with_name("_draw_hashes_child.py")

RECORDED_WITH = {"jax": "0.10.2", "jaxlib": "0.10.2", "numpyro": "0.22.0",
                 "blackjax": "1.7.1", "optax": "0.2.8"}

# recorded at commit 6cc757d (before the redesign), twice, in fresh processes
HASHES = {
    "radon-nuts-marginal": "0d5471e49ae2bda1be80ba256895a326b81b0ec8dd89dd993bbc4abd8ee5e032",
    "radon-nuts-auto": "56c5e20ddbb051b20ec1857df0414ae601e47946d48439bed19f8e455d45fbf1",
    "radon-nuts-noncentered":
        "12ce0e8752f56089f96126794bfb3e34a9299c4df08f7bc6fc1a666d99fe4e45",
    "radon-metropolis": "c45ff78c16bfd197900ccfbe7507e668b8f8d0dc21d81d66429d05947e742cec",
    "radon-advi": "f9085c841d0819ff4422ba6ad1715fa73dc554ad9a19136b906ad25e2c10670c",
    "radon-laplace": "f8db77715df42a3d17f388be6d3b3398b572b5d44c560cfdc6757c17aae045f6",
    "bernoulli-nuts-auto": "510ddd362e99eff4871d44c5d4f2895236eb4a998a24e3d9f303dfec756b72db",
}


def test_pinned_versions_are_installed() -> None:
    """The hashes below are only meaningful with the versions they were recorded with."""
    found = {name: metadata.version(name) for name in RECORDED_WITH}
    assert found == RECORDED_WITH, ("the test extras pin these versions; reinstall with "
                                    'pip install ".[test]"')


def test_same_seed_gives_the_recorded_draws() -> None:
    res = subprocess.run([sys.executable, str(CHILD)], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    got = dict(line.split() for line in res.stdout.splitlines() if line.strip())
    assert got == HASHES
