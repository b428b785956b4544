"""Strategies: pool-based, stream-based, and query synthesis (latent, input space, matched, baselines).

Loaded lazily (PEP 562); the strategy classes import JAX only when they select.
"""

from __future__ import annotations

from typing import Any

from qsynth._lazy import load_export

_EXPORTS = {
    "RoundContext": "qsynth.strategies.base",
    "Strategy": "qsynth.strategies.base",
    "StreamPositioned": "qsynth.strategies.base",
    "empty_queries": "qsynth.strategies.base",
    "numpy_rng": "qsynth.strategies.base",
    "query_ids": "qsynth.strategies.base",
    "kcenter_batch": "qsynth.strategies.batch",
    "top_k": "qsynth.strategies.batch",
    "PoolSampling": "qsynth.strategies.pool",
    "RandomSampling": "qsynth.strategies.pool",
    "STRATEGY_KINDS": "qsynth.strategies.registry",
    "build_strategy": "qsynth.strategies.registry",
    "register_strategy": "qsynth.strategies.registry",
    "MeasureLike": "qsynth.strategies.measures",
    "Scorer": "qsynth.strategies.measures",
    "expected_gradient_length": "qsynth.strategies.scoring",
    "score_points": "qsynth.strategies.scoring",
    "POLICIES": "qsynth.strategies.stream",
    "StreamPolicy": "qsynth.strategies.stream",
    "StreamSampling": "qsynth.strategies.stream",
    "StreamState": "qsynth.strategies.stream",
    "BestOfPrior": "qsynth.strategies.synthesis",
    "InputSynthesis": "qsynth.strategies.synthesis",
    "LatentSynthesis": "qsynth.strategies.synthesis",
    "PriorSampling": "qsynth.strategies.synthesis",
    "diverse_top": "qsynth.strategies.synthesis",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
