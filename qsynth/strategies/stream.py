"""Stream-based selective sampling: points arrive one at a time; a policy queries or skips.

Each policy is a pure decision on the learner's confidence (max committee-mean
probability) plus explicit budget state (`StreamState`); the budget is a fraction `b` of
the stream, and a query is allowed only while `queried + 1 ≤ b · seen`, so the spending
never exceeds the budget at any point of the stream.

Policies (Žliobaitė, Bifet, Pfahringer & Holmes 2014, Algorithms 1–5):
  * random: query with probability b;
  * fixed uncertainty: query when confidence < θ;
  * variable uncertainty: θ shrinks by (1 − s) after a query and grows by (1 + s) after a skip,
    so the policy spends its budget evenly whatever the confidence scale;
  * randomized variable uncertainty: the threshold is multiplied by η ~ N(1, δ) per point,
    which sometimes queries confident points (needed to notice drift far from the boundary);
  * split: a share v of the stream is handled by random sampling, the rest by variable uncertainty.

References:
  Žliobaitė, I., Bifet, A., Pfahringer, B. & Holmes, G. (2014). Active Learning With Drifting
    Streaming Data. IEEE TNNLS 25(1).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from qsynth.learners.base import Learner
from qsynth.problem import Problem
from qsynth.records import Queries
from qsynth.strategies.base import RoundContext, empty_queries, numpy_rng, query_ids

if TYPE_CHECKING:
    import jax

__all__ = ["POLICIES", "StreamPolicy", "StreamSampling", "StreamState"]

POLICIES = ("random", "fixed_uncertainty", "variable_uncertainty", "randomized_variable_uncertainty", "split")


@dataclasses.dataclass(frozen=True)
class StreamState:
    """Where a stream run stands (checkpointable data).

    position: index of the next stream point. seen: points the policy has decided on.
    queried: points it queried. threshold: the current confidence threshold θ.
    """

    position: int = 0
    seen: int = 0
    queried: int = 0
    threshold: float = 1.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamPolicy:
    """One of `POLICIES`, with its parameters.

    Attributes:
      kind: the policy.
      budget: the fraction of the stream that may be labeled, in (0, 1].
      threshold: θ for fixed uncertainty, and the initial θ of the variable policies.
      step: s, the threshold adjustment step.
      spread: δ, the standard deviation of the randomized threshold's multiplier.
      random_share: v, the share of the stream handled at random by "split".
    """

    kind: str = "variable_uncertainty"
    budget: float = 0.1
    threshold: float = 0.9
    step: float = 0.01
    spread: float = 1.0
    random_share: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in POLICIES:
            raise ValueError(f"stream policy must be one of {list(POLICIES)}, got {self.kind!r}")
        if not 0.0 < self.budget <= 1.0:
            raise ValueError(f"stream budget must be a fraction in (0, 1], got {self.budget}")
        if not 0.0 < self.step < 1.0:
            raise ValueError(f"stream step must be in (0, 1), got {self.step}")
        if not 0.0 <= self.random_share <= 1.0:
            raise ValueError(f"stream random_share must be in [0, 1], got {self.random_share}")
        if self.spread < 0:
            raise ValueError(f"stream spread must be >= 0, got {self.spread}")

    def init(self) -> StreamState:
        return StreamState(threshold=self.threshold if self.kind == "fixed_uncertainty" else 1.0)

    def decide(self, rng: np.random.Generator, confidence: float, state: StreamState) -> tuple[bool, StreamState]:
        """Query the point of max-probability `confidence`? Returns (query, next state).

        `rng` is a NumPy generator derived from the run's key (the decision consumes two draws).
        """
        u_route, u_noise = rng.random(), rng.standard_normal()
        seen = state.seen + 1
        within_budget = state.queried + 1 <= self.budget * seen
        theta = state.threshold
        query = False
        if within_budget:
            kind = self.kind
            if kind == "split":
                kind = "random" if u_route < self.random_share else "variable_uncertainty"
                if kind == "random":
                    u_route = rng.random()
            if kind == "random":
                query = u_route < self.budget
            elif kind == "fixed_uncertainty":
                query = confidence < theta
            else:
                bar = theta * (1.0 + self.spread * u_noise) if kind == "randomized_variable_uncertainty" else theta
                query = confidence < bar
                theta = theta * (1.0 - self.step) if query else theta * (1.0 + self.step)
        return query, dataclasses.replace(state, seen=seen, queried=state.queried + int(query), threshold=theta)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamSampling:
    """Runs a `StreamPolicy` over `problem.stream`, returning the points it decides to query.

    One `select` consumes the stream from the current position until `batch_size` queries are
    made or the stream ends; confidences are computed for a window of upcoming points with the
    current learner (it changes only between selects), then decided one point at a time.
    """

    policy: StreamPolicy = StreamPolicy()
    label: str | None = None
    window: int = 256
    scenario: str = dataclasses.field(default="stream", init=False)

    @property
    def name(self) -> str:
        return self.label or f"stream-{self.policy.kind}-{self.policy.budget:g}"

    def stream_position(self, state: StreamState) -> int:
        return state.position

    def init(self, problem: Problem) -> StreamState:
        if problem.stream is None:
            raise ValueError(f"problem {problem.name!r} has no stream; stream strategies need one")
        return self.policy.init()

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int,
               state: StreamState) -> tuple[Queries, StreamState]:
        stream = ctx.problem.stream
        if stream is None:
            raise ValueError(f"problem {ctx.problem.name!r} has no stream; stream strategies need one")
        rng = numpy_rng(key)
        chosen: list[int] = []
        scores: list[float] = []
        pos = state.position
        while len(chosen) < batch_size and pos < len(stream):
            end = min(pos + self.window, len(stream))
            confidence = _confidence(ctx.learner, ctx.params, stream[pos:end])
            for i in range(end - pos):
                t = pos + i
                if ctx.available is not None and t < len(ctx.available) and not ctx.available[t]:
                    continue  # already labeled (e.g. in the seed set)
                query, state = self.policy.decide(rng, float(confidence[i]), state)
                if query:
                    chosen.append(t)
                    scores.append(1.0 - float(confidence[i]))
                    if len(chosen) == batch_size:
                        pos = t + 1
                        break
            else:
                pos = end
        state = dataclasses.replace(state, position=pos)
        if not chosen:
            return empty_queries(ctx.problem.feature_shape), state
        idx = np.asarray(chosen, np.int64)
        return Queries(query_ids(ctx.round_index, len(idx)), stream[idx], np.asarray(scores), pool_index=idx,
                       extra={"stream_position": pos}), state


def _confidence(learner: Learner, params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    return learner.predict_proba(params, x, chunk_size=256).max(axis=1)
