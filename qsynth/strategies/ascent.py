"""The synthesis program: gradient ascent on a differentiable acquisition, many starts at once.

One jitted program per `AscentSpec` (learner, generator, measure, steps, optimizer, bounds
flag): `lax.scan` over a static number of steps with an optax Adam inside, all starts
advanced together. The objective is a sum of per-start terms — start s's term depends
only on z[s] — so its gradient with respect to z is exactly each start's own gradient
(what `vmap(grad)` would give, tested), computed as one batched forward/backward pass,
and Adam is elementwise, so starts never interact. The learner and generator parameters
are arguments, not constants, so every round of a run reuses one compilation.

Objective for start s:  acquisition(probs(generate(z_s)))  +  realism · log_prior(z_s)
(with an answerability model, the acquisition is weighed by P(answered | z_s) first — or by
P(answered | features of z_s's point) in a feature space — the learner's sorted class
probabilities, the distance to the nearest real inputs, or both:
`qsynth.strategies.answerability.weigh`, `query_features`)
(the generator's log prior density up to a constant — −½‖z_s‖² for the VAE's standard normal:
it keeps z where the generator was trained). In input space `decode` is the identity and each
step is projected back into the box [low, high]. Each start returns its best iterate (by the
objective), so a step that overshoots a narrow ridge of the acquisition loses nothing.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import Array

from qsynth.generators.base import Generator
from qsynth.strategies.answerability import ANSWERABILITY_SPACES, check_refusal_cost
from qsynth.strategies.scoring import MeasureLike, Scorer, check_measure, needs_targets

__all__ = ["AscentResult", "AscentSpec", "TRACE_COUNTS", "ascend", "acquisition", "best_starts",
           "weighted_acquisition"]

#: How many times the ascent program was traced (compiled). Tests read it.
TRACE_COUNTS: collections.Counter[str] = collections.Counter()


@dataclasses.dataclass(frozen=True)
class AscentSpec:
    """Everything static about one synthesis program (hashable).

    Attributes:
      learner: any learner with a pure `probs(params, x) -> [members, n, classes]`.
      generator: the `Generator` whose latent space is searched, or None for input space.
      measure: a differentiable uncertainty measure (name, reference or function).
      steps: ascent steps; learning_rate: Adam step size.
      realism: weight of the log-prior term (latent space only).
      bounded: project onto the box after each step (input space).
      keep_path: also return every iterate (for plots of ascent paths).
      answerable: weigh the acquisition by an answerability model (whose arrays `ascend` and
        `best_starts` then take as `answerability`).
      answer_space: where that model is evaluated (`ANSWERABILITY_SPACES`): "auto" (at z itself:
        a latent code, or the input) or a feature space of the point z decodes to
        (`qsynth.strategies.answerability.query_features`: the learner's sorted class
        probabilities, the distance to the nearest real inputs, or both; with a support
        distance `answerability` is the pair (model arrays, `SupportReference.arrays`)).
      cost_aware: divide it by a cost model's expected cost (arrays: `cost`).
      refusal_cost: what a refusal costs, in answered queries (`answerability.weigh`).
    """

    learner: Any
    generator: Generator | None
    measure: MeasureLike
    steps: int
    learning_rate: float
    realism: float = 0.0
    bounded: bool = False
    keep_path: bool = False
    answerable: bool = False
    answer_space: str = "auto"
    cost_aware: bool = False
    refusal_cost: float = 1.0

    def __post_init__(self) -> None:
        check_measure(self.measure, differentiable=True)
        check_refusal_cost(self.refusal_cost, "synthesis")
        if self.answer_space not in ANSWERABILITY_SPACES:
            raise ValueError(f"answer_space must be one of {list(ANSWERABILITY_SPACES)}, got {self.answer_space!r}")
        if self.steps < 0:
            raise ValueError(f"synthesis steps must be >= 0, got {self.steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"synthesis learning_rate must be > 0, got {self.learning_rate}")
        if self.realism < 0:
            raise ValueError(f"synthesis realism must be >= 0, got {self.realism}")

    def to_x(self, gen_params: Any, z: Array) -> Array:
        """Query points `[n, *feature_shape]` for codes `z: [n, latent]` (or flat inputs)."""
        if self.generator is None:
            return z.reshape(z.shape[0], *self.learner.feature_shape)
        return self.generator.generate(gen_params, z)


@dataclasses.dataclass(frozen=True)
class AscentResult:
    """What one ascent returns (all JAX arrays).

    z: [starts, latent] final codes (flat inputs in input space). before / after:
    [starts] acquisition at the start and the end. path: [steps + 1, starts, latent] or None.
    """

    z: Array
    before: Array
    after: Array
    path: Array | None


def acquisition(spec: AscentSpec, params: Any, gen_params: Any, z: Array) -> Array:
    """The acquisition `[n]` of the points that codes `z: [n, latent]` decode to."""
    return Scorer(spec.measure)(spec.learner, params, spec.to_x(gen_params, z))


def weighted_acquisition(spec: AscentSpec, params: Any, gen_params: Any, z: Array, answerability: Any,
                         cost: Any = None) -> Array:
    """The acquisition `[n]` of codes `z`, weighed by P(answered | z) when `spec.answerable` and
    per expected cost of asking at z when `spec.cost_aware` (`answerability.per_cost`)."""
    from qsynth.strategies.answerability import (SUPPORT_SPACES, expected_cost, per_cost, probability, query_features,
                                                 weigh)

    acq = acquisition(spec, params, gen_params, z)
    if spec.answerable:
        model, where = answerability, z
        if spec.answer_space != "auto":
            model, reference = answerability if spec.answer_space in SUPPORT_SPACES else (answerability, None)
            learner_params = params["learner"] if needs_targets(spec.measure) else params
            x = spec.to_x(gen_params, z)
            where = query_features(spec.answer_space, x, lambda: spec.learner.probs(learner_params, x), reference)
        acq = weigh(acq, probability(model, where), spec.refusal_cost)
    if spec.cost_aware:
        acq = per_cost(acq, expected_cost(cost, z))
    return acq


def best_starts(spec: AscentSpec, params: Any, gen_params: Any, candidates: Array, starts: int,
                answerability: Any = None, cost: Any = None) -> Array:
    """The `starts` candidates `[starts, latent]` with the highest acquisition (screening before ascent).

    Where the learner is confident almost everywhere (a sharp committee late in a run), the
    acquisition is flat — its gradient underflows to zero — except in a thin band around
    the boundary; screening many cheap candidates puts the ascent's starts in that band.
    """
    return _best_starts(spec, params, gen_params, jnp.asarray(candidates, jnp.float32), starts, answerability, cost)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _best_starts(spec: AscentSpec, params: Any, gen_params: Any, candidates: Array, starts: int,
                 answerability: Any, cost: Any) -> Array:
    TRACE_COUNTS["best_starts"] += 1
    _, idx = jax.lax.top_k(weighted_acquisition(spec, params, gen_params, candidates, answerability, cost), starts)
    return candidates[idx]


def ascend(spec: AscentSpec, params: Any, gen_params: Any, z0: Array, low: Array | None = None,
           high: Array | None = None, answerability: Any = None, cost: Any = None) -> AscentResult:
    """Run the ascent from starts `z0: [starts, latent]` (box `low`/`high`: [latent] when bounded;
    `answerability`: an `AnswerabilityModel`'s arrays when `spec.answerable`, paired with the
    support reference's in a support space)."""
    if spec.answerable and answerability is None:
        raise ValueError("an answerable ascent needs the answerability model's arrays")
    if spec.cost_aware and cost is None:
        raise ValueError("a cost-aware ascent needs the cost model's arrays")
    if spec.bounded and (low is None or high is None):
        raise ValueError("a bounded ascent needs low and high")
    dim = z0.shape[1]
    low = jnp.full((dim,), -jnp.inf, jnp.float32) if low is None else jnp.asarray(low, jnp.float32)
    high = jnp.full((dim,), jnp.inf, jnp.float32) if high is None else jnp.asarray(high, jnp.float32)
    z, before, after, path = _ascend(spec, params, gen_params, jnp.asarray(z0, jnp.float32), low, high,
                                     answerability if spec.answerable else None, cost if spec.cost_aware else None)
    return AscentResult(z, before, after, path if spec.keep_path else None)


@functools.partial(jax.jit, static_argnums=0)
def _ascend(spec: AscentSpec, params: Any, gen_params: Any, z0: Array, low: Array,
            high: Array, answerability: Any, cost: Any) -> tuple[Array, Array, Array, Array]:
    TRACE_COUNTS["ascend"] += 1
    # Cosine decay to 1% of the step size: starts settle on a sharp ridge of the acquisition
    # instead of oscillating across it. A tiny eps keeps Adam's step scale-free, so a start in a
    # saturated (nearly flat) region still moves.
    schedule = optax.cosine_decay_schedule(spec.learning_rate, max(spec.steps, 1), alpha=0.01)
    tx = optax.adam(schedule, eps=1e-20)

    def objective(z: Array) -> tuple[Array, Array]:
        acq = weighted_acquisition(spec, params, gen_params, z, answerability, cost)
        log_prior = spec.generator.log_prior(z) if spec.generator is not None else jnp.zeros_like(acq)
        value = acq + spec.realism * log_prior
        return jnp.sum(value), value

    def step(carry: tuple[Array, Any, Array, Array], _: None) -> tuple[tuple[Array, Any, Array, Array], Array]:
        z, opt_state, best_z, best_value = carry
        grad, value = jax.grad(objective, has_aux=True)(z)
        better = value > best_value  # the objective at z, before this step moves it
        best_z = jnp.where(better[:, None], z, best_z)
        best_value = jnp.where(better, value, best_value)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(-grad, opt_state, z)  # ascent: minimize the negative
        z = optax.apply_updates(z, updates)
        if spec.bounded:
            z = jnp.clip(z, low[None, :], high[None, :])
        return (z, opt_state, best_z, best_value), z

    z_start = jnp.clip(z0, low[None, :], high[None, :]) if spec.bounded else z0
    init = (z_start, tx.init(z_start), z_start, jnp.full(z_start.shape[:1], -jnp.inf, jnp.float32))
    (z_last, _, best_z, best_value), path = jax.lax.scan(step, init, None, length=spec.steps)
    _, last_value = objective(z_last)
    z = jnp.where((last_value >= best_value)[:, None], z_last, best_z)  # the best iterate, not the last
    before = acquisition(spec, params, gen_params, z_start)
    after = acquisition(spec, params, gen_params, z)
    path = jnp.concatenate([z_start[None], path], axis=0) if spec.keep_path else jnp.zeros((0,))
    return z, before, after, path
