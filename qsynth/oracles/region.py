"""How well a learned success region matches the true one: F1 on a grid over the parameter box.

Any oracle with a `reference(points [n, d]) -> labels [n]` (the built-in simulators: an
analytic boundary or a high-resolution simulation) can be scored this way. NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qsynth.problem import f1_score

__all__ = ["f1_score", "grid", "region_f1"]


def grid(low: np.ndarray, high: np.ndarray, resolution: int) -> np.ndarray:
    """The `resolution^d` cell centres of the box [low, high], shape [resolution^d, d] (first axis fastest)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if resolution < 1:
        raise ValueError(f"grid: resolution must be >= 1, got {resolution}")
    axes = [lo + (np.arange(resolution) + 0.5) * (hi - lo) / resolution for lo, hi in zip(low, high)]
    mesh = np.meshgrid(*axes, indexing="xy")
    return np.stack([m.ravel() for m in mesh], axis=-1)


def region_f1(predict: Callable[[np.ndarray], np.ndarray], reference: Callable[[np.ndarray], np.ndarray],
              low: np.ndarray, high: np.ndarray, resolution: int = 100, positive: int = 1) -> float:
    """F1 of `predict(points) -> labels` against `reference(points) -> labels` on a grid over [low, high]."""
    points = grid(low, high, resolution)
    return f1_score(np.asarray(predict(points)), np.asarray(reference(points)), positive)
