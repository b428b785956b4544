"""Diagnostic: does the default job's ensemble have any EPIG to climb? (issue 14)

Fits the default job's learner (MLP(32, 32) × 5, `qsynth/configs/default.toml` until 2026-12-03) and three
variants of it on 10 stratified labels of two moons (the default job's data, seed 1), and
prints EPIG about 256 pool points (`measure = "epig"`) over the pool and over a grid covering
the box, with BALD on the grid for contrast: if the members agree on every pool point, EPIG is
near zero everywhere and an ascent on it has nothing to climb.

    python experiments/epig_moons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from default_job import ENSEMBLE, LEARNER_CHANGES  # noqa: E402

from qsynth.data import LabeledBuffer, moons  # noqa: E402
from qsynth.learners import LearnerConfig  # noqa: E402
from qsynth.strategies.measures import Scorer  # noqa: E402
from qsynth.strategies.scoring import with_targets  # noqa: E402
from qsynth.uncertainty import bald  # noqa: E402


def main() -> None:
    data = moons(1, n=500, n_test=1000, noise=0.15)
    rng = np.random.default_rng(0)
    labeled = np.concatenate([rng.choice(np.flatnonzero(data.y == c), 5, replace=False) for c in (0, 1)])
    targets = data.x[rng.choice(len(data.x), 256, replace=False)]
    grid = np.stack(np.meshgrid(np.linspace(-1.5, 2.5, 41), np.linspace(-1.0, 1.5, 26)), -1).reshape(-1, 2)
    grid = jnp.asarray(grid, jnp.float32)
    buffer = LabeledBuffer.empty((2,))
    buffer.add(data.x[labeled], data.y[labeled].astype(np.int32), 0)
    print("learner          | EPIG on the pool: median, max (where) | on the grid: max (where) | BALD on the grid: max "
          "(where) | test accuracy")
    learner_table = dict(ENSEMBLE)
    for name, change in LEARNER_CHANGES.items():
        table = {**learner_table, **change}
        config = LearnerConfig(**{**table, "hidden": tuple(table["hidden"])})
        learner = config.build((2,), 2)
        params = learner.fit(jax.random.key(0), None, buffer).params
        prepared = with_targets(learner, params, targets, measure="epig")
        on_pool = np.asarray(Scorer("epig")(learner, prepared, jnp.asarray(data.x, jnp.float32)))
        on_grid = np.asarray(Scorer("epig")(learner, prepared, grid))
        b = np.asarray(bald(learner.probs(params, grid)))
        accuracy = np.mean(np.asarray(learner.probs(params, jnp.asarray(data.x_test))).mean(0).argmax(-1) == data.y_test)
        where = lambda pts, s: "({:.2f}, {:.2f})".format(*np.asarray(pts)[int(np.argmax(s))])  # noqa: E731
        print(f"{name:16s} | {np.median(on_pool):.1e}, {on_pool.max():.1e} {where(data.x, on_pool)} | "
              f"{on_grid.max():.1e} {where(grid, on_grid)} | {b.max():.2f} {where(grid, b)} | {accuracy:.3f}")


if __name__ == "__main__":
    main()
