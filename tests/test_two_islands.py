"""Synthesis goes looking for the rest of a boundary: on a two-island toy (two discs of radius
0.15 in the unit square, 7% of it each), the GP with straddle input synthesis has asked inside
both islands within 30 calls, from a 4-call stratified seed set, on seeds 0–4 (issue 14)."""

import jax
import numpy as np
import pytest

from qsynth.experiments.box_task import box_task
from qsynth.learners import LearnerConfig
from qsynth.loop import run_loop
from qsynth.loop_config import LoopConfig
from qsynth.strategies import build_strategy

CENTRES = np.array([[0.25, 0.25], [0.75, 0.7]])
RADIUS = 0.15


def two_islands(x: np.ndarray) -> int:
    return int(np.min(np.linalg.norm(CENTRES - x, axis=1)) < RADIUS)


@pytest.mark.parametrize("seed", range(5))
def test_straddle_synthesis_finds_both_islands_within_30_calls(seed):
    task = box_task(two_islands, [(0.0, 1.0), (0.0, 1.0)], pool_size=500, grid=20, seed=seed)
    strategy = build_strategy({"kind": "input_synthesis", "measure": "straddle", "starts": 64, "steps": 30,
                               "learning_rate": 0.05, "min_distance": 0.02})
    result = run_loop(jax.random.key(seed), task.problem, LearnerConfig(model="gp").build((2,), 2), strategy,
                      task.oracle, LoopConfig(budget=30, seed_size=4, seed_strategy="stratified", batch_size=1))
    x, y = result.buffer.x[:result.buffer.size], result.buffer.y[:result.buffer.size]
    assert result.buffer.size == 30
    found = [bool(np.any((np.linalg.norm(x - c, axis=1) < RADIUS) & (y == 1))) for c in CENTRES]
    assert found == [True, True]
