"""`qsynth._chunks.map_in_chunks`: chunk sizes, padding, and results against the whole array."""

from __future__ import annotations

import numpy as np
import pytest

from qsynth._chunks import capacity_for, map_in_chunks


def _recording(seen: list[int]):
    def fn(chunk: np.ndarray) -> np.ndarray:
        seen.append(len(chunk))
        return chunk * 2.0 + 1.0

    return fn


@pytest.mark.parametrize(("n", "chunk_size", "calls"), [
    (1, 4096, [16]),           # a teacher labelling one query: 16 rows, not 4,096
    (16, 4096, [16]),
    (17, 4096, [32]),
    (1000, 4096, [1024]),      # a 1,000-point test set
    (1000, 256, [256] * 4),    # larger than the chunk: chunks of the chunk size, the last padded
    (5000, 4096, [4096, 4096]),
])
def test_small_inputs_are_padded_to_the_next_power_of_two_only(n, chunk_size, calls):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    seen: list[int] = []
    out = map_in_chunks(_recording(seen), x, chunk_size)
    assert seen == calls
    np.testing.assert_array_equal(out, x * 2.0 + 1.0)  # the padding's rows are dropped


def test_capacity_for_is_the_next_power_of_two_at_least_the_minimum():
    assert [capacity_for(n, 16) for n in (0, 1, 16, 17, 1000, 1024, 1025)] == [16, 16, 16, 32, 1024, 1024, 2048]
    assert capacity_for(3) == 64


def test_an_empty_input_is_an_error():
    with pytest.raises(ValueError, match="empty input"):
        map_in_chunks(_recording([]), np.zeros((0, 2), np.float32), 4096)
