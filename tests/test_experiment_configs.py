"""Every config in experiments/ loads, and a miniature of it (one seed, one round after the seed
set, tiny training) runs end to end — so the one-command reproductions cannot rot unnoticed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qsynth.config import load_config
from qsynth.experiments.runner import run_experiment

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.toml"))


def test_there_are_experiment_configs():
    assert len(CONFIGS) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_miniature_of_each_experiment_runs(path, tmp_path):
    config = load_config(path)
    loop = dataclasses.replace(config.loop, budget=config.loop.seed_size + config.loop.batch_size, fsync=False)
    learner = dataclasses.replace(config.learner, steps=5, warm_steps=2)
    generator = dataclasses.replace(config.generator, steps=20)
    strategies = tuple(dict(s, **({"steps": 2} if s["kind"] in ("synthesis", "input_synthesis") else {}))
                       for s in config.strategies[:2])
    data = config.data
    if data.name == "simulator":
        data = dataclasses.replace(data, args={**data.args, "pool_size": 100, "grid": 10})
    mini = dataclasses.replace(config, seeds=config.seeds[:1], loop=loop, learner=learner, generator=generator,
                               strategies=strategies, data=data)
    result = run_experiment(mini, tmp_path, progress=False, plots=False)
    for by_seed in result.results.values():
        assert by_seed[mini.seeds[0]].history[-1]["queries"] == loop.budget
