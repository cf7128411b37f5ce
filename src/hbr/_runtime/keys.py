"""Random streams, named: :class:`Keys` derives every key of a fit from its seed, and
:func:`key_rng` turns a key into a NumPy generator (start points without a JAX program).

The fold-in numbers are those hbr has always used, so a seed keeps its draws across
versions (``tests/statistical/test_draw_hashes.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Keys", "key_rng"]


class Keys(NamedTuple):
    """The random streams of one fit, each a JAX key derived from ``seed``.

    ``sampler`` drives the engine (start points, momenta, proposals; NUTS's ``init=``
    approximation folds in 5 inside the engine); ``draw_back`` the integrated-out effects
    and the pointwise log likelihood, one key per draw; ``laplace_start`` the start of the
    pilot mode search; ``pilot`` the pilot fit of "auto"; ``mass_matrix`` the start of the
    starting mass matrix's mode search.
    """

    seed: int

    @classmethod
    def from_seed(cls, seed: int) -> "Keys":
        return cls(int(seed))

    @property
    def sampler(self) -> jax.Array:
        return jax.random.PRNGKey(self.seed)

    def _stream(self, n: int) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.seed), n)

    @property
    def draw_back(self) -> jax.Array:
        return self._stream(1)

    @property
    def laplace_start(self) -> jax.Array:
        return self._stream(2)

    @property
    def pilot(self) -> jax.Array:
        return self._stream(3)

    @property
    def mass_matrix(self) -> jax.Array:
        return self._stream(4)


def key_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded by a JAX key (legacy uint32 or typed), so start points are
    drawn without compiling a JAX program; the same key gives the same stream."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key).astype(np.uint64).ravel().tolist())
