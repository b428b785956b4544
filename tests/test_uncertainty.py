import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsynth import uncertainty as U
from tests.helpers import random_probs


def np_entropy(p):
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1)


REFERENCES = {
    "entropy": lambda P: np_entropy(P.mean(0)),
    "least_confidence": lambda P: 1 - P.mean(0).max(-1),
    "margin": lambda P: 1 - (np.sort(P.mean(0), -1)[:, -1] - np.sort(P.mean(0), -1)[:, -2]),
    "variation_ratio": lambda P: 1 - np.array([np.bincount(P[:, i].argmax(-1), minlength=P.shape[2]).max()
                                               for i in range(P.shape[1])]) / P.shape[0],
    "mean_std": lambda P: P.std(0).mean(-1),
    "vote_entropy": lambda P: np_entropy(np.stack([np.bincount(P[:, i].argmax(-1), minlength=P.shape[2])
                                                   for i in range(P.shape[1])]) / P.shape[0]),
    "kl_to_consensus": lambda P: np.mean(np.sum(P * (np.log(P) - np.log(P.mean(0))[None]), -1), 0),
    "bald": lambda P: np_entropy(P.mean(0)) - np_entropy(P).mean(0),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_measure_matches_numpy_reference(name):
    P = random_probs(np.random.default_rng(0), 5, 40, 4)
    got = np.asarray(U.MEASURES[name](jnp.asarray(P)))
    np.testing.assert_allclose(got, REFERENCES[name](P.astype(np.float64)), atol=2e-5)


def test_hand_worked_values():
    p = jnp.asarray([[[0.5, 0.5], [1.0, 0.0], [0.7, 0.3]]])
    np.testing.assert_allclose(U.entropy(p), [math.log(2), 0.0, -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))], atol=1e-6)
    np.testing.assert_allclose(U.margin(p), [1.0, 0.0, 0.6], atol=1e-6)
    np.testing.assert_allclose(U.least_confidence(p), [0.5, 0.0, 0.3], atol=1e-6)
    # two members that disagree completely: BALD = log 2, vote entropy = log 2
    q = jnp.asarray([[[1.0, 0.0]], [[0.0, 1.0]]])
    np.testing.assert_allclose(U.bald(q), [math.log(2)], atol=1e-6)
    np.testing.assert_allclose(U.vote_entropy(q), [math.log(2)], atol=1e-6)
    np.testing.assert_allclose(U.variation_ratio(q), [0.5], atol=1e-6)


_ALL = jax.jit(lambda P: {name: m(P) for name, m in U.MEASURES.items()})


@given(m=st.sampled_from([1, 3]), c=st.sampled_from([2, 5]), seed=st.integers(0, 10_000))
def test_bounds(m, c, seed):
    P = jnp.asarray(random_probs(np.random.default_rng(seed), m, 16, c))
    values = _ALL(P)
    for name, measure in U.MEASURES.items():
        v = np.asarray(values[name])
        assert v.shape == (16,)
        assert np.all(v >= -1e-6), name
        assert np.all(v <= measure.upper_bound(m, c) + 1e-5), name
    if m == 1:
        np.testing.assert_allclose(U.bald(P), 0.0, atol=1e-6)


def test_smooth_margin_tends_to_margin_and_has_gradients_at_ties():
    P = jnp.asarray(random_probs(np.random.default_rng(1), 3, 50, 5))
    np.testing.assert_allclose(U.smooth_margin(P, 1e-3), U.margin(P), atol=2e-3)
    tie = jnp.asarray([[[0.4, 0.4, 0.2]]])
    g = jax.grad(lambda p: U.smooth_margin(p).sum())(tie)
    assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("name", [k for k, v in U.MEASURES.items() if v.differentiable])
def test_differentiable_measures_have_finite_gradients_through_softmax(name):
    logits = jax.random.normal(jax.random.key(0), (3, 8, 4))

    def f(lg):
        return U.MEASURES[name](jax.nn.softmax(lg, -1)).sum()

    g = jax.grad(f)(logits)
    assert np.all(np.isfinite(np.asarray(g)))
    assert np.abs(np.asarray(g)).sum() > 0


def test_get_measure_errors():
    with pytest.raises(ValueError, match="unknown uncertainty measure 'nope'"):
        U.get_measure("nope")
    with pytest.raises(ValueError, match="not differentiable"):
        U.get_measure("vote_entropy", differentiable=True)
    assert U.get_measure("bald", differentiable=True).name == "bald"
