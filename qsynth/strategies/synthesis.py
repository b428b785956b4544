"""Membership query synthesis: the learner creates its queries by gradient ascent on uncertainty.

* `LatentSynthesis` searches a VAE's latent space: many starts (prior draws or encodings of
  pool points) climb a differentiable acquisition of the decoded point, with a realism term
  that keeps z where the prior has mass; the best `batch_size` are kept, no two closer than
  `min_distance` in latent space.
* `InputSynthesis` climbs in the raw input box (a simulator's parameters): projected
  gradient ascent inside the problem's bounds.
* `match = "latent" | "input"` on either turns it into *synthesize, then match* (ASAL): each
  synthesized query is snapped to its nearest unqueried pool point, for oracles that can
  only answer real samples.
* With `answerability` (on by default), once the oracle has refused a query (abstained, or
  failed under `failures = "avoid"`), the ascent climbs the acquisition weighed by a model of
  P(answered | query) learned from every answer of the run (`qsynth.strategies.answerability`;
  in latent space for latent synthesis, in input space for input synthesis): expected
  information per query asked. Until the first refusal nothing changes. A matched query is a
  real pool point, so `match` arms are not weighed.
* `PriorSampling` (random decoded prior draws, no ascent) and `BestOfPrior` (decode many
  prior draws, keep the most uncertain, no gradient) are the baselines that show what the
  gradient buys.

Every query records `z`, the acquisition before and after the ascent and the step count.
The JAX programs (the ascent, decoding, scoring) are imported when a strategy first selects,
so validating a config that names these strategies starts no JAX.

References:
  Angluin (1988). Queries and Concept Learning. (membership queries)
  Zhu & Bento (2017). Generative Adversarial Active Learning.
  Mayer & Timofte (2020). Adversarial Sampling for Active Learning (ASAL).
  Kingma & Welling (2014). Auto-Encoding Variational Bayes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

from typing import TYPE_CHECKING

import numpy as np

from qsynth.generators.base import Encoder, Generator
from qsynth.problem import Problem
from qsynth.records import Queries
from qsynth.strategies.answerability import (ANSWERABILITY_SPACES, FEATURE_SPACES, SUPPORT_SPACES, AnswerabilityModel,
                                             CostModel, SupportReference, answerability_for, check_refusal_cost,
                                             check_window, cost_for, expected_cost_of, per_cost, probability_of,
                                             query_features, support_reference, weigh)
from qsynth.strategies.base import RoundContext, empty_queries, numpy_rng, query_ids
from qsynth.strategies.measures import MeasureLike, Scorer, check_measure, measure_name, needs_targets

if TYPE_CHECKING:
    import jax

__all__ = ["BestOfPrior", "InputSynthesis", "LatentSynthesis", "PriorSampling", "diverse_top"]

#: Inputs of at most this many features keep their ascent paths (for 2-D boundary plots).
PATH_MAX_FEATURES = 3
#: How a synthesis strategy picks its batch from the finished starts (`batch`): "distance", the
#: best by score no two closer than `min_distance`; "believer", each after believing answers at
#: the ones before (`qsynth.strategies.believer`).
SYNTHESIS_BATCH_RULES = ("distance", "believer")


def diverse_top(scores: np.ndarray, points: np.ndarray, k: int, min_distance: float) -> np.ndarray:
    """Up to `k` indices, best score first, no two closer than `min_distance` (Euclidean).

    Greedy: walk the points by descending score and keep one if it is at least
    `min_distance` from all kept so far. If fewer than `k` pass, the best of the rest fill
    the batch (so a batch is always full when there are `k` points).

    Args:
      scores: [n] (NaN counts as worst). points: [n, ...] flattened for distances.
    """
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.lexsort((np.arange(len(scores)), -scores))
    pts = np.asarray(points, np.float64).reshape(len(scores), -1)
    kept: list[int] = []
    for i in order:
        if len(kept) == k:
            break
        if not kept or np.min(np.linalg.norm(pts[kept] - pts[i], axis=1)) >= min_distance:
            kept.append(int(i))
    if len(kept) < k:
        taken = set(kept)
        rest = [int(i) for i in order if int(i) not in taken]
        kept += rest[:k - len(kept)]
    return np.asarray(kept, np.int64)


_rng = numpy_rng


def _check_generator(name: str, generator: Generator | None, problem: Problem) -> Generator:
    if generator is None:
        raise ValueError(f"strategy {name!r} needs a trained generator; the experiment runner trains one from the "
                         "config's [generator] table (in Python: dataclasses.replace(strategy, generator=...))")
    if not isinstance(generator, Generator):
        raise ValueError(f"strategy {name!r}: {type(generator).__name__} is not a qsynth Generator (it needs latent, "
                         "feature_shape, params, generate, log_prior and sample_prior)")
    if tuple(generator.feature_shape) != problem.feature_shape:
        raise ValueError(f"strategy {name!r}: the generator makes inputs of shape {generator.feature_shape}, "
                         f"problem {problem.name!r} has {problem.feature_shape}")
    return generator


def _encoder(name: str, generator: Generator,
             why: str = "starting from pool points or matching in latent space") -> Encoder:
    if not isinstance(generator, Encoder):
        raise ValueError(f"strategy {name!r}: {why} needs a generator that encodes (an Encoder); "
                         f"{type(generator).__name__} does not")
    return generator


def _match(ctx: RoundContext, targets: np.ndarray, space_points: np.ndarray, batch_size: int) -> np.ndarray:
    """For each target in order, the nearest unqueried pool point not already taken: [<= batch_size]."""
    available = np.flatnonzero(ctx.available)
    taken: list[int] = []
    free = np.ones(len(available), bool)
    flat = space_points.reshape(len(space_points), -1)
    for t in targets.reshape(len(targets), -1):
        if len(taken) == batch_size or not free.any():
            break
        d = np.linalg.norm(flat - t, axis=1)
        d[~free] = np.inf
        j = int(np.argmin(d))
        free[j] = False
        taken.append(int(available[j]))
    return np.asarray(taken, np.int64)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Ascent:
    """What latent and input synthesis share: the ascent settings and the batch rule."""

    measure: MeasureLike = "entropy"
    starts: int = 256
    steps: int = 100
    learning_rate: float = 0.05
    min_distance: float = 0.5
    batch: str = "distance"
    match: str | None = None
    targets: str | None = None
    kept_targets: int | None = None
    screen: int = 1
    rescore: bool = False
    answerability: bool = True
    answerability_space: str = "auto"
    cost_aware: bool = False
    refusal_cost: float = 1.0
    pool_fallback: bool = False
    fallback_window: int | None = None
    label: str | None = None
    scenario: str = dataclasses.field(default="synthesis", init=False)

    #: Where a target measure's target inputs may come from, the first the default (with a pool).
    _target_sources: ClassVar[tuple[str, ...]] = ("pool",)

    def __post_init__(self) -> None:
        check_measure(self.measure, differentiable=True)
        if self.targets is not None:
            if not needs_targets(self.measure):
                raise ValueError(f"strategy {self._kind}: targets = {self.targets!r} is for a target measure "
                                 f"('boundary_information', 'epig'); measure {measure_name(self.measure)!r} has none")
            if self.targets not in self._target_sources:
                raise ValueError(f"strategy {self._kind}: targets must be one of {list(self._target_sources)}, "
                                 f"got {self.targets!r}")
        if self.kept_targets is not None:
            if not needs_targets(self.measure):
                raise ValueError(f"strategy {self._kind}: kept_targets is for a target measure ('boundary_information', "
                                 f"'epig'); measure {measure_name(self.measure)!r} has none")
            from qsynth.strategies.scoring import TARGET_CANDIDATES

            if not (isinstance(self.kept_targets, int) and 1 <= self.kept_targets <= TARGET_CANDIDATES):
                raise ValueError(f"strategy {self._kind}: kept_targets must be an integer from 1 to "
                                 f"{TARGET_CANDIDATES} (the candidates drawn each round), got {self.kept_targets!r}")
        if self.rescore and not needs_targets(self.measure):
            raise ValueError(f"strategy {self._kind}: rescore judges the finished starts on fresh targets, for a target "
                             f"measure ('boundary_information', 'epig'); measure {measure_name(self.measure)!r} has none")
        if self.answerability_space not in ANSWERABILITY_SPACES:
            raise ValueError(f"strategy {self._kind}: answerability_space must be one of {list(ANSWERABILITY_SPACES)}, "
                             f"got {self.answerability_space!r}")
        check_refusal_cost(self.refusal_cost, f"strategy {self._kind}")
        check_window(self.fallback_window, f"strategy {self._kind}")
        if self.fallback_window is not None and not self.pool_fallback:
            raise ValueError(f"strategy {self._kind}: fallback_window sets how the pool fallback judges; "
                             "it needs pool_fallback = true")
        if self.pool_fallback and self.match is not None:
            raise ValueError(f"strategy {self._kind}: pool_fallback asks a real pool point where it beats the "
                             f"synthesized query; with match = {self.match!r} every query is a pool point already")
        if self.screen < 1:
            raise ValueError(f"strategy {self._kind}: screen must be >= 1, got {self.screen}")
        if self.starts < 1 or self.steps < 0:
            raise ValueError(f"strategy {self._kind}: starts must be >= 1 and steps >= 0, got {self.starts}, {self.steps}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"strategy {self._kind}: learning_rate must be a finite positive number, "
                             f"got {self.learning_rate}")
        if self.min_distance < 0:
            raise ValueError(f"strategy {self._kind}: min_distance must be >= 0, got {self.min_distance}")
        if self.batch not in SYNTHESIS_BATCH_RULES:
            raise ValueError(f"strategy {self._kind}: batch must be one of {list(SYNTHESIS_BATCH_RULES)}, "
                             f"got {self.batch!r}")
        if self.match not in (None, "latent", "input"):
            raise ValueError(f"strategy {self._kind}: match must be 'latent', 'input' or absent, got {self.match!r}")

    _kind = "synthesis"

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return (f"{self._kind}-{measure_name(self.measure)}" + ("-believer" if self.batch == "believer" else "")
                + ("+match" if self.match else ""))

    def _models(self, ctx: RoundContext, space: str, encode: Any = None
                ) -> tuple[AnswerabilityModel | None, CostModel | None, SupportReference | None]:
        """This round's answerability and cost models in `space`, each None when it is off, for a
        matched arm, or while it has nothing to say (no refusal yet; every answer cost the same),
        and the support reference the answerability model's features need (or None)."""
        if self.match is not None:
            return None, None, None
        model = reference = None
        if self.answerability:
            if self.answerability_space in SUPPORT_SPACES and ctx.answers is not None and ctx.answers.refusals:
                reference = support_reference(ctx.problem.pool)
            model = self._answerability_model(ctx, space, encode, reference)
        bounds = ctx.problem.bounds if space == "input" else None
        cost = cost_for(ctx.answers, space, bounds, encode) if self.cost_aware else None
        return model, cost, reference

    def _answerability_model(self, ctx: RoundContext, space: str, encode: Any, reference: SupportReference | None,
                             window: int | None = None) -> AnswerabilityModel | None:
        """The answerability model of the run's outcomes (the newest `window` of them), in the
        strategy's feature space, else in `space` ("latent" or "input")."""
        if self.answerability_space in FEATURE_SPACES:
            return answerability_for(ctx.answers, self.answerability_space, window=window,
                                     features=functools.partial(self._features, ctx, reference))
        return answerability_for(ctx.answers, space, ctx.problem.bounds if space == "input" else None, encode,
                                 window=window)

    def _check_support(self, problem: Problem) -> None:
        """A support space measures distances to the pool's inputs, and a pool fallback asks pool
        points: refuse a problem without a pool."""
        if self.answerability and self.answerability_space in SUPPORT_SPACES and problem.pool is None:
            raise ValueError(f"strategy {self.name!r}: answerability_space = {self.answerability_space!r} measures a "
                             f"query's distance to the pool's real inputs; problem {problem.name!r} has no pool")
        if self.pool_fallback and problem.pool is None:
            raise ValueError(f"strategy {self.name!r}: pool_fallback asks a real pool point where it beats the "
                             f"synthesized query; problem {problem.name!r} has no pool")

    def _features(self, ctx: RoundContext, reference: SupportReference | None, x: np.ndarray) -> np.ndarray:
        """`query_features` `[n, dim]` of this strategy's feature space at flat inputs `x: [n, features]`."""
        x = np.asarray(x, np.float32).reshape(len(x), *ctx.problem.feature_shape)

        def probs() -> np.ndarray:  # [1, n, C]: the committee mean, as one member
            return np.asarray(ctx.learner.predict_proba(ctx.params, x), np.float32)[None]

        return np.asarray(query_features(self.answerability_space, x, probs,
                                         None if reference is None else reference.arrays))

    @staticmethod
    def _model_arrays(model: AnswerabilityModel | None, reference: SupportReference | None) -> Any:
        """What the ascent takes as `answerability`: the model's arrays, paired with the reference's."""
        if model is None:
            return None
        return model.arrays if reference is None else (model.arrays, reference.arrays)

    def _queries(self, ctx: RoundContext, batch_size: int, z: np.ndarray, before: np.ndarray, after: np.ndarray,
                 x_of: Any, path_x: np.ndarray | None, match_points: Any,
                 model: AnswerabilityModel | None = None, cost: CostModel | None = None,
                 params: Any = None, reference: SupportReference | None = None, encode: Any = None,
                 judged: np.ndarray | None = None) -> Queries:
        """Pick the batch from finished starts (by the acquisition — `judged`, the `rescore` estimate,
        where there is one, else `after` — weighed by `model`'s P(answered)
        and divided by `cost`'s expected cost, where there are those), then (optionally) match it
        to the pool, or let the best pool points take the places of weaker synthesized queries
        (`pool_fallback`; `encode`: z of pool inputs, for latent synthesis)."""
        from qsynth.strategies.scoring import score_points

        ranked = after if judged is None else judged
        extra: dict[str, Any] = {}
        if model is not None:
            where = z
            if self.answerability_space in FEATURE_SPACES:
                where = self._features(ctx, reference, np.asarray(x_of(z)).reshape(len(z), -1))
            p_answered = probability_of(model, where)
            ranked = weigh(after, p_answered, self.refusal_cost)
        if cost is not None:
            expected = expected_cost_of(cost, z)
            ranked = per_cost(ranked, expected)
        if self.batch == "believer" and batch_size > 1:
            from qsynth.strategies.believer import believer_batch

            chosen = believer_batch(ctx.learner, ctx.params if params is None else params, x_of(z), ranked,
                                    batch_size, self.measure, self.name, p_answered if model is not None else None,
                                    expected if cost is not None else None, self.refusal_cost)
        else:
            chosen = diverse_top(ranked, z, batch_size, self._distance_scale(ctx) * self.min_distance)
        extra.update({"acquisition_before": before[chosen], "acquisition_after": after[chosen],
                      "ascent_steps": np.full(len(chosen), self.steps, np.int64)})
        if judged is not None:
            extra["acquisition_judged"] = judged[chosen]
        if model is not None:
            extra["answerable"] = p_answered[chosen]
        if cost is not None:
            extra["expected_cost"] = expected[chosen]
        if path_x is not None:
            extra["path"] = path_x[:, chosen].transpose(1, 0, 2)
        if self.match is None:
            latent = z[chosen] if getattr(self, "needs_generator", False) else None  # input space has no codes
            queries = Queries(query_ids(ctx.round_index, len(chosen)), x_of(z[chosen]), ranked[chosen],
                              z=latent, extra=extra)
            if self.pool_fallback:
                queries = self._with_pool_fallback(ctx, queries, batch_size, model, cost, reference,
                                                   ctx.params if params is None else params, encode)
            return queries
        if ctx.problem.pool is None or ctx.available is None:
            raise ValueError(f"strategy {self.name!r} matches to a pool, but problem {ctx.problem.name!r} has none")
        if not ctx.available.any():
            return empty_queries(ctx.problem.feature_shape)
        synth_points, pool_points = match_points(z[chosen])
        idx = _match(ctx, synth_points, pool_points, batch_size)
        pool_x = ctx.problem.pool[idx]
        scores = score_points(ctx.learner, Scorer(self.measure), ctx.params if params is None else params, pool_x)
        extra = {k: v[:len(idx)] for k, v in extra.items()}
        extra["synthesized_x"] = np.asarray(x_of(z[chosen][:len(idx)])).reshape(len(idx), -1)
        return Queries(query_ids(ctx.round_index, len(idx)), pool_x, scores, pool_index=idx, extra=extra)

    def _with_pool_fallback(self, ctx: RoundContext, synthesized: Queries, batch_size: int,
                            model: AnswerabilityModel | None, cost: CostModel | None,
                            reference: SupportReference | None, params: Any, encode: Any) -> Queries:
        """The best `batch_size` of the synthesized queries and the unqueried pool points, best
        first, by one weighed acquisition: the measure (a synthesized query's after its ascent, a
        pool point's at the learner), weighed by P(answered) — `model`'s, or with
        `fallback_window` a model of the newest outcomes only — and per expected cost where
        there is a cost model (the batch's `scores`); `synthesized` itself when no pool point
        makes the batch. Pool rows carry their `pool_index` (−1 on synthesized rows), their
        encoding as `z` in latent synthesis, and no ascent (0 steps, the acquisition before =
        after)."""
        from qsynth.strategies.scoring import score_points

        if ctx.available is None or not ctx.available.any():
            return synthesized
        judge = model
        if model is not None and self.fallback_window is not None:
            space = "latent" if getattr(self, "needs_generator", False) else "input"
            judge = self._answerability_model(ctx, space, encode, reference, self.fallback_window)
        rows = np.flatnonzero(ctx.available)
        x = np.asarray(ctx.problem.pool[rows], np.float32)
        flat = x.reshape(len(x), -1)
        codes = None if encode is None else np.asarray(encode(x), np.float32).reshape(len(x), -1)
        where = flat if codes is None else codes  # where the latent or input models place a pool point
        synth_flat = np.asarray(synthesized.x, np.float32).reshape(len(synthesized), -1)
        synth_where = synth_flat if synthesized.z is None else np.asarray(synthesized.z, np.float32)

        def answerable(which: AnswerabilityModel, inputs: np.ndarray, at: np.ndarray) -> np.ndarray:
            if self.answerability_space in FEATURE_SPACES:
                at = self._features(ctx, reference, inputs)
            return probability_of(which, at)

        def weighed(acquisition: np.ndarray, inputs: np.ndarray, at: np.ndarray) -> np.ndarray:
            if judge is not None:
                acquisition = weigh(acquisition, answerable(judge, inputs, at), self.refusal_cost)
            if cost is not None:
                acquisition = per_cost(acquisition, expected_cost_of(cost, at))
            return np.where(np.isfinite(acquisition), acquisition, -np.inf)

        raw = np.asarray(score_points(ctx.learner, Scorer(self.measure), params, x), np.float64)
        pool_scores = weighed(raw, flat, where)
        best = np.lexsort((np.arange(len(rows)), -pool_scores))[:batch_size]
        n = len(synthesized)
        synth_scores = (synthesized.scores if judge is model else
                        weighed(np.asarray(synthesized.extra["acquisition_after"], np.float64), synth_flat,
                                synth_where))
        scores = np.concatenate([np.where(np.isfinite(synth_scores), synth_scores, -np.inf), pool_scores[best]])
        order = np.lexsort((np.arange(len(scores)), -scores))[:batch_size]  # (a tie goes to the synthesized query)
        if np.all(order < n):
            return synthesized
        pool_extra: dict[str, np.ndarray] = {"acquisition_before": raw[best], "acquisition_after": raw[best],
                                             "ascent_steps": np.zeros(len(best), np.int64)}
        if model is not None:  # (as on synthesized rows: the strategy's own model)
            pool_extra["answerable"] = answerable(model, flat[best], where[best])
        if cost is not None:
            pool_extra["expected_cost"] = expected_cost_of(cost, where[best])
        if "path" in synthesized.extra:  # a pool point's path: where it stands, every step
            steps = synthesized.extra["path"].shape[1]
            pool_extra["path"] = np.repeat(flat[best][:, None, :], steps, axis=1)
        if set(pool_extra) != set(synthesized.extra):
            raise AssertionError(f"pool fallback: extras {sorted(pool_extra)} against {sorted(synthesized.extra)}")
        extra = {k: np.concatenate([np.asarray(v), pool_extra[k]])[order] for k, v in synthesized.extra.items()}
        both_z = None if synthesized.z is None else np.concatenate([synthesized.z, codes[best]])[order]
        return Queries(query_ids(ctx.round_index, len(order)), np.concatenate([synthesized.x, x[best]])[order],
                       scores[order], pool_index=np.concatenate([np.full(n, -1, np.int64), rows[best]])[order],
                       z=both_z, extra=extra)

    def _distance_scale(self, ctx: RoundContext) -> float:
        return 1.0

    def _target_source(self, problem: Problem) -> str:
        """Where this round's target inputs come from: `targets`, or by default the box for input
        synthesis, and the pool (else decoded prior draws) for latent synthesis."""
        source = self.targets or self._target_sources[0]
        if source == "pool" and problem.pool is None:
            if self.targets == "pool":
                raise ValueError(f"strategy {self.name!r}: targets = 'pool', but problem {problem.name!r} has no pool")
            source = self._target_sources[-1]
        return source

    def _target_params(self, ctx: RoundContext, rng: np.random.Generator, candidates: Any,
                       keep_all: bool = False) -> Any:
        """The params the ascent climbs with: the learner's, and for a target measure this round's
        targets, `TARGET_CANDIDATES` of them from the pool (uniformly) or from `candidates(n)`
        (uniform in the box, or decoded prior draws), prepared by `with_targets` (which keeps
        `KEPT_TARGETS` drawn by doubt for `boundary_information`, `TARGETS` for `epig`, or with
        `keep_all` every candidate, each weighed by its doubt)."""
        from qsynth.strategies.scoring import BOUNDARY_INFORMATION, KEPT_TARGETS, TARGET_CANDIDATES, TARGETS, with_targets

        if not needs_targets(self.measure):
            return ctx.params
        if self._target_source(ctx.problem) == "pool":
            pool = ctx.problem.pool
            rows = np.sort(rng.choice(len(pool), min(TARGET_CANDIDATES, len(pool)), replace=False))
            x = np.asarray(pool[rows], np.float32)
        else:
            x = candidates(TARGET_CANDIDATES)
        keep = None if keep_all else self.kept_targets or (KEPT_TARGETS if self.measure == BOUNDARY_INFORMATION
                                                          else TARGETS)
        return with_targets(ctx.learner, ctx.params, x, keep=keep, rng=rng, measure=str(self.measure))

    def _judged(self, ctx: RoundContext, rng: np.random.Generator, candidates: Any, x: np.ndarray) -> np.ndarray | None:
        """With `rescore`, the measure `[n]` at the finished starts' inputs `x: [n, *feature_shape]`
        over `TARGET_CANDIDATES` fresh targets, every one kept (weighed by its doubt): an estimate
        independent of the few targets the ascent climbed on, so the pick is not biased toward
        them (the best of many climbs on one Monte-Carlo estimate overrates itself). Else None."""
        from qsynth.strategies.scoring import score_points

        if not self.rescore:
            return None
        fresh = self._target_params(ctx, rng, candidates, keep_all=True)
        return score_points(ctx.learner, Scorer(self.measure), fresh, np.asarray(x, np.float32))


@dataclasses.dataclass(frozen=True, kw_only=True)
class LatentSynthesis(_Ascent):
    """Gradient ascent on the acquisition in a VAE's latent space.

    Attributes:
      measure: a differentiable measure (entropy, smooth_margin, bald, soft_vote_entropy, ...).
      starts, steps, learning_rate: the ascent (Adam) — all starts climb together.
      realism: weight of the generator's log prior density (−½‖z‖² for the VAE's standard normal).
      start_from: "prior" (standard-normal draws) or "pool" (posterior means of unqueried pool points).
      screen: draw `starts · screen` candidate starts and climb from the `starts` most uncertain.
      rescore: (a target measure) pick among the finished starts by the measure over
        `TARGET_CANDIDATES` fresh targets, every one kept, instead of the ascent's own estimate on
        the few it kept: the best of many climbs on one Monte-Carlo estimate overrates itself.
      min_distance: least latent distance between two queries of a batch (`batch = "distance"`).
      batch: "distance" (the default) or "believer": each query of a batch chosen from the
        finished starts after believing answers at the ones before (a learner that can believe,
        such as the GP; `qsynth.strategies.believer`); `min_distance` is then unused.
      match: None, or "latent"/"input" to snap queries to the nearest unqueried pool point.
      targets: for a target measure ("boundary_information" with the GP, "epig" with an
        ensemble: the information an answer gives about target inputs' labels), where the
        targets come from: "pool" (1,024 pool points drawn each round; the default where there
        is a pool) or "prior" (decoded prior draws; the default without one). The ascent climbs
        the decoded point's information about them.
      kept_targets: how many of those candidates the ascent keeps (None: 64 drawn by doubt for
        "boundary_information", 256 uniformly for "epig"); more cost more per step and estimate
        the information better (8-D: docs/results.md).
      answerability: weigh the acquisition by P(answered | z) once the oracle has refused a query.
      pool_fallback: also score the unqueried pool points by the same weighed acquisition, and
        ask the best of them in place of any synthesized query they beat (a real image the
        oracle can answer, where every synthesized one is likely refused); needs a pool and a
        generator that encodes.
      fallback_window: the pool fallback weighs both by a model of the newest this-many
        outcomes (None: the ascent's own model), so it compares at the refusal rate of late
        queries, which rises as the learner's doubts narrow to what the oracle cannot tell either.
      refusal_cost: what a refusal costs, in answered queries (default 1: information per query
        asked); above 1 the weighed acquisition is also divided by the expected cost of asking,
        p + (1 − p)·refusal_cost, trading information for fewer refusals (`answerability.weigh`).
      cost_aware: also divide it by the expected cost of asking at z, learned from the answers'
        costs (once they differ): information per unit of cost.
      generator: the trained VAE (the runner fits it once per run and seed).
    """

    realism: float = 0.05
    start_from: str = "prior"
    generator: Generator | None = dataclasses.field(default=None, compare=False, repr=False)
    needs_generator = True
    _target_sources = ("pool", "prior")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.realism < 0:
            raise ValueError(f"strategy synthesis: realism must be >= 0, got {self.realism}")
        if self.start_from not in ("prior", "pool"):
            raise ValueError(f"strategy synthesis: start_from must be 'prior' or 'pool', got {self.start_from!r}")

    def init(self, problem: Problem) -> Any:  # type: ignore[override]
        if needs_targets(self.measure):
            self._target_source(problem)  # (targets = "pool" without a pool fails here, before any work)
        _check_generator(self.name, self.generator, problem)
        if (self.match or self.start_from == "pool") and problem.pool is None:
            raise ValueError(f"strategy {self.name!r} (start_from={self.start_from!r}, match={self.match!r}) needs a pool; "
                             f"problem {problem.name!r} has none")
        self._check_support(problem)
        if self.pool_fallback:
            _encoder(self.name, self.generator, "pool_fallback (a pool point's code places it in latent space)")
        return None

    def _starts(self, key: jax.Array, ctx: RoundContext, gen: Generator) -> np.ndarray:
        z = np.array(gen.sample_prior(key, self.starts * self.screen), np.float32)
        if self.start_from == "pool" and ctx.available is not None:
            cand = np.flatnonzero(ctx.available)
            take = _rng(key).choice(cand, size=min(self.starts, len(cand)), replace=False)
            z[:len(take)] = _encoder(self.name, gen).encode(ctx.problem.pool[take])
        return z

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        import jax

        from qsynth.strategies.ascent import AscentSpec, ascend, best_starts
        from qsynth.strategies.decoding import decode

        gen = _check_generator(self.name, self.generator, ctx.problem)
        z0 = self._starts(key, ctx, gen)
        keep_path = math.prod(ctx.problem.feature_shape) <= PATH_MAX_FEATURES
        encode = gen.encode if isinstance(gen, Encoder) else None
        model, cost, reference = self._models(ctx, "latent", encode)
        arrays, cost_arrays = self._model_arrays(model, reference), None if cost is None else cost.arrays
        spec = AscentSpec(ctx.learner, gen, self.measure, self.steps, self.learning_rate,
                          realism=self.realism, keep_path=keep_path, answerable=model is not None,
                          answer_space=self.answerability_space, cost_aware=cost is not None,
                          refusal_cost=self.refusal_cost)
        target_key = jax.random.fold_in(key, 1)  # (the starts' draws stay those of a run without targets)

        def prior_decodes(salt: int, n: int) -> np.ndarray:  # (salt 1: the ascent's targets; 2: the rescore's)
            return np.asarray(decode(gen, np.asarray(gen.sample_prior(jax.random.fold_in(target_key, salt), n))),
                              np.float32)

        params = self._target_params(ctx, _rng(target_key), functools.partial(prior_decodes, 1))
        if self.screen > 1:
            z0 = best_starts(spec, params, gen.params, z0, self.starts, arrays, cost_arrays)
        res = ascend(spec, params, gen.params, z0, answerability=arrays, cost=cost_arrays)
        z, before, after = np.asarray(res.z), np.asarray(res.before), np.asarray(res.after)
        path_x = None
        if res.path is not None:
            path = np.asarray(res.path)
            path_x = decode(gen, path.reshape(-1, gen.latent)).reshape(path.shape[0], path.shape[1], -1)

        def match_points(zc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pool = ctx.problem.pool[np.flatnonzero(ctx.available)]
            if self.match == "latent":
                return zc, _encoder(self.name, gen).encode(pool)
            return decode(gen, zc), pool

        judged = None if not self.rescore else \
            self._judged(ctx, _rng(jax.random.fold_in(key, 2)), functools.partial(prior_decodes, 2), decode(gen, z))
        return self._queries(ctx, batch_size, z, before, after, functools.partial(decode, gen), path_x,
                             match_points, model, cost, params, reference, encode, judged), state


@dataclasses.dataclass(frozen=True, kw_only=True)
class InputSynthesis(_Ascent):
    """Projected gradient ascent on the acquisition inside the problem's input box (no generator).

    `min_distance` is a fraction of the box diagonal; `batch = "believer"` replaces it by the
    kriging believer (as for latent synthesis). Starts are uniform in the box (the best
    `starts` of `starts · screen` uniform draws when `screen` > 1). With the GP, `measure` may
    also be "straddle" or "boundary_information", and with an ensemble "epig": 1,024 target
    candidates each round, after the starts, from the same round key — `targets = "box"`
    (the default: uniform in the box) or `"pool"` (pool points, where the task's inputs live)
    — of which the ascent keeps `kept_targets` (by default 64 drawn in proportion to their doubt
    for boundary information, 256 uniformly for EPIG): `qsynth.strategies.scoring.with_targets`.
    `pool_fallback` and `fallback_window` are as for latent synthesis (a pool point is placed at
    its input).
    """

    _kind = "input_synthesis"
    min_distance: float = 0.05
    _target_sources = ("box", "pool")

    def init(self, problem: Problem) -> Any:
        if problem.bounds is None:
            raise ValueError(f"strategy {self.name!r} needs input bounds; problem {problem.name!r} has none")
        if self.match == "latent":
            raise ValueError(f"strategy {self.name!r}: input synthesis has no latent space; use match = 'input'")
        if self.match and problem.pool is None:
            raise ValueError(f"strategy {self.name!r} matches to a pool; problem {problem.name!r} has none")
        if needs_targets(self.measure):
            self._target_source(problem)
        self._check_support(problem)
        return None

    def _distance_scale(self, ctx: RoundContext) -> float:
        low, high = ctx.problem.bounds
        return float(np.linalg.norm(high - low))

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        from qsynth.strategies.ascent import AscentSpec, ascend, best_starts

        if ctx.problem.bounds is None:
            raise ValueError(f"strategy {self.name!r} needs input bounds; problem {ctx.problem.name!r} has none")
        low, high = ctx.problem.bounds
        rng = _rng(key)
        z0 = rng.uniform(low, high, (self.starts * self.screen, low.size)).astype(np.float32)
        keep_path = low.size <= PATH_MAX_FEATURES
        model, cost, reference = self._models(ctx, "input")
        arrays, cost_arrays = self._model_arrays(model, reference), None if cost is None else cost.arrays
        spec = AscentSpec(ctx.learner, None, self.measure, self.steps, self.learning_rate, bounded=True,
                          keep_path=keep_path, answerable=model is not None, answer_space=self.answerability_space,
                          cost_aware=cost is not None, refusal_cost=self.refusal_cost)

        def uniform(n: int) -> np.ndarray:  # where predictions matter: uniform in the box, fresh each round
            return rng.uniform(low, high, (n, low.size)).astype(np.float32).reshape(n, *ctx.problem.feature_shape)

        params = self._target_params(ctx, rng, uniform)
        if self.screen > 1:
            z0 = best_starts(spec, params, None, z0, self.starts, arrays, cost_arrays)
        res = ascend(spec, params, None, z0, low, high, answerability=arrays, cost=cost_arrays)
        z, before, after = np.asarray(res.z), np.asarray(res.before), np.asarray(res.after)
        path_x = np.asarray(res.path) if res.path is not None else None
        shape = ctx.problem.feature_shape

        def x_of(zc: np.ndarray) -> np.ndarray:
            return zc.reshape(len(zc), *shape)

        def match_points(zc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return zc, ctx.problem.pool[np.flatnonzero(ctx.available)]

        judged = self._judged(ctx, rng, uniform, x_of(z))
        return self._queries(ctx, batch_size, z, before, after, x_of, path_x, match_points, model, cost,
                             params, reference, judged=judged), state


@dataclasses.dataclass(frozen=True, kw_only=True)
class PriorSampling:
    """Baseline: decoded random prior draws, no ascent (what a generator alone would ask)."""

    measure: MeasureLike = "entropy"
    label: str | None = None
    generator: Generator | None = dataclasses.field(default=None, compare=False, repr=False)
    scenario: str = dataclasses.field(default="synthesis", init=False)
    needs_generator = True

    @property
    def name(self) -> str:
        return self.label or "prior-random"

    def init(self, problem: Problem) -> Any:
        _check_generator(self.name, self.generator, problem)
        return None

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        from qsynth.strategies.decoding import sample
        from qsynth.strategies.scoring import score_points

        gen = _check_generator(self.name, self.generator, ctx.problem)
        z, x = sample(gen, key, batch_size)
        scores = score_points(ctx.learner, Scorer(self.measure), ctx.params, x)
        return Queries(query_ids(ctx.round_index, batch_size), x, scores, z=z), state


@dataclasses.dataclass(frozen=True, kw_only=True)
class BestOfPrior:
    """Baseline: decode `candidates` prior draws, keep the most uncertain (no gradient).

    With `candidates = starts · (steps + 1)` it spends as many decoder evaluations as a
    latent ascent does forward passes.
    """

    measure: MeasureLike = "entropy"
    candidates: int = 4096
    min_distance: float = 0.5
    label: str | None = None
    generator: Generator | None = dataclasses.field(default=None, compare=False, repr=False)
    scenario: str = dataclasses.field(default="synthesis", init=False)
    needs_generator = True

    def __post_init__(self) -> None:
        Scorer(self.measure)
        if self.candidates < 1:
            raise ValueError(f"strategy prior_best: candidates must be >= 1, got {self.candidates}")

    @property
    def name(self) -> str:
        return self.label or f"prior-best-{measure_name(self.measure)}"

    def init(self, problem: Problem) -> Any:
        _check_generator(self.name, self.generator, problem)
        return None

    def select(self, key: jax.Array, ctx: RoundContext, batch_size: int, state: Any) -> tuple[Queries, Any]:
        from qsynth.strategies.decoding import sample
        from qsynth.strategies.scoring import score_points

        gen = _check_generator(self.name, self.generator, ctx.problem)
        z, x = sample(gen, key, self.candidates)
        scores = score_points(ctx.learner, Scorer(self.measure), ctx.params, x)
        chosen = diverse_top(scores, z, batch_size, self.min_distance)
        return Queries(query_ids(ctx.round_index, len(chosen)), x[chosen], scores[chosen], z=z[chosen]), state
