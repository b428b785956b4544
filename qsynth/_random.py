"""JAX's Threefry random numbers with the hash's rounds unrolled: the same stream, faster on CPU.

On CPU, JAX lowers the Threefry-2x32 hash as a `while` loop over its five groups of four
rounds (GPUs get the unrolled form). Run over every element of a dropout mask inside a
training loop, that rolled loop costs about as much as the network's own matmuls: 0.25 ms
of a 0.6–0.8 ms ensemble step on the digits benchmark (`benchmarks/training_step.py`). The
functions here compute exactly what `jax.random.bits`, `uniform` and `bernoulli` compute for
a Threefry key in JAX's default (partitionable) mode — bit for bit, tested — as
straight-line element-wise code that XLA fuses into one kernel (0.09 ms for the same mask).
For other key implementations, or with `jax_threefry_partitionable` off, they call
`jax.random` itself.

References:
  Salmon, Moraes, Dror & Shaw (2011). Parallel Random Numbers: As Easy as 1, 2, 3. (Threefry)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["bernoulli", "bits32", "threefry2x32", "uniform"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def threefry2x32(k0: Array, k1: Array, x0: Array, x1: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 hash (20 rounds) of counter pairs `(x0, x1)` under key `(k0, k1)`, all uint32."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = (x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))
            x1 = x0 ^ x1
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + np.uint32(group + 1)
    return x0, x1


def _own_stream(key: Array) -> bool:
    """Whether to compute `key`'s stream here: on the CPU backend, for a typed Threefry key whose
    stream these functions reproduce (elsewhere `jax.random` is as fast)."""
    from qsynth._backend import cpu_speedups

    return (cpu_speedups() and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
            and str(jax.random.key_impl(key)) == "threefry2x32" and jax.config.jax_threefry_partitionable)


def bits32(key: Array, shape: tuple[int, ...]) -> Array:
    """`jax.random.bits(key, shape, uint32)`."""
    if not _own_stream(key):
        return jax.random.bits(key, shape, jnp.uint32)
    if math.prod(shape) >= 2 ** 32:
        raise ValueError(f"bits32: {shape} holds 2**32 or more numbers")
    k = jax.random.key_data(key)
    low = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    b0, b1 = threefry2x32(k[0], k[1], jnp.zeros_like(low), low)
    return b0 ^ b1


def uniform(key: Array, shape: tuple[int, ...]) -> Array:
    """`jax.random.uniform(key, shape)`: float32 in [0, 1)."""
    if not _own_stream(key):
        return jax.random.uniform(key, shape, jnp.float32)
    one = np.array(1.0, np.float32).view(np.uint32)
    mantissa = (bits32(key, shape) >> np.uint32(32 - 23)) | one
    return jnp.maximum(jax.lax.bitcast_convert_type(mantissa, jnp.float32) - np.float32(1.0), np.float32(0.0))


def bernoulli(key: Array, p: float, shape: tuple[int, ...]) -> Array:
    """`jax.random.bernoulli(key, p, shape)` for a float `p`: True with probability p."""
    if not _own_stream(key):
        return jax.random.bernoulli(key, p, shape)
    return uniform(key, shape) < np.float32(p)
