"""Large arrays in fixed-size chunks: a jitted function over them (one compilation for any size),
and checks that never make a full-size temporary (a memory-mapped pool stays on disk).

The last chunk is padded to the chunk size (by repeating its final row), so every call
has the same shape; results for the padding are dropped. Memory stays bounded by the chunk.
`map_in_chunks` shrinks the chunk for a small input to the next power of two (`capacity_for`):
a teacher labelling one query computes 16 rows, not 4,096.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import jax

__all__ = ["capacity_for", "chunk_results", "first_nonfinite_row", "map_in_chunks", "ROWS", "unique_values"]

#: Rows per block of the checks (bounded memory however long the array).
ROWS = 1 << 16


def capacity_for(n: int, minimum: int = 64) -> int:
    """The smallest power of two ≥ `n`, and at least `minimum` (64, 128, 256, ...)."""
    return max(minimum, 1 << max(n - 1, 0).bit_length())


def first_nonfinite_row(x: np.ndarray) -> int | None:
    """The first row of `x` [n, ...] holding a NaN or infinity (None: every value is finite), read
    block by block."""
    for start in range(0, len(x), ROWS):
        block = np.asarray(x[start:start + ROWS])
        bad = ~np.isfinite(block.reshape(len(block), -1)).all(axis=1)
        if bad.any():
            return start + int(np.argmax(bad))
    return None


def unique_values(*arrays: np.ndarray) -> list[int]:
    """The sorted distinct values of integer arrays, read block by block."""
    seen: set[int] = set()
    for a in arrays:
        for start in range(0, len(a), ROWS):
            seen.update(np.unique(np.asarray(a[start:start + ROWS])).astype(int).tolist())
    return sorted(seen)


def chunk_results(fn: Callable[[np.ndarray], jax.Array], x: np.ndarray, chunk_size: int,
                  rows: np.ndarray | None = None, ahead: int = 2) -> Iterator[tuple[int, int, np.ndarray]]:
    """`(start, k, fn(chunk))` for each chunk of `x` [n, ...] along axis 0 (or of its `rows` [n],
    gathered a chunk at a time: a memory-mapped pool is read, never copied whole), in order; `k`
    rows of the result are real (the rest is padding). At most `ahead` chunks are dispatched
    and not yet read, so memory stays bounded by the chunk however large `x` is.
    """
    n = len(x) if rows is None else len(rows)
    if n == 0:
        raise ValueError("map_in_chunks: empty input")
    pending: collections.deque[tuple[int, int, Any]] = collections.deque()
    for start in range(0, n, chunk_size):
        part = x[start:start + chunk_size] if rows is None else np.asarray(x[rows[start:start + chunk_size]], np.float32)
        k = len(part)
        if k < chunk_size:
            part = np.concatenate([part, np.repeat(part[-1:], chunk_size - k, axis=0)])
        pending.append((start, k, fn(part)))  # dispatched asynchronously, read `ahead` chunks later
        if len(pending) > ahead:
            first, size, out = pending.popleft()
            yield first, size, np.asarray(out)
    while pending:
        first, size, out = pending.popleft()
        yield first, size, np.asarray(out)


def map_in_chunks(fn: Callable[[np.ndarray], jax.Array], x: np.ndarray, chunk_size: int) -> np.ndarray:
    """`fn` applied to `x` [n, ...] chunk by chunk along axis 0; returns the concatenation as NumPy.

    `fn` must map `[c, ...] -> [c, ...]` (the chunk on axis 0 of its output), where the chunk `c`
    is `chunk_size`, or for a smaller `x` the next power of two ≥ n (at least 16): one
    compilation per power-of-two bucket below `chunk_size`, and little padding.
    """
    size = min(chunk_size, capacity_for(len(x), 16))
    return np.concatenate([out[:k] for _, k, out in chunk_results(fn, x, size, ahead=1 << 30)], axis=0)
