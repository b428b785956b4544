"""Pools larger than memory (issue 19, item 4): a `.npy` pool opened memory-mapped, scored a chunk
of candidates at a time, recorded in the run folder by path and SHA-256, and refused on resume
when its contents changed."""

from __future__ import annotations

import hashlib
import json
import pickle

import jax
import numpy as np
import pytest

from qsynth.config import parse_config
from qsynth.data.npy import load_npy
from qsynth.experiments.runner import resume_experiment, run_experiment
from qsynth.strategies.measures import Scorer
from qsynth.strategies.scoring import score_points
from tests.helpers import TINY


def _files(tmp_path, n=1200, d=4, dtype=np.float32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(dtype)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    np.save(tmp_path / "pool.npy", x)
    np.save(tmp_path / "labels.npy", y)
    return x, y


def test_the_pool_stays_on_disk_and_the_test_set_is_its_last_rows(tmp_path):
    x, y = _files(tmp_path)
    data = load_npy(str(tmp_path / "pool.npy"), str(tmp_path / "labels.npy"), n_test=200)
    assert isinstance(data.x, np.ndarray) and not data.x.flags.writeable and not data.x.flags.owndata  # mapped, read-only
    assert data.x.shape == (1000, 4) and data.x_test.shape == (200, 4) and data.classes == (0, 1)
    np.testing.assert_array_equal(data.x, x[:1000])
    np.testing.assert_array_equal(data.x_test, x[1000:])
    np.testing.assert_array_equal(data.y_test, y[1000:])
    digest = hashlib.sha256((tmp_path / "pool.npy").read_bytes()).hexdigest()
    assert data.meta["files"]["path"]["sha256"] == digest
    again = pickle.loads(pickle.dumps(data))  # a sweep's worker maps the file again; no copy travels
    assert len(pickle.dumps(data)) < 4096
    np.testing.assert_array_equal(again.x, data.x)
    assert not again.x.flags.owndata


def test_bad_files_are_named(tmp_path):
    _files(tmp_path, dtype=np.float64)
    with pytest.raises(ValueError, match="data.args.path: .* holds float64 .* must be float32"):
        load_npy(str(tmp_path / "pool.npy"), str(tmp_path / "labels.npy"))
    x, _ = _files(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros(5, np.int32))
    with pytest.raises(ValueError, match="data.args.labels: .* holds 5 labels for the 1200 rows"):
        load_npy(str(tmp_path / "pool.npy"), str(tmp_path / "short.npy"))
    with pytest.raises(ValueError, match="data.args.n_test: .* in \\(0, 1200\\); got 5000"):
        load_npy(str(tmp_path / "pool.npy"), str(tmp_path / "labels.npy"), n_test=5000)
    with pytest.raises(ValueError, match="data.args.path: .*missing.npy does not exist"):
        load_npy(str(tmp_path / "missing.npy"), str(tmp_path / "labels.npy"))
    x[7, 2] = np.nan
    np.save(tmp_path / "pool.npy", x)
    with pytest.raises(ValueError, match="NaN or infinite features \\(first at row 7\\)"):
        load_npy(str(tmp_path / "pool.npy"), str(tmp_path / "labels.npy"), n_test=200)


def test_scoring_by_rows_reads_a_chunk_at_a_time_and_matches_the_copied_pool(tmp_path):
    _files(tmp_path, n=3000)
    pool = np.load(tmp_path / "pool.npy", mmap_mode="r")
    learner = TINY.build((4,), 2)
    state = learner.init(jax.random.key(0))
    rows = np.flatnonzero(np.arange(len(pool)) % 3 != 1)
    scorer = Scorer("entropy")
    by_rows = score_points(learner, scorer, state.params, pool, rows=rows, chunk_size=256)
    copied = score_points(learner, scorer, state.params, np.asarray(pool)[rows], chunk_size=256)
    np.testing.assert_array_equal(by_rows, copied)
    filled = np.full(len(pool), -np.inf)
    assert score_points(learner, scorer, state.params, pool, rows=rows, chunk_size=256, out=filled) is filled
    np.testing.assert_array_equal(filled[rows], copied)
    assert np.all(filled[1::3] == -np.inf)


def _table(tmp_path):
    return {"name": "mapped", "seeds": [0],
            "data": {"name": "npy", "args": {"path": str(tmp_path / "pool.npy"), "labels": str(tmp_path / "labels.npy"),
                                             "n_test": 200}},
            "learner": {"hidden": [8], "members": 2, "steps": 10, "warm_steps": 3},
            "loop": {"budget": 5, "seed_size": 2, "fsync": False}, "strategies": [{"kind": "uncertainty"}]}


def test_a_run_records_the_pool_by_hash_and_resume_refuses_a_changed_one(tmp_path):
    x, _ = _files(tmp_path)
    result = run_experiment(parse_config(_table(tmp_path)), tmp_path / "runs", progress=False, plots=False)
    record = json.loads((result.path / "data.json").read_text())["files"]
    assert record["path"]["sha256"] == hashlib.sha256((tmp_path / "pool.npy").read_bytes()).hexdigest()
    assert record["path"]["path"] == str((tmp_path / "pool.npy").resolve())
    assert not list(result.path.rglob("*.npy"))  # no copy of the pool in the run folder
    resume_experiment(result.path, progress=False, plots=False)  # unchanged: resumes (nothing left to run)
    x[3, 0] += 1.0
    np.save(tmp_path / "pool.npy", x)
    with pytest.raises(ValueError, match="data.args.path: .*pool.npy has changed since the run began"):
        resume_experiment(result.path, progress=False, plots=False)


def test_a_large_pool_is_scored_a_block_at_a_time_with_the_same_choice(tmp_path, monkeypatch):
    """Above `STREAM_ABOVE` candidates the top-k is kept over blocks (memory O(block)): the same
    chunks, scores and queries as scoring the whole pool at once."""
    from qsynth.data import LabeledBuffer
    from qsynth.problem import Problem
    from qsynth.strategies import PoolSampling, RoundContext
    from qsynth.strategies import pool as pool_module
    from qsynth.strategies.batch import candidate_blocks, streamed_top_k, top_k

    _files(tmp_path, n=6000)
    data = load_npy(str(tmp_path / "pool.npy"), str(tmp_path / "labels.npy"), n_test=500)
    problem = Problem.from_dataset(data)
    learner = TINY.build((4,), 2)
    buffer = LabeledBuffer.empty((4,))
    buffer.add(np.asarray(data.x[:20]), data.y[:20], 0)
    state = learner.fit(jax.random.key(0), None, buffer)
    available = np.ones(len(problem.pool), bool)
    available[:20] = False
    available[3000:3100] = False
    ctx = RoundContext(round_index=1, learner=learner, params=state.params, problem=problem, available=available,
                       buffer=buffer)
    for measure in ("entropy", "bald"):
        whole, _ = PoolSampling(measure=measure).select(jax.random.key(1), ctx, 5, None)
        monkeypatch.setattr(pool_module, "STREAM_ABOVE", 2048)
        streamed, _ = PoolSampling(measure=measure).select(jax.random.key(1), ctx, 5, None)
        monkeypatch.undo()
        np.testing.assert_array_equal(streamed.pool_index, whole.pool_index)
        np.testing.assert_array_equal(streamed.scores, whole.scores)
        np.testing.assert_array_equal(streamed.x, whole.x)
    blocks = list(candidate_blocks(available, 1000))
    assert [len(b) for b in blocks] == [1000] * 5 + [380]
    np.testing.assert_array_equal(np.concatenate(blocks), np.flatnonzero(available))
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, 300).astype(float)  # many ties: the lower index wins, as in top_k
    cand = np.arange(300)
    got, got_scores = streamed_top_k(((cand[i:i + 70], scores[i:i + 70]) for i in range(0, 300, 70)), 9)
    np.testing.assert_array_equal(got, top_k(scores, cand, 9))
    np.testing.assert_array_equal(got_scores, scores[got])
