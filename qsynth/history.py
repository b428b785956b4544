"""Metrics histories (one dict per round, the rows of `metrics.csv`) read as curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["curve_on_grid"]


def curve_on_grid(history: Sequence[dict[str, float]], grid: np.ndarray, key: str = "accuracy") -> np.ndarray:
    """`key` as a step function of queries used, read at `grid` (NaN before the first round and past the last)."""
    q = np.asarray([row["queries"] for row in history], dtype=np.float64)
    v = np.asarray([row[key] for row in history], dtype=np.float64)
    idx = np.searchsorted(q, grid, side="right") - 1
    out = np.where(idx >= 0, v[np.clip(idx, 0, len(v) - 1)], np.nan)
    return np.where(grid > q[-1], np.nan, out)
