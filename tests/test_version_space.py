import math

import jax
import numpy as np
import pytest

from qsynth.data import LabeledBuffer
from qsynth.experiments.halfspace import angle_error, lower_bound
from qsynth.learners.version_space import VersionSpaceConfig
from qsynth.strategies.ascent import AscentSpec, ascend

SMALL = VersionSpaceConfig(members=64, steps=60)


@pytest.mark.parametrize("d, eps, expected", [(2, 0.01, 6.6), (2, 0.001, 10.0), (5, 0.01, 22.4), (5, 0.001, 35.7),
                                              (10, 0.01, 47.9), (10, 0.001, 77.8)])
def test_lower_bound_matches_the_issue_figures(d, eps, expected):
    assert lower_bound(d, eps) == pytest.approx(expected, abs=0.05)


def test_lower_bound_in_two_dimensions_is_log2_one_over_eps():
    assert lower_bound(2, 1 / 64) == pytest.approx(6.0, abs=1e-6)


def test_angle_error_is_the_gaussian_disagreement():
    rng = np.random.default_rng(0)
    w, v = rng.normal(size=4), rng.normal(size=4)
    x = rng.normal(size=(200_000, 4))
    disagreement = np.mean((x @ w > 0) != (x @ v > 0))
    assert angle_error(w, v) == pytest.approx(disagreement, abs=0.005)
    assert angle_error(w, 3 * w) == pytest.approx(0.0, abs=1e-7)


def _labeled(d: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)
    x = rng.normal(size=(n, d)).astype(np.float32)
    buf = LabeledBuffer.empty((d,))
    buf.add(x, (x @ w > 0).astype(np.int32), 0)
    return w, buf


def test_every_particle_stays_in_the_version_space_and_the_error_shrinks(key):
    d = 3
    w, buf = _labeled(d, 200)
    learner = SMALL.build((d,))
    state = learner.fit(key, None, buf)
    particles = np.asarray(state.params["w"])
    signs = 2 * buf.y[:buf.size] - 1
    assert np.all((particles @ buf.x[:buf.size].T) * signs[None, :] >= 0)
    assert np.all(np.linalg.norm(particles, axis=1) <= 1 + 1e-5)
    _, few = _labeled(d, 10)
    err_few = angle_error(learner.normal(learner.fit(key, None, few).params), w)
    assert angle_error(learner.normal(state.params), w) < err_few
    assert angle_error(learner.normal(state.params), w) < 0.03


def test_two_dimensional_particles_cover_the_arc_uniformly(key):
    """In 2-D the version space is an arc: particles should spread over it, not sit in one spot."""
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # w0 > 0 and w1 > 0: the arc (0, π/2)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, np.array([1, 1], np.int32), 0)
    learner = VersionSpaceConfig(members=512, steps=100).build((2,))
    w = np.asarray(learner.fit(key, None, buf, steps=300).params["w"])
    angles = np.arctan2(w[:, 1], w[:, 0])
    assert angles.min() > 0 and angles.max() < math.pi / 2
    counts, _ = np.histogram(angles, bins=4, range=(0, math.pi / 2))
    assert counts.min() > 0.6 * counts.mean()  # roughly uniform over the arc
    assert learner.normal({"w": w}) @ np.array([1, 1]) / math.sqrt(2) == pytest.approx(1.0, abs=0.01)


def test_probs_depend_only_on_direction_and_synthesis_climbs_them(key):
    d = 4
    w, buf = _labeled(d, 30)
    learner = SMALL.build((d,))
    params = learner.fit(key, None, buf).params
    x = np.random.default_rng(1).normal(size=(5, d)).astype(np.float32)
    p = np.asarray(learner.probs(params, x))
    assert p.shape == (64, 5, 2)
    np.testing.assert_allclose(np.asarray(learner.probs(params, 3.0 * x)), p, atol=1e-6)
    spec = AscentSpec(learner, None, "bald", 50, 0.05, bounded=True)
    low, high = -np.ones(d, np.float32), np.ones(d, np.float32)
    res = ascend(spec, params, None, np.random.default_rng(2).uniform(-1, 1, (16, d)).astype(np.float32), low, high)
    assert np.all(np.asarray(res.after) >= np.asarray(res.before) - 1e-6)
    best = np.asarray(res.z)[int(np.argmax(res.after))]
    votes = np.asarray(params["w"]) @ best > 0
    assert 0.3 <= votes.mean() <= 0.7  # the best query splits the committee (bisects the version space)


def test_labels_no_halfspace_can_explain_are_refused(key):
    buf = LabeledBuffer.empty((2,))
    buf.add(np.array([[1.0, 0.0], [2.0, 0.0]], np.float32), np.array([1, 0], np.int32), 0)
    learner = VersionSpaceConfig(members=8, steps=5, perceptron_steps=200).build((2,))
    with pytest.raises(RuntimeError, match="no homogeneous halfspace"):
        learner.fit(key, None, buf)


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="binary halfspaces"):
        SMALL.build((2, 2))


def test_a_thin_version_space_is_found_by_the_linear_program_when_the_perceptron_gives_up(key):
    """1,500 labels in 20 dimensions at once (the random arm's jumps): the margin is tiny."""
    rng = np.random.default_rng(0)
    w_star = rng.standard_normal(20)
    x = rng.standard_normal((1500, 20)).astype(np.float32)
    buf = LabeledBuffer.empty((20,))
    buf.add(x, (x @ w_star > 0).astype(np.int32), 0)
    learner = VersionSpaceConfig(members=16, steps=5, perceptron_steps=100).build((20,))
    state = learner.fit(key, None, buf)
    s = (2 * buf.y[:buf.size] - 1)[:, None] * buf.x[:buf.size]
    assert np.all(s @ np.asarray(state.params["w"]).T >= 0)  # every particle is in the version space
    w_hat = learner.normal(state.params)
    assert np.arccos(np.clip(w_hat @ w_star / np.linalg.norm(w_star), -1, 1)) / np.pi < 0.01
