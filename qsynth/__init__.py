"""qsynth: active learning in JAX — query synthesis, pool-based and stream-based sampling.

The public API, loaded lazily (PEP 562) so that `import qsynth.oracles` or
`qsynth.records` — what an oracle worker process needs — does not start JAX.
See the README for a ten-line script and `docs/` for concepts.
"""

from __future__ import annotations

from typing import Any

from qsynth._lazy import load_export

__version__ = "0.1.0"

_EXPORTS = {
    "Answer": "qsynth.records", "Queries": "qsynth.records", "Status": "qsynth.records",
    "Dataset": "qsynth.data", "LabeledBuffer": "qsynth.data", "checkerboard": "qsynth.data", "digits": "qsynth.data",
    "drifting_halfspace": "qsynth.data", "halfspace": "qsynth.data", "mnist1d": "qsynth.data",
    "moons": "qsynth.data", "xor": "qsynth.data", "load_npz": "qsynth.data", "load_idx": "qsynth.data",
    "Learner": "qsynth.learners", "LearnerConfig": "qsynth.learners", "NetworkLearner": "qsynth.learners",
    "LoopConfig": "qsynth.loop", "RunResult": "qsynth.loop", "run_loop": "qsynth.loop",
    "Session": "qsynth.session", "SessionConfig": "qsynth.session", "Strategy": "qsynth.strategies",
    "DatasetOracle": "qsynth.oracles", "Oracle": "qsynth.oracles", "AsyncOracle": "qsynth.oracles",
    "Problem": "qsynth.problem",
    "SeedStore": "qsynth.store",
    "PoolSampling": "qsynth.strategies", "RandomSampling": "qsynth.strategies", "StreamPolicy": "qsynth.strategies",
    "StreamSampling": "qsynth.strategies", "build_strategy": "qsynth.strategies",
    "RunConfig": "qsynth.config", "load_config": "qsynth.config",
    "run_experiment": "qsynth.experiments", "box_task": "qsynth.experiments", "load_run": "qsynth.experiments",
    "AskedQuery": "qsynth.records",
    "Generator": "qsynth.generators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
