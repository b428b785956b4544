"""Strategies: pool-based, stream-based (and, from `synthesis`, query synthesis)."""

from qsynth.strategies.base import RoundContext, Strategy, empty_queries, query_ids
from qsynth.strategies.batch import kcenter_batch, top_k
from qsynth.strategies.pool import PoolSampling, RandomSampling
from qsynth.strategies.registry import STRATEGY_KINDS, build_strategy, register_strategy
from qsynth.strategies.scoring import Scorer, expected_gradient_length, score_points
from qsynth.strategies.stream import POLICIES, StreamPolicy, StreamSampling, StreamState

__all__ = [
    "POLICIES",
    "STRATEGY_KINDS",
    "PoolSampling",
    "RandomSampling",
    "RoundContext",
    "Scorer",
    "Strategy",
    "StreamPolicy",
    "StreamSampling",
    "StreamState",
    "build_strategy",
    "empty_queries",
    "expected_gradient_length",
    "kcenter_batch",
    "query_ids",
    "register_strategy",
    "score_points",
    "top_k",
]
