"""`DatasetOracle`: answers pool or stream queries from labels the dataset holds."""

from __future__ import annotations

import numpy as np

from qsynth.records import Answer, Queries, Status

__all__ = ["DatasetOracle"]


class DatasetOracle:
    """A stand-in for a labeler: the label of pool (or stream) point `pool_index`.

    A query without a `pool_index` (a synthesized point) cannot be answered from held
    labels and gets a FAILED answer saying so.

    Args:
      y: [n] labels of the pool, in the problem's class set.
      classes: the class set.
      cost: cost per answer.
    """

    def __init__(self, y: np.ndarray, classes: tuple[int, ...], cost: float = 1.0):
        self.y = np.asarray(y)
        self.classes = tuple(int(c) for c in classes)
        self.cost = float(cost)

    def label(self, queries: Queries) -> list[Answer]:
        answers = []
        for i, qid in enumerate(queries.query_id):
            if queries.pool_index is None or queries.pool_index[i] == -1:
                answers.append(Answer(qid, Status.FAILED, cost=self.cost,
                                      error=f"query {qid}: DatasetOracle answers only pool or stream queries "
                                            "(this one has no pool_index)"))
                continue
            idx = int(queries.pool_index[i])
            if not 0 <= idx < len(self.y):
                answers.append(Answer(qid, Status.FAILED, cost=self.cost,
                                      error=f"query {qid}: pool_index {idx} is outside the pool of {len(self.y)}"))
                continue
            answers.append(Answer(qid, Status.OK, label=int(self.y[idx]), cost=self.cost))
        return answers
