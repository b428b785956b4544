"""Progress (issue 18, item 2): live bars with the time left on a terminal, plain lines elsewhere,
nothing under --quiet; `run_loop(progress=True)`."""

from __future__ import annotations

import io
import time

import jax

from qsynth.config import parse_config
from qsynth.experiments.runner import run_experiment
from qsynth.loop import LoopConfig, run_loop
from qsynth.problem import Problem
from qsynth.progress import LineProgress, Progress, RichProgress, make_progress
from qsynth.strategies import RandomSampling
from tests.helpers import tiny_learner, tiny_moons


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


TABLE = {
    "name": "p", "seeds": [0, 1], "data": {"name": "moons", "args": {"n": 60, "n_test": 60}},
    "learner": {"hidden": [8], "members": 2, "steps": 10, "warm_steps": 3},
    "loop": {"budget": 5, "seed_size": 2, "fsync": False}, "strategies": [{"kind": "random"}, {"kind": "bald"}],
}


def test_the_display_fits_the_stream():
    assert type(make_progress(3, stream=io.StringIO())) is LineProgress
    assert type(make_progress(3, enabled=False, stream=_Terminal())) is Progress
    assert type(make_progress(3, live=False, stream=_Terminal())) is LineProgress
    bars = make_progress(3, stream=_Terminal())
    assert type(bars) is RichProgress
    bars.close()


def test_a_log_gets_one_line_per_run_and_per_slow_phase(tmp_path, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    run_experiment(parse_config(TABLE), tmp_path, plots=False)
    lines = err.getvalue().splitlines()
    done = [line for line in lines if line.startswith("[")]
    assert [line.split(":")[0] for line in done] == ["[1/4] random seed 0", "[2/4] random seed 1", "[3/4] bald seed 0",
                                                     "[4/4] bald seed 1"]
    assert all("5 labels, accuracy" in line and "(budget)" in line for line in done)
    assert "\r" not in err.getvalue()  # nothing redrawn in a log


def test_a_terminal_gets_live_bars_with_the_time_left(tmp_path, monkeypatch):
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    run_experiment(parse_config(TABLE), tmp_path, plots=False)
    text = term.getvalue()
    assert "all runs" in text and "left" in text and "bald seed 1" in text and "4/4" in text
    assert "[4/4] bald seed 1: 5 labels" in text


def test_quiet_prints_nothing(tmp_path, capsys):
    run_experiment(parse_config(TABLE), tmp_path, plots=False, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_a_phase_over_a_second_gets_a_line():
    out = io.StringIO()
    shown = LineProgress(1, out)
    with shown.phase("quick"):
        pass
    with shown.phase("teacher oracle, seed 0"):
        time.sleep(1.05)
    assert out.getvalue().startswith("teacher oracle, seed 0: 1.") and "quick" not in out.getvalue()


def test_run_loop_shows_its_own_progress(capsys):
    data = tiny_moons()
    problem = Problem.from_dataset(data)
    from qsynth.oracles import DatasetOracle

    run_loop(jax.random.key(0), problem, tiny_learner(problem), RandomSampling(), DatasetOracle(data.y, data.classes),
             LoopConfig(budget=4, seed_size=2), progress=True)
    assert "[1/1] random: 4 labels, accuracy" in capsys.readouterr().err
    run_loop(jax.random.key(0), problem, tiny_learner(problem), RandomSampling(), DatasetOracle(data.y, data.classes),
             LoopConfig(budget=4, seed_size=2))
    assert capsys.readouterr().err == ""


def test_the_bars_follow_several_runs_at_once():
    """A parallel sweep's runs are under way together: each has its own bar, updated by label."""
    term = _Terminal()
    bars = RichProgress(2, term)
    bars.start("bald seed 0", 10)
    bars.start("bald seed 1", 10)
    bars.round({"queries": 4.0, "accuracy": 0.5}, "bald seed 0")
    bars.round({"queries": 7.0, "accuracy": 0.6}, "bald seed 1")
    assert set(bars.runs) == {"bald seed 0", "bald seed 1"}
    assert [bars.bars.tasks[i].completed for i in (bars.runs["bald seed 0"][0], bars.runs["bald seed 1"][0])] == [4, 7]
    bars.finish("bald seed 0", {"queries": 10.0, "accuracy": 0.8}, "budget")
    assert set(bars.runs) == {"bald seed 1"}
    bars.finish("bald seed 1", {"queries": 10.0, "accuracy": 0.9}, "budget")
    bars.close()
    text = term.getvalue()
    assert "[1/2] bald seed 0: 10 labels" in text and "[2/2] bald seed 1: 10 labels" in text
