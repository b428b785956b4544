"""Turning per-point scores into a batch: top-k, or a diverse batch (k-center greedy).

References:
  Sener & Savarese (2018). Active Learning for Convolutional Neural Networks: A Core-Set Approach.
  Brinker (2003). Incorporating Diversity in Active Learning with Support Vector Machines.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kcenter_batch", "top_k"]


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The `k` candidate indices with the highest scores (ties to the lower index).

    Args:
      scores: [n] scores of all points. candidates: indices that may be chosen.
    Returns:
      [min(k, len(candidates))] indices, best first.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def kcenter_batch(scores: np.ndarray, candidates: np.ndarray, x: np.ndarray, k: int,
                  shortlist_factor: int = 10) -> np.ndarray:
    """A batch that is uncertain *and* spread out.

    Shortlists the `shortlist_factor · k` highest-scoring candidates, starts from the best,
    then repeatedly adds the shortlisted point farthest (Euclidean, flattened inputs) from
    the points already in the batch (greedy k-center), so a batch does not collapse onto one
    region of high uncertainty.
    """
    shortlist = top_k(scores, candidates, max(k, shortlist_factor * k))
    if len(shortlist) <= k:
        return shortlist
    pts = x[shortlist].reshape(len(shortlist), -1).astype(np.float64)
    chosen = [0]
    dist = np.linalg.norm(pts - pts[0], axis=1)
    while len(chosen) < k:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(pts - pts[nxt], axis=1))
    return shortlist[np.asarray(chosen)]
