"""Results you can take away (issue 18, item 4): every query kept with its answer, a finished
run's models loaded for prediction, and `qsynth compare` across run folders."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

from qsynth.cli import main
from qsynth.config import parse_config
from qsynth.experiments import load_run
from qsynth.experiments.compare import compare_runs, load_arms
from qsynth.experiments.runner import resume_experiment, run_experiment
from qsynth.loop import LoopConfig, run_loop
from qsynth.problem import Problem
from qsynth.records import Answer, Status
from qsynth.session import Session
from qsynth.store import SeedStore, read_label_log
from qsynth.strategies import PoolSampling
from tests.helpers import tiny_learner, tiny_moons

TABLE = {
    "name": "a", "seeds": [0, 1, 2], "targets": [0.8], "at_labels": [4],
    "data": {"name": "moons", "args": {"n": 60, "n_test": 80}},
    "learner": {"hidden": [8], "members": 2, "steps": 10, "warm_steps": 3},
    "loop": {"budget": 8, "seed_size": 2, "fsync": False},
    "strategies": [{"kind": "random"}, {"kind": "uncertainty"}],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    a = run_experiment(parse_config(TABLE), out, progress=False, plots=False)
    b = run_experiment(parse_config({**TABLE, "name": "b", "seeds": [1, 2, 3],
                                     "strategies": [{"kind": "bald"}]}), out, progress=False, plots=False)
    return a, b


class _Picky:
    """Labels from the pool's labels, but abstains on every third query and fails on every fifth."""

    def __init__(self, y, classes):
        self.y, self.classes, self.asked = y, classes, 0

    def label(self, queries):
        out = []
        for qid, i in zip(queries.query_id, queries.pool_index):
            self.asked += 1
            if self.asked % 5 == 0:
                out.append(Answer(qid, Status.FAILED, error="crashed"))
            elif self.asked % 3 == 0:
                out.append(Answer(qid, Status.ABSTAIN))
            else:
                out.append(Answer(qid, Status.OK, label=int(self.y[i])))
        return out


def test_run_result_keeps_every_query_with_its_point_acquisition_and_answer(tmp_path):
    data = tiny_moons()
    problem = Problem.from_dataset(data)
    store = SeedStore(tmp_path / "seed-0")
    result = run_loop(jax.random.key(0), problem, tiny_learner(problem), PoolSampling(measure="entropy"),
                      _Picky(data.y, data.classes), LoopConfig(budget=10, seed_size=2), store=store)
    store.close()
    log = read_label_log(tmp_path / "seed-0" / "labels.jsonl")
    asked = [r for r in log if r["kind"] == "query"]
    said = {r["query_id"]: r for r in log if r["kind"] == "answer"}
    assert [q.query_id for q in result.queries] == [r["query_id"] for r in asked]
    assert len(result.queries) == 10 and result.buffer.size == 5  # abstained and failed queries are kept too
    assert [q.status for q in result.queries].count(Status.ABSTAIN) == 3
    assert [q.status for q in result.queries].count(Status.FAILED) == 2
    for q, rec in zip(result.queries, asked):
        np.testing.assert_array_equal(q.x, np.asarray(rec["x"], np.float32))
        np.testing.assert_array_equal(q.x, data.x[q.pool_index])
        assert q.answer.status.value == said[q.query_id]["status"] and q.label == said[q.query_id]["label"]
        assert (q.acquisition is None) == (q.round == 0)
        if q.acquisition is not None:
            assert q.acquisition == pytest.approx(rec["score"])
    # a session restored from the log holds the same queries
    session = Session.restore(problem, tiny_learner(problem), PoolSampling(measure="entropy"), key=jax.random.key(0),
                              store=SeedStore(tmp_path / "seed-0"))
    assert [(q.query_id, q.status, q.label) for q in session.queries()] == \
        [(q.query_id, q.status, q.label) for q in result.queries]


def test_a_resumed_run_keeps_the_queries_from_before_its_checkpoint(runs, tmp_path):
    import shutil

    a, _ = runs
    copy = tmp_path / "a"
    shutil.copytree(a.path, copy)
    log = copy / "random" / "seed-0" / "labels.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-3]))  # killed in round 5: its answer and round 6 never logged
    shutil.rmtree(copy / "random" / "seed-0" / "checkpoint")  # and no checkpoint: the log alone
    resumed = resume_experiment(copy, progress=False, plots=False)
    assert resumed.results["random"][0].resumed_from == ("resumed from no checkpoint (the label log alone); 6 logged "
                                                         "answers after it replayed without asking again")
    assert "entropy" not in resumed.results  # finished runs are kept as they are
    before = a.results["random"][0].queries
    after = resumed.results["random"][0].queries
    assert len(after) == 8
    assert [(q.query_id, q.status, q.label) for q in after] == [(q.query_id, q.status, q.label) for q in before]
    for q, p in zip(after, before):
        np.testing.assert_array_equal(q.x, p.x)


def test_load_run_gives_the_config_summary_histories_and_trained_models(runs):
    a, _ = runs
    run = load_run(a.path)
    assert run.strategies == ["random", "entropy"] and run.seeds == [0, 1, 2]
    assert run.summary["random"]["seeds"] == 3
    assert [r["accuracy"] for r in run.history("entropy", 1)] == [r["accuracy"] for r in a.results["entropy"][1].history]
    model = run.model("entropy", 1)
    x = np.asarray([[0.0, 0.5], [1.0, -0.5], [2.0, 0.2]], np.float32)
    expected = a.results["entropy"][1].state.params
    learner = model.learner
    np.testing.assert_allclose(model.predict_proba(x), learner.predict_proba(expected, x), rtol=1e-6, atol=1e-7)
    assert model.probs(x).shape == (2, 3, 2) and set(model.predict(x)) <= {0, 1}
    assert np.allclose(model.predict_proba(x).sum(-1), 1.0)
    with pytest.raises(FileNotFoundError, match="no run of strategy 'bald', seed 0"):
        run.model("bald", 0)


def test_compare_pairs_arms_over_shared_seeds_and_matches_the_summaries(runs, tmp_path, capsys, monkeypatch):
    a, b = runs
    arms = load_arms([a.path, b.path])
    assert [arm.label for arm in arms] == ["a/random", "a/entropy", "b/bald"]
    base, rows = compare_runs(arms, baseline="entropy")
    assert base.label == "a/entropy"
    summaries = {"a": json.loads((a.path / "summary.json").read_text())["strategies"],
                 "b": json.loads((b.path / "summary.json").read_text())["strategies"]}
    for row in rows:
        final = summaries[row.arm.run][row.arm.strategy]["final_accuracy"]
        assert row.mean == pytest.approx(final["mean"]) and row.std == pytest.approx(final["std"])
    bald = rows[2]
    shared = [1, 2]  # b ran seeds 1-3, a ran 0-2
    diffs = [a.results["entropy"][k].history[-1]["accuracy"] for k in shared]
    diffs = [b.results["bald"][k].history[-1]["accuracy"] - d for k, d in zip(shared, diffs)]
    assert bald.shared == 2 and bald.difference == pytest.approx(np.mean(diffs))
    assert bald.standard_error == pytest.approx(np.std(diffs, ddof=1) / math.sqrt(2))
    assert bald.ahead + bald.tied + bald.behind == 2
    _, at4 = compare_runs(arms, at=4)
    assert at4[0].mean == pytest.approx(summaries["a"]["random"]["accuracy_at"]["4"]["mean"])
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(a.path), str(b.path), "--baseline", "a/entropy"]) == 0
    out = capsys.readouterr().out
    assert "baseline: a/entropy" in out and "(baseline)" in out and "of 2" in out
    assert (tmp_path / "comparison.png").stat().st_size > 10_000
    assert main(["compare", str(a.path), "--baseline", "nope"]) == 2
    assert "is none of the arms" in capsys.readouterr().err


def test_the_plot_helpers_take_a_run_result_and_mark_unanswered_queries(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from qsynth.plotting import as_histories, plot_decision_boundary, plot_learning_curves, query_points

    data = tiny_moons()
    problem = Problem.from_dataset(data)
    learner = tiny_learner(problem)
    result = run_loop(jax.random.key(0), problem, learner, PoolSampling(measure="entropy"),
                      _Picky(data.y, data.classes), LoopConfig(budget=10, seed_size=2))
    assert as_histories({"entropy": result}) == {"entropy": [result.history]}
    assert as_histories({"entropy": [result, result]})["entropy"] == [result.history] * 2
    assert as_histories({"entropy": result.history}) == {"entropy": [result.history]}
    ax = plot_learning_curves({"entropy": result})
    assert ax.get_lines()[0].get_label() == "entropy (n=1)"
    x, y = query_points(result.queries, data.classes)
    assert x.shape == (10, 2) and (y == -1).sum() == 5 and set(y[y >= 0]) <= {0, 1}
    ax = plot_decision_boundary(lambda p: learner.predict_proba(result.state.params, p),
                                bounds=(x.min(0) - 0.5, x.max(0) + 0.5), queried=x, queried_y=y, resolution=20)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["5 queried, labeled", "5 abstained or failed"]
    matplotlib.pyplot.close("all")
