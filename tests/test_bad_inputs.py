"""The bad-input contract: every wrong config or API call is one sentence naming what is wrong
(the dotted field, or the file), raised before any dataset is built or any run folder written;
on the command line, exit status 2 and one line, no traceback."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from qsynth.config import ConfigError, parse_config
from qsynth.data import datasets

BASE = {"name": "bad", "seeds": [0], "data": {"name": "moons", "args": {"n": 60, "n_test": 60}},
        "learner": {"hidden": [8], "members": 2, "steps": 10},
        "loop": {"budget": 6, "seed_size": 2, "fsync": False}, "strategies": [{"kind": "random"}]}

BOX = {"name": "box", "args": {"bounds": [[0.0, 1.0], [0.0, 1.0]], "reference": "tests.oracle_tasks:sign_label"}}
FN = {"kind": "function", "function": "tests.oracle_tasks:sign_label"}

#: (id, changes to BASE — a table replaces a table, a "a.b" key sets one field —, what the message must name)
CONFIGS = [
    ("negative seed", {"seeds": [-1]}, "seeds[0]"),
    ("no seeds", {"seeds": []}, "seeds"),
    ("duplicate seeds", {"seeds": [1, 1]}, "seeds: duplicates"),
    ("string seed", {"seeds": ["a"]}, "seeds[0]"),
    ("seed too large", {"seeds": [2**40]}, "seeds[0]"),
    ("bad run name", {"name": "a/b"}, "name:"),
    ("target above one", {"targets": [1.5]}, "targets[0]"),
    ("negative at_labels", {"at_labels": [-10]}, "at_labels[0]"),
    ("string at_labels", {"at_labels": ["x"]}, "at_labels[0]"),
    ("newer schema", {"schema_version": 99}, "schema_version"),
    ("unknown top-level field", {"bogus": 1}, "bogus: unknown field"),
    ("unknown table", {"foo": {"a": 1}}, "foo: unknown field"),
    ("unknown dataset", {"data.name": "nope"}, "data.name"),
    ("negative n", {"data.args": {"n": -10}}, "data.args.n"),
    ("string n", {"data.args": {"n": "many"}}, "data.args.n"),
    ("unknown dataset argument", {"data.args": {"bogus": 1}}, "data.args.bogus"),
    ("negative noise", {"data.args": {"noise": -1.0}}, "data.args.noise"),
    ("digits n_test too large for the subset", {"data": {"name": "digits", "args": {"classes": [3, 8], "n_test": 500}}},
     "data.args.n_test"),
    ("digits unknown class", {"data": {"name": "digits", "args": {"classes": [3, 12]}}}, "data.args.classes"),
    ("digits one class", {"data": {"name": "digits", "args": {"classes": [3]}}}, "data.args.classes"),
    ("digits duplicate classes", {"data": {"name": "digits", "args": {"classes": [3, 3]}}}, "data.args.classes"),
    ("checkerboard one cell", {"data": {"name": "checkerboard", "args": {"cells": 1}}}, "data.args.cells"),
    ("halfspace no dimensions", {"data": {"name": "halfspace", "args": {"d": 0}}}, "data.args.d"),
    ("drifting halfspace in 1-D", {"data": {"name": "drifting_halfspace", "args": {"d": 1}}}, "data.args.d"),
    ("npz without path", {"data": {"name": "npz", "args": {}}}, "data.args.path"),
    ("npz test fraction", {"data": {"name": "npz", "args": {"path": "x.npz", "test_fraction": 2.0}}},
     "data.args.test_fraction"),
    ("mnist1d too few samples", {"data": {"name": "mnist1d", "args": {"num_samples": 3}}}, "data.args.num_samples"),
    ("box without bounds", {"data": {"name": "box", "args": {}}, "oracle": FN}, "data.args.bounds"),
    ("box without reference", {"data": {"name": "box", "args": {"bounds": [[0, 1]]}}, "oracle": FN},
     "data.args.reference"),
    ("string members", {"learner.members": "five"}, "learner.members"),
    ("zero members", {"learner.members": 0}, "learner.members"),
    ("zero width", {"learner.hidden": [0]}, "learner.hidden"),
    ("unknown model", {"learner.model": "transformer"}, "learner.model"),
    ("unknown posterior", {"learner.posterior": "laplace"}, "learner.posterior"),
    ("dropout above one", {"learner.dropout": 1.5}, "learner.dropout"),
    ("mc dropout without dropout", {"learner.posterior": "mc_dropout"}, "learner.dropout"),
    ("zero learning rate", {"learner.learning_rate": 0.0}, "learner.learning_rate"),
    ("string learning rate", {"learner.learning_rate": "fast"}, "learner.learning_rate"),
    ("zero steps", {"learner.steps": 0}, "learner.steps"),
    ("zero batch", {"learner.batch_size": 0}, "learner.batch_size"),
    ("GP field on a network", {"learner.kernel": "rbf"}, "learner.target"),
    ("restart growth below one", {"learner.restart_growth": 0.5}, "learner.restart_growth"),
    ("optimizer reference that is not there", {"learner.optimizer": "qsynth_no_such_module:adam"},
     "learner.optimizer"),
    ("negative budget", {"loop.budget": -5}, "loop.budget"),
    ("string seed size", {"loop.seed_size": "many"}, "loop.seed_size"),
    ("zero batch size", {"loop.batch_size": 0}, "loop.batch_size"),
    ("unknown loop field", {"loop.bogus": 1}, "loop.bogus"),
    ("unknown oracle", {"oracle.kind": "psychic"}, "oracle.kind"),
    ("threshold above one", {"oracle.threshold": 2.0}, "oracle.threshold"),
    ("negative workers", {"oracle.workers": -1}, "oracle.workers"),
    ("zero timeout", {"oracle.timeout": 0.0}, "oracle.timeout"),
    ("retries without workers", {"oracle.retries": 1}, "oracle.retries"),
    ("noise above one", {"oracle.noise": 1.5}, "oracle.noise"),
    ("port out of range", {"oracle.port": 70000}, "oracle.port"),
    ("function oracle without a function", {"oracle.kind": "function"}, "oracle.function"),
    ("program oracle without a command", {"oracle.kind": "program"}, "oracle.command"),
    ("unknown executor", {"oracle.executor": "mpi"}, "oracle.executor"),
    ("no strategies", {"strategies": []}, "strategies"),
    ("unknown strategy", {"strategies": [{"kind": "telepathy"}]}, "strategies[0]"),
    ("string starts", {"strategies": [{"kind": "input_synthesis", "starts": "many"}]}, "strategies[0]"),
    ("string ascent learning rate", {"strategies": [{"kind": "input_synthesis", "learning_rate": "fast"}]},
     "strategies[0]"),
    ("synthesis with the dataset oracle", {"strategies": [{"kind": "input_synthesis"}]}, "strategies[0]"),
    ("the same strategy twice", {"strategies": [{"kind": "random"}, {"kind": "random"}]}, "strategies: names"),
    ("unknown measure", {"strategies": [{"kind": "uncertainty", "measure": "vibes"}]}, "strategies[0]"),
    ("unknown strategy field", {"strategies": [{"kind": "random", "bogus": 1}]}, "strategies[0]"),
    ("zero latent", {"generator.latent": 0}, "generator.latent"),
    ("string generator steps", {"generator.steps": "x"}, "generator.steps"),
]


def _apply(changes: dict) -> dict:
    table = copy.deepcopy(BASE)
    for key, value in changes.items():
        if "." in key:
            section, field = key.split(".", 1)
            table.setdefault(section, {})[field] = value
        else:
            table[key] = value
    return table


@pytest.fixture
def no_dataset_is_built(monkeypatch):
    def refuse(self):
        raise AssertionError(f"a dataset ({self.name}) was built before the config was refused")

    monkeypatch.setattr(datasets.Dataset, "__post_init__", refuse)


@pytest.mark.parametrize("changes, names", [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_a_bad_config_is_refused_naming_its_field(changes, names, no_dataset_is_built):
    with pytest.raises(ConfigError) as err:
        parse_config(_apply(changes))
    assert names in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def _toml(table: dict) -> str:
    """A config table as TOML (scalars, arrays, inline tables, sections, [[strategies]])."""
    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines = [f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, dict) and k != "strategies"]
    if table.get("strategies") == []:
        lines.append("strategies = []")
    for k, v in table.items():
        if isinstance(v, dict):
            lines += [f"[{k}]"] + [f"{f} = {value(x)}" for f, x in v.items()]
    for spec in table.get("strategies", []):
        lines += ["[[strategies]]"] + [f"{f} = {value(x)}" for f, x in spec.items()]
    return "\n".join(lines) + "\n"


def test_on_the_command_line_each_is_one_line_and_exit_status_2(tmp_path, capsys, no_dataset_is_built):
    from qsynth.cli import main

    for name, changes, names in CONFIGS:
        path = tmp_path / "bad.toml"
        path.write_text(_toml(_apply(changes)))
        code = main(["run", str(path), "--out", str(tmp_path / "runs"), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2, name
        assert err.startswith("qsynth: error: ") and len(err.splitlines()) == 1, (name, err)
        assert names in err, (name, err)
    assert not (tmp_path / "runs").exists()


# ---- bad files and impossible sizes: refused before any run folder is written ------------------------

def _npz_cases(folder):
    np.savez(folder / "shapes.npz", x=np.zeros((10, 3)), y=np.arange(10) % 2, x_test=np.zeros((5, 4)),
             y_test=np.arange(5) % 2)
    np.savez(folder / "empty.npz")
    np.savez(folder / "strings.npz", x=np.zeros((10, 3)), y=np.array(["a", "b"] * 5))
    np.savez(folder / "lengths.npz", x=np.zeros((10, 3)), y=np.arange(7) % 2)
    np.savez(folder / "half.npz", x=np.zeros((10, 3)), y=np.arange(10) % 2, x_test=np.zeros((4, 3)))
    (folder / "text.npz").write_text("not a zip")
    return [
        ("x_test of another feature shape", "shapes.npz", "x has feature shape (3,) but x_test has (4,)"),
        ("an empty npz", "empty.npz", "has no array 'x'"),
        ("string labels", "strings.npz", "labels must be integers"),
        ("labels of another length", "lengths.npz", "y has shape (7,); expected (10,)"),
        ("x_test without y_test", "half.npz", "without the other"),
        ("a file that is not a zip", "text.npz", "is not an .npz file"),
        ("a file that is not there", "missing.npz", "no such file"),
    ]


def test_bad_npz_files_are_named_before_any_run_folder_is_written(tmp_path, capsys):
    from qsynth.cli import main

    for name, file, says in _npz_cases(tmp_path):
        table = _apply({"data": {"name": "npz", "args": {"path": str(tmp_path / file)}}})
        (tmp_path / "bad.toml").write_text(_toml(table))
        code = main(["run", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "runs"), "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 2 and "Traceback" not in err, (name, err)
        assert err.startswith("qsynth: error: data.args.path: ") and file in err and says in err, (name, err)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("changes, names", [
    ({"learner.members": 100_000_000}, "learner.members = 100000000"),
    ({"loop.seed_size": 100, "loop.budget": 120}, "loop.seed_size"),
    ({"learner.model": "cnn"}, "learner.model"),
], ids=["a learner too large for memory", "a seed set larger than the pool", "a CNN on 2-D points"])
def test_a_config_that_does_not_fit_its_data_is_refused_before_any_run(changes, names, tmp_path):
    from qsynth.experiments.runner import run_experiment

    with pytest.raises(ValueError, match=names.replace("[", r"\[").replace(".", r"\.")):
        run_experiment(parse_config(_apply(changes)), tmp_path, progress=False, plots=False)
    assert not (tmp_path / "bad").exists()


# ---- the Python API --------------------------------------------------------------------------------

def _problem(**changes):
    from qsynth.problem import Problem, TestSetEvaluator

    x = np.zeros((4, 2), np.float32)
    parts = dict(name="p", feature_shape=(2,), classes=(0, 1), evaluator=TestSetEvaluator(x, np.array([0, 1, 0, 1])),
                 pool=x, pool_y=np.array([0, 1, 0, 1]))
    return Problem(**{**parts, **changes})


class _WrongShapeEvaluator:
    def evaluate(self, predict_proba, progress):
        return {"accuracy": float(predict_proba(np.zeros((3, 5))).mean())}


def _api_calls():
    from qsynth.learners.config import LearnerConfig
    from qsynth.loop_config import LoopConfig
    from qsynth.oracles import FunctionOracle, ParallelOracle
    from qsynth.problem import TestSetEvaluator
    from tests import oracle_tasks

    return [
        ("duplicate classes", lambda: _problem(classes=(0, 0)), "classes must be at least two distinct"),
        ("unsorted classes", lambda: _problem(classes=(1, 0)), "in increasing order"),
        ("a single class", lambda: _problem(classes=(0,)), "classes must be at least two"),
        ("pool_y of the wrong length", lambda: _problem(pool_y=np.array([0, 1])), "pool_y has shape (2,)"),
        ("pool_y outside the classes", lambda: _problem(pool_y=np.array([0, 1, 2, 1])), "pool_y holds labels [2]"),
        ("an evaluator of another feature shape",
         lambda: _problem(evaluator=TestSetEvaluator(np.zeros((3, 5)), np.zeros(3, int))), "evaluator: x has feature"),
        ("evaluator labels out of range",
         lambda: _problem(evaluator=TestSetEvaluator(np.zeros((3, 2)), np.array([0, 1, 7]))), "class index 7"),
        ("an evaluator asking for the wrong shape", lambda: _problem(evaluator=_WrongShapeEvaluator()),
         "evaluator asked for predictions on inputs of shape (5,)"),
        ("an evaluator that is not one", lambda: _problem(evaluator=object()), "has no evaluate"),
        ("evaluator y of another length", lambda: TestSetEvaluator(np.zeros((3, 2)), np.zeros(2, int)),
         "y has shape (2,)"),
        ("evaluator labels that are not indices", lambda: TestSetEvaluator(np.zeros((2, 2)), np.array([0.5, 1.0])),
         "class indices"),
        ("arrays of different lengths", lambda: datasets.Dataset.from_arrays(np.zeros((5, 2)), np.zeros(4)),
         "y has shape (4,)"),
        ("a vectorized oracle with a timeout",
         lambda: FunctionOracle(oracle_tasks.sign_label, (0, 1), vectorized=True, timeout=1.0), "timeout"),
        ("a parallel oracle with no time", lambda: ParallelOracle(oracle_tasks.sign_label, (0, 1), timeout=0.0),
         "timeout must be > 0"),
        ("zero members in Python", lambda: LearnerConfig(members=0), "learner.members"),
        ("a budget below the seed set", lambda: LoopConfig(budget=2, seed_size=5), "loop.budget"),
    ]


def test_bad_api_calls_are_refused_where_they_are_made():
    for name, call, says in _api_calls():
        with pytest.raises(ValueError) as err:
            call()
        assert says in str(err.value), (name, str(err.value))


def test_the_contract_covers_at_least_sixty_cases(tmp_path):
    assert len(CONFIGS) + len(_npz_cases(tmp_path)) + 3 + len(_api_calls()) >= 60
