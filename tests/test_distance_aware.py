"""Epistemic uncertainty away from the data, on a fixed toy: the exact GP's grows with the distance
from the labeled points (it is what lets synthesis go looking for the rest of a boundary); the
plain MLP ensemble's does not — it extrapolates its boundary with confidence (the documented
contrast, issue 14)."""

import jax.numpy as jnp
import numpy as np

from qsynth.data import LabeledBuffer
from qsynth.learners import LearnerConfig
from qsynth.strategies.measures import resolve_measure


def _toy():
    """20 labels in [0.2, 0.4]², class 1 where x₀ > 0.3; probes on a ray leaving the cluster."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.4, (20, 2)).astype(np.float32)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, (x[:, 0] > 0.3).astype(np.int32), 0)
    t = np.linspace(0.0, 1.0, 11, dtype=np.float32)[:, None]
    probes = np.array([0.4, 0.3], np.float32) + t * np.array([0.6, 0.7], np.float32)  # (0.4, 0.3) → (1, 1)
    distance = np.min(np.linalg.norm(probes[:, None] - x[None], axis=-1), axis=1)
    return buf, probes, distance


def test_the_gp_uncertainty_grows_with_distance_from_the_labels(key):
    buf, probes, distance = _toy()
    learner = LearnerConfig(model="gp").build((2,), 2)
    state = learner.fit(key, None, buf)
    _, std = learner.latent(state.params, jnp.asarray(probes))
    std = np.asarray(std)
    assert np.all(np.diff(distance) > 0)
    assert np.all(np.diff(std) > -1e-6), std  # monotone along the ray
    _, at_labels = learner.latent(state.params, jnp.asarray(buf.x[:buf.size]))
    assert np.max(np.asarray(at_labels)) < 0.1 * std[-1]  # pinned down where it has labels
    entropy = np.asarray(resolve_measure("entropy")(learner.probs(state.params, jnp.asarray(probes))))
    assert entropy[-1] > 0.68  # far away: a coin flip (ln 2 = 0.693)


def test_the_plain_ensemble_is_confident_far_from_its_labels(key):
    buf, probes, _ = _toy()
    learner = LearnerConfig(model="mlp", hidden=(64, 64), members=5, steps=300).build((2,), 2)
    state = learner.fit(key, None, buf)
    p = learner.probs(state.params, jnp.asarray(probes))
    bald = np.asarray(resolve_measure("bald")(p))
    entropy = np.asarray(resolve_measure("entropy")(p))
    assert bald[-1] < 0.05 and entropy[-1] < 0.1  # the far corner: all members agree, and are sure
