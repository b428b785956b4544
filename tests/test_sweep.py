"""Parallel sweeps (issue 19, item 1 in part): `--jobs N` runs the seeds in worker processes,
with every label log, checkpoint and metric (timings aside) bitwise the serial run's."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from qsynth.config import parse_config
from qsynth.experiments.runner import run_experiment
from qsynth.store import load_checkpoint

TABLE = {
    "name": "sweep", "seeds": [0, 1], "targets": [0.8],
    "data": {"name": "moons", "args": {"n": 80, "n_test": 80}},
    "learner": {"hidden": [8], "members": 3, "steps": 15, "warm_steps": 4},
    "oracle": {"kind": "teacher", "threshold": 0.6},
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
def test_two_jobs_give_bitwise_the_serial_runs(tmp_path):
    serial = run_experiment(parse_config(TABLE), tmp_path / "serial", progress=False, plots=False)
    parallel = run_experiment(parse_config(TABLE), tmp_path / "jobs", progress=False, plots=False, jobs=2)
    _same_runs(serial.path, parallel.path)
    assert list(parallel.results) == list(serial.results) == ["bald", "input_synthesis-entropy"]
    for name in serial.summary:
        assert parallel.summary[name]["final_accuracy"] == serial.summary[name]["final_accuracy"]


def test_bad_jobs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--jobs: must be >= 1"):
        run_experiment(parse_config(TABLE), tmp_path, jobs=0)
    with pytest.raises(ValueError, match="a person labels one run at a time"):
        run_experiment(parse_config({**TABLE, "oracle": {"kind": "human"}}), tmp_path, jobs=2)


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
