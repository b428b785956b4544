"""Strategies: pool-based, stream-based, and query synthesis (latent, input space, matched, baselines)."""

from qsynth.strategies.base import RoundContext, Strategy, empty_queries, query_ids
from qsynth.strategies.batch import kcenter_batch, top_k
from qsynth.strategies.pool import PoolSampling, RandomSampling
from qsynth.strategies.registry import STRATEGY_KINDS, build_strategy, register_strategy
from qsynth.strategies.scoring import Scorer, expected_gradient_length, score_points
from qsynth.strategies.stream import POLICIES, StreamPolicy, StreamSampling, StreamState
from qsynth.strategies.synthesis import BestOfPrior, InputSynthesis, LatentSynthesis, PriorSampling, diverse_top

__all__ = [
    "BestOfPrior",
    "InputSynthesis",
    "LatentSynthesis",
    "POLICIES",
    "PriorSampling",
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
    "diverse_top",
    "empty_queries",
    "expected_gradient_length",
    "kcenter_batch",
    "query_ids",
    "register_strategy",
    "score_points",
    "top_k",
]
