"""Oracle wrappers: label noise, a per-query cost, and a budget — around any oracle, sync or async.

Each wrapper is itself an oracle with both forms (`label`, and `submit`/`collect`), so
wrappers stack (`Budget(NoisyLabels(ParallelOracle(...)))`) and an asynchronous oracle
stays asynchronous inside them. Randomness is explicit: the noise of a query depends only
on the wrapper's seed and the query id, not on the order in which answers arrive.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable

import numpy as np

from qsynth.oracles.base import AsyncOracle, Oracle, ask, is_async
from qsynth.records import Answer, Queries, Status

__all__ = ["Budget", "NoisyLabels", "PerQueryCost"]


class _Wrapper:
    """Passes queries to `inner`; subclasses may refuse some up front and rewrite each answer."""

    def __init__(self, inner: Oracle | AsyncOracle):
        if not hasattr(inner, "classes"):
            raise TypeError(f"{type(self).__name__}: {type(inner).__name__} is not an oracle (no `classes`)")
        self.inner = inner
        self.classes = tuple(inner.classes)
        self._ready: list[Answer] = []  # refused at submit, or answered by a synchronous inner oracle
        self._x: dict[str, np.ndarray] = {}

    # -- what subclasses change -------------------------------------------------------------
    def _admit(self, queries: Queries) -> int:
        """How many of `queries` (in order) go to the inner oracle; the rest are refused."""
        return len(queries)

    def _refusal(self, query_id: str) -> Answer:
        raise NotImplementedError

    def _after(self, answer: Answer, x: np.ndarray | None) -> Answer:
        return answer

    # -- the oracle forms -------------------------------------------------------------------
    def _split(self, queries: Queries) -> Queries | None:
        n = self._admit(queries)
        self._ready += [self._refusal(q) for q in queries.query_id[n:]]
        if n == 0:
            return None
        passed = queries.take(np.arange(n))
        self._x.update({q: passed.x[i] for i, q in enumerate(passed.query_id)})
        return passed

    def _finish(self, answer: Answer) -> Answer:
        return self._after(answer, self._x.pop(answer.query_id, None))

    def submit(self, queries: Queries) -> None:
        passed = self._split(queries)
        if passed is None:
            return
        if is_async(self.inner):
            self.inner.submit(passed)
        else:
            self._ready += [self._finish(a) for a in ask(self.inner, passed, self.classes)]

    def collect(self, timeout: float | None = None) -> list[Answer]:
        out, self._ready = self._ready, []
        if is_async(self.inner) and (not out or self._x):
            out += [self._finish(a) for a in self.inner.collect(timeout=0.0 if out else timeout)]
        return out

    def label(self, queries: Queries) -> list[Answer]:
        return ask(self, queries, self.classes)


class NoisyLabels(_Wrapper):
    """Symmetric label noise: with probability `flip`, an OK label becomes another class, uniformly.

    The draw for a query is seeded by `(seed, crc32(query_id))`, so the same run gives the
    same noise however answers interleave.
    """

    def __init__(self, inner: Oracle | AsyncOracle, flip: float, *, seed: int = 0):
        super().__init__(inner)
        if not 0.0 <= flip <= 1.0:
            raise ValueError(f"NoisyLabels: flip must be in [0, 1], got {flip}")
        if len(self.classes) < 2 and flip > 0:
            raise ValueError("NoisyLabels: flipping needs at least two classes")
        self.flip, self.seed = float(flip), int(seed)

    def _after(self, answer: Answer, x: np.ndarray | None) -> Answer:
        if answer.status is not Status.OK or answer.label not in self.classes:
            return answer
        rng = np.random.default_rng([self.seed, zlib.crc32(answer.query_id.encode())])
        if rng.random() >= self.flip:
            return answer
        others = [c for c in self.classes if c != answer.label]
        return dataclasses.replace(answer, label=int(others[rng.integers(len(others))]))


class PerQueryCost(_Wrapper):
    """Sets each answer's cost: a constant, or `cost(x)` of the query point (a longer simulation costs more)."""

    def __init__(self, inner: Oracle | AsyncOracle, cost: float | Callable[[np.ndarray], float]):
        super().__init__(inner)
        if not callable(cost) and not (math.isfinite(float(cost)) and float(cost) >= 0):
            raise ValueError(f"PerQueryCost: cost must be a finite number >= 0 or a function, got {cost!r}")
        self.cost = cost

    def _after(self, answer: Answer, x: np.ndarray | None) -> Answer:
        if not callable(self.cost):
            return dataclasses.replace(answer, cost=float(self.cost))
        try:
            c = float(self.cost(x))
        except Exception as exc:  # noqa: BLE001
            return Answer(answer.query_id, Status.FAILED, cost=answer.cost,
                          error=f"query {answer.query_id}: the cost function raised {type(exc).__name__}: {exc}")
        return dataclasses.replace(answer, cost=c)  # a bad cost is caught by answer validation


class Budget(_Wrapper):
    """Stops asking once `max_queries` queries were put to the oracle or `max_cost` was spent.

    Refused queries are answered FAILED ("oracle budget exhausted") without reaching the
    inner oracle. The cost budget is checked when a batch arrives: a batch started under
    the budget is asked in full.
    """

    def __init__(self, inner: Oracle | AsyncOracle, *, max_queries: int | None = None,
                 max_cost: float | None = None):
        super().__init__(inner)
        if max_queries is None and max_cost is None:
            raise ValueError("Budget: give max_queries, max_cost or both")
        if max_queries is not None and max_queries < 0:
            raise ValueError(f"Budget: max_queries must be >= 0, got {max_queries}")
        if max_cost is not None and not max_cost >= 0:
            raise ValueError(f"Budget: max_cost must be >= 0, got {max_cost}")
        self.max_queries, self.max_cost = max_queries, max_cost
        self.asked, self.spent = 0, 0.0

    def _admit(self, queries: Queries) -> int:
        n = len(queries)
        if self.max_queries is not None:
            n = min(n, self.max_queries - self.asked)
        if self.max_cost is not None and self.spent >= self.max_cost:
            n = 0
        self.asked += n
        return n

    def _refusal(self, query_id: str) -> Answer:
        return Answer(query_id, Status.FAILED, cost=0.0,
                      error=f"query {query_id}: oracle budget exhausted ({self.asked} queries asked, "
                            f"cost {self.spent:g} spent; max_queries={self.max_queries}, max_cost={self.max_cost})")

    def _after(self, answer: Answer, x: np.ndarray | None) -> Answer:
        self.spent += answer.cost
        return answer
