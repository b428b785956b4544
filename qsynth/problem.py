"""`Problem`: what a run learns about — feature shape, classes, optional bounds, pool, stream, evaluator.

Pool-less tasks (a simulator's parameter box) are first-class: they have bounds and an
evaluator but no pool. Labels of a pool (`pool_y`) live here only so that a protocol can
draw a *stratified* seed set; strategies never read them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import numpy as np

from qsynth.data.datasets import Dataset

__all__ = ["Evaluator", "Problem", "TestSetEvaluator", "calibration_error", "f1_score"]


class Evaluator(Protocol):
    """Scores a learner: `evaluate(predict_proba, progress) -> {"accuracy": ..., ...}`.

    `predict_proba` maps `[n, *feature_shape]` to committee-mean probabilities `[n, classes]`;
    `progress` ∈ [0, 1] is how far through the stream the run is (for drifting concepts).
    """

    def evaluate(self, predict_proba: Callable[[np.ndarray], np.ndarray], progress: float) -> dict[str, float]: ...


def calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: confidence-binned |accuracy − confidence|, weighted by bin mass.

    Args:
      probs: [n, classes] predicted probabilities. y: [n] true class indices.
    References:
      Guo, Pleiss, Sun & Weinberger (2017). On Calibration of Modern Neural Networks.
    """
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def f1_score(predicted: np.ndarray, reference: np.ndarray, positive: int = 1) -> float:
    """F1 of the `positive` class: 2 TP / (2 TP + FP + FN); 1.0 when neither has a positive."""
    p = np.asarray(predicted) == positive
    r = np.asarray(reference) == positive
    if p.shape != r.shape:
        raise ValueError(f"f1_score: predicted has shape {p.shape}, reference {r.shape}")
    tp = np.sum(p & r)
    denom = 2 * tp + np.sum(p & ~r) + np.sum(~p & r)
    return 1.0 if denom == 0 else float(2 * tp / denom)


@dataclasses.dataclass(frozen=True, eq=False)
class TestSetEvaluator:
    """Accuracy, expected calibration error and NLL on a held-out set (class indices in `y`).

    For a drifting stream, `labels_at(progress)` gives the labels of the concept in force.
    With `positive` (a class index), also the F1 of that class — for a simulator's grid, the
    F1 of the learned success region.
    """

    x: np.ndarray
    y: np.ndarray
    labels_at: Callable[[float], np.ndarray] | None = None
    positive: int | None = None

    def evaluate(self, predict_proba: Callable[[np.ndarray], np.ndarray], progress: float) -> dict[str, float]:
        probs = np.asarray(predict_proba(self.x), dtype=np.float64)
        y = self.y if self.labels_at is None else self.labels_at(progress)
        nll = -np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)))
        out = {"accuracy": float(np.mean(probs.argmax(axis=1) == y)),
               "ece": calibration_error(probs, y), "nll": float(nll)}
        if self.positive is not None:
            out["f1"] = f1_score(probs.argmax(axis=1), y, self.positive)
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """What a run learns about.

    Attributes:
      name: for tables and plots.
      feature_shape: the shape of one input.
      classes: the class labels an oracle may answer (sorted ints).
      evaluator: scores the learner every round.
      bounds: optional ([d] low, [d] high) box of the flat input domain.
      pool: optional [n, *feature_shape] unlabeled pool.
      stream: optional [t, *feature_shape] stream, in arrival order.
      pool_y: optional [n] pool labels, only for stratified seed sets (never for strategies).
    """

    name: str
    feature_shape: tuple[int, ...]
    classes: tuple[int, ...]
    evaluator: Evaluator
    bounds: tuple[np.ndarray, np.ndarray] | None = None
    pool: np.ndarray | None = None
    stream: np.ndarray | None = None
    pool_y: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_shape", tuple(int(s) for s in self.feature_shape))
        object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
        for field in ("pool", "stream"):
            arr = getattr(self, field)
            if arr is not None:
                arr = np.asarray(arr, dtype=np.float32)
                if arr.shape[1:] != self.feature_shape:
                    raise ValueError(f"Problem {self.name!r}: {field} has feature shape {arr.shape[1:]}, "
                                     f"expected {self.feature_shape}")
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"Problem {self.name!r}: {field} holds NaN or infinite features")
                object.__setattr__(self, field, arr)
        if self.bounds is not None:
            low, high = (np.asarray(b, dtype=np.float32) for b in self.bounds)
            d = int(np.prod(self.feature_shape))
            if low.shape != (d,) or high.shape != (d,):
                raise ValueError(f"Problem {self.name!r}: bounds must be two arrays of shape ({d},), "
                                 f"got {low.shape} and {high.shape}")
            if np.any(low > high):
                raise ValueError(f"Problem {self.name!r}: bounds have low > high in dimensions "
                                 f"{np.flatnonzero(low > high).tolist()}")
            object.__setattr__(self, "bounds", (low, high))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_index(self, label: int) -> int:
        return self.classes.index(int(label))

    @classmethod
    def from_dataset(cls, data: Dataset) -> Problem:
        """A problem over a dataset: its pool doubles as the stream (in stored order); a dataset
        with an empty pool (a box task without candidates) makes a pool-less problem."""
        index = {c: i for i, c in enumerate(data.classes)}
        to_index = np.vectorize(index.__getitem__, otypes=[np.int32])
        labels_at = None
        if "drift" in data.meta:
            labels_at = lambda progress: to_index(data.test_labels_at(progress))  # noqa: E731
        positive = data.meta.get("success_class")
        positive = None if positive is None else index[positive]
        pool = data.x if len(data.x) else None
        return cls(name=data.name, feature_shape=data.feature_shape, classes=data.classes,
                   evaluator=TestSetEvaluator(data.x_test, to_index(data.y_test), labels_at, positive),
                   bounds=data.bounds, pool=pool, stream=pool, pool_y=None if pool is None else data.y)
