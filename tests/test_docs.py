"""The docs cannot drift: every complete Python block of README.md and docs/ runs, every TOML
block is a valid config, and every `qsynth` command is validated (`--check`) or, where it takes
a few seconds, run (issue 18, item 1).

- A page's Python blocks run in order as one module (so a later block sees an earlier one's
  names, and functions can be sent to worker processes), in a fresh folder. Placeholders are
  named stand-ins there: the module `my_physics` (`tests/doc_stubs.py`), the program
  `./my_sim` (`tests/external_sim.py` with a plain rule), a local Dask cluster for the
  scheduler address.
- A page's TOML blocks are merged in order onto the built-in default config (a complete
  config replaces it) and each result must pass `qsynth run --check`.
- `qsynth` lines of bash blocks: `run CONFIG` gets `--check`; `--resume` and `label` get
  `--check` on a run folder of the right kind; `plot`, `list` and `--resume` of a small
  finished run really run. Install and pytest lines are exempt.
- docs/extending.md has its own test (`tests/test_docs_extending.py`); the getting-started
  config also runs for real, with `--seeds 0 --budget 4` (as that page says).
"""

from __future__ import annotations

import gc
import importlib
import re
import shlex
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from qsynth.cli import main

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)
PAGES = ["README.md", "docs/getting-started.md", "docs/labeling.md", "docs/simulators.md"]
ELSEWHERE = {"docs/extending.md": "tests/test_docs_extending.py"}
DEFAULT = ROOT / "qsynth" / "configs" / "default.toml"
#: a run folder the docs name (`runs/<name>`, `runs/digits`), made small by the test
TINY_RUN = {
    "seeds": [0], "data": {"name": "moons", "args": {"n": 60, "n_test": 60}},
    "learner": {"hidden": [8], "members": 2, "steps": 10, "warm_steps": 3},
    "loop": {"budget": 4, "seed_size": 2, "fsync": False}, "strategies": [{"kind": "random"}],
}


def blocks(page: str, lang: str) -> list[str]:
    return [body for kind, _, body in BLOCK.findall((ROOT / page).read_text(encoding="utf-8")) if kind == lang]


def test_every_page_with_examples_is_tested():
    for page in sorted(str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *ROOT.glob("docs/*.md")]):
        has = any(blocks(page, lang) for lang in ("python", "toml", "bash"))
        assert not has or page in PAGES or page in ELSEWHERE, f"{page} has examples that no test runs"


# ---- Python ---------------------------------------------------------------------------------
def _close_worker_pools() -> None:
    from qsynth.oracles.workers import WorkerPool

    for obj in gc.get_objects():
        if isinstance(obj, WorkerPool):
            obj.shutdown(wait=False, cancel_futures=True)


def _run_page(page: str, folder: Path, monkeypatch, replace: dict[str, str] | None = None):
    """The page's Python blocks as one module in `folder`, imported (so: run)."""
    text = "\n".join(blocks(page, "python"))
    for old, new in (replace or {}).items():
        assert old in text, f"{page}: the placeholder {old!r} is gone; update tests/test_docs.py"
        text = text.replace(old, new)
    name = "doc_" + re.sub(r"\W", "_", Path(page).stem)
    (folder / f"{name}.py").write_text("import my_physics  # (the test's stand-in)\n" * ("my_physics" in text) + text)
    (folder / "my_physics.py").write_text((ROOT / "tests" / "doc_stubs.py").read_text())
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    return importlib.import_module(name)


def test_the_readme_examples_run(tmp_path, monkeypatch):
    module = _run_page("README.md", tmp_path, monkeypatch)
    assert module.result.history[-1]["queries"] == 100 and module.result.history[-1]["accuracy"] > 0.8
    assert len(module.session.history) == 10 and module.session.history[-1]["accuracy"] > 0.8


def test_the_getting_started_examples_run(tmp_path, monkeypatch):
    (tmp_path / "my-digits.toml").write_text(blocks("docs/getting-started.md", "toml")[0])
    _tiny_run(tmp_path / "runs", "my-digits", [{"kind": "uncertainty", "measure": "margin"}])
    module = _run_page("docs/getting-started.md", tmp_path, monkeypatch)
    assert (tmp_path / "curves.png").stat().st_size > 10_000 and (tmp_path / "bald.png").stat().st_size > 10_000
    assert module.config.name == "my-digits" and module.probabilities.shape == (1, 2)
    assert len(module.results["bald"].queries) == 30


def test_the_simulator_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    from qsynth.records import Queries, Status

    program = tmp_path / "my_sim"
    program.write_text(f"#!/bin/sh\nEXTERNAL_SIM_RULE=sum exec {sys.executable} {ROOT / 'tests' / 'external_sim.py'}\n")
    program.chmod(0o755)
    queries = Queries(("a", "b"), np.asarray([[0.1, 0.1], [0.4, 0.9]], np.float32), np.zeros(2))
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        try:
            module = _run_page("docs/simulators.md", tmp_path, monkeypatch,
                               {"tcp://scheduler:8786": cluster.scheduler_address})
            for oracle in (module.oracle, module.program and
                           module.ParallelOracle(module.program, classes=(0, 1), workers=1)):
                answers = oracle.label(queries) if hasattr(oracle, "label") else None
                if answers is None:
                    oracle.submit(queries)
                    answers = []
                    while len(answers) < 2:
                        answers += oracle.collect(timeout=30.0)
                answers = sorted(answers, key=lambda a: a.query_id)
                assert [a.status for a in answers] == [Status.OK, Status.OK], answers
                assert [a.label for a in answers] == [0, 1]  # the grasp stub and the program's rule agree here
                oracle.close()
            module.client.close()
        finally:
            _close_worker_pools()


# ---- TOML -----------------------------------------------------------------------------------
def _merge(base: dict, part: dict) -> dict:
    out = dict(base)
    for key, value in part.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _toml(table: dict) -> str:
    from qsynth.config import parse_config, to_toml

    return to_toml(parse_config(table))


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "toml")])
def test_every_toml_block_is_a_valid_config(page, tmp_path, capsys):
    table = tomllib.loads(DEFAULT.read_text())
    for i, body in enumerate(blocks(page, "toml")):
        part = tomllib.loads(body)
        if "data" in part and part["data"].get("name", table["data"]["name"]) != table["data"]["name"]:
            table = {**table, "data": {}}  # another dataset: its own arguments, not the last one's
        table = part if "name" in part and "data" in part else _merge(table, part)
        path = tmp_path / f"block{i}.toml"
        path.write_text(_toml(table))
        assert main(["run", str(path), "--check", "--out", str(tmp_path / "runs")]) == 0, capsys.readouterr().err
        assert "config OK" in capsys.readouterr().out


@pytest.mark.slow
def test_the_getting_started_config_runs_as_written(tmp_path, capsys):
    config = blocks("docs/getting-started.md", "toml")[0]  # (the page's own config; later blocks are fragments)
    text = (ROOT / "docs" / "getting-started.md").read_text()
    assert "qsynth run my-digits.toml --seeds 0 --budget 4" in text  # the page documents the quick override
    (tmp_path / "my-digits.toml").write_text(config)
    out = str(tmp_path / "runs")
    assert main(["run", str(tmp_path / "my-digits.toml"), "--check", "--out", out]) == 0
    assert main(["run", str(tmp_path / "my-digits.toml"), "--seeds", "0", "--budget", "4", "--out", out, "--quiet",
                 "--no-plots"]) == 0
    table = capsys.readouterr().out
    assert "synthesis-entropy" in table and "margin" in table


# ---- qsynth command lines ----------------------------------------------------------------
def _commands() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        for body in blocks(page, "bash"):
            for line in body.splitlines():
                line = line.split("  #")[0].split(" #")[0].strip()
                if line.startswith("qsynth "):
                    out.append((page, line))
    return out


def _tiny_run(parent: Path, name: str, strategies: list | None = None, **oracle) -> None:
    from qsynth.config import parse_config
    from qsynth.experiments.runner import run_experiment

    table = {**TINY_RUN, "name": name, **({"oracle": oracle} if oracle else {})}
    if strategies:
        table["strategies"] = strategies
    if oracle:  # a person's run: its config alone (nothing is asked until someone labels)
        (parent / name).mkdir(parents=True)
        from qsynth.config import to_toml
        from qsynth.experiments.runner import _versions

        (parent / name / "config.toml").write_text(to_toml(parse_config(table), _versions()))
        return
    run_experiment(parse_config(table), parent, progress=False, plots=False)


@pytest.mark.parametrize("page,line", _commands())
def test_every_qsynth_command_in_the_docs_is_valid(page, line, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    argv = shlex.split(line.replace("runs/<name>", "runs/mine"))[1:]
    if "my-digits.toml" in argv:  # the config the getting-started page has the reader save
        (tmp_path / "my-digits.toml").write_text(blocks("docs/getting-started.md", "toml")[0])
    folders = [a for a in argv if a.startswith("runs/")]
    folder = folders[0] if folders else None
    for each in folders:
        human = argv[0] == "label" or page == "docs/labeling.md"
        _tiny_run(tmp_path / "runs", Path(each).name, **({"kind": "human"} if human else {}))
    checked = argv[0] == "label" or (argv[0] == "run" and ("--resume" not in argv or folder.endswith("mine")))
    if checked:
        argv.append("--check")
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert ("config OK" in out) if checked else out
