"""Classifiers in Flax NNX: logistic regression, MLP, CNN; deep ensembles and MC dropout. An exact GP."""

from qsynth.learners.gaussian_process import GaussianProcessLearner, GPConfig
from qsynth.learners.learner import TRACE_COUNTS, Learner, LearnerConfig, TrainState
from qsynth.learners.models import CNN, MLP, LogisticRegression, build_model

__all__ = ["CNN", "GPConfig", "GaussianProcessLearner", "MLP", "TRACE_COUNTS", "Learner", "LearnerConfig", "LogisticRegression", "TrainState", "build_model"]
