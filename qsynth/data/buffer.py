"""The labeled buffer: fixed capacity, a validity mask, capacity doubling in powers of two.

The jitted train step sees arrays of the buffer's capacity, so it compiles once per
capacity bucket (64, 128, 256, ...) however the labeled set grows.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from qsynth._chunks import capacity_for

__all__ = ["LabeledBuffer", "capacity_for"]


@dataclasses.dataclass
class LabeledBuffer:
    """Labeled examples in arrays of a fixed capacity, with the round each arrived in.

    Attributes:
      x: [capacity, *feature_shape] float32 inputs (zeros where empty).
      y: [capacity] int32 class *indices* (0..C-1, not raw labels).
      round_added: [capacity] int32, the round of each label, -1 for an empty slot.
      size: the number of filled slots (always a prefix).
      value: [capacity] float32, the oracle's raw output for each label (`Answer.value`, e.g. a
        simulator's landing distance) where it gave a finite number, NaN elsewhere. Learners
        that regress the raw output (the Gaussian process with `target = "value"`) read it.
    """

    x: np.ndarray
    y: np.ndarray
    round_added: np.ndarray
    size: int = 0
    value: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.value is None:
            self.value = np.full(len(self.y), np.nan, np.float32)

    @classmethod
    def empty(cls, feature_shape: tuple[int, ...], minimum_capacity: int = 64) -> LabeledBuffer:
        cap = capacity_for(1, minimum_capacity)
        return cls(x=np.zeros((cap, *feature_shape), np.float32), y=np.zeros(cap, np.int32),
                   round_added=np.full(cap, -1, np.int32))

    @property
    def capacity(self) -> int:
        return len(self.y)

    @property
    def mask(self) -> np.ndarray:
        """[capacity] float32, 1 for a filled slot."""
        return (self.round_added >= 0).astype(np.float32)

    def add(self, x: np.ndarray, y: np.ndarray, round_index: int, value: np.ndarray | None = None) -> None:
        """Append labeled examples, doubling capacity as needed.

        Args:
          x: [k, *feature_shape]. y: [k] class indices. round_index: the round they arrived in.
          value: [k] raw oracle outputs (NaN where there is none), or None for none at all.
        """
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.int32)
        value = np.full(len(y), np.nan, np.float32) if value is None else np.asarray(value, np.float32)
        if value.shape != y.shape:
            raise ValueError(f"LabeledBuffer.add: value has shape {value.shape}; expected {y.shape}")
        if x.shape[1:] != self.x.shape[1:]:
            raise ValueError(f"LabeledBuffer.add: x has feature shape {x.shape[1:]}; the buffer holds {self.x.shape[1:]}")
        if y.shape != (len(x),):
            raise ValueError(f"LabeledBuffer.add: y has shape {y.shape}; expected ({len(x)},)")
        need = self.size + len(x)
        if need > self.capacity:
            cap = capacity_for(need, self.capacity)
            grow = cap - self.capacity
            self.x = np.concatenate([self.x, np.zeros((grow, *self.x.shape[1:]), np.float32)])
            self.y = np.concatenate([self.y, np.zeros(grow, np.int32)])
            self.round_added = np.concatenate([self.round_added, np.full(grow, -1, np.int32)])
            self.value = np.concatenate([self.value, np.full(grow, np.nan, np.float32)])
        self.x[self.size:need] = x
        self.value[self.size:need] = value
        self.y[self.size:need] = y
        self.round_added[self.size:need] = round_index
        self.size = need

    def remove(self, row: int) -> None:
        """Take out the example in slot `row` (later ones move up one slot; capacity is kept)."""
        if not 0 <= row < self.size:
            raise IndexError(f"LabeledBuffer.remove: row {row} is not filled (size {self.size})")
        for a in (self.x, self.y, self.round_added, self.value):
            a[row:self.size - 1] = a[row + 1:self.size]
        last = self.size - 1
        self.x[last], self.y[last], self.round_added[last], self.value[last] = 0.0, 0, -1, np.nan
        self.size = last

    def copy(self) -> LabeledBuffer:
        return LabeledBuffer(self.x.copy(), self.y.copy(), self.round_added.copy(), self.size, self.value.copy())
