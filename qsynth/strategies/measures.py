"""Acquisition measures as values: names, `"package.module:attr"` references, or functions of
member probabilities; and `Scorer`, the hashable description of a score that jitted programs
key on. Imports no JAX until a measure is computed (a config is validated without it).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard

from qsynth.learners.base import LatentCovariance, Learner, PerExampleGradients
from qsynth.plugins import is_reference, resolve
from qsynth.uncertainty import MEASURES, Measure, get_measure

if TYPE_CHECKING:
    from jax import Array

__all__ = ["BOUNDARY_INFORMATION", "EPIG", "EXPECTED_GRADIENT_LENGTH", "MeasureLike", "STRADDLE", "Scorer",
           "COMMITTEE_MEASURES", "POSTERIOR_MEASURES", "TARGET_MEASURES", "check_committee", "check_measure", "has_posterior_committee", "measure_name", "needs_targets",
           "resolve_measure"]

EXPECTED_GRADIENT_LENGTH = "expected_gradient_length"
STRADDLE = "straddle"
#: Information about the labels of target inputs near the boundary (`qsynth.strategies.scoring.boundary_information`).
BOUNDARY_INFORMATION = "boundary_information"
#: Expected predictive information about target inputs' labels, from member probabilities (`qsynth.uncertainty.epig`).
EPIG = "epig"
#: The measures that score a point by what its answer tells about target inputs.
TARGET_MEASURES = (BOUNDARY_INFORMATION, EPIG)

#: A measure: a name from `qsynth.uncertainty.MEASURES`, "straddle", "boundary_information", "epig", "expected_gradient_length",
#: a `"package.module:attr"` reference, or a function `probs [members, n, classes] -> [n]`.
MeasureLike = str | Callable[[Any], Any]


#: Measures of disagreement between committee members (the members of `probs`): zero at every
#: point for a learner with one member (a GP's single posterior mean, one network), so they rank
#: nothing. (`variation_ratio` falls back to least confidence with one member, and stays usable.)
#: A two-class GP's committee is its posterior: `qsynth.strategies.posterior_committee` gives
#: `vote_entropy`, `kl_to_consensus` and `bald` (and `soft_vote_entropy`) for it in closed form.
COMMITTEE_MEASURES = ("mean_std", "vote_entropy", "kl_to_consensus", "bald", EPIG)
#: The committee measures with a closed form for a two-class latent Gaussian posterior.
POSTERIOR_MEASURES = ("vote_entropy", "soft_vote_entropy", "kl_to_consensus", "bald")


def has_posterior_committee(learner: Any) -> TypeGuard[LatentCovariance]:
    """Whether `learner`'s committee measures have a closed form in its posterior
    (`qsynth.strategies.posterior_committee`): a two-class `LatentCovariance` with one level."""
    return (isinstance(learner, LatentCovariance) and getattr(learner, "num_classes", 0) == 2
            and len(learner.levels) == 1)


def check_committee(measure: MeasureLike | None, members: int, strategy: str, learner: str = "the learner",
                    *, posterior: bool = False) -> None:
    """Raise a ValueError, naming `strategy`, if `measure` is a committee measure and the learner
    (described by `learner`) has fewer than two `members`: the measure would be zero everywhere and
    the arm would take points in index order — unless `posterior` (the learner is a two-class
    latent Gaussian posterior, the GP) and the measure has a closed form for it
    (`qsynth.strategies.posterior_committee`). Measures given as functions or references are not
    checked."""
    if not isinstance(measure, str) or measure not in COMMITTEE_MEASURES or members >= 2:
        return
    if posterior and measure in POSTERIOR_MEASURES:
        return
    alternative = ("'boundary_information' (a GP's closed-form information about target inputs)"
                   if measure == EPIG else "'entropy', 'margin' or 'least_confidence'")
    raise ValueError(f"strategy {strategy!r}: measure {measure!r} scores the disagreement between committee members, "
                     f"and {learner} has {members} member, so it is zero at every point; use {alternative}, or a "
                     f"learner with members >= 2 (an ensemble)")


def measure_name(measure: MeasureLike) -> str:
    """How a measure is named in tables: its name, a reference's attribute, a function's `__name__`."""
    if isinstance(measure, str):
        return measure.rsplit(":", 1)[-1].rsplit(".", 1)[-1] if is_reference(measure) else measure
    return str(getattr(measure, "name", None) or getattr(measure, "__name__", type(measure).__name__))


def check_measure(measure: MeasureLike, *, differentiable: bool = False) -> None:
    """Raise a ValueError if `measure` is no acquisition (or, with `differentiable`, not one to climb).

    A reference is imported, and a function is tried on random probabilities, now."""
    if measure in (STRADDLE, *TARGET_MEASURES) or (measure == EXPECTED_GRADIENT_LENGTH and not differentiable):
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
        if measure in (STRADDLE, *TARGET_MEASURES, EXPECTED_GRADIENT_LENGTH):
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
    import jax
    import jax.numpy as jnp

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


def needs_targets(measure: MeasureLike) -> bool:
    """Whether the measure scores a point by what it tells about other points (target inputs the
    strategy supplies: `qsynth.strategies.scoring.with_targets`)."""
    return isinstance(measure, str) and measure in TARGET_MEASURES


@dataclasses.dataclass(frozen=True)
class Scorer:
    """`measure`: a `MeasureLike` — an uncertainty measure (name, reference or function),
    "straddle", "boundary_information" or "epig" (params then carry the target inputs:
    `with_targets`), or "expected_gradient_length"."""

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
        from qsynth.strategies.scoring import (boundary_information, expected_gradient_length, latent_straddle,
                                               posterior_committee, target_information)

        if self.measure == EXPECTED_GRADIENT_LENGTH:
            return expected_gradient_length(learner, params, x)
        if self.measure in TARGET_MEASURES:
            if not (isinstance(params, dict) and "targets" in params and "learner" in params):
                raise ValueError(f"the measure {self.measure!r} needs target inputs: the strategy passes "
                                 "with_targets(learner, params, targets, measure=...)")
            if self.measure == EPIG:
                return target_information(learner, params["learner"], x, params["targets"])
            return boundary_information(learner, params["learner"], x, params["targets"], params.get("weights"))
        if self.measure == STRADDLE:
            return latent_straddle(learner, params, x)
        if isinstance(self.measure, str) and self.measure in POSTERIOR_MEASURES and learner.members < 2:
            return posterior_committee(learner, params, x, self.measure)
        return resolve_measure(self.measure)(learner.probs(params, x))
