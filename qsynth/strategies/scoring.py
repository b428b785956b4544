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
from flax import nnx
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
    if learner.num_classes != 2:
        raise ValueError(f"the measure 'straddle' scores a binary boundary; this GP has {learner.num_classes} "
                         "classes (use an uncertainty measure such as 'margin' or 'entropy')")
    mean, std = learner.latent(params, x)
    return straddle(mean, std, learner.levels)


@dataclasses.dataclass(frozen=True)
class Scorer:
    """`measure`: an uncertainty measure name, "straddle", or "expected_gradient_length"."""

    measure: str

    def __post_init__(self) -> None:
        check_measure(self.measure)

    def chunk_size(self, learner: Any) -> int:
        """Points per chunk: 1,024, or 64 where per-example gradients are materialized
        (`[chunk, classes, params]` per member: expected gradient length through a CNN)."""
        return 64 if self.measure == EXPECTED_GRADIENT_LENGTH and not _is_dense(learner) else 1024

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
    member (no dropout). For networks made of dense layers (logistic regression, MLP) its
    norm is exact in closed form, without materializing any gradient: a dense layer's weight
    gradient for one example is the outer product `a ⊗ δ` of its input and its output's
    error, so its squared norm is `‖a‖² · ‖δ‖²` (Goodfellow 2015), and the errors for all
    candidate labels come from one backward pass of `[n, classes, width]`. Other networks
    (the CNN) use per-example gradients through `vmap(grad)`.

    References:
      Goodfellow (2015). Efficient Per-Example Gradient Computations. arXiv:1510.01799.
    """
    p_mean = jnp.mean(learner.probs(params, x), axis=0)  # [n, c]
    norms = _dense_gradient_norms if _is_dense(learner) else _vmap_gradient_norms
    per_net = jax.vmap(lambda net: norms(learner, net, x))(params["net"])  # [nets, n, c]
    return jnp.sum(p_mean * jnp.mean(per_net, axis=0), axis=-1)


def _is_dense(learner: Any) -> bool:
    """Whether `learner` is a network of dense layers only (logistic regression or MLP)."""
    return getattr(getattr(learner, "config", None), "model", None) in ("logreg", "mlp")


def _dense_gradient_norms(learner: Learner, net: Any, x: Array) -> Array:
    """`‖∇_θ CE(f(x_i), c)‖` for every point and label, `[n, classes]`, of a dense ReLU network.

    With inputs `a_l` and pre-activations `z_l` of layer l, the error at the output for label
    c is `softmax(z_L) − e_c`, and `δ_{l−1} = (δ_l W_lᵀ) ⊙ 1[z_{l−1} > 0]`; each layer adds
    `(‖a_l‖² + 1) · ‖δ_l‖²` (weight and bias) to the squared norm.
    """
    model = nnx.merge(learner.graphdef, net)
    layers = [*model.hidden, model.out] if learner.config.model == "mlp" else [model.out]
    a = x.reshape(x.shape[0], -1)
    inputs, pre = [], []
    for layer in layers:
        inputs.append(a)
        z = a @ layer.kernel[...] + layer.bias[...][None, :]
        pre.append(z)
        a = jax.nn.relu(z)
    probs = jax.nn.softmax(pre[-1], axis=-1)  # [n, c]
    delta = probs[:, None, :] - jnp.eye(learner.num_classes, dtype=probs.dtype)[None]  # [n, c (label), c]
    sq = jnp.zeros(delta.shape[:2], probs.dtype)
    for i in range(len(layers) - 1, -1, -1):
        sq = sq + (jnp.sum(inputs[i] ** 2, axis=-1) + 1.0)[:, None] * jnp.sum(delta ** 2, axis=-1)
        if i > 0:
            delta = jnp.where((pre[i - 1] > 0)[:, None, :], delta @ layers[i].kernel[...].T, 0.0)
    return jnp.sqrt(sq)


def _vmap_gradient_norms(learner: Learner, net: Any, x: Array) -> Array:
    """`‖∇_θ CE(f(x_i), c)‖`, `[n, classes]`, from per-example gradients (`vmap(grad)`), any network."""
    labels = jnp.arange(learner.num_classes)

    def loss(net: Any, xi: Array, c: Array) -> Array:
        return optax.softmax_cross_entropy_with_integer_labels(learner.net_logits(net, xi[None])[0], c)

    def norms(xi: Array) -> Array:  # [c]
        grads = jax.vmap(lambda c: jax.grad(loss)(net, xi, c))(labels)
        sq = sum(jnp.sum(jnp.reshape(g, (g.shape[0], -1)) ** 2, axis=1) for g in jax.tree.leaves(grads))
        return jnp.sqrt(sq)

    return jax.vmap(norms)(x)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _score_chunk(learner: Learner, scorer: Scorer, params: dict[str, Any], x: Array) -> Array:
    TRACE_COUNTS["score_chunk"] += 1
    return scorer(learner, params, x)


def score_points(learner: Learner, scorer: Scorer, params: dict[str, Any], x: np.ndarray,
                 chunk_size: int | None = None) -> np.ndarray:
    """Scores `[n]` (NumPy float64) of `x: [n, *feature_shape]`, computed chunk by chunk.

    With no `chunk_size`, the scorer's default (1,024 points; 64 for expected gradient
    length through a CNN) is used, shrunk to the next power of two ≥ n for small inputs, so a pool of any
    size compiles at most once per power-of-two bucket below the default and once above it.
    """
    size = chunk_size or min(scorer.chunk_size(learner), capacity_for(len(x), 16))
    out = map_in_chunks(lambda c: _score_chunk(learner, scorer, params, c), np.asarray(x, np.float32), size)
    return out.astype(np.float64)
