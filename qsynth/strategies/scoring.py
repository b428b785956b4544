"""Acquisition scores of many points, in fixed-size chunks: one compilation for any pool size.

A `Scorer` (`qsynth.strategies.measures`) is a hashable description of a score (an
uncertainty measure, or the expected gradient length); `score_points` evaluates it over `x`
chunk by chunk with one jitted program per (learner, scorer, chunk size).

References:
  Picheny, Ginsbourger, Roustant, Haftka & Kim (2010). Adaptive Designs of Experiments for
    Accurate Approximation of a Target Region. (targeted variance reduction: boundary_information's weights)
  Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth (2023). Prediction-Oriented Bayesian
    Active Learning. (EPIG: information about target inputs' predictions)
  Settles, Craven & Ray (2008). Multiple-Instance Active Learning. (expected gradient length)
  Settles (2009). Active Learning Literature Survey, §3.3 (expected model change).
"""

from __future__ import annotations

import collections
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from qsynth._chunks import chunk_results
from qsynth._devices import mesh_for, replicated, split_rows
from qsynth.data.buffer import capacity_for
from qsynth.learners.base import LatentCovariance, LatentPosterior, Learner, PerExampleGradients, PreparedTargets
from qsynth.strategies.measures import (BOUNDARY_INFORMATION, EPIG, EXPECTED_GRADIENT_LENGTH, STRADDLE, MeasureLike,
                                        Scorer, check_measure, has_posterior_committee, measure_name, needs_targets,
                                        resolve_measure)
from qsynth.strategies.posterior_committee import posterior_committee_measure
from qsynth.uncertainty import epig, straddle

__all__ = ["BOUNDARY_INFORMATION", "EPIG", "EXPECTED_GRADIENT_LENGTH", "KEPT_TARGETS", "MeasureLike", "STRADDLE",
           "Scorer", "TARGETS", "TARGET_CANDIDATES", "TRACE_COUNTS", "boundary_information", "check_measure",
           "default_chunk_size", "expected_gradient_length", "measure_name", "needs_targets", "posterior_committee",
           "resolve_measure",
           "score_points", "target_doubt", "target_information", "with_targets"]

#: Target inputs per round for `boundary_information` and `epig` (drawn from the pool; for `epig`
#: also what synthesis keeps of its candidates).
TARGETS = 256
#: Synthesis draws this many target candidates (uniform in the box, from the pool, or decoded prior
#: draws), and for `boundary_information` its ascent keeps `KEPT_TARGETS` of them, drawn in
#: proportion to their doubt (`with_targets`).
TARGET_CANDIDATES = 1024
KEPT_TARGETS = 64

TRACE_COUNTS: collections.Counter[str] = collections.Counter()



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


def posterior_committee(learner: Learner, params: Any, x: Array, measure: str) -> Array:
    """`[n]`: a committee measure of a two-class latent Gaussian posterior (the GP), in closed form
    (`qsynth.strategies.posterior_committee`: its committee is the posterior)."""
    if not has_posterior_committee(learner):
        raise ValueError(f"the measure {measure!r} scores the disagreement of a committee; "
                         f"{type(learner).__name__} has one member, and no closed form for it is known unless it "
                         "is a two-class latent Gaussian posterior with one boundary level (learner.model = 'gp' "
                         "on two classes, target = 'label' or a success interval with one finite end)")
    mean, std = learner.latent(params, x)
    return posterior_committee_measure(measure, mean - learner.levels[0], std, learner.noise_variance(params))


def with_targets(learner: Learner, params: Any, targets: Array | np.ndarray, keep: int | None = None,
                 rng: np.random.Generator | None = None, measure: str = BOUNDARY_INFORMATION) -> dict[str, Any]:
    """The params a target measure (`boundary_information`, `epig`) is scored with: the learner's
    and the targets `[m, *feature_shape]`, prepared once per round so that an ascent step
    recomputes only the candidates' side.

    For `boundary_information`, the targets' posterior and cross-covariance factor
    (`LatentCovariance.prepare_targets`) and each target's weight: the measure is the mean over
    targets of information × doubt (the probability the target's class is wrong). With `keep`
    (and `rng`), `keep` targets are drawn from the m with replacement in proportion to their
    doubt, each weighed by the mean doubt: the same measure in expectation (importance
    sampling), its cost that of `keep` targets, all of them where a class is in doubt. Without,
    every target is kept, weighed by its doubt.

    For `epig`, the members' probabilities at the targets, `[members, m, classes]`; with `keep`
    (and `rng`), `keep` of the m drawn uniformly without replacement.
    """
    if measure == EPIG:
        return _epig_targets(learner, params, np.asarray(targets, np.float32), keep, rng)
    if measure != BOUNDARY_INFORMATION:
        raise ValueError(f"with_targets: {measure!r} is no target measure; use 'boundary_information' or 'epig'")
    prepared, doubt = _prepare_targets(_covariance_learner(learner), params, jnp.asarray(targets, jnp.float32))
    doubt = np.asarray(doubt, np.float64)
    if keep is None or doubt.sum() <= 0.0:
        return {"learner": params, "targets": prepared, "weights": jnp.asarray(doubt, jnp.float32)}
    if rng is None:
        raise ValueError("with_targets: drawing `keep` targets needs `rng`, a seeded NumPy generator")
    rows = np.sort(rng.choice(len(doubt), int(keep), replace=True, p=doubt / doubt.sum()))
    weights = jnp.full(len(rows), doubt.mean(), jnp.float32)
    return {"learner": params, "targets": prepared.subset(rows), "weights": weights}


def _epig_targets(learner: Learner, params: Any, targets: np.ndarray, keep: int | None,
                  rng: np.random.Generator | None) -> dict[str, Any]:
    if keep is not None and keep < len(targets):
        if rng is None:
            raise ValueError("with_targets: drawing `keep` targets needs `rng`, a seeded NumPy generator")
        targets = targets[np.sort(rng.choice(len(targets), int(keep), replace=False))]
    probs = _target_probs(learner, params, jnp.asarray(targets))
    if probs.shape[0] < 2:
        raise ValueError(f"the measure 'epig' needs a learner with several members (an ensemble: its members' "
                         f"disagreement is the information); {type(learner).__name__} has one. With the GP use "
                         "'boundary_information'")
    return {"learner": params, "targets": probs}


@functools.partial(jax.jit, static_argnums=0)
def _target_probs(learner: Any, params: Any, targets: Array) -> Array:
    TRACE_COUNTS["target_probs"] += 1
    return learner.probs(params, targets)


def target_information(learner: Learner, params: Any, x: Array, target_probs: Array) -> Array:
    """`[n]`: EPIG (`qsynth.uncertainty.epig`) of candidates `x: [n, *feature_shape]` about the
    targets whose member probabilities `target_probs: [members, m, classes]` `with_targets`
    computed (Bickford Smith et al. 2023)."""
    return epig(learner.probs(params, x), target_probs)


@functools.partial(jax.jit, static_argnums=0)
def _prepare_targets(learner: Any, params: Any, targets: Array) -> tuple[PreparedTargets, Array]:
    TRACE_COUNTS["prepare_targets"] += 1
    prepared = learner.prepare_targets(params, targets)
    return prepared, target_doubt(learner, prepared)


def target_doubt(learner: LatentCovariance, prepared: PreparedTargets) -> Array:
    """`[m]`: the probability that each prepared target's class is wrong, `Φ(−|μ − h| / σ)` for
    the nearest level h."""
    levels = jnp.asarray(learner.levels, prepared.mean.dtype)
    margin = jnp.min(jnp.abs(prepared.mean[:, None] - levels[None, :]), axis=1)
    return jax.scipy.stats.norm.cdf(-margin / prepared.std)


def _covariance_learner(learner: Learner) -> LatentCovariance:
    """`learner` as a two-class `LatentCovariance`, or the error that says why not."""
    if not isinstance(learner, LatentCovariance):
        raise ValueError(f"the measure 'boundary_information' needs a learner with a latent Gaussian posterior "
                         f"(such as learner.model = 'gp'); {type(learner).__name__} has none")
    if learner.num_classes != 2:
        raise ValueError(f"the measure 'boundary_information' scores a binary boundary; this GP has "
                         f"{learner.num_classes} classes")
    return learner


def boundary_information(learner: Learner, params: Any, x: Array, targets: Array | PreparedTargets,
                         weights: Array | None = None) -> Array:
    """`[n]`: how much asking at x tells about the class of the target inputs that are in doubt.

    For a latent Gaussian posterior (the GP), asking at x and learning f(x) through noise τ²
    gives the latent at target x*_j the mutual information `−½ log(1 − ρ²_j)`, ρ_j the
    posterior correlation of the observation at x with f(x*_j) (EPIG's quantity, Bickford Smith
    et al. 2023, in closed form for a Gaussian). Each target is weighed by the probability that
    its class is still wrong, `Φ(−|μ_j − h| / σ_j)` for the nearest level h (the targeted weight
    of Picheny et al. 2010); the score is the weighed mean over the targets. Unlike entropy or
    straddle it is high only where an answer would settle points in doubt — never at the box's
    edges or corners for their own sake, nor on a boundary already pinned down.

    Args:
      learner: a `LatentCovariance` (the GP).
      x: `[n, *feature_shape]` candidates. targets: `[m, *feature_shape]` where predictions
        matter, or those prepared (`with_targets`, once per round).
      weights: `[m]`, each target's weight; by default its doubt (`with_targets` may have drawn
        the targets in proportion to their doubt instead, and then weighs them equally).
    """
    gp = _covariance_learner(learner)
    prepared = targets if isinstance(targets, PreparedTargets) else gp.prepare_targets(params, targets)
    weights = target_doubt(gp, prepared) if weights is None else weights  # [m]
    candidates = gp.prepare_targets(params, x)  # their std [n] and factor, shared with the cross-covariance
    std_x = candidates.std
    cross = gp.cross_covariance(params, candidates, prepared)  # [n, m]
    tau2 = gp.noise_variance(params)
    rho2 = cross ** 2 / ((std_x ** 2 + tau2)[:, None] * (prepared.std ** 2)[None, :])
    information = -0.5 * jnp.log1p(-jnp.clip(rho2, 0.0, 1.0 - 1e-6))
    return jnp.mean(information * weights[None, :], axis=1)


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


def default_chunk_size(learner: Learner, scorer: Scorer, n: int) -> int:
    """The chunk `score_points` uses for `n` points: the scorer's default, or the next power of two
    ≥ n (at least 16) when that is smaller."""
    return min(scorer.chunk_size(learner), capacity_for(n, 16))


def score_points(learner: Learner, scorer: Scorer, params: Any, x: np.ndarray,
                 chunk_size: int | None = None, rows: np.ndarray | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Scores `[n]` (NumPy float64) of `x: [n, *feature_shape]`, computed chunk by chunk.

    With `rows` [n], the scores are of `x[rows]`, gathered a chunk at a time (a memory-mapped pool
    is read, never copied whole); with `out` (float64 `[len(x)]`) they are written into
    `out[rows]` as they come, and `out` is returned (no score-sized temporary).

    With no `chunk_size`, the scorer's default (1,024 points; 64 for expected gradient
    length through a CNN) is used, shrunk to the next power of two ≥ n for small inputs, so a pool of any
    size compiles at most once per power-of-two bucket below the default and once above it.
    """
    n = len(x) if rows is None else len(rows)
    size = chunk_size or default_chunk_size(learner, scorer, n)
    if rows is None:
        x = np.asarray(x, np.float32)
    target = np.empty(n, np.float64) if out is None else out
    at = None if out is None else rows  # (None: write the chunks in order)
    mesh = mesh_for(size)
    if mesh is None:
        def score(chunk: np.ndarray) -> Array:
            return _score_chunk(learner, scorer, params, chunk)
    else:  # several devices: each scores its rows of every chunk (`qsynth._devices`)
        everywhere = replicated(params, mesh)

        def score(chunk: np.ndarray) -> Array:
            return _score_chunk(learner, scorer, everywhere, split_rows(chunk, mesh))
    for start, k, scores in chunk_results(score, x, size, rows):
        if at is None:
            target[start:start + k] = scores[:k]
        else:
            target[at[start:start + k]] = scores[:k]
    return target
