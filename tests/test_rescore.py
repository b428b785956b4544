"""`rescore` on synthesis: the finished starts are judged by the target measure over fresh
targets, every one kept, not by the few targets the ascent climbed on."""

import dataclasses

import jax
import numpy as np
import pytest

from qsynth.config import ConfigError, parse_config
from qsynth.data import LabeledBuffer
from qsynth.learners import LearnerConfig
from qsynth.problem import Problem
from qsynth.strategies import RoundContext, build_strategy
from qsynth.strategies.measures import Scorer
from qsynth.strategies.scoring import TARGET_CANDIDATES, with_targets
from tests.helpers import tiny_moons


@pytest.fixture(scope="module")
def gp_context():
    """The exact GP fit to 12 labels of a diagonal boundary in the unit box, on tiny moons' pool."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 1.0).astype(np.int32)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, y, 0)
    learner = LearnerConfig(model="gp", lengthscale=0.3).build((2,), 2)
    state = learner.fit(jax.random.key(0), None, buf)
    problem = Problem.from_dataset(tiny_moons())
    problem = dataclasses.replace(problem, bounds=(np.zeros(2, np.float32), np.ones(2, np.float32)))
    return RoundContext(round_index=3, learner=learner, params=state.params, problem=problem,
                        available=np.ones(len(problem.pool), bool), buffer=buf)


def _box(seed):
    return lambda n: np.random.default_rng(seed).uniform(0, 1, (n, 2)).astype(np.float32)


def test_the_rescore_is_the_measure_over_every_fresh_target(gp_context):
    strategy = build_strategy({"kind": "input_synthesis", "measure": "boundary_information", "targets": "box",
                               "rescore": True})
    x = np.random.default_rng(5).uniform(0, 1, (9, 2)).astype(np.float32)
    got = strategy._judged(gp_context, np.random.default_rng(1), _box(7), x)
    # by hand: all 1,024 candidates, each weighed by its doubt (no draw of 64)
    prepared = with_targets(gp_context.learner, gp_context.params, _box(7)(TARGET_CANDIDATES))
    want = np.asarray(Scorer("boundary_information")(gp_context.learner, prepared, x), np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    # ... which is not the ascent's estimate on its 64 kept targets
    kept = strategy._target_params(gp_context, np.random.default_rng(1), _box(7))
    assert kept["targets"].x.shape == (64, 2)
    estimate = np.asarray(Scorer("boundary_information")(gp_context.learner, kept, x), np.float64)
    assert not np.allclose(estimate, want, rtol=1e-3)
    off = dataclasses.replace(strategy, rescore=False)
    assert off._judged(gp_context, np.random.default_rng(1), _box(7), x) is None


def test_the_batch_is_ranked_by_the_rescore_and_records_both(gp_context):
    spec = {"kind": "input_synthesis", "measure": "boundary_information", "starts": 16, "steps": 5,
            "learning_rate": 0.05, "min_distance": 0.0}
    key = jax.random.key(2)
    judged, _ = build_strategy(spec | {"rescore": True}).select(key, gp_context, 16, None)
    plain, _ = build_strategy(spec).select(key, gp_context, 16, None)
    j, after = judged.extra["acquisition_judged"], judged.extra["acquisition_after"]
    assert np.all(np.diff(j) <= 0)  # every start, best first by the fresh estimate
    np.testing.assert_allclose(judged.scores, j)
    assert np.any(np.diff(after) > 0)  # (the ascent's own estimate would have ordered them otherwise)
    # the same climbs: only the order (and so the pick) differs
    np.testing.assert_array_equal(np.sort(judged.x, axis=0), np.sort(plain.x, axis=0))
    assert "acquisition_judged" not in plain.extra
    np.testing.assert_array_equal(plain.scores, np.sort(plain.extra["acquisition_after"])[::-1])
    # deterministic per key
    again, _ = build_strategy(spec | {"rescore": True}).select(key, gp_context, 16, None)
    np.testing.assert_array_equal(again.x, judged.x)


def test_rescore_needs_a_target_measure():
    with pytest.raises(ConfigError, match="rescore .* target measure"):
        parse_config({"name": "x", "data": {"name": "moons"}, "oracle": {"kind": "teacher"},
                      "strategies": [{"kind": "input_synthesis", "measure": "entropy", "rescore": True}]})
