"""Acquisition scores of many points, in fixed-size chunks: one compilation for any pool size.

A `Scorer` is a hashable description of a score (an uncertainty measure, or the expected
gradient length); `score_points` evaluates it over `x` chunk by chunk with one jitted
program per (learner, scorer, chunk size).

References:
  Settles, Craven & Ray (2008). Multiple-Instance Active Learning. (expected gradient length)
  Settles (2009). Active Learning Literature Survey, §3.3 (expected model change).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from qsynth._chunks import map_in_chunks
from qsynth.data.buffer import capacity_for
from qsynth.learners.learner import Learner
from qsynth.uncertainty import get_measure, straddle

__all__ = ["EXPECTED_GRADIENT_LENGTH", "STRADDLE", "Scorer", "TRACE_COUNTS", "check_measure", "score_points"]

TRACE_COUNTS: collections.Counter[str] = collections.Counter()

EXPECTED_GRADIENT_LENGTH = "expected_gradient_length"
STRADDLE = "straddle"


def check_measure(name: str, *, differentiable: bool = False) -> None:
    """Raise a ValueError if `name` is no acquisition (or, with `differentiable`, not one to climb)."""
    if name == STRADDLE or (name == EXPECTED_GRADIENT_LENGTH and not differentiable):
        return
    get_measure(name, differentiable=differentiable)


def latent_straddle(learner: Any, params: Any, x: Array) -> Array:
    """The straddle score `[n]` of a learner with a latent posterior (`latent` and `levels`)."""
    if not hasattr(learner, "latent"):
        raise ValueError(f"the measure 'straddle' needs a learner with a latent mean and standard deviation "
                         f"(learner.model = 'gp'); {type(learner).__name__} has none")
    mean, std = learner.latent(params, x)
    return straddle(mean, std, learner.levels)


@dataclasses.dataclass(frozen=True)
class Scorer:
    """`measure`: an uncertainty measure name, "straddle", or "expected_gradient_length"."""

    measure: str

    def __post_init__(self) -> None:
        check_measure(self.measure)

    @property
    def chunk_size(self) -> int:
        # per-example gradients hold [chunk, classes, params] per member: keep chunks small
        return 64 if self.measure == EXPECTED_GRADIENT_LENGTH else 1024

    def __call__(self, learner: Learner, params: dict[str, Any], x: Array) -> Array:
        """Scores `[n]` of points `x: [n, *feature_shape]` (pure, differentiable in x for measures)."""
        if self.measure == EXPECTED_GRADIENT_LENGTH:
            return expected_gradient_length(learner, params, x)
        if self.measure == STRADDLE:
            return latent_straddle(learner, params, x)
        return get_measure(self.measure).fn(learner.probs(params, x))


def expected_gradient_length(learner: Learner, params: dict[str, Any], x: Array) -> Array:
    """`Σ_c p̄(c|x) · ‖∇_θ CE(f_θ(x), c)‖`, averaged over the stacked networks: `[n]`.

    The gradient is of one example's cross-entropy with respect to all parameters of a
    member, computed with `vmap(grad)` over points and candidate labels.
    """
    p_mean = jnp.mean(learner.probs(params, x), axis=0)  # [n, c]
    labels = jnp.arange(learner.num_classes)

    def loss(net: Any, xi: Array, c: Array) -> Array:
        return optax.softmax_cross_entropy_with_integer_labels(learner.net_logits(net, xi[None])[0], c)

    def norms(net: Any, xi: Array) -> Array:  # [c]
        grads = jax.vmap(lambda c: jax.grad(loss)(net, xi, c))(labels)
        sq = sum(jnp.sum(jnp.reshape(g, (g.shape[0], -1)) ** 2, axis=1) for g in jax.tree.leaves(grads))
        return jnp.sqrt(sq)

    per_net = jax.vmap(lambda net: jax.vmap(lambda xi: norms(net, xi))(x))(params["net"])  # [nets, n, c]
    return jnp.sum(p_mean * jnp.mean(per_net, axis=0), axis=-1)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _score_chunk(learner: Learner, scorer: Scorer, params: dict[str, Any], x: Array) -> Array:
    TRACE_COUNTS["score_chunk"] += 1
    return scorer(learner, params, x)


def score_points(learner: Learner, scorer: Scorer, params: dict[str, Any], x: np.ndarray,
                 chunk_size: int | None = None) -> np.ndarray:
    """Scores `[n]` (NumPy float64) of `x: [n, *feature_shape]`, computed chunk by chunk.

    With no `chunk_size`, the scorer's default (1,024 points; 64 for expected gradient
    length) is used, shrunk to the next power of two ≥ n for small inputs, so a pool of any
    size compiles at most once per power-of-two bucket below the default and once above it.
    """
    size = chunk_size or min(scorer.chunk_size, capacity_for(len(x), 16))
    out = map_in_chunks(lambda c: _score_chunk(learner, scorer, params, c), np.asarray(x, np.float32), size)
    return out.astype(np.float64)
