"""`FunctionOracle`: a plain Python function (NumPy or JAX) as an oracle, one query at a time.

It runs the function in this process, except where a `timeout` is set: then, by default, in
one worker process, because in this process a timeout is a SIGALRM, and a function that
blocks signals (or is stuck in C code that never returns to Python) cannot be stopped by
one; a worker that runs past the timeout is killed instead. For simulators and functions
slow enough to want several cores, use `ParallelOracle` (`qsynth.oracles.parallel`), which
runs the same kind of function in several worker processes.
"""

from __future__ import annotations

import pickle
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from qsynth.oracles.calls import as_answer, call_task
from qsynth.records import Answer, Queries, Status

__all__ = ["FunctionOracle"]


class FunctionOracle:
    """Labels queries with `fn`, one query at a time or the whole batch at once.

    Queries of another shape and non-finite points are FAILED without calling `fn`.

    Args:
      fn: per query, `fn(x[i]) -> label | (label, value) | dict | Answer` (see
        `qsynth.oracles.calls`); with `vectorized=True`, `fn(x) -> labels [n]` or
        `(labels [n], values [n])` for the whole batch `x: [n, *shape]`.
      classes: the labels it may give.
      feature_shape: optional shape of one query; a query of another shape is FAILED.
      vectorized: call `fn` once per batch.
      timeout: per-query wall-clock budget in seconds (per query only; None: none).
      cost: cost per answer.
      in_worker: run `fn` in one worker process, killed (and replaced) when a query runs past
        `timeout` plus half a second. Default: when a timeout is set and `fn` can be pickled
        (a module-level function or object); an `fn` that cannot stays in this process, with a
        warning. `close()` (or `with`) stops the worker.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], classes: tuple[int, ...], *,
                 feature_shape: tuple[int, ...] | None = None, vectorized: bool = False,
                 timeout: float | None = None, cost: float = 1.0, in_worker: bool | None = None):
        if not callable(fn):
            raise TypeError(f"FunctionOracle: fn must be callable, got {type(fn).__name__}")
        if vectorized and timeout is not None:
            raise ValueError("FunctionOracle: a timeout applies per query; it cannot be used with vectorized=True")
        if vectorized and in_worker:
            raise ValueError("FunctionOracle: in_worker runs one query at a time; it cannot be used with vectorized=True")
        self.fn, self.vectorized, self.timeout, self.cost = fn, vectorized, timeout, float(cost)
        self.classes = tuple(int(c) for c in classes)
        self.feature_shape = None if feature_shape is None else tuple(int(s) for s in feature_shape)
        self.in_worker = _decide_in_worker(fn, timeout, in_worker)
        self._worker: Any = None

    def close(self) -> None:
        """Stop the worker process (if one was started); the oracle starts another if used again."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __enter__(self) -> FunctionOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _in_worker(self, queries: Queries) -> list[Answer]:
        from qsynth.oracles.parallel import ParallelOracle

        if self._worker is None:
            self._worker = ParallelOracle(self.fn, self.classes, workers=1, timeout=self.timeout, cost=self.cost,
                                          reuse_answers=False)
        return self._worker.label(queries)

    def _shape_error(self, queries: Queries) -> str | None:
        if self.feature_shape is not None and queries.x.shape[1:] != self.feature_shape:
            return f"shape {queries.x.shape[1:]} is not the oracle's input shape {self.feature_shape}"
        return None

    def label(self, queries: Queries) -> list[Answer]:
        wrong = self._shape_error(queries)
        if wrong is not None:
            return [Answer(q, Status.FAILED, cost=self.cost, error=f"query {q}: {wrong}") for q in queries.query_id]
        finite = np.isfinite(queries.x.reshape(len(queries), -1)).all(axis=1)
        if self.in_worker:
            good = np.flatnonzero(finite)
            by_id = {a.query_id: a for a in self._in_worker(queries.take(good))} if len(good) else {}
            return [by_id.get(q) or _non_finite(q, self.cost) for q in queries.query_id]
        if not self.vectorized:
            return [call_task(self.fn, q, queries.x[i], self.classes, self.timeout, self.cost) if finite[i]
                    else _non_finite(q, self.cost) for i, q in enumerate(queries.query_id)]
        if not finite.all():
            good = self.label(queries.take(np.flatnonzero(finite))) if finite.any() else []
            by_id = {a.query_id: a for a in good}
            return [by_id.get(q) or _non_finite(q, self.cost) for q in queries.query_id]
        try:
            out = self.fn(queries.x)
            labels, values = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
            labels = np.asarray(labels)
            values = None if values is None else np.asarray(values, dtype=np.float64)
            n = len(queries)
            if labels.shape != (n,) or (values is not None and values.shape != (n,)):
                raise ValueError(f"a vectorized oracle must return [{n}] labels (and values); got shape "
                                 f"{labels.shape}" + ("" if values is None else f" and {values.shape}"))
        except Exception as exc:  # noqa: BLE001
            reason = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            return [Answer(q, Status.FAILED, cost=self.cost, error=f"query {q}: {reason}") for q in queries.query_id]
        return [as_answer((labels[i].item(), None if values is None else values[i].item()), q, self.classes,
                          self.cost) for i, q in enumerate(queries.query_id)]


def _decide_in_worker(fn: Callable[..., Any], timeout: float | None, asked: bool | None) -> bool:
    """Whether `fn` runs in a worker process (see `FunctionOracle`'s `in_worker`)."""
    if asked is False or (asked is None and timeout is None):
        return False
    try:
        pickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001 (pickling can fail in many ways)
        if asked:
            raise ValueError(f"FunctionOracle: in_worker needs a picklable fn (a module-level function or object); "
                             f"{fn!r} is not ({type(exc).__name__}: {exc})") from None
        warnings.warn(f"FunctionOracle: {fn!r} cannot be pickled, so it runs in this process, where its "
                      f"{timeout:g} s timeout is a signal that a function blocking signals never sees; define it "
                      "at module level to run it in a worker process that is killed at the timeout",
                      stacklevel=3)
        return False
    return True


def _non_finite(query_id: str, cost: float) -> Answer:
    return Answer(query_id, Status.FAILED, cost=cost, error=f"query {query_id}: non-finite input (NaN or inf)")
