"""Random streams: a NumPy generator from a JAX key, so start points are drawn without
compiling a JAX program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["key_rng"]


def key_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded by a JAX key (legacy uint32 or typed), so start points are
    drawn without compiling a JAX program; the same key gives the same stream."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key).astype(np.uint64).ravel().tolist())


