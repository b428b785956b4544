"""A generator's codes decoded to inputs, as NumPy, in fixed-size chunks (one jitted program per generator)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from qsynth._chunks import map_in_chunks
from qsynth.generators.base import Generator

__all__ = ["decode", "sample"]


@functools.partial(jax.jit, static_argnums=0)
def _generate(generator: Generator, params: Any, z: jax.Array) -> jax.Array:
    return generator.generate(params, z)


def decode(generator: Generator, z: np.ndarray, chunk_size: int = 1024) -> np.ndarray:
    """The generator's inputs `[n, *feature_shape]` for codes `z: [n, latent]` (NumPy, chunked)."""
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != generator.latent:
        raise ValueError(f"latent codes have shape {z.shape}; this generator needs [n, {generator.latent}]")
    return map_in_chunks(lambda c: _generate(generator, generator.params, c), z, chunk_size)


def sample(generator: Generator, key: jax.Array, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` prior draws and their decodings: (z [n, latent], x [n, *feature_shape])."""
    z = np.asarray(generator.sample_prior(key, n))
    return z, decode(generator, z)
