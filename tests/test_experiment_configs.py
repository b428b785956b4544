"""Every config in experiments/ loads, and a miniature of it (one seed, one round after the seed
set, tiny training, at most two members or dropout masks) runs end to end — so the one-command reproductions cannot rot unnoticed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from qsynth.config import load_config
from qsynth.data import write_idx
from qsynth.experiments.runner import run_experiment

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.toml"))


def test_there_are_experiment_configs():
    assert len(CONFIGS) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_miniature_of_each_experiment_runs(path, tmp_path):
    config = load_config(path)
    loop = dataclasses.replace(config.loop, budget=config.loop.seed_size + config.loop.batch_size, fsync=False)
    learner = dataclasses.replace(config.learner, steps=5, warm_steps=2, members=min(config.learner.members, 2))
    generator = dataclasses.replace(config.generator, steps=20)
    strategies = tuple(dict(s, **({"steps": 2} if s["kind"] in ("synthesis", "input_synthesis") else {}))
                       for s in config.strategies[:2])
    data = config.data
    if data.name == "simulator":
        data = dataclasses.replace(data, args={**data.args, "pool_size": 100, "grid": 10})
    if data.name == "idx":  # the real files are the user's: stand-ins of the same format and shapes
        rng = np.random.default_rng(0)
        files = {}
        for part, n in (("train", 200), ("test", 50)):
            y = np.tile(np.arange(10, dtype=np.uint8), n // 10)
            images = (rng.uniform(0, 60, (n, 28, 28)) + 20 * y[:, None, None]).astype(np.uint8)
            write_idx(tmp_path / f"{part}-images.idx", images)
            write_idx(tmp_path / f"{part}-labels.idx", y)
            files[f"{part}_images"], files[f"{part}_labels"] = (str(tmp_path / f"{part}-{k}.idx")
                                                                for k in ("images", "labels"))
        data = dataclasses.replace(data, args={**data.args, **files})
    mini = dataclasses.replace(config, seeds=config.seeds[:1], loop=loop, learner=learner, generator=generator,
                               strategies=strategies, data=data)
    result = run_experiment(mini, tmp_path, progress=False, plots=False)
    for by_seed in result.results.values():
        assert by_seed[mini.seeds[0]].history[-1]["queries"] == loop.budget


def test_a_miniature_of_the_halfspace_reproduction_runs(tmp_path):
    """`experiments/halfspace_bound.py` (a script, not a config) end to end on d = 2: every arm
    reaches ε = 10% within a few labels, and the table, JSON and plot are written."""
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[1] / "experiments" / "halfspace_bound.py"
    spec = importlib.util.spec_from_file_location("halfspace_bound", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "halfspace.json"
    script.main(["--dims", "2", "--seeds", "1", "--arms", "synthesis", "pool-500", "random", "--cap", "40",
                 "--members", "32", "--steps", "20", "--eps", "0.1", "--out", str(out),
                 "--plot", str(tmp_path / "halfspace.png")])
    runs = json.loads(out.read_text())["runs"]
    assert sorted(r["arm"] for r in runs) == ["pool-500", "random", "synthesis"]
    assert all(r["reached"]["0.1"] is not None and r["reached"]["0.1"] <= 40 for r in runs)
    assert (tmp_path / "halfspace.png").stat().st_size > 0
