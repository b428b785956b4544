"""Small shared builders for tests (tiny shapes, learners reused across tests so they compile once)."""

from __future__ import annotations

import functools

import numpy as np

from qsynth.data import Dataset, moons
from qsynth.learners import LearnerConfig
from qsynth.problem import Problem

#: The tiny learner most tests use: 3-member MLP ensemble, few steps.
TINY = LearnerConfig(model="mlp", hidden=(8,), members=3, steps=30, warm_steps=10, learning_rate=0.05)


@functools.lru_cache(maxsize=None)
def tiny_moons(seed: int = 0, n: int = 120) -> Dataset:
    return moons(seed, n=n, n_test=200)


def tiny_problem(seed: int = 0, n: int = 120) -> Problem:
    return Problem.from_dataset(tiny_moons(seed, n))


def tiny_learner(problem: Problem, config: LearnerConfig = TINY):
    return config.build(problem.feature_shape, problem.num_classes)


def tiny_context(labeled: int, round_index: int):
    """A round context on tiny moons: TINY learner fit on the first `labeled` pool points (marked queried)."""
    import jax

    from qsynth.data import LabeledBuffer
    from qsynth.strategies import RoundContext

    problem = tiny_problem(0, n=120)
    learner = TINY.build(problem.feature_shape, 2)
    data = tiny_moons(0, 120)
    buf = LabeledBuffer.empty((2,))
    buf.add(data.x[:labeled], data.y[:labeled], 0)
    state = learner.fit(jax.random.key(0), None, buf)
    available = np.ones(len(problem.pool), bool)
    available[:labeled] = False
    return RoundContext(round_index=round_index, learner=learner, params=state.params, problem=problem,
                        available=available, buffer=buf)


def random_probs(rng: np.random.Generator, m: int, n: int, c: int) -> np.ndarray:
    logits = rng.normal(size=(m, n, c)) * rng.uniform(0.1, 4.0)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)
