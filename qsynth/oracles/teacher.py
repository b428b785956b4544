"""`TeacherOracle`: a strong classifier stands in for a person, and abstains when unsure.

Synthesized queries are not in any dataset, so no held label can answer them. The teacher
is a classifier trained on *all* the labeled data of a task (pool and test); it labels any
input, and says "can't tell" (ABSTAIN) when its confidence — the committee-mean top
probability — is below `threshold`, the way a person looking at an off-manifold blur would.
Every abstention is still a spent query (the loop counts it against the budget).

This module uses a qsynth learner (JAX); `qsynth.oracles` does not import it eagerly.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from qsynth.data.buffer import LabeledBuffer
from qsynth.learners.base import Learner
from qsynth.learners.learner import LearnerConfig
from qsynth.records import Answer, Queries, Status

__all__ = ["TEACHER_LEARNER", "TeacherOracle"]

#: The default teacher: a 3-member ensemble of 128-128 MLPs, 2,000 minibatch Adam steps
#: (a few seconds on 2 cores for a couple of thousand examples).
TEACHER_LEARNER = LearnerConfig(model="mlp", hidden=(128, 128), members=3, learning_rate=3e-3,
                                weight_decay=1e-4, steps=2000, batch_size=128, warm_start=False)


class TeacherOracle:
    """Labels any input with a trained classifier; abstains below a confidence threshold.

    Args:
      learner, params: the trained teacher.
      classes: the class labels (the teacher's output i is `classes[i]`).
      threshold: abstain when the top committee-mean probability is below it (0: never).
      cost: cost per answer.
    """

    def __init__(self, learner: Learner, params: dict[str, Any], classes: tuple[int, ...], *,
                 threshold: float = 0.0, cost: float = 1.0):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"teacher threshold must be in [0, 1], got {threshold}")
        if learner.num_classes != len(classes):
            raise ValueError(f"teacher has {learner.num_classes} outputs for {len(classes)} classes")
        self.learner, self.params = learner, params
        self.classes = tuple(int(c) for c in classes)
        self.threshold, self.cost = float(threshold), float(cost)

    @classmethod
    def fit(cls, key: jax.Array, x: np.ndarray, y: np.ndarray, classes: tuple[int, ...], *,
            config: LearnerConfig = TEACHER_LEARNER, threshold: float = 0.0, cost: float = 1.0) -> TeacherOracle:
        """Train a teacher on `x: [n, *feature_shape]` with labels `y: [n]` (values in `classes`)."""
        x = np.asarray(x, np.float32)
        y = np.asarray(y)
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"teacher data: x has {len(x)} rows, y has {len(y)}; need the same, at least one")
        index = {int(c): i for i, c in enumerate(classes)}
        unknown = sorted(set(np.unique(y).tolist()) - set(index))
        if unknown:
            raise ValueError(f"teacher data: labels {unknown} are not in the class set {tuple(classes)}")
        learner = config.build(x.shape[1:], len(classes))
        buffer = LabeledBuffer.empty(x.shape[1:])
        buffer.add(x, np.asarray([index[int(v)] for v in y]), 0)
        state = learner.fit(key, None, buffer)
        return cls(learner, state.params, classes, threshold=threshold, cost=cost)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Committee-mean class probabilities `[n, classes]`."""
        return self.learner.predict_proba(self.params, np.asarray(x, np.float32))

    def label(self, queries: Queries) -> list[Answer]:
        x = np.asarray(queries.x, np.float32)
        if x.shape[1:] != self.learner.feature_shape:
            return [Answer(q, Status.FAILED, cost=self.cost,
                           error=f"query {q}: shape {x.shape[1:]} is not the teacher's {self.learner.feature_shape}")
                    for q in queries.query_id]
        probs = self.predict_proba(x)
        answers = []
        for i, qid in enumerate(queries.query_id):
            if not np.all(np.isfinite(x[i])):
                answers.append(Answer(qid, Status.FAILED, cost=self.cost, error=f"query {qid}: non-finite input"))
                continue
            conf = float(probs[i].max())
            if conf < self.threshold:
                answers.append(Answer(qid, Status.ABSTAIN, value=conf, cost=self.cost,
                                      error=f"teacher confidence {conf:.3f} < threshold {self.threshold}"))
            else:
                answers.append(Answer(qid, Status.OK, label=self.classes[int(probs[i].argmax())], value=conf,
                                      cost=self.cost))
        return answers
