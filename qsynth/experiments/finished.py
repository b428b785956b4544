"""A finished (or interrupted) run folder, read back for analysis: its config, summary, metrics,
queries and trained models.

```python
from qsynth.experiments import load_run

run = load_run("runs/default")
run.strategies, run.seeds                  # in the config's order
run.summary["bald"]["final_accuracy"]      # the summary table, as data
run.history("bald", 0)[-1]["accuracy"]     # one metrics.csv row per round
run.queries("bald", 0)[0].x                # every query, with its acquisition and answer
model = run.model("bald", 0)               # the learner as its last checkpoint left it
model.predict_proba(x)                     # [n, classes], x in the task's feature space
```

The model is the learner state of the (strategy, seed)'s last checkpoint — after its final
round for a finished run. Building it rebuilds that seed's dataset (for its feature shape and
classes), which for a simulator task includes its reference grid. Imports JAX only when a
model is built.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from qsynth.config import RunConfig, load_run_config
from qsynth.records import AskedQuery
from qsynth.session_state import logged_answers
from qsynth.store import read_label_log, read_metrics

__all__ = ["FinishedRun", "TrainedModel", "load_run"]


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A learner and the parameters one run trained: `predict_proba(x) -> [n, classes]`
    (committee mean), `probs(x) -> [members, n, classes]`, `classes`."""

    learner: Any
    params: Any
    classes: tuple[int, ...]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """[n, classes] committee-mean class probabilities of `x` [n, *feature_shape]."""
        return np.asarray(self.learner.predict_proba(self.params, np.asarray(x, np.float32)))

    def probs(self, x: np.ndarray) -> np.ndarray:
        """[members, n, classes]: each committee member's class probabilities."""
        return np.asarray(self.learner.probs(self.params, np.asarray(x, np.float32)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """[n] the most probable class label of each row of `x`."""
        return np.asarray(self.classes)[self.predict_proba(x).argmax(-1)]


@dataclasses.dataclass(frozen=True)
class FinishedRun:
    """A run folder read back (see the module docstring); made by `load_run`."""

    path: Path
    config: RunConfig

    @functools.cached_property
    def strategies(self) -> list[str]:
        """The strategies found in the folder, in the config's order."""
        from qsynth.experiments.runner import strategy_names

        found = {p.parent.parent.name for p in self.path.glob("*/seed-*/labels.jsonl")}
        order = [n for n in strategy_names(self.config) if n in found]
        return order + sorted(found - set(order))

    @property
    def seeds(self) -> list[int]:
        return list(self.config.seeds)

    @property
    def summary(self) -> dict[str, dict]:
        """Per strategy, the summary table's numbers (`summary.json`)."""
        path = self.path / "summary.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no summary yet (the run did not finish); qsynth plot {self.path} "
                                    "writes one from the metrics so far")
        return json.loads(path.read_text(encoding="utf-8"))["strategies"]

    def _seed_dir(self, strategy: str, seed: int) -> Path:
        folder = self.path / strategy / f"seed-{seed}"
        if not (folder / "labels.jsonl").exists():
            raise FileNotFoundError(f"{self.path}: no run of strategy {strategy!r}, seed {seed}; it holds "
                                    f"{self.strategies} × seeds {self.seeds}")
        return folder

    def history(self, strategy: str, seed: int) -> list[dict[str, float]]:
        """The rows of that run's `metrics.csv`, one per round."""
        return read_metrics(self._seed_dir(strategy, seed) / "metrics.csv")

    def histories(self) -> dict[str, list[list[dict[str, float]]]]:
        """Per strategy (config order), one history per seed: what `qsynth.plotting.plot_learning_curves` draws."""
        return {s: [self.history(s, k) for k in self.seeds if (self.path / s / f"seed-{k}" / "metrics.csv").exists()]
                for s in self.strategies}

    def queries(self, strategy: str, seed: int) -> list[AskedQuery]:
        """Every query the run asked, in order, with its answer (None if unanswered or taken back)."""
        records = read_label_log(self._seed_dir(strategy, seed) / "labels.jsonl")
        answers = {a.query_id: a for a in logged_answers(records)}
        return [AskedQuery.from_record(rec, np.shape(rec["x"]), answers.get(rec["query_id"]))
                for rec in records if rec["kind"] == "query"]

    def model(self, strategy: str, seed: int) -> TrainedModel:
        """The learner as that run's last checkpoint left it."""
        from qsynth.experiments.runner import build_dataset, task_classes
        from qsynth.loop import load_params

        folder = self._seed_dir(strategy, seed)
        if not (folder / "checkpoint" / "state.npz").exists():
            raise FileNotFoundError(f"{folder}: no checkpoint yet (the run stopped before its first one)")
        data = build_dataset(self.config, seed)
        classes = task_classes(self.config, data)
        learner = self.config.learner.build(data.feature_shape, len(classes), data.meta.get("success_values"))
        return TrainedModel(learner, load_params(learner, str(folder / "checkpoint")), classes)


def load_run(path: str | Path) -> FinishedRun:
    """The run folder `path` (written by `qsynth run` or `run_experiment`), read back.

    Raises:
      FileNotFoundError: `path` holds no run (no config.toml).
    """
    path = Path(path)
    config = load_run_config(path)
    if config.name != path.name:
        config = dataclasses.replace(config, name=path.name)
    return FinishedRun(path, config)
