"""Learners: the `Learner` protocol and its capabilities; network ensembles and MC dropout in Flax
NNX (logistic regression, MLP, CNN, or your own module); an exact GP; a version-space sampler.

Loaded lazily (PEP 562): the settings (`LearnerConfig`, `GPConfig`) import no JAX.
"""

from __future__ import annotations

from typing import Any

from qsynth._lazy import load_export

_EXPORTS = {
    "Believer": "qsynth.learners.base",
    "LatentCovariance": "qsynth.learners.base",
    "LatentPosterior": "qsynth.learners.base",
    "Learner": "qsynth.learners.base",
    "LearnerState": "qsynth.learners.base",
    "PerExampleGradients": "qsynth.learners.base",
    "PreparedTargets": "qsynth.learners.base",
    "BUILTIN_MODELS": "qsynth.learners.config",
    "LearnerConfig": "qsynth.learners.config",
    "GPConfig": "qsynth.learners.gp_config",
    "GaussianProcessLearner": "qsynth.learners.gaussian_process",
    "TRACE_COUNTS": "qsynth.learners.learner",
    "NetworkLearner": "qsynth.learners.learner",
    "TrainState": "qsynth.learners.learner",
    "CNN": "qsynth.learners.models",
    "MLP": "qsynth.learners.models",
    "LogisticRegression": "qsynth.learners.models",
    "build_model": "qsynth.learners.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
