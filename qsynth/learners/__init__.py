"""Learners: the `Learner` protocol and its capabilities; network ensembles and MC dropout in Flax
NNX (logistic regression, MLP, CNN, or your own module); an exact GP; a version-space sampler."""

from qsynth.learners.base import LatentPosterior, Learner, LearnerState, PerExampleGradients
from qsynth.learners.gaussian_process import GaussianProcessLearner, GPConfig
from qsynth.learners.learner import TRACE_COUNTS, LearnerConfig, NetworkLearner, TrainState
from qsynth.learners.models import BUILTIN_MODELS, CNN, MLP, LogisticRegression, build_model

__all__ = ["BUILTIN_MODELS", "CNN", "GPConfig", "GaussianProcessLearner", "LatentPosterior", "Learner",
           "LearnerConfig", "LearnerState", "LogisticRegression", "MLP", "NetworkLearner", "PerExampleGradients",
           "TRACE_COUNTS", "TrainState", "build_model"]
