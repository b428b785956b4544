"""One contract for every learner — the built-in ones and a user's — through the `Learner` protocol."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.data import LabeledBuffer
from qsynth.learners import GPConfig, LearnerConfig, Learner
from qsynth.learners.version_space import VersionSpaceConfig
from qsynth.uncertainty import entropy
from tests import plugins_fixture as fx

TINY_NET = dict(hidden=(8,), members=3, steps=20, warm_steps=5)

#: name -> (learner, feature shape, classes): every kind of learner qsynth has, and one of a user's.
LEARNERS = {
    "mlp-ensemble": lambda: LearnerConfig(**TINY_NET).build((2,), 2),
    "logreg": lambda: LearnerConfig(model="logreg", members=2, steps=20).build((2,), 3),
    "mc-dropout": lambda: LearnerConfig(**TINY_NET, posterior="mc_dropout", dropout=0.2).build((2,), 2),
    "cnn": lambda: LearnerConfig(model="cnn", hidden=(4,), members=2, steps=3, warm_steps=2).build((8, 8, 1), 2),
    "user-tanh-net": lambda: LearnerConfig(model=fx.TanhNet, optimizer=fx.clipped_sgd, members=2,
                                           steps=20).build((2,), 2),
    "gp-label": lambda: GPConfig(kernel="rbf").build((2,), 2),
    "gp-nngp-multiclass": lambda: GPConfig(kernel="nngp").build((2,), 3),
    "version-space": lambda: VersionSpaceConfig(members=16, steps=10).build((2,), 2),
}


def _buffer(learner, n: int, minimum_capacity: int = 64) -> LabeledBuffer:
    rng = np.random.default_rng(0)
    buf = LabeledBuffer.empty(tuple(learner.feature_shape), minimum_capacity)
    x = rng.normal(size=(n, *learner.feature_shape)).astype(np.float32)
    y = (x.reshape(n, -1)[:, 0] > 0).astype(np.int32) if learner.num_classes == 2 else np.arange(n) % 3
    buf.add(x, y, 0)
    return buf


#: Learners whose `predict_proba` is a point estimate's, not the committee mean (documented on each).
POINT_ESTIMATE = {"version-space"}


@pytest.fixture(scope="module", params=sorted(LEARNERS))
def fitted(request):
    learner = LEARNERS[request.param]()
    buf = _buffer(learner, 12)
    return learner, buf, learner.fit(jax.random.key(1), None, buf), request.param


def test_satisfies_the_protocol_and_probabilities_are_well_formed(fitted):
    learner, buf, state, name = fitted
    assert isinstance(learner, Learner)
    x = _buffer(learner, 5).x[:5]
    p = np.asarray(learner.probs(state.params, jnp.asarray(x)))
    assert p.shape == (learner.members, 5, learner.num_classes)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    mean = learner.predict_proba(state.params, x)
    assert isinstance(mean, np.ndarray) and mean.shape == (5, learner.num_classes)
    np.testing.assert_allclose(mean.sum(-1), 1.0, atol=1e-5)
    if name not in POINT_ESTIMATE:
        np.testing.assert_allclose(mean, p.mean(0), atol=1e-4)


def test_fit_is_deterministic_and_keeps_the_state_structure_of_init(fitted):
    learner, buf, state, _ = fitted
    again = learner.fit(jax.random.key(1), None, buf)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert jax.tree.structure(learner.init(jax.random.key(0))) == jax.tree.structure(state)  # checkpoints restore
    warm = learner.fit(jax.random.key(2), state, _buffer(learner, 14))
    assert jax.tree.structure(warm) == jax.tree.structure(state)


def test_probs_are_differentiable_in_the_inputs(fitted):
    learner, buf, state, _ = fitted
    x = jnp.asarray(_buffer(learner, 4).x[:4]) + 0.1
    grad = jax.grad(lambda z: jnp.sum(entropy(learner.probs(state.params, z))))(x)
    assert grad.shape == x.shape and bool(jnp.all(jnp.isfinite(grad)))
