"""Answerability: the Beta kernel model of P(answered | query), the weighted acquisition, and
how a session learns it from every answer (and keeps it across a restore)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import TINY
from qsynth import Session
from qsynth.config import ConfigError, parse_config
from qsynth.learners import LearnerConfig
from qsynth.problem import Problem
from qsynth.problem import TestSetEvaluator as GridEvaluator
from qsynth.records import Answer, Queries, Status
from qsynth.session import SessionConfig
from qsynth.store import SeedStore
from qsynth.strategies import RoundContext
from qsynth.strategies.answerability import (LENGTHSCALE_FRACTIONS, SUPPORT_NEIGHBOURS, AnswerLog, answerability_for,
                                             fit_answerability, loo_log_likelihood, probability, probability_of,
                                             per_cost, query_features, support_distance, support_reference,
                                             weigh)
from qsynth.strategies.pool import PoolSampling
from qsynth.strategies.synthesis import InputSynthesis

GRID = np.stack(np.meshgrid(np.linspace(0, 1, 21), np.linspace(0, 1, 21)), -1).reshape(-1, 2).astype(np.float32)
SQUARE = Problem(name="square", feature_shape=(2,), classes=(0, 1),
                 evaluator=GridEvaluator(GRID, (GRID[:, 0] > 0.5).astype(int)),
                 bounds=(np.zeros(2, np.float32), np.ones(2, np.float32)))


# ---- the model ---------------------------------------------------------------------------------
def test_the_model_against_a_hand_worked_value_in_numpy_and_jax():
    m = fit_answerability(np.array([[0.0], [1.0]]), np.array([True, False]), 2.0, prior=(1.0, 0.0))
    m = dataclasses.replace(m, lengthscale=1.0)
    # at q = 0: k = [1, e^-1/2]; P = (1 + 1) / (1 + 0 + 1 + e^-1/2)
    want = 2.0 / (2.0 + math.exp(-0.5))
    assert m.probability(np.array([[0.0]]))[0] == pytest.approx(want, rel=1e-12)
    assert probability_of(m, np.array([[0.0]]))[0] == pytest.approx(want, rel=1e-6)
    assert float(probability(m.arrays, jnp.zeros((1, 1)))[0]) == pytest.approx(want, rel=1e-6)
    # far from every asked query: the prior's mean, a0 / (a0 + b0) = 1
    assert m.probability(np.array([[50.0]]))[0] == pytest.approx(1.0)
    near_refusal = m.probability(np.array([[1.0]]))[0]
    assert near_refusal == pytest.approx((1 + math.exp(-0.5)) / (2 + math.exp(-0.5)))


def test_weigh_is_expected_acquisition_per_query_asked():
    assert weigh(0.6, 0.25) == pytest.approx(0.15)  # p · acq for a non-negative acquisition
    assert weigh(-0.4, 0.25) == pytest.approx(-0.7)  # a signed one is lowered, never raised
    assert weigh(0.6, 1.0) == pytest.approx(0.6)
    np.testing.assert_allclose(np.asarray(weigh(jnp.array([0.5, 0.2]), jnp.array([0.5, 0.0]))), [0.25, 0.0])


def test_a_refusal_that_costs_more_discounts_unlikely_answers_more():
    # by hand, r = 3: p · acq / (p + (1 − p)·3); at p = 0.5, acq 2 -> 1 / 2
    assert weigh(2.0, 0.5, 3.0) == pytest.approx(0.5)
    assert weigh(2.0, 1.0, 3.0) == pytest.approx(2.0)  # a sure answer costs one query
    assert weigh(-1.0, 0.5, 3.0) == pytest.approx(-3.0)  # a signed one: −1.5 made 2× worse, not better
    # the choice it changes: A (acq 0.69, p 0.6) beats B (acq 0.5, p 0.8) per query asked, not at r = 3
    acq, p = np.array([0.69, 0.5]), np.array([0.6, 0.8])
    assert np.argmax(weigh(acq, p)) == 0 and np.argmax(weigh(acq, p, 3.0)) == 1
    np.testing.assert_allclose(weigh(acq, p, 3.0), [0.69 * 0.6 / 1.8, 0.5 * 0.8 / 1.4])
    # NumPy and JAX agree; r = 1 is the expression without the cost, bit for bit
    rng = np.random.default_rng(0)
    a, q = rng.normal(size=50).astype(np.float32), rng.uniform(size=50).astype(np.float32)
    np.testing.assert_allclose(np.asarray(weigh(jnp.asarray(a), jnp.asarray(q), 2.5)), weigh(a, q, 2.5), rtol=1e-6)
    assert np.array_equal(weigh(a, q, 1.0), a - (1.0 - q) * np.abs(a))
    # monotone in the cost wherever an answer is in doubt
    w = [weigh(a, q, r) for r in (1.0, 2.0, 4.0)]
    assert np.all(w[1] <= w[0] + 1e-7) and np.all(w[2] <= w[1] + 1e-7)


def test_per_cost_never_ranks_a_costlier_query_higher():
    assert per_cost(0.4, 2.0) == pytest.approx(0.2) and per_cost(0.4, 0.5) == pytest.approx(0.8)
    assert per_cost(-0.4, 2.0) == pytest.approx(-0.8) and per_cost(-0.4, 0.5) == pytest.approx(-0.2)
    rng = np.random.default_rng(1)
    v, c = rng.normal(size=64), rng.uniform(0.1, 10.0, 64)
    assert np.array_equal(per_cost(np.abs(v), c), np.abs(v) / c)  # a non-negative value: bit for bit a division
    assert np.all(per_cost(v, 2 * c) <= per_cost(v, c))  # costlier is never better, whatever the sign
    np.testing.assert_allclose(np.asarray(per_cost(jnp.asarray(v, jnp.float32), jnp.asarray(c, jnp.float32))),
                               per_cost(v, c), rtol=1e-5, atol=1e-7)


def _signed(probs):
    """A signed measure `[n]` of member probabilities `[members, n, 2]` (as straddle is)."""
    return probs.mean(0)[:, 1] - 0.5


def test_the_cost_aware_ascent_climbs_a_signed_acquisition_per_cost():
    from qsynth.strategies.answerability import expected_cost, fit_cost
    from qsynth.strategies.ascent import AscentSpec, acquisition, weighted_acquisition

    learner = TINY.build((2,), 2)
    params = learner.init(jax.random.key(0)).params
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, (12, 2))
    cost = fit_cost(pts, np.where(pts[:, 0] < 0.5, 10.0, 1.0), math.sqrt(2))
    z = jnp.asarray(GRID[::5])
    acq = np.asarray(acquisition(AscentSpec(learner, None, _signed, 1, 0.1), params, None, z))
    assert (acq < 0).any() and (acq > 0).any()
    got = weighted_acquisition(AscentSpec(learner, None, _signed, 1, 0.1, cost_aware=True), params, None, z, None,
                               cost.arrays)
    want = per_cost(acq, np.asarray(expected_cost(cost.arrays, z)))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-7)


def test_refusal_cost_is_checked_and_reaches_the_strategies_from_a_config():
    for bad in (0.5, float("inf"), float("nan"), "2", True):
        with pytest.raises(ValueError, match="refusal_cost must be a finite number >= 1"):
            InputSynthesis(refusal_cost=bad)
    with pytest.raises(ValueError, match="strategy 'entropy': refusal_cost"):
        PoolSampling(refusal_cost=0.0)
    cfg = parse_config({"name": "t", "data": {"name": "moons"}, "oracle": {"kind": "teacher"}, "strategies": [
        {"kind": "uncertainty", "answerability": True, "refusal_cost": 2},
        {"kind": "input_synthesis", "refusal_cost": 3.5}]})
    from qsynth.strategies.registry import build_strategy

    assert [build_strategy(s).refusal_cost for s in cfg.strategies] == [2, 3.5]


def test_leave_one_out_and_the_chosen_lengthscale_against_brute_force():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, (25, 2))
    ok = pts[:, 0] < 0.6
    for ell in (0.05, 0.3):
        brute = 0.0
        for i in range(len(pts)):
            rest = np.arange(len(pts)) != i
            m = fit_answerability(pts[rest], ok[rest], 1.0, prior=(1.0, 0.0))
            p = np.clip(dataclasses.replace(m, lengthscale=ell).probability(pts[i:i + 1])[0], 0.01, 0.99)
            brute += math.log(p if ok[i] else 1 - p)
        assert loo_log_likelihood(pts, ok, ell) == pytest.approx(brute, rel=1e-5)
    m = fit_answerability(pts, ok, math.sqrt(2), prior=(1.0, 0.0))
    best = max(LENGTHSCALE_FRACTIONS, key=lambda f: loo_log_likelihood(pts, ok, f * math.sqrt(2)))
    assert m.lengthscale == pytest.approx(best * math.sqrt(2))


def test_the_model_is_differentiable_in_the_query():
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 1, (30, 3)).astype(np.float32)
    m = fit_answerability(pts, pts[:, 0] < 0.5, 1.0)
    q = jnp.asarray([[0.5, 0.3, 0.2]], jnp.float32)
    grad = np.asarray(jax.grad(lambda x: probability(m.arrays, x).sum())(q))[0]
    eps = 1e-3
    for d in range(3):
        step = np.zeros((1, 3))
        step[0, d] = eps
        fd = (m.probability(np.asarray(q) + step) - m.probability(np.asarray(q) - step))[0] / (2 * eps)
        assert grad[d] == pytest.approx(fd, rel=1e-2, abs=1e-4)


def test_an_answer_log_adds_removes_and_round_trips_as_arrays():
    log = AnswerLog.empty(2)
    log.add("seed-q00", np.array([0.1, 0.2]), None, True)
    log.add("r0001-q00", np.array([0.3, 0.4]), np.array([1.0, 2.0, 3.0]), False)
    assert log.z.shape == (2, 3) and np.isnan(log.z[0]).all() and log.refusals == 1
    back = AnswerLog.from_arrays({k: np.asarray(v) for k, v in log.arrays().items()})
    assert back.query_id == log.query_id and np.array_equal(back.x, log.x) and np.array_equal(back.answered, log.answered)
    np.testing.assert_array_equal(back.z, log.z)
    log.remove("r0001-q00")
    assert len(log) == 1 and log.refusals == 0
    assert answerability_for(log, "input", SQUARE.bounds) is None  # no refusal: weight 1
    with pytest.raises(ValueError, match="'latent', 'input' or one of"):
        answerability_for(back, "pixels")


# ---- a session learns it ---------------------------------------------------------------------------
def _run(strategy, answer, seed=0, budget=30, store=None, stop_after=None, config=SessionConfig(seed_size=6),
         learner=TINY, problem=SQUARE):
    session = Session(problem, learner.build((2,), 2), strategy, key=jax.random.key(seed), config=config, store=store)
    asked = []
    while session.state.spent["queries"] < budget:
        q = session.ask()
        asked.append(q)
        session.tell([answer(q.query_id[i], q.x[i]) for i in range(len(q))])
        if stop_after is not None and session.round == stop_after:
            break  # (killed after its answers were logged, before the fit that checkpoints them)
        session.fit()
    return session, asked


def _band(qid, x):
    """A teacher that will not answer near its boundary (|x0 − 0.5| < 0.08)."""
    return Answer(qid, Status.ABSTAIN) if abs(x[0] - 0.5) < 0.08 else Answer(qid, Status.OK, label=int(x[0] > 0.5))


def _corner(qid, x):
    """An oracle that cannot answer the top of the box (x1 > 0.6), where the boundary also runs."""
    return Answer(qid, Status.ABSTAIN) if x[1] > 0.6 else Answer(qid, Status.OK, label=int(x[0] > 0.5))


SYNTH = InputSynthesis(measure="entropy", starts=64, steps=20)


def test_the_model_learns_an_unanswerable_band_within_thirty_queries():
    session, _ = _run(SYNTH, _band)
    m = answerability_for(session.state.outcomes, "input", SQUARE.bounds)
    band = np.array([[0.5, y] for y in (0.2, 0.5, 0.8)])
    assert m.probability(band).max() < 0.2
    assert m.probability(np.array([[0.15, 0.5], [0.85, 0.5]])).min() > 0.8


def test_synthesis_stops_asking_where_the_oracle_cannot_answer():
    refused = {True: [], False: []}
    for on in (True, False):
        for seed in range(3):
            _, asked = _run(dataclasses.replace(SYNTH, answerability=on), _corner, seed=seed)
            xs = np.concatenate([q.x for q in asked[1:]])  # after the seed set
            refused[on].append(float(np.mean(xs[:, 1] > 0.6)))
    assert np.mean(refused[True]) <= 0.05 < 0.2 <= np.mean(refused[False]), refused


def test_a_costly_refusal_ranks_the_synthesized_queries_and_climbs_the_same_objective(monkeypatch):
    """With `refusal_cost`, each query's score is its finished acquisition weighed at that cost
    (the ranking), and the ascent climbs the same expression."""
    import qsynth.strategies.ascent as ascent
    from qsynth.strategies.ascent import AscentSpec, weighted_acquisition

    specs, ascend = [], ascent.ascend
    monkeypatch.setattr(ascent, "ascend", lambda spec, *a, **k: specs.append(spec) or ascend(spec, *a, **k))
    session, asked = _run(dataclasses.replace(SYNTH, refusal_cost=4.0), _corner)
    assert specs and all(s.answerable and s.refusal_cost == 4.0 for s in specs)
    weighed = [q for q in asked if "answerable" in q.extra]
    assert weighed, "the corner oracle refused nothing"
    for q in weighed:
        np.testing.assert_allclose(q.scores, weigh(q.extra["acquisition_after"], q.extra["answerable"], 4.0), rtol=1e-6)
    model = answerability_for(session.state.outcomes, "input", SQUARE.bounds)
    learner, params = session.learner, session.learner_state.params
    z = jnp.asarray(GRID[::7])
    spec = AscentSpec(learner, None, "entropy", 1, 0.1, answerable=True, refusal_cost=4.0)
    plain = AscentSpec(learner, None, "entropy", 1, 0.1)
    acq = weighted_acquisition(plain, params, None, z, None)
    want = weigh(np.asarray(acq), np.asarray(probability(model.arrays, z)), 4.0)
    np.testing.assert_allclose(np.asarray(weighted_acquisition(spec, params, None, z, model.arrays)), want,
                               rtol=1e-5, atol=1e-7)


def test_without_a_refusal_answerability_changes_nothing():
    def always(qid, x):
        return Answer(qid, Status.OK, label=int(x[0] > 0.5))

    on, asked_on = _run(SYNTH, always, budget=12)
    off, asked_off = _run(dataclasses.replace(SYNTH, answerability=False), always, budget=12)
    for a, b in zip(asked_on, asked_off):
        assert np.array_equal(a.x, b.x) and np.array_equal(a.scores, b.scores, equal_nan=True) and "answerable" not in a.extra
    for a, b in zip(jax.tree.leaves(on.learner_state), jax.tree.leaves(off.learner_state)):
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("space", ["auto", "confidence", "confidence+support"])
def test_a_session_killed_mid_round_restores_the_model_bit_for_bit(tmp_path, space):
    strategy = dataclasses.replace(SYNTH, answerability_space=space)
    problem = HALF_POOL if "support" in space else SQUARE
    whole, asked = _run(strategy, _band, budget=20, store=SeedStore(tmp_path / "whole", fsync=False), problem=problem)
    _run(strategy, _band, budget=20, store=SeedStore(tmp_path / "cut", fsync=False), stop_after=6, problem=problem)
    restored = Session.restore(problem, TINY.build((2,), 2), strategy, key=jax.random.key(0),
                               store=SeedStore(tmp_path / "cut", fsync=False), config=SessionConfig(seed_size=6))
    assert restored.state.outcomes.refusals > 0 and restored.state.fitted_round < restored.round
    restored.fit()  # the fit the kill interrupted (the answers it learns from were replayed from the log)
    while restored.state.spent["queries"] < 20:
        q = restored.ask()
        assert np.array_equal(q.x, asked[restored.round].x)
        np.testing.assert_array_equal(q.extra.get("answerable"), asked[restored.round].extra.get("answerable"))
        restored.tell([_band(q.query_id[i], q.x[i]) for i in range(len(q))])
        restored.fit()
    a, b = whole.state.outcomes, restored.state.outcomes
    assert a.query_id == b.query_id and np.array_equal(a.x, b.x) and np.array_equal(a.answered, b.answered)
    with np.load(tmp_path / "whole" / "checkpoint" / "state.npz") as saved:  # arrays, not JSON lists
        assert saved["answerability_x"].dtype == np.float32 and np.array_equal(saved["answerability_x"], a.x)
        assert saved["answerability_answered"].dtype == bool and list(saved["answerability_id"]) == a.query_id
    # a checkpoint from before answerability: the same data rebuilt from the label log
    rebuilt = whole._outcomes_from(__import__("qsynth.store", fromlist=["x"]).read_label_log(
        tmp_path / "whole" / "labels.jsonl"))
    assert rebuilt.query_id == a.query_id and np.array_equal(rebuilt.x, a.x)


def test_failures_avoid_models_a_failed_call_and_ignore_does_not():
    def failing(qid, x):
        return Answer(qid, Status.FAILED, error="diverged") if x[1] > 0.6 else Answer(qid, Status.OK, label=int(x[0] > 0.5))

    avoid, _ = _run(SYNTH, failing, budget=8)
    ignore, _ = _run(SYNTH, failing, budget=8, config=SessionConfig(seed_size=6, failures="ignore"))
    failed = avoid.state.spent["failed"]
    assert failed > 0 and avoid.state.outcomes.refusals == failed
    assert ignore.state.outcomes.refusals == 0 and len(ignore.state.outcomes) == 8 - ignore.state.spent["failed"]


def test_a_retracted_answer_leaves_the_model():
    session = Session(SQUARE, TINY.build((2,), 2), SYNTH, key=jax.random.key(0), config=SessionConfig(seed_size=3))
    q = session.ask()
    session.tell([Answer(q.query_id[0], Status.ABSTAIN), Answer(q.query_id[1], Status.OK, label=0),
                  Answer(q.query_id[2], Status.OK, label=1)])
    assert session.state.outcomes.refusals == 1
    session.retract(q.query_id[0])
    assert session.state.outcomes.refusals == 0 and q.query_id[0] not in session.state.outcomes.query_id


def test_the_metrics_row_has_each_rounds_unanswered_share():
    session = Session(SQUARE, TINY.build((2,), 2), SYNTH, key=jax.random.key(0), config=SessionConfig(seed_size=4))
    q = session.ask()
    session.tell([Answer(q.query_id[0], Status.ABSTAIN), Answer(q.query_id[1], Status.FAILED, error="x"),
                  Answer(q.query_id[2], Status.OK, label=0), Answer(q.query_id[3], Status.OK, label=1)])
    row = session.fit()
    assert (row["round_abstained"], row["round_failed"]) == (0.25, 0.25)
    q = session.ask(2)
    session.tell([Answer(q.query_id[0], Status.ABSTAIN), Answer(q.query_id[1], Status.OK, label=1)])
    row = session.fit()
    assert (row["round_abstained"], row["round_failed"], row["abstained"]) == (0.5, 0.0, 2)


def test_pool_sampling_weighs_its_scores_when_asked():
    from qsynth.data import LabeledBuffer
    from qsynth.strategies.scoring import Scorer, score_points

    rng = np.random.default_rng(0)
    pool = rng.uniform(0, 1, (200, 2)).astype(np.float32)
    problem = dataclasses.replace(SQUARE, pool=pool, bounds=None)
    learner = TINY.build((2,), 2)
    buf = LabeledBuffer.empty((2,))
    buf.add(pool[:10], (pool[:10, 0] > 0.5).astype(int), 0)
    params = learner.fit(jax.random.key(0), None, buf).params
    log = AnswerLog.empty(2)
    for i in range(10, 40):
        log.add(f"q{i}", pool[i], None, bool(pool[i, 1] <= 0.6))
    available = np.ones(200, bool)
    available[:40] = False
    ctx = RoundContext(round_index=1, learner=learner, params=params, problem=problem, available=available,
                       buffer=buf, answers=log)
    chosen, _ = PoolSampling(answerability=True).select(jax.random.key(0), ctx, 5, None)
    raw = score_points(learner, Scorer("entropy"), params, pool[40:])
    model = answerability_for(log, "input")
    want = weigh(raw, probability_of(model, pool[40:]))
    np.testing.assert_allclose(chosen.scores, np.sort(want)[::-1][:5], rtol=1e-6)
    costly, _ = PoolSampling(answerability=True, refusal_cost=4.0).select(jax.random.key(0), ctx, 5, None)
    want = weigh(raw, probability_of(model, pool[40:]), 4.0)
    np.testing.assert_allclose(costly.scores, np.sort(want)[::-1][:5], rtol=1e-6)
    plain, _ = PoolSampling().select(jax.random.key(0), ctx, 5, None)
    np.testing.assert_allclose(plain.scores, np.sort(raw)[::-1][:5], rtol=1e-6)


def test_the_config_takes_failures_in_the_oracle_table():
    base = {"data": {"name": "moons"}, "oracle": {"kind": "teacher"}, "strategies": [{"kind": "input_synthesis"}]}
    assert parse_config(base).loop.failures == "avoid"
    cfg = parse_config({**base, "oracle": {"kind": "teacher", "failures": "ignore"}})
    assert cfg.loop.failures == "ignore" and cfg.oracle.failures == "ignore"
    with pytest.raises(ConfigError, match="oracle.failures must be 'avoid', 'ignore' or 'class'"):
        parse_config({**base, "oracle": {"kind": "teacher", "failures": "crash"}})
    with pytest.raises(ConfigError, match=r"loop.failures: set failures in the \[oracle\] table"):
        parse_config({**base, "loop": {"budget": 20, "failures": "ignore"}})
    assert not parse_config({**base, "strategies": [{"kind": "input_synthesis", "answerability": False}]}
                            ).strategies[0]["answerability"]


def test_the_labeling_page_state_says_how_likely_a_query_is_answerable():
    from qsynth.oracles.human.session import HumanSession

    human = HumanSession((0, 1), lambda x: {"table": [["x", float(x[0])]]}, show_prediction=True)
    human.set_model(lambda x: np.tile([[0.3, 0.7]], (len(x), 1)))
    human.submit(Queries(("r0001-q00",), np.zeros((1, 2), np.float32), np.zeros(1),
                         extra={"answerable": np.array([0.42])}))
    assert human.current()["prediction"] == {"label": 1, "confidence": 0.7, "answerable": 0.42}


def test_in_latent_space_uncoded_answers_are_placed_at_their_encodings():
    log = AnswerLog.empty(2)
    log.add("seed-q00", np.array([0.1, 0.2]), None, True)
    log.add("r0001-q00", np.array([0.3, 0.4]), np.array([1.0, 2.0]), False)
    assert answerability_for(log, "latent").count == 1  # without an encoder: the coded row alone
    model = answerability_for(log, "latent", encode=lambda x: x * 10.0)
    np.testing.assert_allclose(model.points[:2], [[1.0, 2.0], [1.0, 2.0]])  # seed x encoded, then the code
    assert model.count == 2 and list(model.answered[:2]) == [1.0, 0.0]


def _failing_top(qid, x):
    """A toy simulator whose calls fail at the top of the box (x1 > 0.6)."""
    return Answer(qid, Status.FAILED, error="diverged") if x[1] > 0.6 else Answer(qid, Status.OK, label=int(x[0] > 0.5))


def test_failures_as_a_class_predict_the_failure_region_of_a_toy_simulator():
    from qsynth.strategies.pool import RandomSampling

    problem = SQUARE.with_failure_class()
    assert problem.classes == (0, 1, 2) and problem.failure_label == 2
    with pytest.raises(ValueError, match="with_failure_class"):
        Session(SQUARE, TINY.build((2,), 2), SYNTH, key=jax.random.key(0), config=SessionConfig(failures="class"))
    session = Session(problem, TINY.build((2,), 3), RandomSampling(), key=jax.random.key(0),
                      config=SessionConfig(seed_size=10, batch_size=5, failures="class"))
    while session.state.spent["queries"] < 40:
        q = session.ask()
        session.tell([_failing_top(q.query_id[i], q.x[i]) for i in range(len(q))])
        session.fit()
    failed = session.state.spent["failed"]
    assert failed > 0 and session.state.buffer.size == 40  # every failed call taught the learner
    assert session.state.outcomes.refusals == 0  # learned as a class, not avoided
    probe = np.array([[0.25, 0.85], [0.75, 0.85], [0.25, 0.3], [0.75, 0.3]], np.float32)
    assert session.predict_proba(probe).argmax(axis=1).tolist() == [2, 2, 0, 1]
    # the test set's indices are unchanged: accuracy and F1 are of the original classes
    assert session.history[-1]["accuracy"] <= 1.0 and problem.evaluator is SQUARE.evaluator
    # a retraction takes its failure label back out of the buffer
    last_failed = next(a.query_id for a in reversed(session.answers) if a.status is Status.FAILED)
    session.retract(last_failed)
    assert session.state.buffer.size == 39


def test_the_plots_hatch_the_predicted_failure_region(tmp_path):
    from qsynth import plotting

    def predict(x):
        x = np.asarray(x)
        fails = x[:, 1] > 0.6
        p = np.stack([(x[:, 0] <= 0.5) & ~fails, (x[:, 0] > 0.5) & ~fails, fails], 1).astype(float)
        return 0.9 * p + 0.1 / 3

    ax = plotting.plot_success_region(predict, lambda u: (u[:, 0] > 0.5).astype(int), low=np.zeros(2),
                                      high=np.ones(2), positive=1, failure=2, queried=np.array([[0.2, 0.9]]),
                                      queried_y=np.array([2]))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "predicted to fail" in labels and any("the call failed" in t for t in labels)
    plotting.save(ax, str(tmp_path / "region.png"))
    ax = plotting.plot_decision_boundary(predict, bounds=(np.zeros(2), np.ones(2)), positive=1, failure=2)
    assert any(getattr(c, "get_hatch", lambda: None)() == "///" for c in ax.collections) or any(
        "///" in str(getattr(c, "hatches", "")) for c in ax.collections)


# ---- the optional cost model ----------------------------------------------------------------------
def test_the_cost_model_against_a_hand_worked_value_and_leave_one_out_brute_force():
    from qsynth.strategies.answerability import COST_STRENGTHS, CostModel, expected_cost, expected_cost_of, fit_cost

    pts, cost = np.array([[0.0], [1.0]], np.float32), np.array([1.0, 5.0])
    m = CostModel(np.pad(pts, ((0, 62), (0, 0))), np.pad(cost, (0, 62)).astype(np.float32),
                  np.pad(np.ones(2), (0, 62)).astype(np.float32), 1.0, 1.0, 3.0, 2)
    # at q = 0: k = [1, e^-1/2]; E = (1·3 + 1 + 5 e^-1/2) / (1 + 1 + e^-1/2)
    want = (3.0 + 1.0 + 5.0 * math.exp(-0.5)) / (2.0 + math.exp(-0.5))
    assert m.expected(np.array([[0.0]]))[0] == pytest.approx(want, rel=1e-12)
    assert float(expected_cost(m.arrays, jnp.zeros((1, 1)))[0]) == pytest.approx(want, rel=1e-6)
    assert expected_cost_of(m, np.array([[40.0]]))[0] == pytest.approx(3.0, rel=1e-6)  # far away: the mean
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (20, 2))
    c = np.where(x[:, 0] < 0.5, 10.0, 1.0)
    fitted = fit_cost(x, c, math.sqrt(2))

    def loo(ell, st):
        err = 0.0
        for i in range(len(x)):
            rest = np.arange(len(x)) != i
            k = np.exp(-((x[rest] - x[i]) ** 2).sum(1) / (2 * ell ** 2))
            err += ((st * c.mean() + k @ c[rest]) / (st + k.sum()) - c[i]) ** 2
        return err

    best = min(((f * math.sqrt(2), st) for st in COST_STRENGTHS for f in LENGTHSCALE_FRACTIONS), key=lambda p: loo(*p))
    assert (fitted.lengthscale, fitted.strength) == pytest.approx(best)


def test_cost_aware_synthesis_asks_where_answers_are_cheap():
    from qsynth.strategies.answerability import cost_for

    diagonal = dataclasses.replace(SQUARE, evaluator=GridEvaluator(GRID, (GRID.sum(1) > 1).astype(int)))

    def priced(qid, x):  # the left half of the box costs ten times as much to ask about
        return Answer(qid, Status.OK, label=int(x[0] + x[1] > 1), cost=10.0 if x[0] < 0.5 else 1.0)

    share, spent = {}, {}
    for on in (True, False):
        share[on], spent[on] = [], []
        for seed in range(2):
            session = Session(diagonal, TINY.build((2,), 2), dataclasses.replace(SYNTH, cost_aware=on),
                              key=jax.random.key(seed), config=SessionConfig(seed_size=6))
            asked = []
            while session.state.spent["queries"] < 24:
                q = session.ask()
                asked.append(q)
                session.tell([priced(q.query_id[i], q.x[i]) for i in range(len(q))])
                session.fit()
            xs = np.concatenate([q.x for q in asked[1:]])
            share[on].append(float(np.mean(xs[:, 0] < 0.5)))
            spent[on].append(session.state.spent["cost"])
            if on:
                assert "expected_cost" in asked[-1].extra
    assert max(share[True]) <= 0.1 and min(share[False]) >= 0.3, share
    assert max(spent[True]) < min(spent[False])
    log = AnswerLog.empty(2)
    log.add("a", np.zeros(2), None, True, 2.0)
    log.add("b", np.ones(2), None, True, 2.0)
    assert cost_for(log, "input", SQUARE.bounds) is None  # every answer cost the same: nothing to divide by


# ---- in the learner's confidence space -------------------------------------------------------
def test_in_confidence_space_the_model_sits_at_the_learners_sorted_probabilities(key):
    from qsynth.strategies.answerability import confidence_features
    from qsynth.strategies.ascent import AscentSpec, acquisition, weighted_acquisition

    learner = TINY.build((2,), 2)
    params = learner.fit(key, None, _labeled_square()).params
    x = np.array([[0.1, 0.5], [0.5, 0.5], [0.9, 0.5]], np.float32)
    probs = np.asarray(learner.probs(params, jnp.asarray(x))).mean(axis=0)
    np.testing.assert_allclose(np.asarray(confidence_features(learner.probs(params, jnp.asarray(x)))),
                               -np.sort(-probs, axis=-1), rtol=1e-6)
    log = AnswerLog.empty(2)
    for i, (point, ok) in enumerate([(x[0], True), (x[1], False), (x[1], False), (x[2], True)]):
        log.add(f"q{i}", point, None, ok)
    features = lambda pts: -np.sort(-np.asarray(learner.predict_proba(params, pts)), axis=-1)  # noqa: E731
    model = answerability_for(log, "confidence", features=features)
    np.testing.assert_array_equal(np.asarray(model.points)[:4], features(log.x))  # where the model's points are
    spec = AscentSpec(learner, None, "entropy", 1, 0.1, answerable=True, answer_space="confidence")
    z = jnp.asarray(x)
    want = np.asarray(weigh(acquisition(spec, params, None, z), probability(model.arrays, features(x))))
    np.testing.assert_allclose(np.asarray(weighted_acquisition(spec, params, None, z, model.arrays)), want, rtol=1e-5)
    with pytest.raises(ValueError, match="needs `features`"):
        answerability_for(log, "confidence")


def _labeled_square():
    from qsynth.data import LabeledBuffer

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 2)).astype(np.float32)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, (x[:, 0] > 0.5).astype(np.int32), 0)
    return buf


def test_in_confidence_space_synthesis_learns_that_ambiguous_queries_go_unanswered():
    """The band teacher refuses near its boundary, which is where the (calibrated) GP is in doubt;
    modelled in the learner's confidence space, synthesis asks fewer queries the teacher cannot
    answer on every seed. Fewer, not none: the learner's confidence is only a proxy for the
    teacher's, and as the GP sharpens, points inside the band look clear to it (the input-space
    model, which learns the band as a place, stops asking there: the test above)."""
    refused = {"confidence": [], "off": []}
    for arm, strategy in (("confidence", dataclasses.replace(SYNTH, answerability_space="confidence")),
                          ("off", dataclasses.replace(SYNTH, answerability=False))):
        for seed in range(3):
            _, asked = _run(strategy, _band, seed=seed, learner=LearnerConfig(model="gp"))
            xs = np.concatenate([q.x for q in asked[1:]])  # after the seed set
            refused[arm].append(float(np.mean(np.abs(xs[:, 0] - 0.5) < 0.08)))
    assert all(c < o for c, o in zip(refused["confidence"], refused["off"])), refused
    assert np.mean(refused["confidence"]) < 0.75 * np.mean(refused["off"]), refused  # 0.54 against 0.86


def test_answerability_space_is_checked():
    with pytest.raises(ValueError, match="answerability_space must be one of"):
        InputSynthesis(answerability_space="pixels")


# ---- the support space: a query's distance to the nearest real inputs -----------------------------
#: The square with a pool of real inputs in its bottom half only (x1 < 0.5).
HALF_POOL = dataclasses.replace(SQUARE, name="half-pool", pool=np.random.default_rng(7).uniform(
    0, 1, (300, 2)).astype(np.float32) * np.array([1.0, 0.5], np.float32))


def test_the_support_distance_against_numpy():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(40, 3)).astype(np.float32)
    ref = support_reference(pool.reshape(40, 3, 1))  # any feature shape: flattened
    d2 = ((pool[:, None, :].astype(np.float64) - pool[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)  # the unit: each reference to the others
    unit = np.median(np.sqrt(np.sort(d2, 1)[:, :SUPPORT_NEIGHBOURS].mean(1)))
    assert ref.unit == pytest.approx(unit, rel=1e-9) and ref.references.shape == (40, 3)
    x = rng.normal(size=(6, 3)).astype(np.float32) * 2
    dq = ((x[:, None, :].astype(np.float64) - pool[None]) ** 2).sum(-1)
    want = np.sqrt(np.sort(dq, 1)[:, :SUPPORT_NEIGHBOURS].mean(1)) / unit
    got = np.asarray(support_distance(ref.arrays, jnp.asarray(x)))
    assert got.shape == (6, 1)
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-4)
    # by hand: references 0, 1, …, 9 on a line, 5 neighbours; each one's nearest five are at
    # distances {1, 1, 2, 2, 3} inside the line (rms √(19/5)); a query at −10 is 10…14 away
    line = np.arange(10, dtype=np.float32)[:, None]
    r = support_reference(line)
    assert r.unit == pytest.approx(math.sqrt(19 / 5))
    far = float(support_distance(r.arrays, jnp.array([[-10.0]]))[0, 0])
    assert far == pytest.approx(math.sqrt((100 + 121 + 144 + 169 + 196) / 5) / math.sqrt(19 / 5), rel=1e-5)
    # differentiable: the gradient against central finite differences
    f = lambda q: jnp.sum(support_distance(ref.arrays, q))  # noqa: E731
    q0 = jnp.asarray(x[:2], jnp.float32)
    g = np.asarray(jax.grad(f)(q0))
    e = 1e-2
    for i in range(2):
        for j in range(3):
            step = np.zeros((2, 3), np.float32)
            step[i, j] = e
            fd = (float(f(q0 + step)) - float(f(q0 - step))) / (2 * e)
            assert g[i, j] == pytest.approx(fd, rel=2e-2, abs=1e-3)


def test_a_large_pool_is_measured_against_a_fixed_draw_of_it():
    pool = np.random.default_rng(1).normal(size=(5000, 4)).astype(np.float32)
    a, b = support_reference(pool), support_reference(pool.copy())
    assert a.references.shape == (2048, 4) and np.array_equal(a.references, b.references) and a.unit == b.unit
    with pytest.raises(ValueError, match="more than 5 pool inputs"):
        support_reference(pool[:5])
    with pytest.raises(ValueError, match="spacing is 0"):
        support_reference(np.zeros((20, 2), np.float32))


def test_query_features_put_the_support_distance_first():
    ref = support_reference(np.arange(10, dtype=np.float32)[:, None])
    probs = jnp.array([[[0.2, 0.8], [0.6, 0.4]]])  # [members, n, C]
    x = jnp.array([[4.5], [30.0]])
    both = np.asarray(query_features("confidence+support", x, lambda: probs, ref.arrays))
    np.testing.assert_allclose(both[:, 0], np.asarray(support_distance(ref.arrays, x))[:, 0])
    np.testing.assert_allclose(both[:, 1:], [[0.8, 0.2], [0.6, 0.4]])
    assert np.asarray(query_features("support", x, None, ref.arrays)).shape == (2, 1)  # probs never asked
    with pytest.raises(ValueError, match="needs the support reference"):
        query_features("support", x, lambda: probs)


def _off_the_data(qid, x):
    """An oracle that cannot answer queries unlike the real inputs: the pool fills x1 < 0.5, and
    above x1 = 0.6 it refuses (the boundary x0 = 0.5 runs through both halves)."""
    return Answer(qid, Status.ABSTAIN) if x[1] > 0.6 else Answer(qid, Status.OK, label=int(x[0] > 0.5))


def test_in_support_space_synthesis_stops_asking_far_from_the_real_inputs():
    """Refusals that go with the distance to the pool are learnt on that one number: after a
    few, synthesis climbs the boundary only where real inputs are."""
    refused = {"support": [], "off": []}
    for arm, strategy in (("support", dataclasses.replace(SYNTH, answerability_space="support")),
                          ("off", dataclasses.replace(SYNTH, answerability=False))):
        for seed in range(3):
            session, asked = _run(strategy, _off_the_data, seed=seed, problem=HALF_POOL)
            xs = np.concatenate([q.x for q in asked[1:]])  # after the seed set
            refused[arm].append(float(np.mean(xs[:, 1] > 0.6)))
            if arm == "support":
                assert asked[-1].extra["answerable"].shape == (len(asked[-1]),)
    assert np.mean(refused["support"]) <= 0.1 < 0.2 <= np.mean(refused["off"]), refused


def test_a_support_space_needs_a_pool():
    strategy = dataclasses.replace(SYNTH, answerability_space="support")
    with pytest.raises(ValueError, match="has no pool"):
        Session(SQUARE, TINY.build((2,), 2), strategy, key=jax.random.key(0))
    Session(SQUARE, TINY.build((2,), 2), dataclasses.replace(strategy, answerability=False), key=jax.random.key(0))


def test_the_image_recommendation_is_the_arm_that_was_measured():
    """`recommended.image_synthesis()` is the smooth-margin support arm of
    experiments/answerability_digits.py, whose figures the docs quote, and it parses."""
    import importlib.util
    from pathlib import Path

    from qsynth import recommended

    path = Path(__file__).resolve().parents[1] / "experiments" / "answerability_digits.py"
    spec = importlib.util.spec_from_file_location("_answerability_digits", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    arm = next(a for a in script.strategies("all") if a.get("label") == "synthesis-smooth_margin-pool-support")
    assert {k: v for k, v in arm.items() if k != "label"} == recommended.image_synthesis()
    config = parse_config({"data": {"name": "digits"}, "generator": {"model": "mlp"},
                           "oracle": {"kind": "teacher", "threshold": 0.9},
                           "strategies": [recommended.image_synthesis()]})
    assert config.strategies[0]["answerability_space"] == "confidence+support"
