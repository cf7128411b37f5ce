"""hbr's keys in NumPy (hbr._runtime.keys) are JAX's, bit for bit: ``PRNGKey``, ``fold_in``
and ``split`` of raw Threefry keys, with and without 64-bit mode, and JAX's own functions
wherever NumPy's could differ (a traced key, a typed key)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from hbr._runtime.keys import Keys, fold_in, seed_key, split

SEEDS = [0, 1, 7, 42, 123_456, 2 ** 31 - 1]


@pytest.mark.parametrize("x64", [False, True])
def test_seed_fold_in_and_split_equal_jax(x64: bool) -> None:
    with jax.enable_x64(x64):
        for seed in SEEDS:
            want = jax.random.PRNGKey(seed)
            k = seed_key(seed)
            assert isinstance(k, np.ndarray)
            np.testing.assert_array_equal(k, want)
            for n in [0, 1, 5, 2 ** 31, 2 ** 32 - 1]:
                np.testing.assert_array_equal(fold_in(k, n), jax.random.fold_in(want, n))
            for num in [1, 2, 3, 4, 999, 4000]:
                got = split(k, num)
                assert got.shape == (num, 2) and got.dtype == np.uint32
                np.testing.assert_array_equal(got, jax.random.split(want, num))
            # a key from a split, split again (the fit's chains and draws)
            np.testing.assert_array_equal(split(split(k)[1], 4),
                                          jax.random.split(jax.random.split(want)[1], 4))


def test_a_fits_streams_are_the_ones_jax_gave() -> None:
    """The fold-in numbers of :class:`Keys` keep a seed's draws across versions."""
    with jax.enable_x64(True):
        keys = Keys.from_seed(2024)
        base = jax.random.PRNGKey(2024)
        np.testing.assert_array_equal(keys.sampler, base)
        for n, got in enumerate([keys.draw_back, keys.laplace_start, keys.pilot,
                                 keys.mass_matrix], start=1):
            np.testing.assert_array_equal(got, jax.random.fold_in(base, n))


def test_a_hash_that_differs_is_caught() -> None:
    """Negative control: a key one bit off splits to other keys entirely."""
    k = seed_key(3)
    assert not (split(k ^ np.array([0, 1], np.uint32), 4) == split(k, 4)).any()


def test_traced_and_typed_keys_use_jax() -> None:
    typed = jax.random.key(9)
    assert jax.dtypes.issubdtype(split(typed, 3).dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.key_data(fold_in(typed, 2)),
                                  jax.random.key_data(jax.random.fold_in(typed, 2)))
    traced = jax.jit(lambda k: split(k, 3))(jax.random.PRNGKey(9))
    np.testing.assert_array_equal(traced, jax.random.split(jax.random.PRNGKey(9), 3))
    for seed in (-1, 2 ** 31, 2 ** 40):  # outside the seeds hbr draws: JAX's own
        with jax.enable_x64(True):
            np.testing.assert_array_equal(seed_key(seed), jax.random.PRNGKey(seed))
