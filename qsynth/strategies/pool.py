"""Pool-based sampling: score every unqueried pool point, take a batch.

`RandomSampling` is the passive baseline. `PoolSampling` covers uncertainty sampling (any
measure from `qsynth.uncertainty`), query-by-committee (vote entropy, KL to consensus),
BALD and expected gradient length, with a top-k or diverse (k-center) batch.

References:
  Lewis & Gale (1994). A Sequential Algorithm for Training Text Classifiers. (uncertainty sampling)
  Seung, Opper & Sompolinsky (1992). Query by Committee.
  Houlsby et al. (2011). Bayesian Active Learning for Classification and Preference Learning. (BALD)
  Settles, Craven & Ray (2008). Multiple-Instance Active Learning. (expected gradient length)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from qsynth.problem import Problem
from qsynth.records import Queries
from qsynth.strategies.answerability import (AnswerabilityModel, answerability_for, check_refusal_cost, probability_of,
                                             weigh)
from qsynth.strategies.base import RoundContext, empty_queries, numpy_rng, query_ids
from qsynth.strategies.batch import candidate_blocks, kcenter_batch, streamed_top_k, top_k
from qsynth.strategies.measures import MeasureLike, Scorer, measure_name

if TYPE_CHECKING:
    import jax

__all__ = ["PoolSampling", "RandomSampling", "STREAM_ABOVE"]

#: Pools with more candidates than this are scored a block of this many at a time (top-k batches).
STREAM_ABOVE = 1 << 18
#: How a pool strategy turns scores into a batch (`PoolSampling.batch`).
BATCH_RULES = ("topk", "kcenter", "believer")


def _require_pool(ctx: RoundContext) -> None:
    if ctx.problem.pool is None or ctx.available is None:
        raise ValueError(f"problem {ctx.problem.name!r} has no pool; pool strategies need one "
                         "(use a synthesis strategy for pool-less problems)")


def _candidates(ctx: RoundContext) -> np.ndarray:
    _require_pool(ctx)
    return np.flatnonzero(ctx.available)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomSampling:
    """Uniformly random unqueried pool points (passive learning); on a pool-less problem with
    bounds (a simulator's box), uniform draws in the box."""

    label: str = "random"
    scenario: str = dataclasses.field(default="pool", init=False)

    @property
    def name(self) -> str:
        return self.label

    def init(self, problem: Problem) -> Any:
        if problem.pool is None and problem.bounds is None:
            raise ValueError(f"problem {problem.name!r} has neither a pool nor bounds; random sampling needs one")
        return None

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        rng = numpy_rng(key)
        if ctx.problem.pool is None and ctx.problem.bounds is not None:  # uniform in the box
            low, high = ctx.problem.bounds
            x = rng.uniform(low, high, (batch_size, low.size)).astype(np.float32)
            return Queries(query_ids(ctx.round_index, batch_size), x.reshape(batch_size, *ctx.problem.feature_shape),
                           np.full(batch_size, np.nan)), state
        cand = _candidates(ctx)
        if len(cand) == 0:
            return empty_queries(ctx.problem.feature_shape), state
        chosen = rng.choice(cand, size=min(batch_size, len(cand)), replace=False)
        return Queries(query_ids(ctx.round_index, len(chosen)), ctx.problem.pool[chosen],
                       np.full(len(chosen), np.nan), pool_index=chosen), state


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoolSampling:
    """Score the unqueried pool with `measure`, take the top `batch_size` (or a diverse batch).

    Attributes:
      measure: an uncertainty measure name (entropy, margin, least_confidence, variation_ratio,
        mean_std, vote_entropy, kl_to_consensus, bald), "expected_gradient_length", "straddle",
        "boundary_information" or "epig" (with 256 pool points drawn each round as their targets), your own
        function `probs [members, n, classes] -> [n]`, or a reference to one.
      batch: "topk", "kcenter" (diverse: k-center greedy over a shortlist of top scorers) or
        "believer" (each query chosen after believing answers at the ones before it, the whole
        pool rescored each time: `qsynth.strategies.believer`; a learner that can believe, the GP).
      answerability: weigh each score by P(answered | x), learned in input space from every
        answer of the run (`qsynth.strategies.answerability`), once the oracle has refused a
        query. Off by default: a pool's points are real samples.
      refusal_cost: what a refusal costs, in answered queries (`answerability.weigh`; default 1).
      label: the name in tables; defaults to the measure (plus "-kcenter").
    """

    measure: MeasureLike = "entropy"
    batch: str = "topk"
    answerability: bool = False
    refusal_cost: float = 1.0
    label: str | None = None
    scenario: str = dataclasses.field(default="pool", init=False)

    def __post_init__(self) -> None:
        Scorer(self.measure)  # validates the measure name
        check_refusal_cost(self.refusal_cost, f"strategy {self.name!r}")
        if self.batch not in BATCH_RULES:
            raise ValueError(f"strategy batch must be one of {list(BATCH_RULES)}, got {self.batch!r}")

    @property
    def name(self) -> str:
        measure = measure_name(self.measure)
        return self.label or (measure if self.batch == "topk" else f"{measure}-{self.batch}")

    def init(self, problem: Problem) -> Any:
        return None

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        from qsynth.strategies.scoring import score_points

        _require_pool(ctx)
        pool, available = ctx.problem.pool, ctx.available
        count = int(np.count_nonzero(available))
        if count == 0:
            return empty_queries(ctx.problem.feature_shape), state
        if count > STREAM_ABOVE and (self.batch == "topk" or batch_size == 1):
            return self._streamed(ctx, batch_size, count, self._scoring_params(key, ctx)), state
        cand = np.flatnonzero(available)
        scores = np.full(len(pool), -np.inf)
        params = self._scoring_params(key, ctx)
        score_points(ctx.learner, Scorer(self.measure), params, pool, rows=cand, out=scores)  # chunk by chunk
        model = self._answerability(ctx)
        if model is not None:
            scores[cand] = weigh(scores[cand], probability_of(model, pool[cand]), self.refusal_cost)
        if self.batch == "topk" or batch_size == 1:
            chosen = top_k(scores, cand, batch_size)
        elif self.batch == "kcenter":
            chosen = kcenter_batch(scores, cand, pool, batch_size)
        else:
            chosen = self._believer(ctx, params, cand, scores[cand], model, batch_size)
        return Queries(query_ids(ctx.round_index, len(chosen)), pool[chosen], scores[chosen],
                       pool_index=chosen), state

    def _believer(self, ctx: RoundContext, params: Any, cand: np.ndarray, scores: np.ndarray,
                  model: AnswerabilityModel | None, batch_size: int) -> np.ndarray:
        """The kriging-believer batch over the candidate rows `cand` (their `scores` given)."""
        from qsynth.strategies.believer import believer_batch

        points = np.asarray(ctx.problem.pool[cand])
        p_answered = None if model is None else probability_of(model, points)
        return cand[believer_batch(ctx.learner, params, points, scores, batch_size, self.measure, self.name,
                                   p_answered, refusal_cost=self.refusal_cost)]

    def _scoring_params(self, key: jax.Array, ctx: RoundContext) -> Any:
        """The learner's params, with `TARGETS` pool points drawn for a target-aware measure."""
        from qsynth.strategies.scoring import TARGETS, needs_targets, with_targets

        if not needs_targets(self.measure):
            return ctx.params
        pool = ctx.problem.pool
        rows = np.sort(numpy_rng(key).choice(len(pool), min(TARGETS, len(pool)), replace=False))
        return with_targets(ctx.learner, ctx.params, np.asarray(pool[rows]), measure=str(self.measure))

    def _answerability(self, ctx: RoundContext) -> AnswerabilityModel | None:
        return answerability_for(ctx.answers, "input", ctx.problem.bounds) if self.answerability else None

    def _streamed(self, ctx: RoundContext, batch_size: int, count: int, params: Any) -> Queries:
        """The top-k of a large pool (a memory-mapped one), scored a block of candidates at a time:
        memory O(block), never O(pool); the same chunks, scores and choice as the whole-pool path."""
        from qsynth.strategies.scoring import default_chunk_size, score_points

        scorer, pool = Scorer(self.measure), ctx.problem.pool
        size = default_chunk_size(ctx.learner, scorer, count)  # (the whole-pool path's chunks)
        model = self._answerability(ctx)

        def scored(rows: np.ndarray) -> np.ndarray:
            s = score_points(ctx.learner, scorer, params, pool, chunk_size=size, rows=rows)
            return s if model is None else weigh(s, probability_of(model, pool[rows]), self.refusal_cost)

        blocks = ((rows, scored(rows)) for rows in candidate_blocks(ctx.available, STREAM_ABOVE))
        chosen, scores = streamed_top_k(blocks, batch_size)
        return Queries(query_ids(ctx.round_index, len(chosen)), np.asarray(pool[chosen]), scores, pool_index=chosen)
