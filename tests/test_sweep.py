"""Parallel sweeps (issue 19, items 1-2): `--jobs N` runs the (strategy, seed) runs in worker
processes and `--dask` on a (local) Dask cluster, with every label log, checkpoint and metric
(timings aside) bitwise the serial run's; a SIGKILLed sweep resumes to the serial runs."""

from __future__ import annotations

import contextlib
import csv

import numpy as np
import pytest

from qsynth.config import ConfigError, parse_config
from qsynth.experiments.runner import run_experiment
from qsynth.store import load_checkpoint

TABLE = {
    "name": "sweep", "seeds": [0, 1], "targets": [0.8],
    "data": {"name": "moons", "args": {"n": 80, "n_test": 80}},
    "learner": {"hidden": [8], "members": 3, "steps": 15, "warm_steps": 4},
    "oracle": {"kind": "nearest_neighbour"},  # (shared by a seed's runs, as a teacher is; cheap to build)
    "loop": {"budget": 7, "seed_size": 3, "fsync": False},
    "strategies": [{"kind": "bald"}, {"kind": "input_synthesis", "measure": "entropy", "starts": 8, "steps": 5}],
}


def _metrics(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if not k.endswith("_s") and k != "compiled"} for row in csv.DictReader(f)]


def _same_runs(a, b):
    folders = sorted(p.relative_to(a) for p in a.glob("*/seed-*"))
    assert folders == sorted(p.relative_to(b) for p in b.glob("*/seed-*")) and len(folders) == 4
    for rel in folders:
        assert (a / rel / "labels.jsonl").read_bytes() == (b / rel / "labels.jsonl").read_bytes(), rel
        assert _metrics(a / rel / "metrics.csv") == _metrics(b / rel / "metrics.csv"), rel
        x, _ = load_checkpoint(a / rel / "checkpoint")
        y, _ = load_checkpoint(b / rel / "checkpoint")
        assert sorted(x) == sorted(y)
        for k in x:
            if k != "__meta__":
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{rel}: {k}")


@pytest.mark.slow
def test_two_jobs_and_a_dask_cluster_give_bitwise_the_serial_runs(tmp_path):
    import io

    serial = run_experiment(parse_config(TABLE), tmp_path / "serial", progress=False, plots=False)
    shown = io.StringIO()
    with contextlib.redirect_stderr(shown):
        parallel = run_experiment(parse_config(TABLE), tmp_path / "jobs", plots=False, jobs=2)
    on_dask = run_experiment(parse_config(TABLE), tmp_path / "dask", progress=False, plots=False, jobs=2, dask="")
    for other in (parallel, on_dask):
        _same_runs(serial.path, other.path)
        assert list(other.results) == list(serial.results) == ["bald", "input_synthesis-entropy"]
        for name in serial.summary:
            assert other.summary[name]["final_accuracy"] == serial.summary[name]["final_accuracy"]
        assert not (other.path / ".compile-cache").exists()  # the workers' shared cache goes with the sweep
    done = sorted(line.split(":")[0].split("] ")[1] for line in shown.getvalue().splitlines() if line.startswith("["))
    assert done == ["bald seed 0", "bald seed 1", "input_synthesis-entropy seed 0", "input_synthesis-entropy seed 1"]


def test_the_workers_reports_reach_one_display():
    """What a worker's run reports (start, rounds, end, notes) is replayed on the driver's display."""
    import queue

    from qsynth.experiments.sweep import _Cluster, _Reporter
    from qsynth.progress import Progress

    class Seen(Progress):
        def __init__(self):
            super().__init__(2)
            self.calls = []

        def start(self, label, budget):
            self.calls.append(("start", label, budget))

        def round(self, row, label=None):
            self.calls.append(("round", row["queries"], label))

        def finish(self, label, row, stop_reason):
            super().finish(label, row, stop_reason)
            self.calls.append(("finish", label, stop_reason))

        def note(self, text):
            self.calls.append(("note", text))

    cluster = _Cluster.__new__(_Cluster)
    cluster.dask, cluster.events = None, queue.Queue()
    worker = _Reporter(cluster.events)
    worker.start("bald seed 1", 7)
    worker.round({"queries": 4.0, "accuracy": 0.5, "fit_s": 0.1}, "bald seed 1")
    worker.note("hello")
    worker.finish("bald seed 1", {"queries": 7.0, "accuracy": 0.75}, "budget")
    shown = Seen()
    cluster.show(shown)
    assert shown.calls == [("start", "bald seed 1", 7), ("round", 4.0, "bald seed 1"), ("note", "hello"),
                           ("finish", "bald seed 1", "budget")]
    assert shown.done == 1


def test_a_seed_folder_is_locked_while_its_run_writes_it(tmp_path):
    from qsynth.store import RunLock

    config = parse_config({**TABLE, "seeds": [0], "strategies": [{"kind": "bald"}]})
    with RunLock(tmp_path / "sweep" / "bald" / "seed-0"):  # another process (say) is writing this seed
        with pytest.raises(RuntimeError, match="seed-0 is being written by pid"):
            run_experiment(config, tmp_path, progress=False, plots=False)


def test_bad_jobs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--jobs: must be >= 1"):
        run_experiment(parse_config(TABLE), tmp_path, jobs=0)
    with pytest.raises(ValueError, match="a person labels one run at a time"):
        run_experiment(parse_config({**TABLE, "oracle": {"kind": "human"}}), tmp_path, jobs=2)
    for run in ({"jobs": 2}, {"executor": "dask"}):  # the config's [run] is where a sweep goes by default
        with pytest.raises(ValueError, match="a person labels one run at a time"):
            run_experiment(parse_config({**TABLE, "oracle": {"kind": "human"}, "run": run}), tmp_path)
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(ValueError, match="--dask: cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"):
            run_experiment(parse_config(TABLE), tmp_path / "nowhere", progress=False, plots=False, dask="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="run.executor must be 'local' or 'dask'"):
        parse_config({**TABLE, "run": {"executor": "slurm"}})
    with pytest.raises(ConfigError, match="run.dask_address: set executor"):
        parse_config({**TABLE, "run": {"dask_address": "tcp://x:8786"}})


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_uninterrupted_serial_runs(tmp_path, monkeypatch):
    """SIGKILL the driver of a `--jobs 2` sweep mid-sweep: its workers die with it, and `--resume
    --jobs 2` ends with every log, checkpoint and metric of an uninterrupted serial sweep — no
    answer lost, none asked twice."""
    import signal
    import time
    import uuid

    from qsynth.config import to_toml
    from tests import reliability as rel

    table = {**TABLE, "loop": {**TABLE["loop"], "budget": 11}}
    config = tmp_path / "sweep.toml"
    config.write_text(to_toml(parse_config(table)))
    marker = uuid.uuid4().hex
    monkeypatch.setenv("QSYNTH_THREADS", "1")  # as the command lines below run (tests.reliability._env)
    monkeypatch.setenv("QSYNTH_WINDOWS", "1")
    reference = rel.outcome(run_experiment(parse_config(table), tmp_path / "serial", progress=False, plots=False).path)
    run = tmp_path / "jobs" / "sweep"
    driver = rel._qsynth(["run", str(config), "--out", str(tmp_path / "jobs"), "--jobs", "2"], marker, tmp_path)
    try:
        while rel._lines(run) < 10 and driver.poll() is None:  # both seeds under way
            time.sleep(0.05)
        assert driver.poll() is None, driver.stderr.read()
        before = rel._answers(run)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert rel._wait_gone(marker) == [], "a worker outlived its driver"
        resumed = rel._qsynth(["run", "--resume", str(run), "--jobs", "2"], marker, tmp_path)
        assert resumed.wait(timeout=240) == 0, resumed.stderr.read()
    finally:
        driver.kill()
    assert rel.check(reference, run, before) == []


@pytest.mark.slow
def test_a_failing_run_is_reported_with_its_traceback_and_the_others_finish(tmp_path):
    from qsynth.experiments.sweep import SweepError
    from qsynth.store import RunLock

    config = parse_config({**TABLE, "strategies": [{"kind": "bald"}]})
    with RunLock(tmp_path / "sweep" / "bald" / "seed-1"):  # so the worker's run of seed 1 fails
        with pytest.raises(SweepError) as caught:
            run_experiment(config, tmp_path, progress=False, plots=False, jobs=2)
    message = str(caught.value)
    assert "1 of the sweep's tasks failed" in message and "bald seed 1:" in message
    assert "Traceback" in message and "seed-1 is being written by pid" in message
    assert len(_metrics(tmp_path / "sweep" / "bald" / "seed-0" / "metrics.csv")) == 5  # seed 0 ran to its budget
    resumed = run_experiment(config, tmp_path, progress=False, plots=False, jobs=2, resume=True)
    assert list(resumed.results["bald"]) == [1]  # only what was unfinished
