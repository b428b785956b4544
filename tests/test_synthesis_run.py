"""End to end: a config with synthesis arms, a generator per seed and a teacher oracle, through the runner."""

import json

import matplotlib
import numpy as np
import pytest

from qsynth.config import parse_config
from qsynth.experiments.runner import run_experiment
from qsynth.generators import load_generator
from qsynth.plotting import as_images, plot_ascent_paths, plot_image_grid, plot_latent_space
from qsynth.store import read_label_log

TABLE = {
    "name": "synth", "seeds": [0], "targets": [0.8], "at_labels": [6],
    "data": {"name": "moons", "args": {"n": 80, "n_test": 100}},
    "learner": {"hidden": [8], "members": 2, "steps": 20, "warm_steps": 5},
    "generator": {"latent": 2, "hidden": [16], "steps": 200, "batch_size": 32, "beta": 0.3},
    "oracle": {"kind": "teacher", "threshold": 0.0},
    "loop": {"budget": 6, "seed_size": 2, "fsync": False},
    "strategies": [{"kind": "synthesis", "starts": 16, "steps": 5},
                   {"kind": "input_synthesis", "starts": 16, "steps": 5},
                   {"kind": "synthesis", "starts": 16, "steps": 5, "match": "latent"},
                   {"kind": "prior_best", "candidates": 64}, {"kind": "random"}],
}


@pytest.mark.slow
def test_a_synthesis_run_leaves_generator_queries_and_plots(tmp_path):
    result = run_experiment(parse_config(TABLE), tmp_path, progress=False)
    run = result.path
    gen = load_generator(run / "generator" / "seed-0")
    assert gen.latent == 2
    quality = json.loads((run / "generator" / "seed-0" / "quality.json").read_text())
    assert quality["test_reconstruction_mse"] < quality["test_feature_variance"]
    records = read_label_log(run / "synthesis-entropy" / "seed-0" / "labels.jsonl")
    synth = [r for r in records if r["kind"] == "query" and not r["query_id"].startswith("seed")]
    assert len(synth) == 4 and all(len(r["z"]) == 2 and r["ascent_steps"] == 5 for r in synth)
    assert all(len(r["path"]) == 6 for r in synth)  # 2-D inputs keep their ascent paths
    answers = [r for r in records if r["kind"] == "answer"]
    assert all(a["status"] == "ok" and a["label"] in (0, 1) for a in answers)
    matched = [r for r in read_label_log(run / "synthesis-entropy+match" / "seed-0" / "labels.jsonl")
               if r["kind"] == "query" and not r["query_id"].startswith("seed")]
    assert all("pool_index" in r and "synthesized_x" in r for r in matched)
    plots = {p.name for p in (run / "plots").iterdir()}
    assert {"boundary-synthesis-entropy.png", "latent-synthesis-entropy.png",
            "boundary-input_synthesis-entropy.png"} <= plots


def test_an_existing_run_is_never_appended_to(tmp_path):
    table = {**TABLE, "strategies": [{"kind": "random"}], "oracle": {"kind": "dataset"}}
    run_experiment(parse_config(table), tmp_path, progress=False, plots=False)
    with pytest.raises(FileExistsError, match="already holds a run.*--overwrite"):
        run_experiment(parse_config(table), tmp_path, progress=False, plots=False)
    run_experiment(parse_config(table), tmp_path, progress=False, plots=False, overwrite=True)
    backups = list(tmp_path.glob("synth.replaced-*"))
    assert len(backups) == 1 and (backups[0] / "random" / "seed-0" / "labels.jsonl").exists()
    log = read_label_log(tmp_path / "synth" / "random" / "seed-0" / "labels.jsonl")
    assert sum(r["kind"] == "query" for r in log) == 6  # one run's queries, not two


def test_image_plots():
    assert as_images(np.zeros((3, 64)), (64,)).shape == (3, 8, 8)
    assert as_images(np.zeros((3, 8, 8, 1)), (8, 8, 1)).shape == (3, 8, 8)
    assert as_images(np.zeros((3, 2)), (2,)) is None
    ax = plot_image_grid(np.zeros((5, 8, 8)), [f"q{i}" for i in range(5)], ncols=4)
    assert len(ax.figure.axes) == 8 and ax.get_title() == "q0"
    ax = plot_latent_space(np.zeros((10, 2)), np.zeros(10), queried=np.ones((3, 2)))
    assert ax.get_legend().get_texts()[0].get_text() == "3 queried codes"
    plot_ascent_paths(ax, np.zeros((2, 4, 2)))
    matplotlib.pyplot.close("all")
