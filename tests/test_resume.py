"""The crash-safe store and resume: nothing an oracle answered is lost or asked twice, and a
resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from qsynth.learners.learner import LearnerConfig
from qsynth.loop import LoopConfig, ResumeMismatch, load_params, run_loop
from qsynth.oracles import FunctionOracle
from qsynth.problem import Problem
from qsynth.data import moons
from qsynth.store import CheckpointError, RunLock, SeedStore, load_checkpoint, read_label_log
from qsynth.strategies import build_strategy

# ---- the store ----------------------------------------------------------------------------------


def test_a_truncated_final_log_line_is_cut_and_reported(tmp_path, capsys):
    log = tmp_path / "labels.jsonl"
    log.write_text('{"kind":"query","query_id":"a","x":[0]}\n{"kind":"answer","query_id":"a","sta')
    store = SeedStore(tmp_path, fsync=True)
    assert "truncated final line" in store.repaired and "truncated final line" in capsys.readouterr().err
    store.append({"kind": "query", "query_id": "b", "x": [1]})
    store.close()
    assert [r["query_id"] for r in read_label_log(log)] == ["a", "b"]
    # a whole final record without its newline keeps the record
    log.write_text('{"kind":"query","query_id":"a","x":[0]}')
    assert "lacked its newline" in SeedStore(tmp_path).repaired
    assert read_label_log(log) == [{"kind": "query", "query_id": "a", "x": [0]}]


def test_a_corrupt_line_inside_the_log_is_an_error_naming_it(tmp_path):
    log = tmp_path / "labels.jsonl"
    good = '{"kind":"retract","query_id":"a"}'
    log.write_text(f'{good}\n{{broken\n{good}\n')
    with pytest.raises(ValueError, match="line 2 is corrupt"):
        read_label_log(log)


@pytest.mark.parametrize("line, message", [
    ('{"kind":"answer","query_id":"q1"}', r"line 2 is corrupt \(an answer record without 'status'\)"),
    ('{"kind":"answer","query_id":"q1","status":"maybe"}', r"line 2 is corrupt \(unknown answer status 'maybe'\)"),
    ('{"kind":"note","query_id":"q1"}', r"line 2 is corrupt \(unknown record kind 'note'\)"),
    ('[1, 2]', r"line 2 is corrupt \(a list, not a record\)"),
    ('{"kind":"query","query_id":7,"x":[0]}', r"line 2 is corrupt \(query_id 7 is not a string\)"),
])
def test_a_json_valid_line_that_no_run_writes_is_named(tmp_path, line, message):
    log = tmp_path / "labels.jsonl"
    log.write_text('{"kind":"query","query_id":"q0","x":[0]}\n' + line + '\n{"kind":"retract","query_id":"q0"}\n')
    with pytest.raises(ValueError, match=message) as info:
        read_label_log(log)
    assert str(log) in str(info.value)


def test_a_byte_that_is_not_utf8_is_named_with_file_and_line(tmp_path):
    log = tmp_path / "labels.jsonl"
    log.write_bytes(b'{"kind":"query","query_id":"q0","x":[0]}\n{"kind":"retract","query_id":"q\xff"}\n')
    with pytest.raises(ValueError, match=r"labels.jsonl: line 2 is corrupt \(not UTF-8 text"):
        read_label_log(log)


def test_corrupt_or_truncated_checkpoints_are_detected(tmp_path):
    store = SeedStore(tmp_path)
    store.save_checkpoint({"w": np.arange(1000.0)}, {"round": 3})
    arrays, meta = load_checkpoint(tmp_path / "checkpoint")
    assert meta["round"] == 3 and np.array_equal(arrays["w"], np.arange(1000.0))
    path = tmp_path / "checkpoint" / "state.npz"
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # a flipped bit inside the array
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "checkpoint")
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "checkpoint")
    # a checkpoint from a newer qsynth (written by hand: the store always writes its own version)
    with open(path, "wb") as f:
        np.savez(f, __meta__=np.frombuffer(json.dumps({"round": 0, "checkpoint_version": 99}).encode(), np.uint8))
    with pytest.raises(CheckpointError, match=r"newer qsynth \(checkpoint version 99 > 2\)"):
        load_checkpoint(tmp_path / "checkpoint")


def test_a_version_1_checkpoint_resumes_to_the_uninterrupted_run(tmp_path):
    """`tests/golden/v1_resume` was written by the code before checkpoint version 2 (strategy
    state as JSON fields): an interrupted stream run and the same run uninterrupted."""
    import shutil

    recorded = Path(__file__).parent / "golden" / "v1_resume"
    assert load_checkpoint(recorded / "cut" / "checkpoint")[1]["checkpoint_version"] == 1
    shutil.copytree(recorded / "cut", tmp_path / "cut")
    data, problem, learner, strategy = _parts({"kind": "stream", "policy": "variable_uncertainty", "budget": 0.3})
    store = SeedStore(tmp_path / "cut", fsync=False)
    os.environ["QSYNTH_THREADS"], threads = "1", os.environ.get("QSYNTH_THREADS")
    try:
        run_loop(jax.random.key(5), problem, learner, strategy, CountingOracle(data),
                 LoopConfig(budget=12, seed_size=3, batch_size=2, fsync=False), store=store, resume=True)
    finally:
        os.environ.pop("QSYNTH_THREADS") if threads is None else os.environ.update(QSYNTH_THREADS=threads)
    store.close()
    # bitwise on the processor that recorded it; elsewhere exact in structure, floats close
    from tests.recorded import arrays_match, close, recorded_here

    exact = recorded_here(recorded / "machine.json")
    got_log, want_log = (read_label_log(p / "labels.jsonl") for p in (tmp_path / "cut", recorded / "whole"))
    assert (got_log == want_log) if exact else close(got_log, want_log)
    got, meta = load_checkpoint(tmp_path / "cut" / "checkpoint")
    want, _ = load_checkpoint(recorded / "whole" / "checkpoint")
    assert meta["checkpoint_version"] == 2
    for k in want:
        assert arrays_match(got[k], want[k], exact), k


def test_one_writer_per_run(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RuntimeError, match="one writer per run"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released: the next writer may go
        pass


# ---- resume in process ----------------------------------------------------------------------------

class Crash(BaseException):
    """Stands in for the process dying (not an Exception: `ask` must not turn it into an answer)."""


class CountingOracle:
    """Labels moons by the held label of the nearest pool point, one answer per `collect` (like a
    slow simulator or a person); counts what it was asked; can crash after some answers."""

    def __init__(self, data, crash_after: int | None = None):
        self.data, self.crash_after, self.asked = data, crash_after, []
        self.classes = data.classes
        self._queue = []

    def submit(self, queries):
        self._queue += [(q, queries.x[i]) for i, q in enumerate(queries.query_id)]

    def collect(self, timeout=None):
        from qsynth.records import Answer, Status

        if not self._queue:
            return []
        if self.crash_after is not None and len(self.asked) >= self.crash_after:
            raise Crash(self._queue[0][0])
        q, x = self._queue.pop(0)
        self.asked.append(q)
        d = np.linalg.norm(self.data.x - x, axis=1)
        return [Answer(q, Status.OK, label=int(self.data.y[d.argmin()]))]


def _parts(strategy_spec):
    data = moons(n=120, n_test=60, seed=0)
    problem = Problem.from_dataset(data)
    learner = LearnerConfig(hidden=(8,), members=2, steps=20, warm_steps=5).build(problem.feature_shape, 2)
    return data, problem, learner, build_strategy(strategy_spec)


@pytest.mark.parametrize("spec", [{"kind": "uncertainty"}, {"kind": "input_synthesis", "starts": 8, "steps": 3},
                                  {"kind": "stream", "policy": "variable_uncertainty", "budget": 0.3}])
@pytest.mark.parametrize("crash_after", [1, 7])
def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, spec, crash_after):
    data, problem, learner, strategy = _parts(spec)
    config = LoopConfig(budget=12, seed_size=3, batch_size=2, fsync=False)
    key = jax.random.key(5)
    whole = run_loop(key, problem, learner, strategy, CountingOracle(data), config,
                     store=SeedStore(tmp_path / "whole"))
    store = SeedStore(tmp_path / "cut")
    with pytest.raises(Crash):
        run_loop(key, problem, learner, strategy, CountingOracle(data, crash_after=crash_after), config, store=store)
    store.close()
    before = [r for r in read_label_log(tmp_path / "cut" / "labels.jsonl") if r["kind"] == "answer"]
    assert len(before) == crash_after
    oracle = CountingOracle(data)
    store = SeedStore(tmp_path / "cut")
    resumed = run_loop(key, problem, learner, strategy, oracle, config, store=store, resume=True)
    store.close()
    # never asked again for what it had answered; nothing lost; nothing logged twice
    assert not set(oracle.asked) & {a["query_id"] for a in before}
    log = read_label_log(tmp_path / "cut" / "labels.jsonl")
    answers = [r for r in log if r["kind"] == "answer"]
    assert answers[:crash_after] == before
    assert len({a["query_id"] for a in answers}) == len(answers) == whole.history[-1]["queries"]
    assert len([r for r in log if r["kind"] == "query"]) == len(answers)
    # the same run
    assert [a.record() for a in resumed.answers] == [a.record() for a in whole.answers]
    for x, y in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(whole.state)):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert [h["accuracy"] for h in resumed.history] == [h["accuracy"] for h in whole.history]


def _crashed_run(folder):
    """An uncertainty run (seed 5) that crashes after 6 answers, its log and checkpoint in `folder`."""
    data, problem, learner, strategy = _parts({"kind": "uncertainty"})
    config = LoopConfig(budget=10, seed_size=3, batch_size=2, fsync=False)
    store = SeedStore(folder)
    with pytest.raises(Crash):
        run_loop(jax.random.key(5), problem, learner, strategy, CountingOracle(data, crash_after=6), config,
                 store=store)
    store.close()
    return data, problem, learner, strategy, config


def test_a_changed_run_is_reported_on_replay_not_papered_over(tmp_path):
    data, problem, learner, strategy, config = _crashed_run(tmp_path)
    log = tmp_path / "labels.jsonl"
    records = read_label_log(log)
    last_query = max(i for i, r in enumerate(records) if r["kind"] == "query")
    records[last_query]["x"] = [v + 1e-3 for v in records[last_query]["x"]]  # not what the run would select
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    store = SeedStore(tmp_path)
    with pytest.raises(ResumeMismatch, match="selected again differently"):
        run_loop(jax.random.key(5), problem, learner, strategy, CountingOracle(data), config, store=store,
                 resume=True)


# ---- SIGKILL of a real run at fixed and random points ---------------------------------------------

CONFIG = """
name = "killed"
seeds = [0]
targets = [0.9]
[data]
name = "simulator"
args = {{ simulator = "projectile", params = {{ tolerance = 0.3, dt = 0.0002 }}, pool_size = 200, grid = 20 }}
[oracle]
kind = "simulator"
[learner]
hidden = [16]
members = 2
steps = 30
warm_steps = 5
[loop]
budget = 20
seed_size = 4
seed_strategy = "stratified"
batch_size = 3
fsync = true
[[strategies]]
kind = "uncertainty"
[[strategies]]
kind = "input_synthesis"
starts = 16
steps = 5
"""


def _qsynth(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "qsynth.cli", *args, "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _log_lines(run: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in run.glob("*/seed-*/labels.jsonl"))


def _answers(run: Path) -> dict[str, list[dict]]:
    return {p.parent.parent.name: [r for r in read_label_log(p) if r["kind"] == "answer"]
            for p in run.glob("*/seed-*/labels.jsonl")}


@pytest.mark.slow
def test_sigkill_mid_round_at_fixed_points_then_resume(tmp_path):
    cfg = tmp_path / "killed.toml"
    cfg.write_text(CONFIG.format())
    ref = _qsynth(["run", str(cfg), "--out", str(tmp_path / "reference")])
    assert ref.wait(timeout=300) == 0, ref.stderr.read()
    reference = tmp_path / "reference" / "killed"
    total = _log_lines(reference)  # 2 strategies × 20 queries × (query + answer) = 80
    assert total == 80
    points = [57]  # in the second strategy, the first one finished (random moments: tests/test_reliability.py)
    from qsynth.learners.learner import LearnerConfig as LC

    learner = LC(hidden=(16,), members=2, steps=30, warm_steps=5).build((2,), 2)
    for point in points:
        out = tmp_path / f"kill-{point}"
        proc = _qsynth(["run", str(cfg), "--out", str(out)])
        run = out / "killed"
        while _log_lines(run) < point if run.exists() else True:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before line {point}: {proc.stderr.read()}")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = _answers(run)
        resumed = _qsynth(["run", "--resume", str(run)])
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
        after = _answers(run)
        for name, answers in after.items():
            ids = [a["query_id"] for a in answers]
            assert len(ids) == len(set(ids)) == 20, (point, name)  # none asked twice, none missing
            assert answers[:len(before.get(name, []))] == before.get(name, []), (point, name)  # none lost
            assert answers == _answers(reference)[name], (point, name)
            mine = load_params(learner, str(run / name / "seed-0" / "checkpoint"))
            theirs = load_params(learner, str(reference / name / "seed-0" / "checkpoint"))
            for x, y in zip(jax.tree.leaves(mine), jax.tree.leaves(theirs)):
                assert np.array_equal(np.asarray(x), np.asarray(y)), (point, name)
        summary = json.loads((run / "summary.json").read_text())
        assert set(summary["strategies"]) == {"entropy", "input_synthesis-entropy"}


def test_resuming_with_another_seed_is_refused(tmp_path):
    data, problem, learner, strategy, config = _crashed_run(tmp_path)
    with pytest.raises(ResumeMismatch, match="another root key"):
        run_loop(jax.random.key(6), problem, learner, strategy, CountingOracle(data), config, store=SeedStore(tmp_path),
                 resume=True)
