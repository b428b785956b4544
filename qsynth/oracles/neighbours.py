"""`NearestNeighbourOracle`: the label of the nearest real sample, or "can't tell" far from the data.

A synthesized query that lies off the data manifold has no honest answer: Baum & Lang's
human labelers could not name the digits their network synthesized. This oracle answers
with the label of the closest labeled sample and abstains when that sample is farther
than `max_distance` — a cheap, model-free stand-in for a person that exposes exactly
that failure mode.

References:
  Baum & Lang (1992). Query learning can work poorly when a human oracle is used.
"""

from __future__ import annotations

import numpy as np

from qsynth.records import Answer, Queries, Status

__all__ = ["NearestNeighbourOracle"]


class NearestNeighbourOracle:
    """Euclidean 1-nearest-neighbour labels with an abstention radius.

    Args:
      x: [n, *feature_shape] real samples. y: [n] their labels (in `classes`).
      classes: the class set.
      max_distance: abstain when the nearest sample is farther (None: never abstain).
      cost: cost per answer.

    Answers carry the distance to the nearest sample as `value`.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, classes: tuple[int, ...], *,
                 max_distance: float | None = None, cost: float = 1.0, chunk: int = 256):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(f"NearestNeighbourOracle: x has {len(x)} rows and y {len(y)}; need the same, at least one")
        unknown = sorted(set(np.unique(y).tolist()) - {int(c) for c in classes})
        if unknown:
            raise ValueError(f"NearestNeighbourOracle: labels {unknown} are not in the class set {tuple(classes)}")
        if max_distance is not None and not max_distance > 0:
            raise ValueError(f"NearestNeighbourOracle: max_distance must be > 0, got {max_distance}")
        self.feature_shape = x.shape[1:]
        self.x = x.reshape(len(x), -1)
        self.sq_norms = np.einsum("nd,nd->n", self.x, self.x)
        self.y = y.astype(np.int64)
        self.classes = tuple(int(c) for c in classes)
        self.max_distance, self.cost, self.chunk = max_distance, float(cost), int(chunk)

    def nearest(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For `q: [m, *feature_shape]`: the index [m] of the nearest sample and its distance [m]."""
        q = np.asarray(q, dtype=np.float64).reshape(len(q), -1)
        idx = np.empty(len(q), np.int64)
        dist = np.empty(len(q))
        for s in range(0, len(q), self.chunk):
            block = q[s:s + self.chunk]
            d2 = self.sq_norms[None, :] - 2.0 * block @ self.x.T + np.einsum("md,md->m", block, block)[:, None]
            i = d2.argmin(axis=1)
            idx[s:s + self.chunk] = i
            dist[s:s + self.chunk] = np.sqrt(np.maximum(d2[np.arange(len(block)), i], 0.0))
        return idx, dist

    def label(self, queries: Queries) -> list[Answer]:
        x = np.asarray(queries.x)
        if x.shape[1:] != self.feature_shape:
            return [Answer(q, Status.FAILED, cost=self.cost,
                           error=f"query {q}: shape {x.shape[1:]} is not the samples' shape {self.feature_shape}")
                    for q in queries.query_id]
        finite = np.all(np.isfinite(x.reshape(len(x), -1)), axis=1)
        idx, dist = self.nearest(np.where(finite.reshape((-1,) + (1,) * (x.ndim - 1)), x, 0.0))
        answers = []
        for i, qid in enumerate(queries.query_id):
            if not finite[i]:
                answers.append(Answer(qid, Status.FAILED, cost=self.cost, error=f"query {qid}: non-finite input"))
            elif self.max_distance is not None and dist[i] > self.max_distance:
                answers.append(Answer(qid, Status.ABSTAIN, value=float(dist[i]), cost=self.cost,
                                      error=f"nearest sample is {dist[i]:.3g} away (> max_distance {self.max_distance:g})"))
            else:
                answers.append(Answer(qid, Status.OK, label=int(self.y[idx[i]]), value=float(dist[i]), cost=self.cost))
        return answers
