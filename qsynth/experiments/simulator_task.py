"""A simulator as a task: its parameter box as the input domain, its reference boundary as the test set.

`[data] name = "simulator"` builds a `Dataset` over the unit cube of a simulator's
parameters (the learner sees normalized parameters; plots and logs of physical values map
back through `Normalized`):

- `x`: a uniform candidate pool (`pool_size` points), so pool and stream strategies run on
  the same task as input-space synthesis; `y` its reference labels (only for a stratified
  seed set and plots — queries are answered by the simulator itself);
- `x_test`, `y_test`: a `grid × grid` lattice (2-D) or `grid²` uniform points (other d),
  labeled by the reference (closed form or high-resolution simulation): test accuracy is
  the fraction of the box classified right, and the evaluator adds the F1 of "success".

`[oracle] kind = "simulator"` then answers every query by running the simulator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qsynth.data.datasets import Dataset
from qsynth.oracles.region import grid as box_grid
from qsynth.oracles.simulators import Normalized, make_simulator

__all__ = ["simulator_dataset", "simulator_from_meta"]


def simulator_dataset(simulator: str = "projectile", params: dict[str, Any] | None = None, *,
                      pool_size: int = 2000, grid: int = 100, seed: int = 0) -> Dataset:
    """The task of learning `simulator`'s success region (see the module docstring)."""
    if pool_size < 1 or grid < 2:
        raise ValueError(f"data.args: pool_size must be >= 1 and grid >= 2, got {pool_size} and {grid}")
    sim = Normalized(make_simulator(simulator, params))
    if not sim.has_reference:
        raise ValueError(f"simulator {simulator!r} has no reference boundary to score a learner against")
    d = sim.dim
    rng = np.random.default_rng([seed, 7_919])
    pool = rng.uniform(0.0, 1.0, (pool_size, d))
    test = box_grid(np.zeros(d), np.ones(d), grid) if d == 2 else rng.uniform(0.0, 1.0, (grid * grid, d))
    return Dataset(name=simulator, x=pool, y=sim.reference(pool), x_test=test, y_test=sim.reference(test),
                   classes=sim.classes, bounds=(np.zeros(d), np.ones(d)),
                   meta={"simulator": simulator, "simulator_params": dict(params or {}), "success_class": 1,
                         "grid": grid if d == 2 else None, "simulator_config": sim.config(),
                         "success_values": list(sim.success_values) if sim.success_values else None})


def simulator_from_meta(meta: dict[str, Any], **overrides: Any) -> Normalized:
    """The (normalized) simulator a `simulator_dataset` was built from."""
    return Normalized(make_simulator(meta["simulator"], {**meta["simulator_params"], **overrides}))
