"""Can the box-task GP hold the projectile's thin band at all, and with how many calls? A
diagnostic for the boundary suite (docs/results.md, "Boundaries: the final table").

Fits the recommended learner (`qsynth.recommended.box_learner()`) to `--n` points taken from
the evaluation lattice's edge cells (those with a 4-neighbour of the other class: the points an
ideal active learner would ask) and prints the F1 of its predicted region, for `--draws` draws.
`--placement random` draws the points uniformly from the edge cells; `even` spreads them by
farthest-point sampling over the edge cells (from a random first cell), as evenly as a learner
that knew the band could. If F1 is high here and low in the suite, the acquisitions, not the
model, are what fail; the F1 at n points bounds what any strategy with this model reaches after
spending the rest of its calls on finding the band.

    python experiments/band_edges.py [--n 85 100] [--placement random|even] [--draws 5] [--problem projectile]
"""

from __future__ import annotations

import argparse

import numpy as np

from qsynth import recommended
from qsynth.config import parse_config
from qsynth.data.buffer import LabeledBuffer
from qsynth.experiments.boundaries import GRID, PROBLEMS, evaluation_set
from qsynth.problem import f1_score


def edge_cells(y: np.ndarray) -> np.ndarray:
    """Indices of lattice points `[GRID²]` with a 4-neighbour of the other class."""
    grid = y.reshape(GRID, GRID)
    edge = np.zeros_like(grid, bool)
    for axis in (0, 1):
        for shift in (1, -1):
            edge |= np.roll(grid, shift, axis) != grid
    return np.flatnonzero(edge.ravel())


def farthest_points(points: np.ndarray, n: int, first: int) -> np.ndarray:
    """Indices `[n]` of `points: [m, d]` chosen greedily, each the farthest from those before
    (starting at `first`): an even spread along the edges."""
    chosen = [first]
    distance = np.linalg.norm(points - points[first], axis=1)
    for _ in range(n - 1):
        i = int(np.argmax(distance))
        chosen.append(i)
        distance = np.minimum(distance, np.linalg.norm(points - points[i], axis=1))
    return np.asarray(chosen, np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100])
    ap.add_argument("--placement", choices=("random", "even"), default="random")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--problem", default="projectile", choices=[n for n, p in PROBLEMS.items() if p.dim == 2])
    args = ap.parse_args()
    u, y = evaluation_set(PROBLEMS[args.problem])
    learner = parse_config({"learner": recommended.box_learner()}).learner.build((2,), 2)
    edges = edge_cells(y)
    for n in args.n:
        scores = []
        for draw in range(args.draws):
            rng = np.random.default_rng(draw)
            rows = rng.choice(edges, n, replace=False) if args.placement == "random" else \
                edges[farthest_points(u[edges], n, int(rng.integers(len(edges))))]
            buffer = LabeledBuffer.empty((2,))
            buffer.add(u[rows].astype(np.float32), y[rows].astype(np.int32), 0)
            params = learner.fit(None, None, buffer).params
            scores.append(f1_score((learner.predict_proba(params, u)[:, 1] > 0.5).astype(int), y))
            print(f"{args.problem}, {n} points on the edges ({args.placement}), draw {draw}: F1 {scores[-1]:.3f}, "
                  f"lengthscale {float(params['lengthscale']):.3f}", flush=True)
        print(f"{args.problem}, {n} points ({args.placement}): mean F1 {np.mean(scores):.3f} "
              f"(min {np.min(scores):.3f}, max {np.max(scores):.3f}) over {args.draws} draws", flush=True)


if __name__ == "__main__":
    main()
