"""Taking back an answer that was already learned from (issue 18, item 5): the session retracts
it, the oracle answers it again, the learner refits on the new answer, the log records the
retraction and the new answer, and a resume replays them bitwise — from the log alone, from a
checkpoint before the retraction, and after a kill between the retraction and the new answer."""

from __future__ import annotations

import shutil

import jax
import numpy as np
import pytest

from qsynth.loop import LoopConfig, run_loop
from qsynth.problem import Problem
from qsynth.records import Answer, Flag, Retract, Status
from qsynth.store import SeedStore, read_label_log
from qsynth.strategies import PoolSampling
from tests.helpers import tiny_learner, tiny_moons

DATA = tiny_moons()
CONFIG = LoopConfig(budget=8, seed_size=2, checkpoint_every=1)


class _Person:
    """An asynchronous oracle that answers from the pool's labels, but in round 3 first flags and
    takes back its (deliberately wrong) answer to round 1's query, then gives the right one."""

    classes = DATA.classes

    def __init__(self):
        self.out, self.asked = [], []

    def submit(self, queries):
        self.asked += list(queries.query_id)
        for qid, i in zip(queries.query_id, queries.pool_index):
            if qid == "r0003-q00":
                self.out += [Flag("r0001-q00", "looked odd"), Retract("r0001-q00", "undo", told=True),
                             Answer("r0001-q00", Status.OK, label=int(DATA.y[self.index["r0001-q00"]]))]
            label = int(DATA.y[i]) if qid != "r0001-q00" else 1 - int(DATA.y[i])  # a slip on r0001-q00
            self.index[qid] = int(i)
            self.out.append(Answer(qid, Status.OK, label=label))

    index: dict = {}

    def collect(self, timeout=None):
        out, self.out = self.out, []
        return out


class _Replayer:
    """Answers from the pool's labels (what a resumed run asks again: nothing, unless a record is missing)."""

    classes = DATA.classes

    def __init__(self):
        self.asked = []

    def label(self, queries):
        self.asked += list(queries.query_id)
        return [Answer(q, Status.OK, label=int(DATA.y[i])) for q, i in zip(queries.query_id, queries.pool_index)]


def _run(folder, oracle, resume=False):
    problem = Problem.from_dataset(DATA)
    store = SeedStore(folder)
    try:
        return run_loop(jax.random.key(3), problem, tiny_learner(problem), PoolSampling(measure="entropy"), oracle,
                        CONFIG, store=store, resume=resume)
    finally:
        store.close()


def _params(result):
    return [np.asarray(x) for x in jax.tree.leaves(result.state.params)]


def _original(tmp_path):
    _Person.index = {}
    result = _run(tmp_path / "run", _Person())
    log = read_label_log(tmp_path / "run" / "labels.jsonl")
    kinds = [(r["kind"], r["query_id"]) for r in log if r["kind"] != "query"]
    at = kinds.index(("retract", "r0001-q00"))
    assert kinds[at - 1] == ("flag", "r0001-q00") and kinds[at + 1] == ("answer", "r0001-q00")
    retract = next(r for r in log if r["kind"] == "retract")
    assert retract["told"] is True and retract["round"] == 3
    given = [r for r in log if r["kind"] == "answer" and r["query_id"] == "r0001-q00"]
    i = _Person.index["r0001-q00"]
    assert [g["label"] for g in given] == [1 - int(DATA.y[i]), int(DATA.y[i])]  # the slip, then the right label
    # the learner holds the right label once, and the budget counted the query once
    assert result.history[-1]["queries"] == 8 and result.buffer.size == 8
    row = [r for r in range(result.buffer.size) if np.array_equal(result.buffer.x[r], DATA.x[i])]
    assert len(row) == 1 and result.buffer.y[row[0]] == DATA.classes.index(int(DATA.y[i]))
    assert [q.label for q in result.queries if q.query_id == "r0001-q00"] == [int(DATA.y[i])]
    assert result.history[3]["labels"] == result.history[3]["queries"] == 5  # the retracted one counted once
    return result


def test_an_answer_learned_from_is_taken_back_answered_again_and_relearned(tmp_path):
    _original(tmp_path)


class _KilledAtRound3(_Person):
    def submit(self, queries):
        if "r0003-q00" in queries.query_id:
            raise KeyboardInterrupt  # the run dies after round 2's checkpoint
        super().submit(queries)


def _same(original, resumed):
    for a, b in zip(_params(original), _params(resumed)):
        np.testing.assert_array_equal(a, b)
    assert [r["accuracy"] for r in resumed.history] == [r["accuracy"] for r in original.history]
    assert [(q.query_id, q.label) for q in resumed.queries] == [(q.query_id, q.label) for q in original.queries]


def test_a_resume_replays_the_retraction_bitwise(tmp_path):
    original = _original(tmp_path)
    # from the log alone (no checkpoint): every round replayed, the retraction in round 3
    shutil.copytree(tmp_path / "run", tmp_path / "log-only")
    shutil.rmtree(tmp_path / "log-only" / "checkpoint")
    oracle = _Replayer()
    _same(original, _run(tmp_path / "log-only", oracle, resume=True))
    assert oracle.asked == []  # nothing asked again: every answer was in the log
    # from a checkpoint of round 2 (before the retraction) and the whole log
    _Person.index = {}
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "killed", _KilledAtRound3())
    shutil.copytree(tmp_path / "killed", tmp_path / "before")
    shutil.copyfile(tmp_path / "run" / "labels.jsonl", tmp_path / "before" / "labels.jsonl")
    oracle = _Replayer()
    _same(original, _run(tmp_path / "before", oracle, resume=True))
    assert oracle.asked == []
    # and the same run resumed live from that checkpoint: the person takes the answer back again
    _same(original, _run(tmp_path / "killed", _Person(), resume=True))


def test_a_kill_between_the_retraction_and_the_new_answer_asks_again(tmp_path):
    original = _original(tmp_path)
    lines = (tmp_path / "run" / "labels.jsonl").read_text().splitlines(keepends=True)
    cut = next(k for k, line in enumerate(lines) if '"retract"' in line) + 1
    folder = tmp_path / "killed"
    folder.mkdir()
    (folder / "labels.jsonl").write_text("".join(lines[:cut]))  # killed just after logging the retraction
    oracle = _Replayer()
    resumed = _run(folder, oracle, resume=True)
    assert oracle.asked[:2] == ["r0003-q00", "r0001-q00"]  # round 3 again, and the taken-back query
    log = read_label_log(folder / "labels.jsonl")
    assert [r["kind"] for r in log][:cut] == [r["kind"] for r in read_label_log(tmp_path / "run" / "labels.jsonl")][:cut]
    for a, b in zip(_params(original), _params(resumed)):  # the same right label: the same learner
        np.testing.assert_array_equal(a, b)
