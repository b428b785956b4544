"""Apply a jitted function to a large array in fixed-size chunks: one compilation for any size.

The last chunk is padded to the chunk size (by repeating its final row), so every call
has the same shape; results for the padding are dropped. Memory stays bounded by the chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import jax

__all__ = ["map_in_chunks"]


def map_in_chunks(fn: Callable[[np.ndarray], jax.Array], x: np.ndarray, chunk_size: int) -> np.ndarray:
    """`fn` applied to `x` [n, ...] chunk by chunk along axis 0; returns the concatenation as NumPy.

    `fn` must map `[chunk_size, ...] -> [chunk_size, ...]` (or leading `members` axis first:
    any output whose axis 0 or 1 equals chunk_size is split along that axis; pass functions
    whose output has the chunk on axis 0 unless stated).
    """
    n = len(x)
    if n == 0:
        raise ValueError("map_in_chunks: empty input")
    outs = []
    for start in range(0, n, chunk_size):
        part = x[start:start + chunk_size]
        k = len(part)
        if k < chunk_size:
            part = np.concatenate([part, np.repeat(part[-1:], chunk_size - k, axis=0)])
        outs.append((fn(part), k))  # dispatch asynchronously, gather after
    return np.concatenate([np.asarray(out)[:k] for out, k in outs], axis=0)
