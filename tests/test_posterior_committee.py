"""The GP's committee is its posterior: vote entropy, KL to consensus and BALD in closed form,
against numerical integration and against a brute-force committee of posterior draws; and the GP's
expected gradient length against its hand-worked weight-space form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from qsynth.data import LabeledBuffer
from qsynth.learners import LearnerConfig
from qsynth.strategies.measures import Scorer
from qsynth.strategies.posterior_committee import POSTERIOR_MEASURES, posterior_committee_measure
from qsynth.strategies.scoring import score_points
from qsynth.uncertainty import MEASURES


def _h(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-300, 1.0)
    q = np.clip(1.0 - p, 1e-300, 1.0)
    return -(p * np.log(p) + q * np.log(q))


def _bald_by_integration(margin: float, std: float, tau: float) -> float:
    """H[Φ(m / √(σ² + τ²))] − ∫ N(f; m, σ²) h(Φ(f / τ)) df on a fine grid."""
    f = np.linspace(margin - 12 * (std + tau), margin + 12 * (std + tau), 200_001)
    w = norm.pdf(f, margin, std)
    w /= w.sum()
    return float(_h(norm.cdf(margin / np.hypot(std, tau))) - np.sum(w * _h(norm.cdf(f / tau))))


CASES = [(m, s, t) for t in (0.01, 0.1, 1.0) for s in (0.003, 0.1, 1.0, 3.0) for m in (0.0, 0.05, 0.5, 2.0)]


def _closed(measure: str, cases=CASES) -> np.ndarray:
    m, s, t = (np.asarray(v, np.float32) for v in zip(*cases))
    return np.asarray(posterior_committee_measure(measure, jnp.asarray(m), jnp.asarray(s), jnp.asarray(t ** 2)))


def test_bald_and_kl_to_consensus_match_numerical_integration():
    exact = np.array([_bald_by_integration(*case) for case in CASES])
    np.testing.assert_allclose(_closed("bald"), exact, atol=2.5e-3)  # Houlsby et al.'s approximation
    np.testing.assert_array_equal(_closed("kl_to_consensus"), _closed("bald"))
    assert exact.max() > 0.6 and exact.min() < 1e-3  # the cases span the measure's range


def test_the_vote_entropies_are_the_entropies_of_the_votes_and_of_the_predictive():
    m, s, t = (np.asarray(v) for v in zip(*CASES))
    np.testing.assert_allclose(_closed("vote_entropy"), _h(norm.cdf(m / s)), atol=1e-5)
    np.testing.assert_allclose(_closed("soft_vote_entropy"), _h(norm.cdf(m / np.hypot(s, t))), atol=1e-5)


@pytest.mark.parametrize("measure", POSTERIOR_MEASURES)
def test_each_closed_form_is_the_limit_of_a_committee_of_posterior_draws(measure):
    """20,000 members f_k ~ N(μ, σ²), each with labels Φ(f_k / τ), through the ensemble's own measures."""
    cases = [(0.0, 1.0, 0.3), (0.4, 0.5, 0.3), (1.5, 0.5, 0.1), (0.2, 0.05, 0.3)]
    draws = np.random.default_rng(0).standard_normal(20_000)
    f = np.array([m + s * draws for m, s, _ in cases]).T  # [members, n]
    p1 = norm.cdf(f / np.array([t for *_, t in cases]))
    committee = jnp.asarray(np.stack([1.0 - p1, p1], axis=-1), jnp.float32)  # [members, n, 2]
    np.testing.assert_allclose(_closed(measure, cases), np.asarray(MEASURES[measure](committee)), atol=0.01)


def _fitted_gp(key, **config):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 0.4, (40, 2)).astype(np.float32)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, (x[:, 0] > 0.2).astype(np.int32), 0)
    learner = LearnerConfig(model="gp", **config).build((2,), 2)
    return learner, learner.fit(key, None, buf).params


def test_the_gp_scores_its_committee_measures_through_its_posterior(key):
    learner, params = _fitted_gp(key)
    probes = np.array([[0.2, 0.2], [0.35, 0.2], [0.2, 1.0], [1.0, 1.0]], np.float32)
    mean, std = (np.asarray(v) for v in learner.latent(params, jnp.asarray(probes)))
    tau2 = float(learner.noise_variance(params))
    for measure in POSTERIOR_MEASURES:
        scores = score_points(learner, Scorer(measure), params, probes)
        np.testing.assert_allclose(scores, _closed(measure, list(zip(mean, std, [tau2 ** 0.5] * 4))), atol=1e-5)
    bald = score_points(learner, Scorer("bald"), params, probes)
    assert bald[1] < 0.01 and bald[3] > 0.6  # settled among class-1 labels; a coin flip far from them
    entropy = score_points(learner, Scorer("entropy"), params, probes)
    assert np.all(bald <= entropy + 1e-6)


def test_a_gp_committee_measure_climbs(key):
    learner, params = _fitted_gp(key)
    grad = jax.grad(lambda x: jnp.sum(Scorer("bald")(learner, params, x)))(jnp.asarray([[0.3, 0.6]], jnp.float32))
    assert np.all(np.isfinite(np.asarray(grad))) and float(jnp.max(jnp.abs(grad))) > 1e-4


def test_the_gp_expected_gradient_length_is_its_weight_space_gradient(key):
    learner, params = _fitted_gp(key)
    probes = np.random.default_rng(1).uniform(0, 1, (50, 2)).astype(np.float32)
    mean, std = (np.asarray(v, np.float64) for v in learner.latent(params, jnp.asarray(probes)))
    p1 = norm.cdf(mean / std)
    signal = float(params["signal"])
    by_hand = np.sqrt(signal) * ((1.0 - p1) * np.abs(mean + 1.0) + p1 * np.abs(mean - 1.0))
    scores = score_points(learner, Scorer("expected_gradient_length"), params, probes)
    np.testing.assert_allclose(scores, by_hand, rtol=2e-4, atol=1e-6)
    norms = np.asarray(learner.gradient_norms(params, jnp.asarray(probes)))
    assert norms.shape == (1, 50, 2)


def test_the_multiclass_gp_gradient_is_against_its_centered_one_hot_targets(key):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (30, 2)).astype(np.float32)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, np.digitize(x[:, 0], [0.33, 0.66]).astype(np.int32), 0)
    learner = LearnerConfig(model="gp").build((2,), 3)
    params = learner.fit(key, None, buf).params
    probes = jnp.asarray(rng.uniform(0, 1, (7, 2)).astype(np.float32))
    mean = np.asarray(learner._mean(params, probes))  # [7, 3]
    targets = np.eye(3) - 1.0 / 3.0
    by_hand = np.sqrt(float(params["signal"])) * np.linalg.norm(mean[:, None, :] - targets[None], axis=-1)
    np.testing.assert_allclose(np.asarray(learner.gradient_norms(params, probes))[0], by_hand, rtol=1e-4, atol=1e-6)


def test_expected_gradient_length_on_a_value_gp_is_refused_at_parse_time():
    from qsynth.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"strategies\[0\]: 'expected_gradient_length' .* needs learner.target = 'label'"):
        parse_config({"name": "x", "seeds": [0], "data": {"name": "simulator", "args": {"simulator": "projectile"}},
                      "learner": {"model": "gp", "target": "value"},
                      "oracle": {"kind": "simulator"}, "loop": {"budget": 8, "seed_size": 4},
                      "strategies": [{"kind": "egl"}]})
