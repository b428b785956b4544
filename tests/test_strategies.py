import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.learners import LearnerConfig
from qsynth.strategies import (Scorer, build_strategy, expected_gradient_length, kcenter_batch,
                               score_points, top_k)
from qsynth.strategies import scoring
from qsynth.strategies import POLICIES, STRATEGY_KINDS
from qsynth.uncertainty import MEASURES
from tests.contract_specs import pool_and_stream_specs
from tests.helpers import tiny_context

ALL_STRATEGIES = pool_and_stream_specs()


def test_every_strategy_kind_and_measure_is_under_a_contract():
    from tests.contract_specs import synthesis_specs

    covered = {s["kind"] for s in ALL_STRATEGIES + synthesis_specs()}
    assert covered == set(STRATEGY_KINDS)
    measures = {s.get("measure") for s in ALL_STRATEGIES if s["kind"] == "uncertainty"}
    assert set(MEASURES) <= measures  # every measure of qsynth.uncertainty, through uncertainty sampling
    assert {s["policy"] for s in ALL_STRATEGIES if s["kind"] == "stream"} == set(POLICIES)


@pytest.fixture(scope="module")
def context():
    return tiny_context(labeled=6, round_index=3)


@pytest.mark.parametrize("spec", ALL_STRATEGIES, ids=lambda s: "-".join(map(str, s.values())))
def test_strategy_contract(spec, context, key):
    """batch_size distinct valid queries, deterministic per key, inputs untouched, never a queried point."""
    strategy = build_strategy(spec)
    pool_before = context.problem.pool.copy()
    available_before = context.available.copy()
    state0 = strategy.init(context.problem)
    q1, s1 = strategy.select(key, context, 5, state0)
    q2, s2 = strategy.select(key, context, 5, state0)
    assert len(q1) == 5
    assert len(set(q1.query_id)) == 5 and all(qid.startswith("r0003-") for qid in q1.query_id)
    assert q1.x.shape == (5, 2) and q1.scores.shape == (5,)
    assert len(set(q1.pool_index.tolist())) == 5
    assert np.all(context.available[q1.pool_index])
    np.testing.assert_array_equal(q1.x, context.problem.pool[q1.pool_index])
    np.testing.assert_array_equal(q1.pool_index, q2.pool_index)
    np.testing.assert_array_equal(q1.scores, q2.scores)
    assert s1 == s2
    np.testing.assert_array_equal(context.problem.pool, pool_before)
    np.testing.assert_array_equal(context.available, available_before)
    assert strategy.scenario in ("pool", "stream")


def test_uncertainty_picks_the_highest_scores(context):
    strategy = build_strategy({"kind": "uncertainty", "measure": "entropy"})
    q, _ = strategy.select(jax.random.key(0), context, 3, None)
    all_scores = score_points(context.learner, Scorer("entropy"), context.params, context.problem.pool)
    best = np.sort(all_scores[context.available])[::-1][:3]
    np.testing.assert_allclose(np.sort(q.scores)[::-1], best, rtol=1e-6)


def test_pool_scoring_is_invariant_to_order_and_chunking(context):
    pool = context.problem.pool
    perm = np.random.default_rng(0).permutation(len(pool))
    a = score_points(context.learner, Scorer("bald"), context.params, pool)
    b = score_points(context.learner, Scorer("bald"), context.params, pool[perm])
    c = score_points(context.learner, Scorer("bald"), context.params, pool, chunk_size=7)
    np.testing.assert_allclose(a[perm], b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-7)


def test_pool_scoring_compiles_once_for_any_pool_size(context):
    scorer = Scorer("margin")
    score_points(context.learner, scorer, context.params, context.problem.pool[:5], chunk_size=32)
    before = scoring.TRACE_COUNTS["score_chunk"]
    for n in (1, 31, 32, 33, 100, 120):
        out = score_points(context.learner, scorer, context.params, context.problem.pool[:n], chunk_size=32)
        assert out.shape == (n,)
    assert scoring.TRACE_COUNTS["score_chunk"] == before


def test_expected_gradient_length_matches_the_closed_form_for_logistic_regression(key):
    """For softmax regression, ‖∇_{W,b} CE(x, c)‖ = ‖p − e_c‖ · sqrt(‖x‖² + 1)."""
    learner = LearnerConfig(model="logreg", members=2, steps=1).build((3,), 4)
    params = learner.init(key).params
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    got = np.asarray(expected_gradient_length(learner, params, jnp.asarray(x)))
    probs = np.asarray(learner.probs(params, x), np.float64)  # [m, n, c]
    eye = np.eye(4)
    per_member = np.linalg.norm(probs[:, :, None, :] - eye[None, None], axis=-1) * \
        np.sqrt((x.astype(np.float64) ** 2).sum(-1) + 1)[None, :, None]  # [m, n, c]
    expected = np.sum(probs.mean(0) * per_member.mean(0), axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.parametrize("model, hidden", [("mlp", (7, 5)), ("logreg", ())])
def test_expected_gradient_length_closed_form_equals_per_example_gradients(key, model, hidden):
    """The dense closed form (‖a‖²‖δ‖² per layer) equals the norms of `vmap(grad)` gradients."""
    from qsynth.learners.gradients import per_example_gradient_norms
    learner = LearnerConfig(model=model, hidden=hidden or (128,), members=3, steps=1).build((2, 3), 4)
    params = learner.init(key).params
    # some pre-activations negative and some positive, so the ReLU masks matter
    x = jnp.asarray(np.random.default_rng(1).normal(size=(9, 2, 3)) * 3, jnp.float32)
    closed = np.asarray(learner.gradient_norms(params, x))
    assert closed.shape == (3, 9, 4) and learner.gradient_chunk == 1024  # the closed form is used
    for m in range(3):
        net = jax.tree.map(lambda a: a[m], params["net"])
        reference = np.asarray(per_example_gradient_norms(learner.net_logits, net, x, 4))
        np.testing.assert_allclose(closed[m], reference, rtol=1e-4)


def test_top_k_and_kcenter():
    scores = np.array([0.1, 0.9, 0.9, 0.5, 0.7])
    np.testing.assert_array_equal(top_k(scores, np.arange(5), 3), [1, 2, 4])
    np.testing.assert_array_equal(top_k(scores, np.array([0, 3]), 5), [3, 0])
    # two tight clusters of high scores: k-center takes one from each, top-k two from the best cluster
    x = np.array([[0, 0], [0.01, 0], [0.02, 0], [5, 5], [5.01, 5]], float)
    s = np.array([1.0, 0.99, 0.98, 0.5, 0.49])
    assert set(kcenter_batch(s, np.arange(5), x, 2).tolist()) == {0, 4} or \
        set(kcenter_batch(s, np.arange(5), x, 2).tolist()) == {0, 3}
    np.testing.assert_array_equal(top_k(s, np.arange(5), 2), [0, 1])


@pytest.mark.parametrize("spec, message", [
    ({"kind": "magic"}, "unknown strategy kind 'magic'"),
    ({"kind": "uncertainty", "measure": "confusion"}, "unknown uncertainty measure 'confusion'"),
    ({"kind": "uncertainty", "batchsize": 3}, r"unknown field\(s\) \['batchsize'\]"),
    ({"kind": "qbc", "measure": "entropy"}, "measure must be one of"),
    ({"kind": "stream", "budget": 1.5}, "stream budget"),
    ({"kind": "stream", "policy": "greedy"}, "stream policy must be one of"),
    ({"kind": "uncertainty", "batch": "greedy"}, "batch must be"),
])
def test_bad_strategy_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        build_strategy(spec)


def test_pool_strategy_on_poolless_problem_says_so(context):
    import dataclasses
    problem = dataclasses.replace(context.problem, pool=None, pool_y=None)
    ctx = dataclasses.replace(context, problem=problem, available=None)
    with pytest.raises(ValueError, match="has no pool"):
        build_strategy({"kind": "uncertainty"}).select(jax.random.key(0), ctx, 1, None)
