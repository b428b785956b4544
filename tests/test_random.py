"""The unrolled Threefry functions reproduce jax.random bit for bit (qsynth._random)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth import _random as fast_random


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 64, 128), (5, 1)])
def test_bits_uniform_and_bernoulli_equal_jax_random(shape):
    for seed in range(4):
        key = jax.random.fold_in(jax.random.key(seed), 11)
        np.testing.assert_array_equal(fast_random.bits32(key, shape), jax.random.bits(key, shape, jnp.uint32))
        np.testing.assert_array_equal(fast_random.uniform(key, shape), jax.random.uniform(key, shape))
        for p in (0.0, 0.3, 0.6, 1.0):
            np.testing.assert_array_equal(fast_random.bernoulli(key, p, shape), jax.random.bernoulli(key, p, shape))


def test_equal_under_jit_and_vmap():
    keys = jax.random.split(jax.random.key(5), 3)
    ours = jax.jit(jax.vmap(lambda k: fast_random.bernoulli(k, 0.4, (4, 9))))(keys)
    theirs = jax.jit(jax.vmap(lambda k: jax.random.bernoulli(k, 0.4, (4, 9))))(keys)
    np.testing.assert_array_equal(ours, theirs)


def test_other_key_kinds_fall_back_to_jax_random():
    key = jax.random.key(3, impl="rbg")
    np.testing.assert_array_equal(fast_random.uniform(key, (6,)), jax.random.uniform(key, (6,)))
    with jax.threefry_partitionable(False):
        key = jax.random.key(3)
        np.testing.assert_array_equal(fast_random.bernoulli(key, 0.5, (9,)), jax.random.bernoulli(key, 0.5, (9,)))


def test_the_hash_matches_the_published_known_answer():
    """Threefry-2x32 with 20 rounds, key and counter all ones (Salmon et al. 2011, Random123 kat_vectors)."""
    ones = jnp.uint32(0xFFFFFFFF)
    y0, y1 = fast_random.threefry2x32(ones, ones, ones, ones)
    assert (int(y0), int(y1)) == (0x1CB996FC, 0xBB002BE7)
