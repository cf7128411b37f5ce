"""Random streams, named: :class:`Keys` derives every key of a fit from its seed, and
:func:`key_rng` turns a key into a NumPy generator (start points without a JAX program).

The fold-in numbers are those hbr has always used, so a seed keeps its draws across
versions (``tests/statistical/test_draw_hashes.py``).

:func:`seed_key`, :func:`fold_in` and :func:`split` are JAX's ``PRNGKey``,
``random.fold_in`` and ``random.split`` for its default raw Threefry-2x32 keys, computed
in NumPy: the same uint32 words, bit for bit (``tests/runtime/test_keys.py``). Outside a
traced function each of JAX's own is an eager operation that a fresh process traces,
lowers and loads from the compilation cache, 5-15 ms apiece; a fit derives its keys with
about ten of them (Minnesota radon, a repeat of ``hbr fit --example radon``: 0.1 s of
3.8 s). Given a traced key, or with JAX's settings for another key scheme
(``jax_default_prng_impl``, ``jax_threefry_partitionable``), they call JAX's.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Keys", "key_rng", "seed_key", "fold_in", "split"]


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
        return seed_key(self.seed)

    def _stream(self, n: int) -> jax.Array:
        return fold_in(seed_key(self.seed), n)

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


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(k1: int, k2: int, x1: np.ndarray, x2: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The Threefry-2x32 hash (20 rounds) of the counter pairs ``(x1, x2)`` under the key
    ``(k1, k2)``, as JAX's ``threefry2x32_p``: Salmon et al. (2011), "Parallel random
    numbers: as easy as 1, 2, 3". Unsigned 32-bit arithmetic wraps."""
    ks = (np.uint32(k1), np.uint32(k2), np.uint32(k1 ^ k2 ^ 0x1BD11BDA))
    x = [x1.astype(np.uint32) + ks[0], x2.astype(np.uint32) + ks[1]]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = (x[1] << np.uint32(r)) | (x[1] >> np.uint32(32 - r))
            x[1] = x[0] ^ x[1]
        x[0] = x[0] + ks[(i + 1) % 3]
        x[1] = x[1] + ks[(i + 2) % 3]  # arrays: wrapping, no overflow warning
        x[1] = x[1] + np.uint32(i + 1)
    return x[0], x[1]


def _numpy_keys(key: object = None) -> bool:
    """Whether :func:`split` and :func:`fold_in` may compute ``key``'s words in NumPy: a
    concrete raw Threefry key, and JAX's settings that make its own functions agree."""
    if jax.config.jax_default_prng_impl != "threefry2x32" or \
            not jax.config.jax_threefry_partitionable:
        return False
    if key is None:
        return True
    if isinstance(key, jax.core.Tracer):
        return False
    dtype = getattr(key, "dtype", None)
    return dtype == np.uint32 and np.shape(key) == (2,)


def seed_key(seed: int) -> jax.Array:
    """``jax.random.PRNGKey(seed)`` as a NumPy uint32 pair, for ``0 <= seed < 2**31`` (the
    seeds hbr draws and accepts; JAX's own otherwise): the words ``(0, seed)``."""
    if 0 <= seed < 2 ** 31 and _numpy_keys():
        return np.array([0, seed], dtype=np.uint32)
    return jax.random.PRNGKey(seed)


def fold_in(key: jax.Array, n: int) -> jax.Array:
    """``jax.random.fold_in(key, n)``: the hash of the counter pair ``(0, n)``."""
    if not (_numpy_keys(key) and 0 <= n < 2 ** 32):
        return jax.random.fold_in(key, n)
    k = np.asarray(key)
    a, b = _threefry2x32(int(k[0]), int(k[1]), np.zeros(1, np.uint32),
                         np.array([n], np.uint32))
    return np.concatenate([a, b])


def split(key: jax.Array, num: int = 2) -> jax.Array:
    """``jax.random.split(key, num)``, shaped (num, 2): key ``i`` is the hash of the
    counter pair ``(0, i)`` (JAX's "partitionable" split)."""
    if not (_numpy_keys(key) and 0 < num < 2 ** 32):
        return jax.random.split(key, num)
    k = np.asarray(key)
    a, b = _threefry2x32(int(k[0]), int(k[1]), np.zeros(num, np.uint32),
                         np.arange(num, dtype=np.uint32))
    return np.stack([a, b], axis=1)
