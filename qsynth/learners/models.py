"""The classifier networks, as Flax NNX modules: logistic regression, MLP, small CNN.

Each module maps `x: [n, *feature_shape]` to logits `[n, classes]`. Dropout is explicit:
pass `dropout_key` to drop units (training, MC-dropout sampling); without it the net is
deterministic. Keeping the key an argument, not module state, keeps the forward pass a
pure function once the module is split into (graphdef, params).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from qsynth import _random as fast_random
from qsynth.learners.config import BUILTIN_MODELS

__all__ = ["BUILTIN_MODELS", "CNN", "MLP", "LogisticRegression", "build_model"]


def dropout(x: Array, rate: float, key: Array | None) -> Array:
    """Inverted dropout; the identity when `key` is None or `rate` is 0."""
    if key is None or rate <= 0.0:
        return x
    keep = fast_random.bernoulli(key, 1.0 - rate, x.shape)  # = jax.random.bernoulli, unrolled
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def _halve(h: Array) -> Array:
    """2× average pooling over every spatial axis of `[n, *spatial, channels]` (odd edges dropped)."""
    n, *spatial, c = h.shape
    h = h[(slice(None), *(slice(0, s // 2 * 2) for s in spatial), slice(None))]
    shape = [n]
    for s in spatial:
        shape += [s // 2, 2]
    h = h.reshape(*shape, c)
    return jnp.mean(h, axis=tuple(2 + 2 * i for i in range(len(spatial))))


class LogisticRegression(nnx.Module):
    """Multinomial logistic regression on flattened features."""

    def __init__(self, in_features: int, num_classes: int, *, rngs: nnx.Rngs):
        self.out = nnx.Linear(in_features, num_classes, rngs=rngs)

    def __call__(self, x: Array, *, dropout_rate: float = 0.0, dropout_key: Array | None = None) -> Array:
        x = x.reshape(x.shape[0], -1)
        return self.out(dropout(x, dropout_rate, dropout_key))


class MLP(nnx.Module):
    """A ReLU multilayer perceptron on flattened features, dropout before each dense layer after the first."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int, *, rngs: nnx.Rngs):
        sizes = (in_features, *hidden)
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])
        self.out = nnx.Linear(sizes[-1], num_classes, rngs=rngs)

    def __call__(self, x: Array, *, dropout_rate: float = 0.0, dropout_key: Array | None = None) -> Array:
        h = x.reshape(x.shape[0], -1)
        keys = [None] * (len(self.hidden) + 1) if dropout_key is None else list(
            jax.random.split(dropout_key, len(self.hidden) + 1))
        for layer, key in zip(self.hidden, keys):
            h = jax.nn.relu(layer(h))
            h = dropout(h, dropout_rate, key)
        return self.out(h)


class CNN(nnx.Module):
    """A small convolutional net for images `[H, W, channels]` or sequences `[L, channels]`.

    Two 3-wide convolutions (channels[0], channels[1]) with ReLU, a 2× average pool,
    a dense layer of `hidden` units, dropout before the output layer.
    """

    def __init__(self, feature_shape: tuple[int, ...], num_classes: int, *, channels: tuple[int, int] = (16, 32),
                 hidden: int = 64, rngs: nnx.Rngs):
        if len(feature_shape) not in (2, 3):
            raise ValueError(f"CNN needs feature shape [H, W, C] or [L, C], got {feature_shape}")
        spatial = feature_shape[:-1]
        kernel = (3,) * len(spatial)
        self.conv1 = nnx.Conv(feature_shape[-1], channels[0], kernel, rngs=rngs)
        self.conv2 = nnx.Conv(channels[0], channels[1], kernel, rngs=rngs)
        flat = channels[1] * math.prod(s // 2 for s in spatial)
        self.dense = nnx.Linear(flat, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, num_classes, rngs=rngs)

    def __call__(self, x: Array, *, dropout_rate: float = 0.0, dropout_key: Array | None = None) -> Array:
        h = jax.nn.relu(self.conv1(x))
        h = jax.nn.relu(self.conv2(h))
        h = _halve(h)
        h = jax.nn.relu(self.dense(h.reshape(h.shape[0], -1)))
        return self.out(dropout(h, dropout_rate, dropout_key))


def build_model(kind: str, feature_shape: tuple[int, ...], num_classes: int, hidden: tuple[int, ...],
                rngs: nnx.Rngs) -> nnx.Module:
    """Construct the network named `kind` ("logreg", "mlp" or "cnn")."""
    in_features = math.prod(feature_shape)
    if kind == "logreg":
        return LogisticRegression(in_features, num_classes, rngs=rngs)
    if kind == "mlp":
        return MLP(in_features, hidden, num_classes, rngs=rngs)
    if kind == "cnn":
        return CNN(feature_shape, num_classes, hidden=hidden[0] if hidden else 64, rngs=rngs)
    raise ValueError(f"unknown model {kind!r}; choose 'logreg', 'mlp' or 'cnn'")
