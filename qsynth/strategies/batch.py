"""Turning per-point scores into a batch: top-k, or a diverse batch (k-center greedy).

References:
  Sener & Savarese (2018). Active Learning for Convolutional Neural Networks: A Core-Set Approach.
  Brinker (2003). Incorporating Diversity in Active Learning with Support Vector Machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

__all__ = ["candidate_blocks", "kcenter_batch", "streamed_top_k", "top_k"]


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


def candidate_blocks(available: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """The indices of `available` [n] bool's True entries, ascending, in blocks of `size` (the last
    may be shorter), found a window at a time: memory O(size) however long `available` is."""
    held: list[np.ndarray] = []
    count = 0
    for start in range(0, len(available), size):
        found = start + np.flatnonzero(available[start:start + size])
        held.append(found)
        count += len(found)
        while count >= size:
            joined = np.concatenate(held)
            yield joined[:size]
            held, count = [joined[size:]], len(joined) - size
    if count:
        yield np.concatenate(held)


def streamed_top_k(blocks: Iterable[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """`top_k` over blocks of (candidate indices, their scores) seen one at a time: the `k` best
    indices (best first, ties to the lower index) and their scores, holding only `k` + a block."""
    best, best_scores = np.zeros(0, np.int64), np.zeros(0, np.float64)
    for indices, scores in blocks:
        pool_idx = np.concatenate([best, np.asarray(indices, np.int64)])
        pool_scores = np.concatenate([best_scores, np.asarray(scores, np.float64)])
        order = np.lexsort((pool_idx, -pool_scores))[:k]
        best, best_scores = pool_idx[order], pool_scores[order]
    return best, best_scores


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
