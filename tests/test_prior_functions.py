"""Randomized prior functions (`learner.prior_scale`): the prior nets are fixed, added to the
members' logits, left out of the gradient, and make members disagree away from the data."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from qsynth.data import LabeledBuffer
from qsynth.learners import LearnerConfig

CFG = LearnerConfig(model="mlp", hidden=(16,), members=3, steps=30, warm_steps=5, prior_scale=2.0)


def _buffer(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.3, 0.5, (n, 2)).astype(np.float32)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, (x[:, 0] > 0.4).astype(np.int32), 0)
    return buf


def test_probs_are_the_softmax_of_the_net_plus_beta_times_the_prior(key):
    learner = CFG.build((2,), 2)
    state = learner.fit(key, None, _buffer())
    x = jnp.asarray(np.random.default_rng(1).uniform(0, 1, (5, 2)), jnp.float32)
    own = jax.vmap(lambda n: learner.net_logits(n, x))(state.params["net"])
    prior = jax.vmap(lambda n: learner.net_logits(n, x))(state.params["prior"])
    np.testing.assert_allclose(learner.probs(state.params, x), jax.nn.softmax(own + 2.0 * prior, axis=-1), atol=1e-6)
    assert float(jnp.max(jnp.abs(prior))) > 0.01  # (a prior that does something)


def test_the_prior_networks_are_never_trained(key):
    learner = CFG.build((2,), 2)
    state = learner.fit(key, None, _buffer())
    warm = learner.fit(jax.random.fold_in(key, 1), state, _buffer(20, seed=3))
    for a, b in zip(jax.tree.leaves(state.params["prior"]), jax.tree.leaves(warm.params["prior"])):
        np.testing.assert_array_equal(a, b)
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params["net"]),
                                                        jax.tree.leaves(warm.params["net"]))]
    assert any(changed)
    # each member has a prior of its own, not a copy of its own initialization
    priors, nets = (jax.tree.leaves(state.params["prior"]),
                     jax.tree.leaves(learner.init(jax.random.split(key)[0]).params["net"]))  # (the fit's own init)
    assert any(not np.allclose(p[0], p[1]) for p in priors)
    assert any(not np.allclose(p, n) for p, n in zip(priors, nets))


def test_training_fits_the_labels_through_the_prior(key):
    learner = LearnerConfig(model="mlp", hidden=(32,), members=3, steps=300, prior_scale=5.0).build((2,), 2)
    buf = _buffer(30)
    state = learner.fit(key, None, buf)
    p = learner.predict_proba(state.params, buf.x[:buf.size])
    assert np.mean(p.argmax(-1) == buf.y[:buf.size]) == 1.0


def test_expected_gradient_norms_leave_the_prior_out_of_the_gradient(key):
    """The closed form (dense ReLU) and vmap(grad) both give ‖∇_θ CE(f_θ + β·p, c)‖, the prior fixed."""
    learner = CFG.build((2,), 2)
    state = learner.fit(key, None, _buffer())
    x = jnp.asarray(np.random.default_rng(2).uniform(0, 1, (4, 2)), jnp.float32)
    closed = learner.gradient_norms(state.params, x)  # [nets, n, c]
    member = jax.tree.map(lambda a: a[1], state.params["net"])
    prior = jax.tree.map(lambda a: a[1], state.params["prior"])

    def loss(net, xi, c):
        logits = learner.net_logits(net, xi[None])[0] + 2.0 * learner.net_logits(prior, xi[None])[0]
        return optax.softmax_cross_entropy_with_integer_labels(logits, c)

    for i in range(4):
        for c in range(2):
            g = jax.grad(loss)(member, x[i], jnp.int32(c))
            norm = jnp.sqrt(sum(jnp.sum(leaf ** 2) for leaf in jax.tree.leaves(g)))
            np.testing.assert_allclose(closed[1, i, c], norm, rtol=1e-4)


def test_no_prior_keeps_the_plain_ensemble(key):
    learner = LearnerConfig(model="mlp", hidden=(16,), members=3, steps=30).build((2,), 2)
    state = learner.fit(key, None, _buffer())
    assert "prior" not in state.params


@pytest.mark.parametrize("changes, message", [
    ({"prior_scale": -1.0}, "learner.prior_scale must be a finite number >= 0"),
    ({"prior_scale": 1.0, "posterior": "mc_dropout", "dropout": 0.1}, "needs learner.posterior = 'ensemble'"),
    ({"prior_scale": 1.0, "model": "gp"}, "applies to network ensembles"),
])
def test_a_bad_prior_scale_is_named(changes, message):
    with pytest.raises(ValueError, match=message):
        LearnerConfig(**changes)
