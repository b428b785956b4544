"""The boundary-information acquisition: a NumPy reference on a tiny GP, what it prefers, and
how strategies give it its targets."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from qsynth.data import LabeledBuffer
from qsynth.learners import LearnerConfig
from qsynth.strategies.measures import Scorer
from qsynth.strategies.scoring import boundary_information as unjitted, target_doubt, with_targets

boundary_information = jax.jit(unjitted, static_argnums=0)  # (one compilation, not an op-by-op trace per call)


def _matern52(a, b, ell):
    r = np.sqrt(5.0) * np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)) / ell
    return (1 + r + r * r / 3) * np.exp(-r)


def _fitted(n=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 1.0).astype(np.int32)
    buf = LabeledBuffer.empty((2,))
    buf.add(x, y, 0)
    learner = LearnerConfig(model="gp", lengthscale=0.3).build((2,), 2)
    return learner, learner.fit(jax.random.key(0), None, buf), x.astype(np.float64), y


def test_boundary_information_against_a_numpy_reference():
    learner, state, x, y = _fitted()
    rng = np.random.default_rng(1)
    cand, targets = rng.uniform(0, 1, (5, 2)), rng.uniform(0, 1, (7, 2))
    got = np.asarray(boundary_information(learner, state.params, jnp.asarray(cand, jnp.float32),
                                          jnp.asarray(targets, jnp.float32)))
    # the same from the textbook formulas, in float64
    ell, r = 0.3, learner.config.noise
    t = 2.0 * y - 1.0
    kinv = np.linalg.inv(_matern52(x, x, ell) + (r + 1e-6) * np.eye(len(x)))
    s2 = float(t @ kinv @ t) / len(x)  # the profile signal variance
    def cov(a, b):
        return s2 * (_matern52(a, b, ell) - _matern52(a, x, ell) @ kinv @ _matern52(x, b, ell))
    mean_t = _matern52(targets, x, ell) @ kinv @ t
    std_t = np.sqrt(np.diag(cov(targets, targets)))
    doubt = norm.cdf(-np.abs(mean_t) / std_t)
    rho2 = cov(cand, targets) ** 2 / ((np.diag(cov(cand, cand)) + s2 * r)[:, None] * std_t[None] ** 2)
    want = np.mean(-0.5 * np.log1p(-rho2) * doubt[None], axis=1)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-6)


def test_it_prefers_points_that_settle_targets_in_doubt():
    learner, state, x, _ = _fitted(12)
    targets = jnp.asarray(np.random.default_rng(2).uniform(0, 1, (200, 2)), jnp.float32)
    score = lambda p: float(boundary_information(learner, state.params, jnp.asarray([p], jnp.float32), targets)[0])
    at_label = score(x[0])
    # a labeled point tells nothing new; the undecided middle of the box tells more than a corner
    assert at_label < 1e-3 * max(score([0.5, 0.5]), 1e-9) or at_label < 1e-6
    assert score([0.5, 0.5]) > score([0.0, 1.0]) or score([0.5, 0.5]) > score([1.0, 0.0])
    # differentiable in the candidate (the ascent climbs it)
    g = jax.jit(jax.grad(lambda p: unjitted(learner, state.params, p[None], targets)[0]))(jnp.array([0.4, 0.55]))
    assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)


def test_scorer_and_strategies_supply_targets_or_say_why_not():
    learner, state, _, _ = _fitted()
    x = jnp.asarray([[0.5, 0.5]], jnp.float32)
    targets = jnp.asarray([[0.4, 0.6], [0.2, 0.2]], jnp.float32)
    scored = jax.jit(lambda params, x: Scorer("boundary_information")(learner, params, x))
    prepared = with_targets(learner, state.params, targets)
    # the targets' side is computed once per round; the scores are those of the raw targets
    np.testing.assert_allclose(np.asarray(scored(prepared, x)),
                               np.asarray(unjitted(learner, state.params, x, targets)), rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="needs target inputs"):
        scored(state.params, x)
    network = LearnerConfig(model="mlp", hidden=(4,), members=2, steps=2).build((2,), 2)
    with pytest.raises(ValueError, match="latent Gaussian posterior"):
        unjitted(network, network.init(jax.random.key(0)).params, x, targets)
    with pytest.raises(ValueError, match="latent Gaussian posterior"):
        with_targets(network, network.init(jax.random.key(0)).params, targets)
    from qsynth.strategies import build_strategy
    from tests.helpers import tiny_moons
    from qsynth.problem import Problem

    no_pool = dataclasses.replace(Problem.from_dataset(tiny_moons()), pool=None, pool_y=None)
    with pytest.raises(ValueError, match="targets = 'pool', but problem"):
        build_strategy({"kind": "synthesis", "measure": "boundary_information", "targets": "pool"}).init(no_pool)


def test_targets_drawn_by_doubt_give_the_same_measure_in_expectation():
    learner, state, _, _ = _fitted()
    rng = np.random.default_rng(3)
    targets = rng.uniform(0, 1, (512, 2)).astype(np.float32)
    cand = jnp.asarray(rng.uniform(0, 1, (6, 2)), jnp.float32)
    scored = jax.jit(lambda params, x: Scorer("boundary_information")(learner, params, x))
    full = np.asarray(scored(with_targets(learner, state.params, targets), cand))
    draws = [with_targets(learner, state.params, targets, keep=64, rng=np.random.default_rng(s)) for s in range(60)]
    assert draws[0]["targets"].x.shape == (64, 2) and draws[0]["targets"].factor.shape[1] == 64
    sampled = np.mean([np.asarray(scored(d, cand)) for d in draws], axis=0)
    np.testing.assert_allclose(sampled, full, rtol=0.1)  # importance sampling: unbiased, 60 × 64 draws
    # the targets drawn are the ones in doubt: size-biased, E[doubt of a draw] = E[doubt²] / E[doubt]
    doubt = np.asarray(with_targets(learner, state.params, targets)["weights"], np.float64)
    kept = np.concatenate([np.asarray(target_doubt(learner, d["targets"])) for d in draws])
    np.testing.assert_allclose(kept.mean(), np.mean(doubt ** 2) / doubt.mean(), rtol=0.05)
    assert kept.mean() > 1.2 * doubt.mean()
    np.testing.assert_allclose(np.asarray(draws[0]["weights"]), doubt.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="needs `rng`"):
        with_targets(learner, state.params, targets, keep=8)


def test_a_synthesis_strategy_keeps_kept_targets_of_its_candidates():
    """`kept_targets` sets how many of the round's 1,024 candidates the ascent climbs about (64 by
    default for boundary information); it is refused without a target measure."""
    from qsynth.config import ConfigError, parse_config
    from qsynth.problem import Problem
    from qsynth.strategies import RoundContext, build_strategy
    from tests.helpers import tiny_moons

    learner, state, _, _ = _fitted()
    problem = Problem.from_dataset(tiny_moons())
    ctx = RoundContext(round_index=1, learner=learner, params=state.params, problem=problem,
                       available=np.ones(len(problem.pool), bool), buffer=LabeledBuffer.empty((2,)))
    box = lambda n: np.random.default_rng(0).uniform(0, 1, (n, 2)).astype(np.float32)  # noqa: E731
    for kept, expected in ((None, 64), (200, 200)):
        strategy = build_strategy({"kind": "input_synthesis", "measure": "boundary_information", "targets": "box",
                                   **({} if kept is None else {"kept_targets": kept})})
        params = strategy._target_params(ctx, np.random.default_rng(1), box)
        assert params["targets"].x.shape == (expected, 2) and params["weights"].shape == (expected,)
    with pytest.raises(ConfigError, match="kept_targets is for a target measure"):
        parse_config({"name": "x", "data": {"name": "moons"}, "oracle": {"kind": "teacher"},
                      "strategies": [{"kind": "input_synthesis", "measure": "entropy", "kept_targets": 100}]})
