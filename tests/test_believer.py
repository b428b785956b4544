"""Kriging-believer batches: the GP's `believe` against a NumPy posterior, the batch rule against
a hand-built reference, the believed target weights, pool and synthesis batches end to end, and
the named errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.data.buffer import LabeledBuffer
from qsynth.learners import GPConfig, LearnerConfig
from qsynth.learners.base import Believer
from qsynth.problem import Problem
from qsynth.problem import TestSetEvaluator as GridEvaluator
from qsynth.strategies.base import RoundContext
from qsynth.strategies.believer import believed_params, believer_batch
from qsynth.strategies.pool import PoolSampling
from qsynth.strategies.scoring import Scorer, score_points, with_targets
from qsynth.strategies.synthesis import InputSynthesis

ELL = 0.3


def _matern52(a: np.ndarray, b: np.ndarray, ell: float = ELL) -> np.ndarray:
    r = math.sqrt(5.0) * np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)) / ell
    return (1 + r + r * r / 3) * np.exp(-r)


def _fitted(n: int = 20, seed: int = 0, **config):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 2))
    v = np.sin(4 * x[:, 0]) + x[:, 1]
    buffer = LabeledBuffer.empty((2,))
    buffer.add(x, (v > 0.8).astype(np.int32), 0, v)
    learner = GPConfig(**({"lengthscale": ELL} | config)).build((2,))
    return learner, learner.fit(jax.random.key(0), None, buffer).params, x, buffer


def _posterior_variance(x_train: np.ndarray, xs: np.ndarray, signal: float, noise: float) -> np.ndarray:
    r = _matern52(x_train, x_train) + (noise + 1e-6) * np.eye(len(x_train))
    ks = _matern52(xs, x_train)
    return signal * (1 - np.einsum("ij,ji->i", ks, np.linalg.solve(r, ks.T)))


def test_the_gp_believes_answers_at_its_own_mean_and_its_variance_is_the_numpy_posterior():
    learner, params, x, _ = _fitted()
    assert isinstance(learner, Believer)
    rng = np.random.default_rng(1)
    fantasies, xs = rng.uniform(0, 1, (3, 2)), rng.uniform(0, 1, (9, 2))
    believed = learner.believe(params, fantasies, np.array([1.0, 1.0, 0.0]))
    mean, std = learner.latent(params, jnp.asarray(xs, jnp.float32))
    mean_b, std_b = learner.latent(believed, jnp.asarray(xs, jnp.float32))
    np.testing.assert_allclose(np.asarray(mean_b), np.asarray(mean), atol=1e-4)  # the believer: mean unchanged
    reference = _posterior_variance(np.concatenate([x, fantasies[:2]]), xs, float(params["signal"]),
                                    learner.config.noise)
    np.testing.assert_allclose(np.asarray(std_b) ** 2, reference, rtol=1e-3, atol=1e-4)
    assert np.all(np.asarray(std_b) <= np.asarray(std) + 1e-6)
    nothing = learner.believe(params, fantasies, np.zeros(3))  # no valid row: the same posterior
    np.testing.assert_allclose(np.asarray(learner.latent(nothing, jnp.asarray(xs, jnp.float32))[1]),
                               np.asarray(std), rtol=1e-4)
    assert jax.tree.map(jnp.shape, believed) == jax.tree.map(jnp.shape, nothing)  # shapes whatever `valid` holds


def test_a_many_class_gp_believes_too_and_keeps_its_mean():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (15, 2))
    buffer = LabeledBuffer.empty((2,))
    buffer.add(x, rng.integers(0, 3, 15).astype(np.int32), 0)
    learner = GPConfig(lengthscale=ELL).build((2,), 3)
    params = learner.fit(jax.random.key(0), None, buffer).params
    xs = jnp.asarray(rng.uniform(0, 1, (6, 2)), jnp.float32)
    believed = learner.believe(params, rng.uniform(0, 1, (2, 2)), np.ones(2))
    np.testing.assert_allclose(np.asarray(learner.probs(believed, xs)), np.asarray(learner.probs(params, xs)),
                               atol=1e-4)


def test_the_believer_batch_takes_the_best_then_the_best_given_a_believed_answer_there():
    """Straddle (1.96σ − |μ|) reads the variance: the second query is the argmax of straddle under
    the NumPy posterior that also holds the first query."""
    learner, params, x, _ = _fitted(target="value", success=(0.8, math.inf))
    candidates = np.random.default_rng(3).uniform(0, 1, (300, 2)).astype(np.float32)
    scorer = Scorer("straddle")
    scores = score_points(learner, scorer, params, candidates)
    chosen = believer_batch(learner, params, candidates, scores, 2, "straddle", "test")
    assert chosen[0] == int(np.argmax(scores))
    mean = np.asarray(learner.latent(params, jnp.asarray(candidates))[0])
    # the value GP's signal and noise, as fitted (the believer keeps them)
    var = _posterior_variance(np.concatenate([x, candidates[chosen[:1]]]), candidates, float(params["signal"]),
                              learner.config.noise)
    reference = 1.96 * np.sqrt(np.maximum(var, 0.0)) - np.abs(mean - 0.8)
    reference[chosen[0]] = -np.inf
    assert chosen[1] == int(np.argmax(reference))


def test_the_believer_rescores_per_query_asked_and_per_cost_as_the_strategy_ranked():
    """With P(answered), a refusal cost and an expected cost, each believed rescoring is weighed
    as the first ranking was: `per_cost(weigh(straddle, p, r), cost)` (straddle is signed)."""
    from qsynth.strategies.answerability import per_cost, weigh

    learner, params, x, _ = _fitted(target="value", success=(0.8, math.inf))
    rng = np.random.default_rng(6)
    candidates = rng.uniform(0, 1, (300, 2)).astype(np.float32)
    p, cost = rng.uniform(0.05, 1.0, 300), rng.uniform(0.5, 4.0, 300)
    raw = score_points(learner, Scorer("straddle"), params, candidates)
    scores = per_cost(weigh(raw, p, 3.0), cost)
    chosen = believer_batch(learner, params, candidates, scores, 2, "straddle", "test", p, cost, refusal_cost=3.0)
    assert chosen[0] == int(np.argmax(scores))
    mean = np.asarray(learner.latent(params, jnp.asarray(candidates))[0])
    var = _posterior_variance(np.concatenate([x, candidates[chosen[:1]]]), candidates, float(params["signal"]),
                              learner.config.noise)
    reference = per_cost(weigh(1.96 * np.sqrt(np.maximum(var, 0.0)) - np.abs(mean - 0.8), p, 3.0), cost)
    reference[chosen[0]] = -np.inf
    assert chosen[1] == int(np.argmax(reference))
    without = believer_batch(learner, params, candidates, scores, 2, "straddle", "test", p, cost)
    assert without[1] != chosen[1]  # (on these candidates the refusal cost changes the second choice)


def test_believed_target_weights_are_the_new_doubts_when_every_target_is_kept():
    learner, params, _, _ = _fitted()
    rng = np.random.default_rng(4)
    targets = rng.uniform(0, 1, (50, 2)).astype(np.float32)
    fantasies, valid = rng.uniform(0, 1, (2, 2)).astype(np.float32), np.ones(2, np.float32)
    believed = believed_params(learner, with_targets(learner, params, targets), fantasies, valid)
    direct = with_targets(learner, learner.believe(params, fantasies, valid), targets)
    np.testing.assert_allclose(np.asarray(believed["weights"]), np.asarray(direct["weights"]), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(believed["targets"].std), np.asarray(direct["targets"].std), rtol=1e-5)
    assert float(jnp.sum(believed["weights"])) < float(jnp.sum(with_targets(learner, params, targets)["weights"]))


def _ctx(learner, params, buffer, pool=None):
    problem = Problem(name="toy", feature_shape=(2,), classes=(0, 1),
                      evaluator=GridEvaluator(np.zeros((1, 2), np.float32), np.zeros(1, int)),
                      bounds=(np.zeros(2, np.float32), np.ones(2, np.float32)), pool=pool)
    available = None if pool is None else np.ones(len(pool), bool)
    return RoundContext(round_index=3, learner=learner, params=params, problem=problem, available=available,
                        buffer=buffer)


def _min_gap(x: np.ndarray) -> float:
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return float(d[np.triu_indices(len(x), 1)].min())


def test_pool_and_synthesis_believer_batches_spread_where_top_k_clusters():
    learner, params, _, buffer = _fitted(n=12)
    pool = np.random.default_rng(5).uniform(0, 1, (400, 2)).astype(np.float32)
    ctx = _ctx(learner, params, buffer, pool)
    key = jax.random.key(7)
    top, _ = PoolSampling(measure="boundary_information").select(key, ctx, 6, None)
    spread, _ = PoolSampling(measure="boundary_information", batch="believer").select(key, ctx, 6, None)
    again, _ = PoolSampling(measure="boundary_information", batch="believer").select(key, ctx, 6, None)
    np.testing.assert_array_equal(spread.pool_index, again.pool_index)  # deterministic per key
    assert len(set(spread.pool_index.tolist())) == 6 and spread.pool_index[0] == top.pool_index[0]
    assert _min_gap(spread.x) > _min_gap(top.x)
    one, _ = PoolSampling(measure="boundary_information", batch="believer").select(key, ctx, 1, None)
    np.testing.assert_array_equal(one.pool_index, top.pool_index[:1])  # a batch of one is the top one
    synth = InputSynthesis(measure="boundary_information", starts=64, steps=20, batch="believer")
    assert synth.name == "input_synthesis-boundary_information-believer"
    q, _ = synth.select(key, _ctx(learner, params, buffer), 6, None)
    assert q.x.shape == (6, 2) and np.all((q.x >= 0) & (q.x <= 1))
    same_ends, _ = InputSynthesis(measure="boundary_information", starts=64, steps=20,
                                  min_distance=0.0).select(key, _ctx(learner, params, buffer), 6, None)
    assert _min_gap(q.x) > _min_gap(same_ends.x)  # the same ascent's top 6 ends, no distance rule
    np.testing.assert_allclose(q.x[0], same_ends.x[0])


def test_believer_errors_name_the_field_and_the_learner():
    with pytest.raises(ValueError, match="batch must be one of"):
        PoolSampling(batch="believe")
    with pytest.raises(ValueError, match="input_synthesis: batch must be one of"):
        InputSynthesis(batch="kcenter")
    mlp = LearnerConfig(hidden=(4,), members=2).build((2,), 2)
    _, _, _, buffer = _fitted(n=6)
    pool = np.random.default_rng(0).uniform(0, 1, (30, 2)).astype(np.float32)
    ctx = _ctx(mlp, mlp.init(jax.random.key(0)).params, buffer, pool)
    with pytest.raises(ValueError, match="batch = 'believer' needs a learner that can condition.*NetworkLearner"):
        PoolSampling(batch="believer").select(jax.random.key(0), ctx, 3, None)
    epig_params = {"learner": None, "targets": jnp.zeros((1, 2, 2))}
    learner, _, _, _ = _fitted(n=6)
    with pytest.raises(ValueError, match="'epig' scores ensemble members"):
        believed_params(learner, epig_params, np.zeros((1, 2), np.float32), np.ones(1, np.float32))


def test_a_believer_with_a_learner_that_cannot_believe_is_refused_before_any_work(tmp_path):
    from qsynth.config import parse_config
    from qsynth.experiments.runner import run_experiment

    config = parse_config({"name": "no-belief", "seeds": [0], "data": {"name": "moons", "args": {"n": 60}},
                           "learner": {"model": "mlp", "hidden": [4], "members": 2, "steps": 5},
                           "loop": {"budget": 12, "seed_size": 4, "batch_size": 4},
                           "strategies": [{"kind": "uncertainty", "batch": "believer"}]})
    with pytest.raises(ValueError, match="strategy 'entropy-believer': batch = 'believer' needs a learner"):
        run_experiment(config, tmp_path, progress=False, plots=False)
    assert not (tmp_path / "no-belief").exists()


class _Squash:
    """A generator of the unit square: x = sigmoid(z), z ~ N(0, I₂) (no training)."""

    latent, feature_shape, params = 2, (2,), {}

    def generate(self, params, z):
        return jax.nn.sigmoid(z)

    def log_prior(self, z):
        return -0.5 * jnp.sum(z * z, axis=-1)

    def sample_prior(self, key, n):
        return jax.random.normal(key, (n, 2))


def test_latent_synthesis_believes_in_input_space_and_spreads_its_batch():
    from qsynth.strategies.synthesis import LatentSynthesis

    learner, params, _, buffer = _fitted(n=12)
    pool = np.random.default_rng(6).uniform(0, 1, (300, 2)).astype(np.float32)
    ctx = _ctx(learner, params, buffer, pool)
    spec = dict(measure="boundary_information", starts=64, steps=20, realism=0.0, generator=_Squash())
    spread, _ = LatentSynthesis(batch="believer", **spec).select(jax.random.key(1), ctx, 5, None)
    ends, _ = LatentSynthesis(min_distance=0.0, **spec).select(jax.random.key(1), ctx, 5, None)
    np.testing.assert_allclose(np.asarray(spread.x), np.asarray(jax.nn.sigmoid(spread.z)), rtol=1e-6)
    assert _min_gap(spread.x) > _min_gap(ends.x)
