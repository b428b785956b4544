"""Batches that spread by belief: each query of a batch is chosen as if the ones before it had
already been answered (the kriging believer).

A top-k batch of an uncertainty score puts its k queries on the one bump the score has; a
fixed minimum distance (`min_distance`) or k-center pushes them apart by a length that knows
nothing of the model. The believer asks the model instead: after taking the best candidate, it
conditions the learner on an answer there at the value the learner predicts (`Believer.believe`;
for a GP the mean stays, the variance shrinks within a lengthscale of the query), rescores every
candidate under that belief, and takes the next best — so the next query goes where the first
answer would *not* already have told us, at the model's own scale, anisotropic where the kernel
is. For a GP this is exact in the variance: a GP's variance after an answer does not depend on
the answer.

It spreads a batch only under a measure that reads the variance — `boundary_information`,
`straddle` — not one that reads only the class probability at a point the model puts on the
boundary (there, a GP's entropy stays log 2 whatever its variance).

References:
  Ginsbourger, Le Riche & Carraro (2010). Kriging Is Well-Suited to Parallelize Optimization.
  Desautels, Krause & Burdick (2014). Parallelizing Exploration-Exploitation Tradeoffs in
    Gaussian Process Bandit Optimization (GP-BUCB: hallucinated observations).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from qsynth.learners.base import Believer, Learner, PreparedTargets

__all__ = ["believed_params", "believer_batch", "believing_learner"]


def believing_learner(learner: Learner, strategy: str) -> Believer:
    """`learner` as a `Believer`, or the error naming the strategy and what to use instead."""
    if not isinstance(learner, Believer):
        raise ValueError(f"strategy {strategy!r}: batch = 'believer' needs a learner that can condition on a "
                         f"fantasized answer (a Believer, such as learner.model = 'gp'); {type(learner).__name__} "
                         "cannot: use batch = 'kcenter' (pool) or the min_distance rule (synthesis)")
    return learner


def believed_params(learner: Believer, params: Any, x: np.ndarray, valid: np.ndarray) -> Any:
    """The scoring params after believing answers at `x: [k, ...]` (rows with `valid: [k]` 1.0).

    Plain learner params are conditioned directly. A `boundary_information` round's params
    (`with_targets`: the learner's, its prepared targets and their weights) are conditioned and
    their targets prepared again under the belief, each weight scaled by its target's new doubt
    over its old one — the importance weights of the targets as drawn (in proportion to the old
    doubt), so the believed measure is the same mean over targets that the measure is.
    """
    from qsynth.strategies.scoring import _prepare_targets, target_doubt

    if not isinstance(params, dict) or "targets" not in params:
        return learner.believe(params, jnp.asarray(x), jnp.asarray(valid, jnp.float32))
    if not isinstance(params["targets"], PreparedTargets):
        raise ValueError("batch = 'believer' conditions a latent Gaussian posterior and its prepared targets "
                         "(measure 'boundary_information'); the measure 'epig' scores ensemble members, "
                         "which cannot be believed")
    base = learner.believe(params["learner"], jnp.asarray(x), jnp.asarray(valid, jnp.float32))
    old = params["targets"]
    prepared, doubt = _prepare_targets(learner, base, old.x)
    old_doubt = target_doubt(learner, old)  # type: ignore[arg-type]
    weights = params["weights"] * jnp.where(old_doubt > 0, doubt / jnp.maximum(old_doubt, 1e-30), 0.0)
    return {"learner": base, "targets": prepared, "weights": weights}


def believer_batch(learner: Learner, params: Any, points: np.ndarray, scores: np.ndarray, k: int,
                   measure: Any, strategy: str, p_answered: np.ndarray | None = None,
                   expected_cost: np.ndarray | None = None, refusal_cost: float = 1.0) -> np.ndarray:
    """Up to `k` candidate indices, chosen one at a time, each after believing the ones before.

    Args:
      learner: the learner, which must be a `Believer` (else the error names `strategy`).
      params: this round's scoring params.
      points: `[n, *feature_shape]` the candidates' inputs. scores: `[n]` their scores under
        `params` (NaN counts as worst), as the strategy ranked them.
      measure: the strategy's measure; under a belief each candidate is rescored with it, weighed
        by `p_answered` `[n]` (P(answered), `answerability.weigh`, a refusal costing
        `refusal_cost` answered queries) and per `expected_cost` `[n]` (`answerability.per_cost`)
        where those are given, as `scores` were.
    Returns:
      `[min(k, n)]` distinct indices, in the order chosen (the first is `scores`' best).
    """
    from qsynth.strategies.answerability import per_cost, weigh
    from qsynth.strategies.measures import Scorer
    from qsynth.strategies.scoring import score_points

    believer = believing_learner(learner, strategy)
    scorer = Scorer(measure)

    def rescore(believed: Any) -> np.ndarray:
        s = score_points(learner, scorer, believed, points)
        s = s if p_answered is None else weigh(s, p_answered, refusal_cost)
        return s if expected_cost is None else per_cost(s, expected_cost)

    n = len(scores)
    k = min(int(k), n)
    chosen: list[int] = []
    fantasies = np.zeros((max(k - 1, 1), *points.shape[1:]), np.float32)
    valid = np.zeros(len(fantasies), np.float32)
    current = np.asarray(scores, np.float64)
    while len(chosen) < k:
        ranked = np.where(np.isfinite(current), current, -np.inf)
        ranked[chosen] = -np.inf
        best = int(np.lexsort((np.arange(n), -ranked))[0])
        chosen.append(best)
        if len(chosen) == k:
            break
        fantasies[len(chosen) - 1] = points[best]
        valid[len(chosen) - 1] = 1.0
        current = np.asarray(rescore(believed_params(believer, params, fantasies, valid)), np.float64)
    return np.asarray(chosen, np.int64)
