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

from qsynth._chunks import first_nonfinite_row, unique_values
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

    def __post_init__(self) -> None:
        x, y = np.asarray(self.x), np.asarray(self.y)
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(f"TestSetEvaluator: x has shape {x.shape}; expected [n >= 1, *feature_shape]")
        if y.shape != (len(x),):
            raise ValueError(f"TestSetEvaluator: y has shape {y.shape}; expected ({len(x)},) to match x")
        if not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
            raise ValueError(f"TestSetEvaluator: y must hold class indices 0, 1, ... (integers), got dtype {y.dtype}"
                             + (f" with minimum {y.min()}" if np.issubdtype(y.dtype, np.number) and y.size else ""))

    def check(self, feature_shape: tuple[int, ...], num_classes: int) -> None:
        """Raise ValueError unless this evaluator scores inputs of `feature_shape` over `num_classes` classes."""
        if tuple(np.asarray(self.x).shape[1:]) != tuple(feature_shape):
            raise ValueError(f"evaluator: x has feature shape {np.asarray(self.x).shape[1:]}, but the problem's is "
                             f"{tuple(feature_shape)}")
        top = int(np.max(self.y))
        if top >= num_classes:
            raise ValueError(f"evaluator: y holds class index {top}, but the problem has {num_classes} classes "
                             f"(y holds indices into classes, not the labels themselves)")
        if self.positive is not None and not 0 <= self.positive < num_classes:
            raise ValueError(f"evaluator: positive class index {self.positive} is not one of 0..{num_classes - 1}")

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
      failure_label: the class a FAILED answer stands for when failures are learned as a class
        (`[oracle] failures = "class"`; `with_failure_class`), else None. It is the last class.
    """

    name: str
    feature_shape: tuple[int, ...]
    classes: tuple[int, ...]
    evaluator: Evaluator
    bounds: tuple[np.ndarray, np.ndarray] | None = None
    pool: np.ndarray | None = None
    stream: np.ndarray | None = None
    pool_y: np.ndarray | None = None
    failure_label: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_shape", tuple(int(s) for s in self.feature_shape))
        classes = tuple(int(c) for c in self.classes)
        if len(classes) < 2 or list(classes) != sorted(set(classes)):
            raise ValueError(f"Problem {self.name!r}: classes must be at least two distinct labels in increasing "
                             f"order, got {tuple(self.classes)}")
        object.__setattr__(self, "classes", classes)
        if self.failure_label is not None and int(self.failure_label) != classes[-1]:
            raise ValueError(f"Problem {self.name!r}: failure_label {self.failure_label} must be the last class of "
                             f"{classes} (Problem.with_failure_class adds it)")
        for field in ("pool", "stream"):
            arr = getattr(self, field)
            if arr is not None:
                arr = np.asarray(arr, dtype=np.float32)
                if arr.shape[1:] != self.feature_shape:
                    raise ValueError(f"Problem {self.name!r}: {field} has feature shape {arr.shape[1:]}, "
                                     f"expected {self.feature_shape}")
                bad = first_nonfinite_row(arr)
                if bad is not None:
                    raise ValueError(f"Problem {self.name!r}: {field} holds NaN or infinite features (first at row {bad})")
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
        if self.pool_y is not None:
            pool_y = np.asarray(self.pool_y)
            if self.pool is None or pool_y.shape != (len(self.pool),):
                raise ValueError(f"Problem {self.name!r}: pool_y has shape {pool_y.shape}; expected "
                                 + ("no pool_y without a pool" if self.pool is None else f"({len(self.pool)},), one "
                                    "label per pool point"))
            outside = sorted(set(unique_values(pool_y)) - set(classes))
            if outside:
                raise ValueError(f"Problem {self.name!r}: pool_y holds labels {outside[:5]} outside classes {classes}")
        self._check_evaluator()

    def _check_evaluator(self) -> None:
        """The evaluator must score inputs of this problem's shape and classes: a `TestSetEvaluator`
        is checked by its arrays; any other is called once with a uniform model that checks its inputs."""
        evaluator = self.evaluator
        if not callable(getattr(evaluator, "evaluate", None)):
            raise ValueError(f"Problem {self.name!r}: evaluator {type(evaluator).__name__} has no evaluate(predict_proba, "
                             "progress) method")
        if isinstance(evaluator, TestSetEvaluator):
            try:
                evaluator.check(self.feature_shape, self.num_classes)
            except ValueError as exc:
                raise ValueError(f"Problem {self.name!r}: {exc}") from None
            return
        shape, k = self.feature_shape, self.num_classes

        def uniform(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x)
            if tuple(x.shape[1:]) != shape:
                raise ValueError(f"Problem {self.name!r}: the evaluator asked for predictions on inputs of shape "
                                 f"{tuple(x.shape[1:])}; the problem's feature shape is {shape}")
            return np.full((len(x), k), 1.0 / k)

        metrics = evaluator.evaluate(uniform, 0.0)
        if not isinstance(metrics, dict) or "accuracy" not in metrics:
            raise ValueError(f"Problem {self.name!r}: the evaluator must return a dict with at least 'accuracy', "
                             f"got {type(metrics).__name__} {str(metrics)[:80]}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_index(self, label: int) -> int:
        return self.classes.index(int(label))

    def with_failure_class(self) -> Problem:
        """This problem with one more class, `max(classes) + 1`, for the answers that FAILED: the
        learner then predicts where calls fail (`failures = "class"`). The test set's labels keep
        their indices, so accuracy counts a point predicted to fail as wrong, and the success F1
        counts it as not a success."""
        if self.failure_label is not None:
            return self
        label = self.classes[-1] + 1
        return dataclasses.replace(self, classes=self.classes + (label,), failure_label=label)

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
