"""Golden runs: one tiny config per strategy kind, recorded before the core was refactored.

Each config in `tests/golden/*.toml` runs through the experiment runner; its label logs, final
learner state (the checkpoint's arrays) and metrics (timings dropped) must equal the recorded
ones bit for bit. A refactor that changes any number a run produces fails here.

Record again (only when a change of results is intended, and say so in the commit):
    QSYNTH_WRITE_GOLDEN=1 python -m pytest tests/test_golden.py -n 0

The recording names its processor and JAX (`golden/machine.json`): on that machine every
number must be equal; on another, every query, index, label and shape, and floats to within a
tolerance (`tests/recorded.py`: XLA's CPU code differs between processors).
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from qsynth.config import parse_config
from qsynth.experiments.runner import run_experiment
from qsynth.store import load_checkpoint, read_label_log, read_metrics
from tests.recorded import arrays_match, close, recorded_here, this_machine

GOLDEN = Path(__file__).parent / "golden"
CONFIGS = sorted(p.stem for p in GOLDEN.glob("*.toml"))
WRITE = os.environ.get("QSYNTH_WRITE_GOLDEN") == "1"

MACHINE = GOLDEN / "machine.json"

#: metrics.csv columns that measure time or compilation, not results.
UNTIMED = ("select_s", "label_s", "train_s", "compiled")


def _outcome(seed_dir: Path) -> tuple[list[dict], dict[str, np.ndarray], list[dict]]:
    """What a (strategy, seed) run produced: its log, its final checkpoint arrays, its untimed metrics."""
    log = read_label_log(seed_dir / "labels.jsonl")
    arrays, _ = load_checkpoint(seed_dir / "checkpoint")
    metrics = [{k: v for k, v in row.items() if k not in UNTIMED} for row in read_metrics(seed_dir / "metrics.csv")]
    return log, arrays, metrics


def _seed_dirs(run: Path) -> list[Path]:
    """Every (strategy, seed) folder of a run (the generator's seed folders hold no label log)."""
    return sorted(p.parent for p in run.glob("*/seed-*/labels.jsonl"))


def _record(run: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    for seed_dir in _seed_dirs(run):
        log, arrays, metrics = _outcome(seed_dir)
        target = out / seed_dir.parent.name / seed_dir.name
        target.mkdir(parents=True)
        (target / "labels.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in log))
        np.savez(target / "state.npz", **arrays)
        (target / "metrics.json").write_text(json.dumps(metrics, indent=0, sort_keys=True))


def _same_number(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_golden_run_is_bitwise_unchanged(name, tmp_path, monkeypatch):
    # Ensemble members trained in windows round differently from the whole stack (a vmapped
    # matmul's batch size changes its kernel), so the goldens pin one window (and one thread).
    monkeypatch.setenv("QSYNTH_THREADS", "1")
    monkeypatch.setenv("QSYNTH_WINDOWS", "1")
    config = parse_config(tomllib.loads((GOLDEN / f"{name}.toml").read_text()))
    run = run_experiment(config, tmp_path, progress=False, plots=False).path
    expected = GOLDEN / name
    if WRITE:
        _record(run, expected)
        MACHINE.write_text(json.dumps(this_machine(), indent=1) + "\n")
    exact = recorded_here(MACHINE)
    same = _same_number if exact else close
    recorded = [p.relative_to(expected) for p in _seed_dirs(expected)]
    produced = [p.relative_to(run) for p in _seed_dirs(run)]
    assert produced == recorded, "the runs of the config differ from the recorded ones"
    for rel in recorded:
        log, arrays, metrics = _outcome(run / rel)
        want_log = [json.loads(line) for line in (expected / rel / "labels.jsonl").read_text().splitlines()]
        assert (log == want_log) if exact else close(log, want_log), f"{name}/{rel}: label log differs"
        want = dict(np.load(expected / rel / "state.npz"))
        # every recorded array is still written (checkpoint version 2 adds the strategy state's leaves)
        assert set(want) <= set(arrays), f"{name}/{rel}: checkpoint arrays {sorted(set(want) - set(arrays))} are gone"
        for k in want:
            assert arrays_match(arrays[k], want[k], exact), f"{name}/{rel}: checkpoint array {k} differs"
        want_metrics = json.loads((expected / rel / "metrics.json").read_text())
        assert len(metrics) == len(want_metrics)
        for row, want_row in zip(metrics, want_metrics):
            # (columns added since the recording — round_abstained, round_failed — may follow; every
            # recorded one must be there, unchanged)
            assert want_row.keys() <= row.keys() and all(same(row[k], want_row[k]) for k in want_row), \
                f"{name}/{rel}: metrics differ in round {row.get('round')}"
