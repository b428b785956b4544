import json
import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from qsynth.cli import main
from qsynth.plotting import plot_decision_boundary, plot_learning_curves

TINY_CONFIG = """
name = "tiny"
seeds = [0, 1]
targets = [0.8]
at_labels = [6]
[data]
name = "moons"
args = {n = 80, n_test = 100}
[learner]
hidden = [8]
members = 2
steps = 20
warm_steps = 5
[loop]
budget = 8
seed_size = 2
fsync = false
[[strategies]]
kind = "random"
[[strategies]]
kind = "uncertainty"
measure = "margin"
[[strategies]]
kind = "stream"
budget = 0.5
"""


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", "qsynth.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env={**os.environ})


@pytest.mark.slow
def test_run_then_plot_from_the_command_line(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_CONFIG)
    done = _run(["run", "tiny.toml", "--out", "runs", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "final accuracy" in done.stdout and "margin" in done.stdout and "labels to 80%" in done.stdout
    run = tmp_path / "runs" / "tiny"
    assert (run / "config.toml").read_text().count("[[strategies]]") == 3
    assert "[provenance]" in (run / "config.toml").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["strategies"]) == {"random", "margin", "stream-variable_uncertainty-0.5"}
    for name in summary["strategies"]:
        for seed in (0, 1):
            folder = run / name / f"seed-{seed}"
            assert (folder / "labels.jsonl").stat().st_size > 0 and (folder / "metrics.csv").exists()
    assert (run / "plots" / "learning_curves.png").exists() and (run / "plots" / "boundary-margin.png").exists()
    (run / "plots" / "learning_curves.png").unlink()
    again = _run(["plot", "runs/tiny"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert (run / "plots" / "learning_curves.png").exists()


def test_cli_errors_are_clear(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('[learner]\nmembers = "five"\n')
    assert main(["run", str(tmp_path / "bad.toml")]) == 2
    assert "learner.members: expected an integer" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "no config.toml" in capsys.readouterr().err
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "bald" in out and "vote_entropy (not differentiable)" in out


def test_plots_draw_what_they_should():
    rows = lambda acc: [{"queries": q, "accuracy": a} for q, a in zip([2, 3, 4], acc)]  # noqa: E731
    ax = plot_learning_curves({"a": [rows([0.5, 0.6, 0.7]), rows([0.5, 0.8, 0.9])], "b": [rows([0.5, 0.5, 0.6])]},
                              targets=[0.9])
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("a (n=2)", "b (n=2)", "b (n=1)")]
    assert {ln.get_label() for ln in lines} == {"a (n=2)", "b (n=1)"}
    a = next(ln for ln in lines if ln.get_label() == "a (n=2)")
    np.testing.assert_allclose(a.get_ydata(), [0.5, 0.7, 0.8])
    assert len(ax.collections) == 2  # one band per strategy
    ax = plot_decision_boundary(lambda x: np.stack([1 - (x[:, 0] > 0), x[:, 0] > 0], 1).astype(float),
                                bounds=(np.array([-1, -1]), np.array([1, 1])), queried=np.zeros((3, 2)),
                                queried_y=np.array([0, 1, 1]), resolution=20)
    assert ax.get_legend().get_texts()[0].get_text() == "3 queried, labeled"
    matplotlib.pyplot.close("all")


def test_version_and_a_single_seed_table_without_a_spread(capsys):
    import importlib.metadata

    from qsynth.cli import main
    from qsynth.experiments.summary import format_table, summarize

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"qsynth {importlib.metadata.version('qsynth')}"
    row = {"round": 1, "queries": 10, "labels": 10, "accuracy": 0.9, "select_s": 0.0, "train_s": 0.0}
    one = format_table(summarize({"random": [[row]]}, [0.8], [10]))
    two = format_table(summarize({"random": [[row], [{**row, "accuracy": 0.8}]]}, [0.8], [10]))
    assert "±" not in one and "0.900" in one
    assert "0.850 ± 0.050" in two


def test_strategy_styles_are_unique_fixed_by_config_order_and_the_same_in_run_and_plot(tmp_path, monkeypatch):
    from qsynth import plotting
    from qsynth.config import parse_config
    from qsynth.experiments.runner import load_histories, plot_run, run_experiment

    names = [f"s{i}" for i in range(45)]
    styles = plotting.strategy_styles(names)
    assert len(set(styles.values())) == 45  # no two strategies share (colour, line style)
    assert plotting.strategy_styles(names[:3]) == {n: styles[n] for n in names[:3]}  # a prefix keeps its styles
    drawn = []

    def keep(ax, path):
        if path.endswith("learning_curves.png"):
            drawn.append([(ln.get_label(), ln.get_color(), ln.get_linestyle()) for ln in ax.get_lines()
                          if "(n=" in ln.get_label()])
        matplotlib.pyplot.close(ax.figure)

    monkeypatch.setattr(plotting, "save", keep)
    table = {"name": "order", "seeds": [0], "data": {"name": "moons", "args": {"n": 60, "n_test": 60}},
             "learner": {"hidden": [8], "members": 2, "steps": 5}, "loop": {"budget": 4, "seed_size": 2, "fsync": False},
             "strategies": [{"kind": "random"}, {"kind": "bald"}, {"kind": "uncertainty"}]}
    config = parse_config(table)
    run = run_experiment(config, tmp_path, progress=False).path  # draws from the results, in config order
    assert list(load_histories(run)) == ["bald", "entropy", "random"]  # on disk: by name
    plot_run(run, config)  # qsynth plot: from disk
    assert drawn[0] == drawn[1]
    assert [label.split(" (n=")[0] for label, _, _ in drawn[0]] == ["random", "bald", "entropy"]


def test_identical_curves_are_drawn_once_and_named_together():
    rows = lambda acc: [{"queries": q, "accuracy": a} for q, a in zip([2, 3, 4], acc)]  # noqa: E731
    ax = plot_learning_curves({"entropy": [rows([0.5, 0.6, 0.7])], "margin": [rows([0.5, 0.6, 0.7])],
                               "random": [rows([0.5, 0.5, 0.6])]})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["entropy = margin (identical) (n=1)", "random (n=1)"]
    matplotlib.pyplot.close("all")
