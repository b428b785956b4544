import math

import numpy as np
import pytest

from qsynth.records import Answer, Queries, Status, validate_answer


def test_queries_validates_shapes_and_ids():
    q = Queries(("a", "b"), np.zeros((2, 3)), [0.1, 0.2], pool_index=[4, 5])
    assert len(q) == 2 and q.pool_index.dtype == np.int64
    with pytest.raises(ValueError, match="duplicates"):
        Queries(("a", "a"), np.zeros((2, 3)), [0, 0])
    with pytest.raises(ValueError, match="Queries.x has shape"):
        Queries(("a", "b"), np.zeros((3, 3)), [0, 0])
    with pytest.raises(ValueError, match="Queries.scores"):
        Queries(("a", "b"), np.zeros((2, 3)), [0])


def test_queries_take_and_record_round_trip():
    q = Queries(("a", "b", "c"), np.arange(6.0).reshape(3, 2), [1.0, np.nan, 3.0], pool_index=[7, 8, 9],
                extra={"before": np.array([0.1, 0.2, 0.3]), "steps": 5})
    sub = q.take([2, 0])
    assert sub.query_id == ("c", "a")
    np.testing.assert_array_equal(sub.pool_index, [9, 7])
    np.testing.assert_allclose(sub.extra["before"], [0.3, 0.1])
    rec = q.record(1)
    assert rec == {"query_id": "b", "x": [2.0, 3.0], "score": None, "pool_index": 8, "before": 0.2}


@pytest.mark.parametrize("answer, reason", [
    (Answer("q", Status.OK, label=7), "outside the class set"),
    (Answer("q", Status.OK, label=None), "not an integer class"),
    (Answer("q", Status.OK, label=1.5), "not an integer class"),
    (Answer("q", Status.OK, label=float("nan")), "non-finite label"),
    (Answer("q", Status.OK, label=1, value=float("inf")), "non-finite output"),
    (Answer("q", Status.OK, label=1, cost=-1.0), "cost"),
    (Answer("other", Status.OK, label=1), "answer is for query 'other'"),
    ("yes", "not an Answer"),
])
def test_validate_answer_turns_bad_answers_into_failed(answer, reason):
    out = validate_answer(answer, "q", (0, 1))
    assert out.status is Status.FAILED and out.label is None
    assert reason in out.error and "query q" in out.error


def test_validate_answer_keeps_good_answers():
    assert validate_answer(Answer("q", Status.OK, label=np.int64(1), value=0.3), "q", (0, 1)).label == 1
    assert validate_answer(Answer("q", Status.OK, label=1.0), "q", (0, 1)).label == 1
    abstain = validate_answer(Answer("q", Status.ABSTAIN, label=5), "q", (0, 1))
    assert abstain.status is Status.ABSTAIN and abstain.label is None


def test_answer_record_round_trip():
    a = Answer("q", Status.FAILED, value=None, cost=2.0, error="boom")
    assert Answer.from_record(a.record()) == a
    assert Answer("q", Status.OK, label=1, value=math.nan).record()["value"] is None
