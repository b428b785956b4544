"""End to end: simulator and external-program oracles through the config, the runner and the plots."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from qsynth.config import ConfigError, parse_config
from qsynth.experiments.runner import run_experiment
from qsynth.experiments.simulator_task import simulator_dataset
from qsynth.oracles.simulators import Projectile
from qsynth.store import read_label_log

HERE = Path(__file__).resolve().parent

TABLE = {
    "name": "throw", "seeds": [0], "targets": [0.9], "at_labels": [8],
    "data": {"name": "simulator",
             "args": {"simulator": "projectile", "params": {"tolerance": 0.3}, "pool_size": 300, "grid": 30}},
    "oracle": {"kind": "simulator", "workers": 2, "timeout": 5.0, "retries": 1},
    "learner": {"hidden": [16], "members": 2, "steps": 30, "warm_steps": 5},
    "loop": {"budget": 10, "seed_size": 4, "seed_strategy": "stratified", "batch_size": 2, "fsync": False},
    "strategies": [{"kind": "input_synthesis", "starts": 16, "steps": 5}, {"kind": "uncertainty"}],
}


def test_simulator_task_is_the_unit_box_with_reference_labels():
    data = simulator_dataset("projectile", {"tolerance": 0.3}, pool_size=200, grid=20, seed=3)
    assert data.x.shape == (200, 2) and data.x_test.shape == (400, 2)
    assert data.x.min() >= 0 and data.x.max() <= 1 and data.bounds[0].tolist() == [0, 0]
    physical = Projectile(tolerance=0.3)
    grid_physical = np.array([10.0, 2.0]) + data.x_test.astype(np.float64) * [70.0, 6.0]
    assert np.mean(data.y_test == physical.reference(grid_physical)) > 0.99  # (float32 storage at the edges)
    assert 0 < data.y_test.mean() < 0.5
    assert np.array_equal(simulator_dataset("projectile", {}, pool_size=50, seed=3).x,
                          simulator_dataset("projectile", {}, pool_size=50, seed=3).x)


@pytest.mark.parametrize("change, message", [
    ({"oracle": {"kind": "teacher"}}, "answered by the simulator"),
    ({"data": {"name": "moons"}}, "runs the simulator of"),
    ({"oracle": {"kind": "simulator", "retries": 1}}, "retries need workers"),
    ({"oracle": {"kind": "simulator", "executor": "ray", "workers": 2}}, "oracle.executor"),
    ({"oracle": {"kind": "simulator", "timeout": 0}}, "oracle.timeout"),
    ({"oracle": {"kind": "program"}, "data": {"name": "moons"}}, "oracle.command"),
    ({"oracle": {"kind": "simulator", "noise": 1.5}}, "oracle.noise"),
])
def test_oracle_config_errors_name_the_field(change, message):
    table = copy.deepcopy(TABLE)
    table.update(change)
    with pytest.raises(ConfigError, match=message):
        parse_config(table)


def test_an_unknown_simulator_is_refused_before_any_work(tmp_path):
    table = copy.deepcopy(TABLE)
    table["data"]["args"]["simulator"] = "rocket"
    with pytest.raises(ValueError, match="unknown simulator 'rocket'"):
        run_experiment(parse_config(table), tmp_path, progress=False)
    assert not (tmp_path / "throw").exists()


@pytest.mark.slow
def test_a_simulator_run_in_worker_processes(tmp_path):
    result = run_experiment(parse_config(TABLE), tmp_path, progress=False)
    run = tmp_path / "throw"
    record = json.loads((run / "oracle.json").read_text())
    assert record["simulator"]["simulator"] == "projectile" and record["simulator"]["integrator"] == "rk4"
    assert record["workers"] == 2 and record["executor"] == "process"
    for name in ("input_synthesis-entropy", "entropy"):
        history = result.results[name][0].history
        assert history[-1]["queries"] == 10 and 0.0 <= history[-1]["f1"] <= 1.0
        assert (run / "plots" / f"region-{name}.png").exists()
    log = read_label_log(run / "input_synthesis-entropy" / "seed-0" / "labels.jsonl")
    queries = {r["query_id"]: r for r in log if r["kind"] == "query"}
    answers = [r for r in log if r["kind"] == "answer"]
    assert len(answers) == 10 and all(a["status"] == "ok" for a in answers)
    # every answer is the simulator's: the landing distance of the logged (normalized) query
    sim = Projectile(tolerance=0.3)
    for a in answers:
        u = np.asarray(queries[a["query_id"]]["x"])
        exact = sim.closed_form_distance((np.array([10.0, 2.0]) + u * [70.0, 6.0])[None])[0]
        assert a["value"] == pytest.approx(exact, abs=1e-3)
        assert a["label"] == int(abs(a["value"] - 2.0) <= 0.3)
    assert "final_f1" in result.summary["entropy"]


@pytest.mark.slow
def test_an_external_program_answers_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("EXTERNAL_SIM_RULE", "sum")
    table = {
        "name": "program", "seeds": [0], "targets": [0.9],
        "data": {"name": "moons", "args": {"n": 60, "n_test": 50}},
        "oracle": {"kind": "program", "command": [sys.executable, str(HERE / "external_sim.py")],
                   "workers": 2, "executor": "threads", "timeout": 20.0},
        "learner": {"hidden": [8], "members": 2, "steps": 20, "warm_steps": 5},
        "loop": {"budget": 6, "seed_size": 2, "batch_size": 2, "fsync": False},
        "strategies": [{"kind": "random"}],
    }
    run_experiment(parse_config(table), tmp_path, progress=False, plots=False)
    log = read_label_log(tmp_path / "program" / "random" / "seed-0" / "labels.jsonl")
    xs = {r["query_id"]: r["x"] for r in log if r["kind"] == "query"}
    answers = [r for r in log if r["kind"] == "answer"]
    assert len(answers) == 6
    assert all(a["status"] == "ok" and a["label"] == int(sum(xs[a["query_id"]]) > 0.5) for a in answers)
    record = json.loads((tmp_path / "program" / "oracle.json").read_text())
    assert record["program"]["command"][-1].endswith("external_sim.py") and record["executor"] == "threads"
