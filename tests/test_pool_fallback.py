"""The pool fallback of a synthesis strategy: real pool points take the places of synthesized
queries they beat on the same weighed acquisition, judged (with `fallback_window`) by a model of
the newest outcomes; and the mixed batches it makes (`Queries.pool_index` −1 on synthesized rows)
through records, the session, the dataset oracle and a restore."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from helpers import TINY
from qsynth import Session
from qsynth.config import ConfigError, parse_config
from qsynth.data import LabeledBuffer
from qsynth.oracles.dataset import DatasetOracle
from qsynth.records import Answer, AskedQuery, Queries, Status
from qsynth.session import SessionConfig, concat_queries
from qsynth.store import SeedStore
from qsynth.strategies import RoundContext
from qsynth.strategies.answerability import AnswerLog, answerability_for, fit_answerability, weigh
from qsynth.strategies.measures import Scorer
from qsynth.strategies.scoring import score_points
from qsynth.strategies.synthesis import InputSynthesis
from test_answerability import HALF_POOL, SYNTH, _run

REAL = {tuple(p) for p in HALF_POOL.pool.tolist()}


def _reader(qid, x):
    """A labeler who reads every real (pool) input but cannot tell a synthesized one near the
    boundary (|x0 − 0.5| < 0.15): the digits teacher's case, where real images are answerable."""
    if tuple(np.asarray(x, np.float32).tolist()) not in REAL and abs(x[0] - 0.5) < 0.15:
        return Answer(qid, Status.ABSTAIN)
    return Answer(qid, Status.OK, label=int(x[0] > 0.5))


FALLBACK = dataclasses.replace(SYNTH, answerability_space="confidence", pool_fallback=True)


# ---- the batch ---------------------------------------------------------------------------------------
def _context(seed=0):
    """A TINY learner fit on 10 pool points, and a log of 12 outcomes: refusals along the
    boundary x0 = 0.5 above the pool (x1 > 0.5), answers in the pool's half."""
    learner = TINY.build((2,), 2)
    rng = np.random.default_rng(seed)
    seen = rng.choice(len(HALF_POOL.pool), 10, replace=False)
    buf = LabeledBuffer.empty((2,))
    x = HALF_POOL.pool[seen]
    buf.add(x, (x[:, 0] > 0.5).astype(np.int32), 0)
    params = learner.fit(jax.random.key(seed), None, buf).params
    available = np.ones(len(HALF_POOL.pool), bool)
    available[seen] = False
    log = AnswerLog.empty(2)
    for i in range(12):
        refused = i % 2 == 0
        point = [0.5 + rng.uniform(-0.1, 0.1), rng.uniform(0.55, 1.0)] if refused else rng.uniform(0, 1, 2) * [1, 0.5]
        log.add(f"q{i}", np.asarray(point, np.float32), None, answered=not refused)
    return RoundContext(round_index=3, learner=learner, params=params, problem=HALF_POOL, available=available,
                        buffer=buf, answers=log)


@pytest.mark.parametrize("window", [None, 6])
def test_the_batch_is_the_best_of_the_synthesized_queries_and_the_pool_points(window):
    """Against a NumPy re-computation: the pool points' measure weighed by the (windowed) model's
    P(answered), merged with the synthesized batch (its acquisition after the ascent, weighed the
    same way), best first."""
    ctx = _context()
    key = jax.random.key(4)
    strategy = dataclasses.replace(SYNTH, pool_fallback=True, fallback_window=window, refusal_cost=2.0)
    alone, _ = dataclasses.replace(strategy, pool_fallback=False, fallback_window=None).select(key, ctx, 4, None)
    got, _ = strategy.select(key, ctx, 4, None)

    log = ctx.answers.newest(window)
    judge = fit_answerability(log.x, log.answered, float(np.sqrt(2.0)))  # input space: the unit box's diagonal
    rows = np.flatnonzero(ctx.available)
    raw = np.asarray(score_points(ctx.learner, Scorer("entropy"), ctx.params, HALF_POOL.pool[rows]), np.float64)
    pool_scores = weigh(raw, judge.probability(HALF_POOL.pool[rows]), 2.0)
    synth_scores = weigh(alone.extra["acquisition_after"], judge.probability(alone.x), 2.0)
    scores = np.concatenate([synth_scores, pool_scores])
    order = np.argsort(-scores, kind="stable")[:4]
    index = np.concatenate([np.full(len(alone), -1), rows])[order]
    assert (index >= 0).any() and (index < 0).any(), "the case should mix synthesized and pool queries"
    np.testing.assert_array_equal(got.pool_index, index)
    np.testing.assert_allclose(got.scores, scores[order], rtol=1e-5)
    np.testing.assert_array_equal(got.x[index < 0], alone.x[order[index < 0]])
    np.testing.assert_array_equal(got.x[index >= 0], HALF_POOL.pool[index[index >= 0]])
    pool = index >= 0
    np.testing.assert_array_equal(got.extra["ascent_steps"][pool], 0)
    np.testing.assert_allclose(got.extra["acquisition_before"][pool], raw[order[pool] - len(alone)], rtol=1e-5)
    np.testing.assert_array_equal(got.extra["acquisition_before"][pool], got.extra["acquisition_after"][pool])
    own = answerability_for(ctx.answers, "input", HALF_POOL.bounds)  # "answerable": the strategy's own model
    np.testing.assert_allclose(got.extra["answerable"], own.probability(got.x), rtol=1e-4)
    np.testing.assert_array_equal(got.extra["path"][pool][:, 0], got.x[pool])  # a pool point stands still


def test_a_window_without_a_refusal_judges_at_weight_one():
    log = AnswerLog.empty(2)
    for i, ok in enumerate([False, False, True, True, True, True]):
        log.add(f"q{i}", np.full(2, i / 6), None, ok)
    newest = log.newest(4)
    assert newest.query_id == ["q2", "q3", "q4", "q5"] and newest.refusals == 0 and len(log) == 6
    assert answerability_for(log, "input", HALF_POOL.bounds, window=4) is None
    assert answerability_for(log, "input", HALF_POOL.bounds, window=5) is not None
    m = answerability_for(log, "input", HALF_POOL.bounds, window=5)
    want = fit_answerability(log.x[1:], log.answered[1:], float(np.sqrt(2.0)))
    np.testing.assert_allclose(m.probability(log.x), want.probability(log.x))


def test_a_fallback_that_no_pool_point_beats_is_the_synthesized_batch():
    ctx = _context()
    key = jax.random.key(4)
    none_left = dataclasses.replace(ctx, available=np.zeros(len(HALF_POOL.pool), bool))
    got, _ = dataclasses.replace(SYNTH, pool_fallback=True).select(key, none_left, 4, None)
    alone, _ = SYNTH.select(key, none_left, 4, None)
    assert got.pool_index is None and np.array_equal(got.x, alone.x) and np.array_equal(got.scores, alone.scores)


# ---- in a session ------------------------------------------------------------------------------------
def test_judged_by_the_newest_outcomes_the_fallback_asks_real_inputs_and_halves_the_refusals():
    """The reader refuses synthesized queries near the boundary and answers every real one. A
    fallback judged by the whole run's model rarely engages; judged by the newest 8 outcomes it
    asks pool points on a third or more of the queries and about halves the refusals."""
    for seed in range(2):
        off, _ = _run(dataclasses.replace(FALLBACK, pool_fallback=False), _reader, seed=seed, problem=HALF_POOL)
        on, asked = _run(dataclasses.replace(FALLBACK, fallback_window=8), _reader, seed=seed, problem=HALF_POOL)
        pool = np.concatenate([q.pool_rows for q in asked[1:]])
        assert len(pool) >= 6 and len(set(pool.tolist())) == len(pool), (seed, pool)
        assert not on.state.available[pool].any() and (~on.state.available).sum() == 6 + len(pool)  # + the seed set
        assert on.state.spent["abstained"] < 0.65 * off.state.spent["abstained"], (seed, on.state.spent, off.state.spent)
        assert all(_reader("q", x).status is Status.OK for x in HALF_POOL.pool[pool])


def test_a_session_with_the_fallback_killed_mid_round_restores_bit_for_bit(tmp_path):
    strategy = dataclasses.replace(FALLBACK, fallback_window=8)
    whole, asked = _run(strategy, _reader, budget=20, store=SeedStore(tmp_path / "whole", fsync=False),
                        problem=HALF_POOL)
    assert any(len(q.pool_rows) for q in asked[1:]) and any(len(q.pool_rows) < len(q) for q in asked[1:])
    _run(strategy, _reader, budget=20, store=SeedStore(tmp_path / "cut", fsync=False), stop_after=5, problem=HALF_POOL)
    restored = Session.restore(HALF_POOL, TINY.build((2,), 2), strategy, key=jax.random.key(0),
                               store=SeedStore(tmp_path / "cut", fsync=False), config=SessionConfig(seed_size=6))
    restored.fit()
    while restored.state.spent["queries"] < 20:
        q = restored.ask()
        want = asked[restored.round]
        assert np.array_equal(q.x, want.x) and np.array_equal(q.pool_index, want.pool_index)
        restored.tell([_reader(q.query_id[i], q.x[i]) for i in range(len(q))])
        restored.fit()
    assert np.array_equal(restored.state.available, whole.state.available)
    assert restored.state.outcomes.query_id == whole.state.outcomes.query_id


# ---- a mixed batch -----------------------------------------------------------------------------------
def _mixed():
    return Queries(("a", "b", "c"), np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0.3, 0.2, 0.1]),
                   pool_index=np.array([-1, 4, -1]), z=np.zeros((3, 1), np.float32))


def test_a_mixed_batch_marks_its_synthesized_rows_and_records_only_pool_indices():
    q = _mixed()
    np.testing.assert_array_equal(q.pool_rows, [4])
    assert "pool_index" not in q.record(0) and q.record(1)["pool_index"] == 4
    assert q.take([0, 2]).pool_index is None  # a batch with no pool row: None, as ever
    assert AskedQuery.from_queries(1, q.take([0])).pool_index is None
    assert AskedQuery.from_queries(1, q.take([1])).pool_index == 4
    np.testing.assert_array_equal(concat_queries([q.take([0]), q.take([1]), q.take([2])]).pool_index, [-1, 4, -1])
    with pytest.raises(ValueError, match="-1 for a synthesized query"):
        Queries(("a",), np.zeros((1, 2)), np.zeros(1), pool_index=np.array([-2]))


def test_the_dataset_oracle_answers_the_pool_rows_of_a_mixed_batch():
    answers = DatasetOracle(np.array([0, 1, 0, 1, 1]), (0, 1)).label(_mixed())
    assert [a.status for a in answers] == [Status.FAILED, Status.OK, Status.FAILED] and answers[1].label == 1
    assert "no pool_index" in answers[0].error


# ---- configuration -----------------------------------------------------------------------------------
def test_the_fallback_fields_are_checked():
    with pytest.raises(ValueError, match="needs pool_fallback = true"):
        InputSynthesis(fallback_window=10)
    with pytest.raises(ValueError, match="fallback_window must be an integer >= 4"):
        InputSynthesis(pool_fallback=True, fallback_window=2)
    with pytest.raises(ValueError, match="every query is a pool point already"):
        InputSynthesis(pool_fallback=True, match="input")
    with pytest.raises(ValueError, match="has no pool"):
        Session(dataclasses.replace(HALF_POOL, pool=None), TINY.build((2,), 2), FALLBACK, key=jax.random.key(0))
    with pytest.raises(ConfigError, match="fallback_window"):
        parse_config({"data": {"name": "moons"}, "strategies": [
            {"kind": "synthesis", "pool_fallback": True, "fallback_window": 1.5}]})
