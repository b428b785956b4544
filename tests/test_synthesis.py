import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.problem import TestSetEvaluator as GridEvaluator

from qsynth.generators import GeneratorConfig, fit_generator
from qsynth.loop import LoopConfig, run_loop
from qsynth.oracles.teacher import TeacherOracle
from qsynth.strategies import build_strategy, diverse_top
from qsynth.strategies import ascent as ascent_module
from qsynth.strategies.ascent import AscentSpec, acquisition, ascend
from qsynth.strategies.synthesis import LatentSynthesis
from tests.contract_specs import synthesis_specs
from tests.helpers import TINY, tiny_context, tiny_moons, tiny_problem

# beta < 1 keeps the 2-D latent informative (held-out reconstruction MSE ~0.004 vs ~0.08 at beta = 1),
# so the decoded manifold crosses the learner's boundary instead of grazing it
VAE = GeneratorConfig(latent=2, hidden=(32, 32), steps=600, batch_size=64, warmup=300, learning_rate=5e-3, beta=0.3)

SYNTHESIS_STRATEGIES = synthesis_specs()


@pytest.fixture(scope="module")
def vae():
    return fit_generator(jax.random.key(0), VAE, tiny_moons(0, 120).x)


@pytest.fixture(scope="module")
def context():
    return tiny_context(labeled=10, round_index=2)


def _with(strategy, vae):
    return dataclasses.replace(strategy, generator=vae) if getattr(strategy, "needs_generator", False) else strategy


@pytest.mark.parametrize("spec", SYNTHESIS_STRATEGIES, ids=lambda s: "-".join(map(str, s.values())))
def test_synthesis_strategy_contract(spec, context, vae, key):
    """batch_size distinct queries of the right shape, deterministic per key, inputs untouched."""
    strategy = _with(build_strategy(spec), vae)
    pool_before, available_before = context.problem.pool.copy(), context.available.copy()
    state = strategy.init(context.problem)
    q1, _ = strategy.select(key, context, 4, state)
    q2, _ = strategy.select(key, context, 4, state)
    assert len(q1) == 4 and q1.x.shape == (4, 2) and np.all(np.isfinite(q1.x))
    assert len({tuple(r) for r in q1.x.tolist()}) == 4
    np.testing.assert_array_equal(q1.x, q2.x)
    assert strategy.scenario == "synthesis"
    if spec.get("match"):
        assert len(set(q1.pool_index.tolist())) == 4 and np.all(context.available[q1.pool_index])
        np.testing.assert_array_equal(q1.x, context.problem.pool[q1.pool_index])
    elif spec["kind"] != "input_synthesis":
        assert q1.z.shape == (4, 2)
    else:
        assert q1.z is None  # inputs are not latent codes
    if spec["kind"] in ("synthesis", "input_synthesis"):
        assert q1.extra["acquisition_after"].shape == (4,) and np.all(q1.extra["ascent_steps"] == 10)
    np.testing.assert_array_equal(context.problem.pool, pool_before)
    np.testing.assert_array_equal(context.available, available_before)


def test_batched_ascent_equals_each_start_alone(context, vae):
    """Starts never interact: ascending 8 starts together equals ascending each one by itself."""
    spec = AscentSpec(context.learner, vae, "entropy", 15, 0.05, realism=0.1)
    z0 = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    together = np.asarray(ascend(spec, context.params, vae.params, z0).z)
    alone = np.concatenate([np.asarray(ascend(spec, context.params, vae.params, z0[i:i + 1]).z) for i in range(8)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def test_ascent_gradient_is_the_gradient_of_the_acquisition(context, vae):
    """One plain-SGD-equivalent check: the first Adam step moves each start along its own gradient's sign."""
    spec = AscentSpec(context.learner, vae, "entropy", 1, 1e-3)
    z0 = np.random.default_rng(1).normal(size=(6, 2)).astype(np.float32)
    grad = jax.vmap(jax.grad(lambda z: acquisition(spec, context.params, vae.params, z[None])[0]))(jnp.asarray(z0))
    moved = np.asarray(ascend(spec, context.params, vae.params, z0).z) - z0
    big = np.abs(np.asarray(grad)) > 1e-4
    np.testing.assert_array_equal(np.sign(moved)[big], np.sign(np.asarray(grad))[big])
    np.testing.assert_allclose(np.abs(moved)[big], 1e-3, rtol=1e-2)  # Adam's first step is lr · sign(g)


def test_most_starts_reach_near_maximal_entropy(context, vae):
    """On a fixed small problem, >= 90% of the starts end at entropy >= 0.95 · log C, in latent and input space."""
    spec = AscentSpec(context.learner, vae, "entropy", 100, 0.1, realism=0.0)
    z0 = np.asarray(vae.generator.prior(jax.random.key(0), 128))
    res = ascend(spec, context.params, vae.params, z0)
    after, before = np.asarray(res.after), np.asarray(res.before)
    assert np.mean(after >= 0.95 * math.log(2)) >= 0.9
    assert np.mean(after) > np.mean(before)
    low, high = context.problem.bounds
    spec_in = AscentSpec(context.learner, None, "entropy", 100, 0.05, bounded=True)
    x0 = np.random.default_rng(0).uniform(low, high, (128, 2)).astype(np.float32)
    res_in = ascend(spec_in, context.params, None, x0, low, high)
    assert np.mean(np.asarray(res_in.after) >= 0.95 * math.log(2)) >= 0.9
    z = np.asarray(res_in.z)
    assert np.all(z >= low) and np.all(z <= high)  # projected: never leaves the box


def test_ascent_beats_best_of_n_prior_sampling_at_equal_decoder_evaluations(context, vae):
    """64 starts × 101 evaluations (6,464 decodes) vs the best 64 of 6,464 decoded prior draws."""
    starts, steps = 64, 100
    spec = AscentSpec(context.learner, vae, "entropy", steps, 0.1)
    key_a, key_b = jax.random.split(jax.random.key(7))
    res = ascend(spec, context.params, vae.params, np.asarray(vae.generator.prior(key_a, starts)))
    ascent_gap = math.log(2) - np.asarray(res.after)
    z = vae.generator.prior(key_b, starts * (steps + 1))
    sampled = np.sort(np.asarray(acquisition(spec, context.params, vae.params, z)))[::-1][:starts]
    best_of_n_gap = math.log(2) - sampled
    assert ascent_gap.mean() < best_of_n_gap.mean()
    assert np.median(ascent_gap) < 0.1 * np.median(best_of_n_gap)


def test_synthesis_compiles_once_for_a_run(vae, tmp_path):
    problem = tiny_problem(0, n=120)
    learner = TINY.build(problem.feature_shape, 2)
    data = tiny_moons(0, 120)
    teacher = TeacherOracle.fit(jax.random.key(0), data.x, data.y, data.classes,
                                config=dataclasses.replace(TINY, steps=100, members=1))
    strategy = LatentSynthesis(measure="entropy", starts=16, steps=5, generator=vae)
    run_loop(jax.random.key(1), problem, learner, strategy, teacher, LoopConfig(budget=8, seed_size=2))  # warm
    before = ascent_module.TRACE_COUNTS["ascend"]
    # a larger budget crosses no new capacity bucket for the learner, and the ascent never retraces
    result = run_loop(jax.random.key(2), problem, learner, strategy, teacher, LoopConfig(budget=12, seed_size=2))
    assert ascent_module.TRACE_COUNTS["ascend"] == before
    assert len(result.history) == 11


def test_diverse_top_keeps_a_minimum_distance_and_fills_the_batch():
    scores = np.array([0.9, 0.89, 0.88, 0.5, 0.1])
    points = np.array([[0.0], [0.01], [1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(diverse_top(scores, points, 3, 0.5), [0, 2, 3])
    np.testing.assert_array_equal(diverse_top(scores, points, 5, 0.5), [0, 2, 3, 4, 1])  # filled when short
    np.testing.assert_array_equal(diverse_top(scores, points, 2, 0.0), [0, 1])


def test_matching_snaps_to_the_nearest_unqueried_pool_point(context, vae, key):
    strategy = _with(build_strategy({"kind": "input_synthesis", "starts": 16, "steps": 5, "match": "input"}), vae)
    q, _ = strategy.select(key, context, 1, None)
    synth = q.extra["synthesized_x"][0]
    pool = context.problem.pool
    free = np.flatnonzero(context.available)
    nearest = free[np.argmin(np.linalg.norm(pool[free] - synth, axis=1))]
    assert q.pool_index[0] == nearest


def test_teacher_labels_any_point_and_abstains_when_unsure(key):
    data = tiny_moons(0, 120)
    cfg = dataclasses.replace(TINY, steps=200, members=1, warm_start=False)
    teacher = TeacherOracle.fit(key, data.x, data.y, data.classes, config=cfg, threshold=0.9)
    from qsynth.records import Queries, Status

    probs = teacher.predict_proba(data.x_test)
    assert np.mean(probs.argmax(1) == data.y_test) > 0.8
    x = np.concatenate([data.x_test[:20], np.array([[0.5, 0.25]], np.float32)])
    answers = teacher.label(Queries(tuple(f"q{i}" for i in range(len(x))), x, np.zeros(len(x))))
    p = teacher.predict_proba(x)
    for a, pi in zip(answers, p):
        if pi.max() >= 0.9:
            assert a.status is Status.OK and a.label == int(pi.argmax())
        else:
            assert a.status is Status.ABSTAIN and "threshold" in a.error


@pytest.mark.parametrize("spec, message", [
    ({"kind": "synthesis", "measure": "vote_entropy"}, "not differentiable"),
    ({"kind": "synthesis", "measure": "margins"}, "unknown"),
    ({"kind": "synthesis", "start_from": "pools"}, "start_from"),
    ({"kind": "input_synthesis", "starts": 0}, "starts"),
    ({"kind": "synthesis", "match": "nearest"}, "match"),
    ({"kind": "synthesis", "generator": "vae"}, "unknown field"),
])
def test_bad_synthesis_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        build_strategy(spec)


def test_synthesis_without_a_fitting_generator_or_bounds_says_so(context, vae):
    with pytest.raises(ValueError, match="needs a trained generator"):
        build_strategy({"kind": "synthesis"}).init(context.problem)
    digits_like = dataclasses.replace(context.problem, feature_shape=(64,), pool=None, stream=None, pool_y=None,
                                      bounds=None, evaluator=GridEvaluator(np.zeros((1, 64)), np.zeros(1, int)))
    with pytest.raises(ValueError, match=r"makes inputs of shape \(2,\)"):
        LatentSynthesis(generator=vae).init(digits_like)
    with pytest.raises(ValueError, match="needs input bounds"):
        build_strategy({"kind": "input_synthesis"}).init(digits_like)


def test_latent_synthesis_rescores_its_starts_on_fresh_targets(context, vae, key):
    """`rescore` in latent space (EPIG with the ensemble, targets decoded from prior draws: the
    tiny pool's 120 points would be every target of both estimates): the batch is every start,
    best first by the fresh estimate, which the query's score is."""
    spec = {"kind": "synthesis", "measure": "epig", "targets": "prior", "starts": 16, "steps": 3, "min_distance": 0.0}
    judged, _ = _with(build_strategy(spec | {"rescore": True}), vae).select(key, context, 16, None)
    plain, _ = _with(build_strategy(spec), vae).select(key, context, 16, None)
    j = judged.extra["acquisition_judged"]
    assert np.all(np.diff(j) <= 0) and np.all(j >= 0)
    np.testing.assert_allclose(judged.scores, j)
    np.testing.assert_array_equal(np.sort(judged.z, axis=0), np.sort(plain.z, axis=0))  # the same climbs
    assert not np.allclose(j, judged.extra["acquisition_after"], rtol=1e-3)  # not the ascent's own 256 targets
