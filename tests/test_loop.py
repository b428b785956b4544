import dataclasses

import jax
import numpy as np
import pytest

from qsynth.loop import LoopConfig, run_loop, seed_queries
from qsynth.oracles import Answer, DatasetOracle, Status, ask
from qsynth.records import Queries
from qsynth.store import SeedStore, read_label_log, read_metrics
from qsynth.strategies import build_strategy
from tests.helpers import TINY, tiny_moons, tiny_problem


def _parts(n=120):
    data = tiny_moons(0, n)
    problem = tiny_problem(0, n)
    return data, problem, TINY.build((2,), 2), DatasetOracle(data.y, data.classes)


def test_loop_end_to_end_learns_and_logs(tmp_path, key):
    data, problem, learner, oracle = _parts()
    store = SeedStore(tmp_path / "bald" / "seed-0")
    result = run_loop(key, problem, learner, build_strategy({"kind": "bald"}), oracle,
                      LoopConfig(budget=20, seed_size=4, seed_strategy="stratified", batch_size=2), store=store)
    store.close()
    h = result.history
    assert [r["queries"] for r in h] == [4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert result.stop_reason == "budget" and result.buffer.size == 20
    assert h[-1]["accuracy"] > 0.8
    log = read_label_log(tmp_path / "bald" / "seed-0" / "labels.jsonl")
    assert sum(r["kind"] == "query" for r in log) == 20 and sum(r["kind"] == "answer" for r in log) == 20
    for r in log:  # every query is logged before its answer
        if r["kind"] == "answer":
            assert any(q["kind"] == "query" and q["query_id"] == r["query_id"] for q in log[:log.index(r)])
    rows = read_metrics(tmp_path / "bald" / "seed-0" / "metrics.csv")
    assert len(rows) == len(h) and rows[-1]["accuracy"] == pytest.approx(h[-1]["accuracy"])
    assert (tmp_path / "bald" / "seed-0" / "checkpoint" / "state.npz").exists()
    # the labeled pool points are never asked again
    idx = [r["pool_index"] for r in log if r["kind"] == "query"]
    assert len(set(idx)) == len(idx)


def test_same_seed_gives_the_same_label_log(tmp_path):
    data, problem, learner, oracle = _parts()
    logs = []
    for run in ("a", "b"):
        store = SeedStore(tmp_path / run, fsync=False)
        run_loop(jax.random.key(7), problem, learner, build_strategy({"kind": "uncertainty", "measure": "margin"}),
                 oracle, LoopConfig(budget=12, seed_size=3), store=store)
        store.close()
        logs.append((tmp_path / run / "labels.jsonl").read_text())
    assert logs[0] == logs[1]


class FlakyOracle:
    """Abstains on every third query, answers out of the class set on every fifth, raises on none."""

    def __init__(self, y):
        self.y, self.classes, self.calls = y, (0, 1), 0

    def label(self, queries):
        out = []
        for qid, idx in zip(queries.query_id, queries.pool_index):
            self.calls += 1
            if self.calls % 3 == 0:
                out.append(Answer(qid, Status.ABSTAIN))
            elif self.calls % 5 == 0:
                out.append(Answer(qid, Status.OK, label=9))
            else:
                out.append(Answer(qid, Status.OK, label=int(self.y[idx]), cost=2.0))
        return out


def test_budget_counts_abstentions_and_failures(tmp_path, key):
    data, problem, learner, _ = _parts()
    store = SeedStore(tmp_path, fsync=False)
    result = run_loop(key, problem, learner, build_strategy({"kind": "random"}), FlakyOracle(data.y),
                      LoopConfig(budget=15, seed_size=3), store=store)
    store.close()
    last = result.history[-1]
    assert last["queries"] == 15
    assert last["abstained"] == 5 and last["failed"] == 2 and last["labels"] == 8
    log = read_label_log(tmp_path / "labels.jsonl")
    failed = [r for r in log if r["kind"] == "answer" and r["status"] == "failed"]
    assert len(failed) == 2 and all("outside the class set" in r["error"] for r in failed)
    assert last["cost"] == pytest.approx(8 * 2.0 + 7 * 1.0)


def test_cost_budget_and_target_stop_the_loop(key):
    data, problem, learner, oracle = _parts()
    r = run_loop(key, problem, learner, build_strategy({"kind": "random"}), oracle,
                 LoopConfig(budget=100, seed_size=2, cost_budget=6.0))
    assert r.stop_reason == "cost budget" and r.history[-1]["cost"] == 6.0
    r = run_loop(key, problem, learner, build_strategy({"kind": "uncertainty"}), oracle,
                 LoopConfig(budget=100, seed_size=4, target_accuracy=0.75, stop_at_target=True))
    assert r.stop_reason == "target accuracy reached" and r.history[-1]["accuracy"] >= 0.75
    assert r.labels_to_target == r.history[-1]["queries"]
    r = run_loop(key, problem, learner, build_strategy({"kind": "uncertainty"}), oracle,
                 LoopConfig(budget=100, seed_size=4, min_acquisition=10.0, patience=2))
    assert r.stop_reason == "acquisition plateau" and len(r.history) == 3


def test_stream_runs_like_a_pool_and_stops_when_the_stream_ends(key):
    data, problem, learner, oracle = _parts(60)
    r = run_loop(key, problem, learner, build_strategy({"kind": "stream", "budget": 0.2}), oracle,
                 LoopConfig(budget=100, seed_size=2))
    assert r.stop_reason == "source exhausted"
    assert r.strategy_state.position == 60 and r.strategy_state.queried <= 0.2 * r.strategy_state.seen
    positions = [row["stream_position"] for row in r.history]
    assert positions == sorted(positions) and 0 < positions[-1] <= 60


def test_an_oracle_that_raises_fails_its_queries_but_not_the_run(key):
    data, problem, learner, _ = _parts()

    class Broken:
        classes = (0, 1)

        def label(self, queries):
            raise RuntimeError("simulator crashed")

    r = run_loop(key, problem, learner, build_strategy({"kind": "random"}), Broken(), LoopConfig(budget=5, seed_size=2))
    assert r.history[-1]["failed"] == 5 and r.buffer.size == 0
    assert all("simulator crashed" in a.error for a in r.answers)


def test_ask_uses_submit_collect_and_accepts_any_order():
    class Async:
        classes = (0, 1)

        def __init__(self):
            self.pending = []

        def submit(self, queries):
            self.pending += list(queries.query_id)

        def collect(self, timeout=None):
            if not self.pending:
                return []
            qid = self.pending.pop()  # answers arrive last-first, one per collect
            return [Answer(qid, Status.OK, label=1)]

    q = Queries(("a", "b", "c"), np.zeros((3, 2)), np.zeros(3))
    seen = []
    answers = ask(Async(), q, (0, 1), on_answer=lambda a: seen.append(a.query_id))
    assert [a.query_id for a in answers] == ["a", "b", "c"] and seen == ["c", "b", "a"]


def test_missing_answers_become_failed():
    class Lazy:
        classes = (0, 1)

        def label(self, queries):
            return [Answer(queries.query_id[0], Status.OK, label=0)]

    q = Queries(("a", "b"), np.zeros((2, 2)), np.zeros(2))
    answers = ask(Lazy(), q, (0, 1))
    assert answers[0].status is Status.OK and answers[1].status is Status.FAILED
    assert "no answer" in answers[1].error


def test_dataset_oracle_refuses_synthesized_queries():
    oracle = DatasetOracle(np.array([0, 1]), (0, 1))
    a = oracle.label(Queries(("s",), np.zeros((1, 2)), np.zeros(1)))
    assert a[0].status is Status.FAILED and "no pool_index" in a[0].error


def test_seed_queries(key):
    problem = tiny_problem()
    q = seed_queries(key, problem, 6, stratified=True)
    assert len(set(q.pool_index.tolist())) == 6
    np.testing.assert_array_equal(np.bincount(problem.pool_y[q.pool_index]), [3, 3])
    poolless = dataclasses.replace(problem, pool=None, pool_y=None)
    q = seed_queries(key, poolless, 4, stratified=False)
    low, high = problem.bounds
    assert q.pool_index is None and np.all(q.x >= low) and np.all(q.x <= high)


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": 3, "seed_size": 5}, r"loop.budget \(3\) is smaller than loop.seed_size \(5\)"),
    ({"budget": 10, "seed_strategy": "greedy"}, "loop.seed_strategy"),
    ({"budget": 10, "batch_size": 0}, "loop.batch_size"),
    ({"budget": 10, "target_accuracy": 1.5}, "loop.target_accuracy"),
])
def test_loop_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoopConfig(**kwargs)


def test_learner_problem_mismatch_is_caught_before_work(key):
    _, problem, _, oracle = _parts()
    wrong = TINY.build((3,), 2)
    with pytest.raises(ValueError, match=r"feature shape \(3,\) does not match"):
        run_loop(key, problem, wrong, build_strategy({"kind": "random"}), oracle, LoopConfig(budget=5))


def test_a_window_shows_the_learner_only_the_newest_labels():
    from qsynth.data.buffer import LabeledBuffer
    from qsynth.loop import LoopConfig, recent

    buf = LabeledBuffer.empty((2,))
    for r in range(10):
        buf.add(np.full((1, 2), r, np.float32), np.array([r % 2]), r)
    view = recent(buf, 3)
    assert view.capacity == buf.capacity and view.size == buf.size
    assert np.flatnonzero(view.mask).tolist() == [7, 8, 9]
    assert buf.mask.sum() == 10  # the run keeps every label
    assert recent(buf, None) is buf and recent(buf, 50) is buf
    with pytest.raises(ValueError, match="loop.window"):
        LoopConfig(budget=5, window=0)
