"""Your own simulator as a task: a box of parameters, a function that answers, a reference to score by.

From a config:

    [data]
    name = "box"
    args = { bounds = [[10, 80], [2, 8]], names = ["angle", "speed"], reference = "mysim:hit", grid = 100 }
    [oracle]
    kind = "function"
    function = "mysim:hit"     # hit(x: [d] physical parameters) -> label | (label, value) | dict | Answer
    workers = 2                # parallel worker processes (timeouts, retries, crash isolation)

In Python: `task = box_task(hit, bounds=[(10, 80), (2, 8)])`, then
`run_loop(key, task.problem, learner, strategy, task.oracle, config)`.

The learner sees the box as the unit cube [0, 1]^d (so networks and kernels need no
rescaling); the function is always called with physical values. The test set is a
`grid × grid` lattice (2-D) or `grid²` uniform points (other d), labeled by the reference (a
function of physical values, by default the oracle's own, or a `reference_grid` file of
labeled physical points); accuracy is the share of the box classified right and, with a
class 1, F1 of that class. `pool_size` uniform candidates make a pool for pool and stream
strategies (0: no pool; random sampling then draws uniformly in the box).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qsynth.data.datasets import Dataset
from qsynth.oracles import FunctionOracle
from qsynth.oracles.calls import as_answer
from qsynth.oracles.region import grid as box_grid
from qsynth.plugins import resolve
from qsynth.problem import Problem
from qsynth.records import Status

__all__ = ["BoxTask", "InBox", "box_dataset", "box_task"]


@dataclasses.dataclass(frozen=True)
class InBox:
    """`fn` seen from the unit cube: `InBox(fn, low, high)(u) == fn(low + u · (high − low))`.

    `fn` may be a `"package.module:attr"` reference, resolved on first call (so the wrapper
    pickles into worker processes by name).
    """

    fn: Callable[[np.ndarray], Any] | str
    low: tuple[float, ...]
    high: tuple[float, ...]

    def physical(self, u: np.ndarray) -> np.ndarray:
        low, high = np.asarray(self.low), np.asarray(self.high)
        return low + np.asarray(u, np.float64).reshape(-1, len(low)) * (high - low)

    def __call__(self, u: np.ndarray) -> Any:
        return _function(self.fn)(self.physical(u)[0])


@functools.cache
def _resolved(reference: str) -> Callable[[np.ndarray], Any]:
    fn = resolve(reference, "oracle.function")
    if not callable(fn):
        raise ValueError(f"oracle.function: {reference!r} is not callable")
    return fn


def _function(fn: Callable[[np.ndarray], Any] | str) -> Callable[[np.ndarray], Any]:
    return _resolved(fn) if isinstance(fn, str) else fn


def _box(bounds: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(bounds, np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or len(b) < 1:
        raise ValueError(f"data.args.bounds must be [[low, high], ...] (one pair per parameter), got {bounds!r}")
    if not np.all(np.isfinite(b)) or np.any(b[:, 0] >= b[:, 1]):
        raise ValueError(f"data.args.bounds: every pair needs finite low < high, got {b.tolist()}")
    return b[:, 0], b[:, 1]


def _reference_labels(reference: Callable[[np.ndarray], Any] | str, points: np.ndarray,
                      classes: tuple[int, ...]) -> np.ndarray:
    fn = _function(reference)
    labels = np.empty(len(points), np.int32)
    for i, p in enumerate(points):
        answer = as_answer(fn(p), f"reference-{i}", classes)
        if answer.status is not Status.OK:
            raise ValueError(f"data.args.reference: no label at the test point {p.tolist()}: {answer.error}")
        labels[i] = int(answer.label or 0)  # (an OK answer always has its label)
    return labels


def box_dataset(bounds: Sequence[Sequence[float]] | None = None, *, names: Sequence[str] | None = None,
                reference: Callable[[np.ndarray], Any] | str | None = None, reference_grid: str | None = None,
                grid: int = 100, pool_size: int = 0, classes: Sequence[int] = (0, 1), seed: int = 0,
                simulator: str | None = None, params: dict[str, Any] | None = None) -> Dataset:
    """The box task's dataset over the unit cube (see the module docstring); `simulator` names a
    built-in simulator instead (`qsynth.experiments.simulator_task`)."""
    if simulator is not None:
        from qsynth.experiments.simulator_task import simulator_dataset

        return simulator_dataset(simulator, params, pool_size=pool_size or 2000, grid=grid, seed=seed)
    if bounds is None:
        raise ValueError("data.args.bounds: a box task needs its parameter box, [[low, high], ...]")
    low, high = _box(bounds)
    d, classes = len(low), tuple(int(c) for c in classes)
    if names is not None and len(names) != d:
        raise ValueError(f"data.args.names: {len(names)} names for {d} parameters")
    if grid < 2 or pool_size < 0:
        raise ValueError(f"data.args: grid must be >= 2 and pool_size >= 0, got {grid} and {pool_size}")
    rng = np.random.default_rng([seed, 7_919])
    if reference_grid is not None:
        with np.load(Path(reference_grid)) as f:
            test, y_test = (np.asarray(f["x"], np.float64) - low) / (high - low), np.asarray(f["y"])
    elif reference is not None:
        test = box_grid(np.zeros(d), np.ones(d), grid) if d == 2 else rng.uniform(0.0, 1.0, (grid * grid, d))
        y_test = _reference_labels(reference, low + test * (high - low), classes)
    else:
        raise ValueError("data.args.reference: a box task needs a reference to score the learner by: a function "
                         "of the physical parameters (often the oracle's own) or a reference_grid .npz (x, y)")
    pool = rng.uniform(0.0, 1.0, (pool_size, d))
    pool_y = np.zeros(pool_size, np.int32) if reference is None else _reference_labels(reference, low + pool * (
        high - low), classes)
    meta: dict[str, Any] = {"box": {"low": low.tolist(), "high": high.tolist(),
                                    "names": list(names or [f"x{i}" for i in range(d)])}}
    if 1 in classes:
        meta["success_class"] = 1
    return Dataset(name="box", x=pool, y=pool_y, x_test=test, y_test=y_test, classes=classes,
                   bounds=(np.zeros(d), np.ones(d)), meta=meta)


@dataclasses.dataclass(frozen=True, eq=False)
class BoxTask:
    """A box task in Python: `problem` (over the unit cube), `oracle` (the function, physical units),
    and `physical(u)`, the parameters `[n, d]` that unit-cube points `u` stand for."""

    problem: Problem
    oracle: FunctionOracle
    box: InBox

    def physical(self, u: np.ndarray) -> np.ndarray:
        return self.box.physical(u)


def box_task(fn: Callable[[np.ndarray], Any], bounds: Sequence[Sequence[float]], *,
             reference: Callable[[np.ndarray], Any] | None = None, grid: int = 100, pool_size: int = 0,
             classes: Sequence[int] = (0, 1), names: Sequence[str] | None = None, seed: int = 0,
             timeout: float | None = None) -> BoxTask:
    """Learn where `fn(x: [d] physical parameters) -> label` gives which class, inside `bounds`.

    Args:
      fn: the simulator or function that answers a query.
      bounds: [(low, high), ...] per parameter.
      reference: labels the test grid (default: `fn` itself — it is called grid² times).
      grid, pool_size, classes, names, seed: as for `box_dataset`.
      timeout: the oracle's per-query budget in seconds.
    """
    data = box_dataset(bounds, names=names, reference=reference or fn, grid=grid, pool_size=pool_size,
                       classes=classes, seed=seed)
    box = InBox(fn, tuple(data.meta["box"]["low"]), tuple(data.meta["box"]["high"]))
    oracle = FunctionOracle(box, data.classes, feature_shape=data.feature_shape, timeout=timeout)
    return BoxTask(Problem.from_dataset(data), oracle, box)
