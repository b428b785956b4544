"""A user's own parts, as a researcher would write them in their own module, for the plug-in tests.

Configs name them as `"tests.plugins_fixture:<attr>"`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from qsynth.data import Dataset
from qsynth.records import Queries
from qsynth.strategies import RoundContext, empty_queries, query_ids


class TanhNet(nnx.Module):
    """A network of one's own: one tanh hidden layer (not a ReLU, so no closed form for its gradients)."""

    def __init__(self, feature_shape: tuple[int, ...], num_classes: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(math.prod(feature_shape), 8, rngs=rngs)
        self.out = nnx.Linear(8, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jnp.tanh(self.hidden(x.reshape(x.shape[0], -1))))


def clipped_sgd(learning_rate: float) -> optax.GradientTransformation:
    """An optimizer factory: SGD with momentum behind a global-norm clip."""
    return optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(learning_rate, momentum=0.9))


def gini(probs: jax.Array) -> jax.Array:
    """An acquisition of one's own: the Gini impurity of the committee mean, `[m, n, c] -> [n]`."""
    p = jnp.mean(probs, axis=0)
    return 1.0 - jnp.sum(p * p, axis=-1)


def hard_votes(probs: jax.Array) -> jax.Array:
    """Not differentiable: the share of members that disagree with member 0's argmax."""
    votes = jnp.argmax(probs, axis=-1)
    return jnp.mean((votes != votes[:1]).astype(jnp.float32), axis=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FarthestFirst:
    """A strategy of one's own: the unqueried pool points farthest from everything labeled so far."""

    label: str = "farthest-first"
    scenario: str = "pool"

    @property
    def name(self) -> str:
        return self.label

    def init(self, problem: Any) -> Any:
        return None

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        cand = np.flatnonzero(ctx.available)
        if not len(cand):
            return empty_queries(ctx.problem.feature_shape), state
        pool = ctx.problem.pool
        labeled = ctx.buffer.x[:ctx.buffer.size].reshape(ctx.buffer.size, -1)
        d = np.min(np.linalg.norm(pool[cand][:, None] - labeled[None], axis=-1), axis=1)
        chosen = cand[np.argsort(-d, kind="stable")[:batch_size]]
        return Queries(query_ids(ctx.round_index, len(chosen)), pool[chosen], d[np.argsort(-d, kind="stable")]
                       [:len(chosen)], pool_index=chosen), state


def ring(seed: int = 0, n: int = 120, n_test: int = 200) -> Dataset:
    """A dataset function of one's own: class 1 inside the ring 0.5 < |x| < 1 of the square [-1.5, 1.5]²."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, (n + n_test, 2))
    r = np.linalg.norm(x, axis=1)
    y = ((r > 0.5) & (r < 1.0)).astype(np.int32)
    return Dataset("ring", x[:n], y[:n], x[n:], y[n:], (0, 1), bounds=(np.full(2, -1.5), np.full(2, 1.5)))


class Stopped(BaseException):
    """Stands for the process dying (not an Exception, so no oracle turns it into an answer)."""


#: `inside_ring` stops the process (as a crash would) once it has answered this many queries.
STOP_AFTER: dict[str, int | None] = {"calls": None}
_CALLS = {"n": 0}


def inside_ring(x: np.ndarray) -> int:
    """A simulator of one's own, in physical units: 1 inside the ring 0.5 < |x| < 1."""
    if STOP_AFTER["calls"] is not None and _CALLS["n"] >= STOP_AFTER["calls"]:
        raise Stopped("the process was stopped")
    _CALLS["n"] += 1
    r = float(np.linalg.norm(x))
    return int(0.5 < r < 1.0)


@dataclasses.dataclass(frozen=True, eq=False)
class LinearDecoder:
    """A pretrained generator of one's own: a fixed linear decoder of a 2-D standard-normal latent."""

    weights: np.ndarray
    latent: int = 2
    feature_shape: tuple[int, ...] = (2,)

    @property
    def params(self) -> Any:
        return {"w": jnp.asarray(self.weights, jnp.float32)}

    def generate(self, params: Any, z: jax.Array) -> jax.Array:
        return z @ params["w"]

    def log_prior(self, z: jax.Array) -> jax.Array:
        return -0.5 * jnp.sum(z * z, axis=-1)

    def sample_prior(self, key: jax.Array, n: int) -> jax.Array:
        return jax.random.normal(key, (n, self.latent))


def make_decoder(x: np.ndarray, key: jax.Array) -> LinearDecoder:
    """A generator factory for configs: `[generator] model = "tests.plugins_fixture:make_decoder"`."""
    return LinearDecoder(np.diag(np.std(x, axis=0) * 1.5))
