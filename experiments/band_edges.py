"""Can the box-task GP hold the projectile's thin band at all? A diagnostic for the boundary
suite (docs/results.md, "Boundaries: the final table").

Fits the recommended learner (`qsynth.recommended.box_learner()`) to `--n` points drawn from
the evaluation lattice's edge cells (those with a neighbour of the other class: the points an
ideal active learner would ask) and prints the F1 of its predicted region, for three draws.
If F1 is high here and low in the suite, the acquisitions, not the model, are what fail.

    python experiments/band_edges.py [--n 100] [--problem projectile]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--problem", default="projectile", choices=[n for n, p in PROBLEMS.items() if p.dim == 2])
    args = ap.parse_args()
    u, y = evaluation_set(PROBLEMS[args.problem])
    learner = parse_config({"learner": recommended.box_learner()}).learner.build((2,), 2)
    edges = edge_cells(y)
    for draw in range(3):
        rows = np.random.default_rng(draw).choice(edges, args.n, replace=False)
        buffer = LabeledBuffer.empty((2,))
        buffer.add(u[rows].astype(np.float32), y[rows].astype(np.int32), 0)
        params = learner.fit(None, None, buffer).params
        f1 = f1_score((learner.predict_proba(params, u)[:, 1] > 0.5).astype(int), y)
        print(f"{args.problem}, {args.n} points on the edges, draw {draw}: F1 {f1:.3f}, "
              f"lengthscale {float(params['lengthscale']):.3f}")


if __name__ == "__main__":
    main()
