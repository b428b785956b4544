"""The ask/tell session: driven by hand it equals the runner; answers in any order; retract; restore."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from helpers import TINY, tiny_moons, tiny_problem
from qsynth import Session
from qsynth.loop import LoopConfig, run_loop
from qsynth.oracles import DatasetOracle
from qsynth.records import Answer, Status
from qsynth.session import SessionConfig
from qsynth.session_state import restore_strategy_state, strategy_leaves
from qsynth.store import SeedStore, load_checkpoint, read_label_log
from qsynth.strategies import build_strategy


def _parts(kind: str = "uncertainty"):
    problem = tiny_problem(0, n=120)
    return problem, TINY.build(problem.feature_shape, 2), build_strategy({"kind": kind})


def _answer(queries, i, status=Status.OK):
    """The dataset's answer to query i (by its pool index)."""
    y = tiny_moons(0, 120).y
    qid = queries.query_id[i]
    return Answer(qid, status, label=int(y[queries.pool_index[i]]) if status is Status.OK else None)


def test_a_session_driven_by_hand_equals_run_loop(tmp_path):
    problem, learner, strategy = _parts()
    config = LoopConfig(budget=10, seed_size=4, batch_size=2, fsync=False)
    runner = run_loop(jax.random.key(3), problem, learner, strategy, DatasetOracle(tiny_moons(0, 120).y, (0, 1)),
                      config, store=SeedStore(tmp_path / "runner", fsync=False))
    session = Session(problem, learner, strategy, key=jax.random.key(3), config=config.session,
                      store=SeedStore(tmp_path / "hand", fsync=False))
    queries = session.ask()
    assert len(queries) == 4 and session.round == 0
    session.tell([_answer(queries, i) for i in range(len(queries))])
    session.fit()
    while session.state.spent["queries"] < 10:
        queries = session.ask()
        session.tell([_answer(queries, i) for i in range(len(queries))])
        session.fit()
    session.close("budget")
    assert read_label_log(tmp_path / "hand" / "labels.jsonl") == read_label_log(tmp_path / "runner" / "labels.jsonl")
    for a, b in zip(jax.tree.leaves(session.state.learner_state), jax.tree.leaves(runner.state)):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(session.predict_proba(problem.pool[:5]),
                                  learner.predict_proba(runner.state.params, problem.pool[:5]))


def test_answers_in_any_order_for_any_subset_abstained_and_failed_included():
    problem, learner, strategy = _parts("random")
    session = Session(problem, learner, strategy, key=jax.random.key(0), config=SessionConfig(seed_size=5))
    queries = session.ask()
    session.tell([_answer(queries, 3), _answer(queries, 0, Status.ABSTAIN)])
    assert set(session.pending.query_id) == {queries.query_id[i] for i in (1, 2, 4)}
    session.tell(Answer(queries.query_id[4], Status.FAILED, error="simulator crashed"))
    assert session.state.buffer.size == 1 and session.state.spent == {"queries": 3, "cost": 3.0, "abstained": 1,
                                                                       "failed": 1}
    np.testing.assert_array_equal(session.state.buffer.x[0], queries.x[3])
    with pytest.raises(ValueError, match="not pending"):
        session.tell(_answer(queries, 3))  # told already
    with pytest.raises(ValueError, match="two answers for one query"):
        session.tell([_answer(queries, 1), _answer(queries, 1)])
    session.tell(Answer(queries.query_id[1], Status.OK, label=7))  # outside the class set: FAILED, with why
    assert session.answers[-1].status is Status.FAILED and "outside the class set" in session.answers[-1].error
    with pytest.raises(RuntimeError, match="call fit"):
        session.predict_proba(problem.pool[:2])
    row = session.fit()
    assert row["labels"] == 1 and row["queries"] == 4
    more = session.ask(3)  # the seed query still pending does not block the next round
    assert len(more) == 3 and more.query_id[0].startswith("r0001") and len(session.pending) == 4


def test_retract_takes_an_answer_back_and_a_restore_replays_it(tmp_path):
    problem, learner, strategy = _parts()
    store = SeedStore(tmp_path, fsync=False)
    session = Session(problem, learner, strategy, key=jax.random.key(1), store=store,
                      config=SessionConfig(seed_size=4))
    queries = session.ask()
    session.tell([_answer(queries, i) for i in range(4)])
    session.fit()
    wrong = queries.query_id[1]
    session.retract(wrong)
    assert session.state.buffer.size == 3 and session.state.spent["queries"] == 3
    np.testing.assert_array_equal(session.state.buffer.x[:3], queries.x[[0, 2, 3]])
    assert session.pending.query_id == (wrong,)
    session.tell(Answer(wrong, Status.OK, label=1 - _answer(queries, 1).label))  # re-answered
    kinds = [(r["kind"], r["query_id"]) for r in read_label_log(tmp_path / "labels.jsonl") if r["query_id"] == wrong]
    assert kinds == [("query", wrong), ("answer", wrong), ("retract", wrong), ("answer", wrong)]
    # killed before the next fit: the checkpoint predates the retraction; the restore replays it
    again = Session.restore(problem, learner, strategy, key=jax.random.key(1), store=SeedStore(tmp_path),
                            config=SessionConfig(seed_size=4))
    assert [a.record() for a in again.answers] == [a.record() for a in session.answers]
    assert again.state.spent == session.state.spent and not len(again.pending)
    for field in ("x", "y", "round_added"):
        np.testing.assert_array_equal(getattr(again.state.buffer, field), getattr(session.state.buffer, field))


def test_a_killed_session_restores_with_its_pending_queries_and_goes_on_as_if_never_stopped(tmp_path):
    problem, learner, strategy = _parts()
    config = SessionConfig(seed_size=4, batch_size=3)

    def drive(session, stop_after_asks):
        while session.round < stop_after_asks:
            queries = session.ask()
            session.tell([_answer(queries, i) for i in range(len(queries) - 1)])  # one stays pending
            if session.round < stop_after_asks:
                session.fit()

    whole = Session(problem, learner, strategy, key=jax.random.key(2), config=config,
                    store=SeedStore(tmp_path / "whole", fsync=False))
    drive(whole, 3)
    cut = Session(problem, learner, strategy, key=jax.random.key(2), config=config,
                  store=SeedStore(tmp_path / "cut", fsync=False))
    drive(cut, 2)  # ... and the process dies after round 2's answers, before its fit
    del cut
    back = Session.restore(problem, learner, strategy, key=jax.random.key(2), config=config,
                           store=SeedStore(tmp_path / "cut", fsync=False))
    assert back.round == 2 and len(back.pending) == 3  # one pending from each round
    back.fit()
    drive(back, 3)
    assert read_label_log(tmp_path / "cut" / "labels.jsonl") == read_label_log(tmp_path / "whole" / "labels.jsonl")
    assert back.pending.query_id == whole.pending.query_id
    for a, b in zip(jax.tree.leaves(back.state.learner_state), jax.tree.leaves(whole.state.learner_state)):
        assert np.array_equal(np.asarray(a), np.asarray(b))


@dataclasses.dataclass(frozen=True)
class _State:
    count: int
    rate: float
    flag: bool
    seen: np.ndarray
    weights: jax.Array


def test_strategy_state_round_trips_as_typed_leaves(tmp_path):
    state = _State(3, 0.25, True, np.array([1, 5, 2], np.int64), jax.numpy.ones((2, 2), jax.numpy.float32))
    leaves = strategy_leaves(state)
    store = SeedStore(tmp_path)
    store.save_checkpoint(leaves, {})
    arrays, _ = load_checkpoint(tmp_path / "checkpoint")
    initial = _State(0, 0.0, False, np.zeros(3, np.int64), jax.numpy.zeros((2, 2), jax.numpy.float32))
    back = restore_strategy_state(initial, [arrays[k] for k in sorted(leaves)], "test")
    assert (type(back.count), type(back.rate), type(back.flag)) == (int, float, bool)
    assert isinstance(back.seen, np.ndarray) and back.seen.dtype == np.int64 and back.seen.tolist() == [1, 5, 2]
    assert isinstance(back.weights, jax.Array) and back.weights.dtype == jax.numpy.float32
    assert (back.count, back.rate, back.flag) == (3, 0.25, True)
