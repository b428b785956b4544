"""The strategy seam: `Strategy.select(key, ctx, batch_size, state) -> (Queries, state)`.

A strategy turns the current learner into queries. Any state it keeps between rounds
(a stream policy's threshold and budget spent, its position in the stream) is explicit
data returned by `init` and threaded through `select`, so a checkpoint can hold it.
Strategies never call an oracle and never read pool labels.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

from typing import TYPE_CHECKING

import numpy as np

from qsynth.data.buffer import LabeledBuffer
from qsynth.learners.base import Learner
from qsynth.problem import Problem
from qsynth.records import Queries
from qsynth.strategies.answerability import AnswerLog

if TYPE_CHECKING:
    import jax

__all__ = ["RoundContext", "Strategy", "StreamPositioned", "empty_queries", "numpy_rng", "query_ids"]


@dataclasses.dataclass(frozen=True, eq=False)
class RoundContext:
    """What a strategy may look at in round `round_index`.

    Attributes:
      round_index: 1 for the first selection after the seed set.
      learner: the learner (its pure `probs(params, x) -> [members, n, classes]`).
      params: the learner's current parameters.
      problem: the problem (pool, stream, bounds, classes; never pool labels).
      available: [pool size] bool, pool points not yet queried (None without a pool).
      buffer: the labeled set so far.
      answers: where every modelled answer's query was and whether it was answered (the
        answerability model's data; `qsynth.strategies.answerability`), or None.
    """

    round_index: int
    learner: Learner
    params: dict[str, Any]
    problem: Problem
    available: np.ndarray | None
    buffer: LabeledBuffer
    answers: AnswerLog | None = None


@runtime_checkable
class Strategy(Protocol):
    """Selects queries. `name` labels its results; `scenario` is "pool", "stream" or "synthesis"."""

    @property
    def name(self) -> str: ...

    @property
    def scenario(self) -> str: ...

    def init(self, problem: Problem) -> Any:
        """The strategy's initial state (None when it keeps none)."""
        ...

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        """Up to `batch_size` distinct queries (fewer, even none, when the source runs dry)."""
        ...


@runtime_checkable
class StreamPositioned(Protocol):
    """A strategy that walks a stream declares how far it has come (metrics and drift use it)."""

    def stream_position(self, state: Any) -> int:
        """The index of the next stream point, from the strategy's state."""
        ...


def numpy_rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key's data (for strategies whose draws are NumPy's)."""
    import jax

    return np.random.default_rng(np.asarray(jax.random.key_data(key)))


def query_ids(round_index: int, n: int) -> tuple[str, ...]:
    """Run-unique ids for round `round_index`'s queries: ("r0003-q00", "r0003-q01", ...)."""
    return tuple(f"r{round_index:04d}-q{i:02d}" for i in range(n))


def empty_queries(feature_shape: tuple[int, ...]) -> Queries:
    return Queries(query_id=(), x=np.zeros((0, *feature_shape), np.float32), scores=np.zeros(0),
                   pool_index=np.zeros(0, np.int64))
