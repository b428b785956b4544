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
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from qsynth._chunks import map_in_chunks
from qsynth.data.buffer import capacity_for
from qsynth.learners.base import LatentPosterior, Learner, PerExampleGradients
from qsynth.plugins import is_reference, resolve
from qsynth.uncertainty import MEASURES, Measure, get_measure, straddle

__all__ = ["EXPECTED_GRADIENT_LENGTH", "MeasureLike", "STRADDLE", "Scorer", "TRACE_COUNTS", "check_measure",
           "expected_gradient_length", "measure_name", "resolve_measure", "score_points"]

TRACE_COUNTS: collections.Counter[str] = collections.Counter()

EXPECTED_GRADIENT_LENGTH = "expected_gradient_length"
STRADDLE = "straddle"


#: A measure: a name from `qsynth.uncertainty.MEASURES`, "straddle", "expected_gradient_length",
#: a `"package.module:attr"` reference, or a function `probs [members, n, classes] -> [n]`.
MeasureLike = str | Callable[[Array], Array]


def measure_name(measure: MeasureLike) -> str:
    """How a measure is named in tables: its name, a reference's attribute, a function's `__name__`."""
    if isinstance(measure, str):
        return measure.rsplit(":", 1)[-1].rsplit(".", 1)[-1] if is_reference(measure) else measure
    return str(getattr(measure, "name", None) or getattr(measure, "__name__", type(measure).__name__))


def check_measure(measure: MeasureLike, *, differentiable: bool = False) -> None:
    """Raise a ValueError if `measure` is no acquisition (or, with `differentiable`, not one to climb).

    A reference is imported, and a function is tried on random probabilities, now."""
    if measure == STRADDLE or (measure == EXPECTED_GRADIENT_LENGTH and not differentiable):
        return
    resolve_measure(measure, differentiable=differentiable)


def resolve_measure(measure: MeasureLike, *, differentiable: bool = False) -> Callable[[Array], Array]:
    """The function `probs [members, n, classes] -> [n]` a measure stands for (not for straddle or EGL).

    A user's function must map probabilities to one finite score per point; with
    `differentiable`, its gradient must be finite and not vanish everywhere (a measure of hard
    votes has zero gradient, so gradient ascent could not climb it).

    Raises:
      ValueError: unknown name, unresolvable reference, wrong output shape, or not differentiable.
    """
    if isinstance(measure, str) and not is_reference(measure):
        if measure in (STRADDLE, EXPECTED_GRADIENT_LENGTH):
            raise ValueError(f"the measure {measure!r} is not a function of class probabilities")
        return get_measure(measure, differentiable=differentiable).fn
    fn = resolve(measure, "measure") if isinstance(measure, str) else measure
    if isinstance(fn, Measure):
        return get_measure(fn.name, differentiable=differentiable).fn if fn.name in MEASURES else fn.fn
    if not callable(fn):
        raise ValueError(f"measure {measure!r} is not a function of member probabilities [members, n, classes]")
    _check_user_measure(fn, measure_name(measure), differentiable)
    return fn


@functools.cache
def _check_user_measure(fn: Callable[[Array], Array], name: str, differentiable: bool) -> None:
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(0), (3, 5, 4)) * 2.0, axis=-1)
    try:
        out = jnp.asarray(fn(probs))
    except Exception as exc:  # noqa: BLE001 (a user's function: say what went wrong, with its name)
        raise ValueError(f"measure {name!r} failed on member probabilities of shape (3, 5, 4): {exc}") from None
    if out.shape != (5,) or not bool(jnp.all(jnp.isfinite(out))):
        raise ValueError(f"measure {name!r} must map probs [members, n, classes] to finite scores [n]; on shape "
                         f"(3, 5, 4) it gave shape {out.shape}")
    if differentiable:
        grad = jax.grad(lambda p: jnp.sum(fn(p)))(probs)
        if not bool(jnp.all(jnp.isfinite(grad))) or not bool(jnp.any(grad != 0)):
            raise ValueError(f"measure {name!r} is not differentiable (its gradient is zero or not finite); "
                             "gradient-based synthesis needs a smooth function of the probabilities")


def latent_straddle(learner: Learner, params: Any, x: Array) -> Array:
    """The straddle score `[n]` of a learner with a latent posterior (`LatentPosterior`)."""
    if not isinstance(learner, LatentPosterior):
        raise ValueError(f"the measure 'straddle' needs a learner with a latent mean and standard deviation "
                         f"(a LatentPosterior, such as learner.model = 'gp'); {type(learner).__name__} has none")
    if learner.num_classes != 2:
        raise ValueError(f"the measure 'straddle' scores a binary boundary; this GP has {learner.num_classes} "
                         "classes (use an uncertainty measure such as 'margin' or 'entropy')")
    mean, std = learner.latent(params, x)
    return straddle(mean, std, learner.levels)


@dataclasses.dataclass(frozen=True)
class Scorer:
    """`measure`: a `MeasureLike` — an uncertainty measure (name, reference or function),
    "straddle", or "expected_gradient_length"."""

    measure: MeasureLike

    def __post_init__(self) -> None:
        check_measure(self.measure)

    def chunk_size(self, learner: Any) -> int:
        """Points per chunk: 1,024, or the learner's `gradient_chunk` for expected gradient length
        (64 where per-example gradients are materialized, `[chunk, classes, params]` per member)."""
        if self.measure == EXPECTED_GRADIENT_LENGTH:
            return int(learner.gradient_chunk) if isinstance(learner, PerExampleGradients) else 64
        return 1024

    def __call__(self, learner: Learner, params: Any, x: Array) -> Array:
        """Scores `[n]` of points `x: [n, *feature_shape]` (pure, differentiable in x for measures)."""
        if self.measure == EXPECTED_GRADIENT_LENGTH:
            return expected_gradient_length(learner, params, x)
        if self.measure == STRADDLE:
            return latent_straddle(learner, params, x)
        return resolve_measure(self.measure)(learner.probs(params, x))


def expected_gradient_length(learner: Learner, params: Any, x: Array) -> Array:
    """`Σ_c p̄(c|x) · ‖∇_θ CE(f_θ(x), c)‖`, averaged over the stacked networks: `[n]`.

    The gradient norms come from the learner (`PerExampleGradients`): exact for any network,
    in closed form where the learner knows one (dense ReLU networks; `qsynth.learners.gradients`).
    """
    if not isinstance(learner, PerExampleGradients):
        raise ValueError(f"the measure 'expected_gradient_length' needs a learner with per-example gradients "
                         f"(a PerExampleGradients, such as a network learner); {type(learner).__name__} has none")
    p_mean = jnp.mean(learner.probs(params, x), axis=0)  # [n, c]
    per_net = learner.gradient_norms(params, x)  # [nets, n, c]
    return jnp.sum(p_mean * jnp.mean(per_net, axis=0), axis=-1)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _score_chunk(learner: Learner, scorer: Scorer, params: Any, x: Array) -> Array:
    TRACE_COUNTS["score_chunk"] += 1
    return scorer(learner, params, x)


def score_points(learner: Learner, scorer: Scorer, params: Any, x: np.ndarray,
                 chunk_size: int | None = None) -> np.ndarray:
    """Scores `[n]` (NumPy float64) of `x: [n, *feature_shape]`, computed chunk by chunk.

    With no `chunk_size`, the scorer's default (1,024 points; 64 for expected gradient
    length through a CNN) is used, shrunk to the next power of two ≥ n for small inputs, so a pool of any
    size compiles at most once per power-of-two bucket below the default and once above it.
    """
    size = chunk_size or min(scorer.chunk_size(learner), capacity_for(len(x), 16))
    out = map_in_chunks(lambda c: _score_chunk(learner, scorer, params, c), np.asarray(x, np.float32), size)
    return out.astype(np.float64)
