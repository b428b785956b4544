"""The GP learner with more than two classes and the network ("nngp") kernel: NumPy and Monte-Carlo
references, leave-one-out temperature, masking, gradients, compilation, a run on digits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.data import Dataset, digits
from qsynth.data.buffer import LabeledBuffer
from qsynth.learners import GPConfig, LearnerConfig
from qsynth.learners import gaussian_process as gp_module
from qsynth.learners.kernels import arccos, covariance, prior_variance
from qsynth.loop import LoopConfig, run_loop
from qsynth.oracles import DatasetOracle
from qsynth.problem import Problem
from qsynth.strategies import build_strategy
from qsynth.strategies.scoring import Scorer


def test_polynomial_arccos_matches_numpy_in_value_and_slope():
    x = np.linspace(-1.0, 1.0, 20_001).astype(np.float32)  # the reference sees the same rounded inputs
    np.testing.assert_allclose(np.asarray(arccos(jnp.asarray(x))), np.arccos(x.astype(np.float64)), atol=1e-6)
    inner = np.linspace(-0.999, 0.999, 101)
    slope = np.asarray(jax.vmap(jax.grad(arccos))(jnp.asarray(inner, jnp.float32)))
    np.testing.assert_allclose(slope, -1.0 / np.sqrt(1.0 - inner**2), rtol=1e-4)


def _relu_network_covariance(x: np.ndarray, depth: int, width: int, seed: int) -> np.ndarray:
    """Empirical output covariance of random ReLU networks of finite `width` (He scaling)."""
    rng = np.random.default_rng(seed)
    h = x.T  # [d, n]
    fan_in, gain = x.shape[1], 1.0
    for _ in range(depth):
        w = rng.standard_normal((width, fan_in)) * np.sqrt(gain / fan_in)
        h = np.maximum(w @ h, 0.0)
        fan_in, gain = width, 2.0
    return 2.0 * h.T @ h / width  # the readout's weight variance 2 / width


def _nngp_reference(a: np.ndarray, b: np.ndarray, depth: int) -> np.ndarray:
    """Cho & Saul's arc-cosine recursion, with the textbook σ_w² = 2 per ReLU layer."""
    d = a.shape[1]
    kab, kaa, kbb = a @ b.T / d, (a * a).sum(1) / d, (b * b).sum(1) / d
    for _ in range(depth):
        scale = np.sqrt(np.outer(kaa, kbb))
        theta = np.arccos(np.clip(kab / scale, -1, 1))
        kab = 2.0 * scale * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
        kaa, kbb = 2.0 * kaa / 2, 2.0 * kbb / 2
    return kab


@pytest.mark.parametrize("depth", [1, 2])
def test_nngp_kernel_matches_the_arc_cosine_recursion_and_wide_random_networks(depth):
    rng = np.random.default_rng(depth)
    x = rng.standard_normal((6, 5))
    for deeper in (depth + 2, depth):
        got = np.asarray(covariance("nngp", jnp.asarray(x, jnp.float32), jnp.asarray(x, jnp.float32), 1.0, deeper))
        np.testing.assert_allclose(got, _nngp_reference(x, x, deeper), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.diag(got), np.asarray(prior_variance("nngp", jnp.asarray(x, jnp.float32))), rtol=1e-4)
    # the kernel is what a random ReLU network's outputs covary by, as it widens
    empirical = _relu_network_covariance(x, depth, width=100_000 if depth == 1 else 4_000, seed=depth)
    np.testing.assert_allclose(got, empirical, atol=0.05 * np.abs(got).max())


def _buffer(x: np.ndarray, y: np.ndarray, capacity: int = 64) -> LabeledBuffer:
    buffer = LabeledBuffer.empty((x.shape[1],), minimum_capacity=capacity)
    buffer.add(x, y, 0)
    return buffer


def _three_class_data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = np.argmax(x[:, :3] + 0.3 * rng.standard_normal((n, 3)), axis=1).astype(np.int32)
    return x, y, rng.standard_normal((9, 4)).astype(np.float32)


@pytest.mark.parametrize("kernel", ["nngp", "rbf"])
def test_multiclass_posterior_is_least_squares_on_centered_one_hot_targets(kernel):
    x, y, xs = _three_class_data()
    learner = GPConfig(kernel=kernel, lengthscale=None if kernel == "nngp" else 1.5, noise=0.05, depth=2).build((4,), 3)
    params = learner.fit(jax.random.key(0), None, _buffer(x, y)).params  # 34 masked slots
    ell = float(params["lengthscale"])
    k = (lambda a, b: _nngp_reference(a, b, learner.config.depth)) if kernel == "nngp" else (
        lambda a, b: np.exp(-0.5 * ((a[:, None] - b[None]) ** 2).sum(-1) / ell**2))
    kxx = k(x.astype(np.float64), x.astype(np.float64))
    r = kxx + (0.05 + 1e-6) * np.eye(len(x))
    t = np.eye(3)[y] - 1 / 3
    alpha = np.linalg.solve(r, t)
    ks = k(xs.astype(np.float64), x.astype(np.float64))
    mean, std = learner.latent(params, xs)
    assert mean.shape == (9, 3) and std.shape == (9,)
    np.testing.assert_allclose(np.asarray(mean), ks @ alpha, rtol=1e-3, atol=1e-4)
    signal = (t * alpha).sum() / (len(x) * 3)
    prior = np.diag(k(xs.astype(np.float64), xs.astype(np.float64)))
    var = signal * (prior - np.einsum("ij,ji->i", ks, np.linalg.solve(r, ks.T)))
    np.testing.assert_allclose(np.asarray(std) ** 2, var, rtol=5e-3, atol=1e-6)
    p = learner.predict_proba(params, xs)
    logits = ks @ alpha / float(params["temperature"])
    ref = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(p, ref / ref.sum(1, keepdims=True), rtol=1e-3, atol=1e-5)
    assert learner.probs(params, xs).shape == (1, 9, 3)


def test_temperature_minimizes_the_cross_entropy_of_refits_without_each_point():
    x, y, _ = _three_class_data(n=24, seed=1)
    learner = GPConfig(kernel="nngp", noise=0.1, depth=2).build((4,), 3)
    params = learner.fit(jax.random.key(0), None, _buffer(x, y)).params
    t = np.eye(3)[y] - 1 / 3
    kxx = _nngp_reference(x.astype(np.float64), x.astype(np.float64), learner.config.depth)
    loo = np.empty_like(t)
    for i in range(len(x)):  # brute force: refit on the other 23 points, predict point i
        keep = np.arange(len(x)) != i
        r = kxx[np.ix_(keep, keep)] + (0.1 + 1e-6) * np.eye(len(x) - 1)
        loo[i] = kxx[i, keep] @ np.linalg.solve(r, t[keep])
    nll = []
    for tau in gp_module.TEMPERATURES:
        z = loo / tau
        log_p = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
        nll.append(-log_p[np.arange(len(y)), y].sum())
    assert float(params["temperature"]) == pytest.approx(gp_module.TEMPERATURES[int(np.argmin(nll))])
    assert 0.01 < float(params["temperature"]) < 1.0  # an interior choice: the test can tell


def test_multiclass_empty_slots_change_nothing_and_the_fit_compiles_once_per_bucket():
    x, y, xs = _three_class_data(n=40, seed=2)
    learner = GPConfig(kernel="nngp", noise=0.01).build((4,), 3)
    small = learner.fit(jax.random.key(0), None, _buffer(x, y, 64)).params
    big = learner.fit(jax.random.key(0), None, _buffer(x, y, 256)).params
    np.testing.assert_allclose(learner.predict_proba(big, xs), learner.predict_proba(small, xs), atol=1e-4)
    buffer = LabeledBuffer.empty((4,))
    learner = GPConfig(kernel="nngp", noise=0.02).build((4,), 3)  # a program no other test compiled
    before = gp_module.TRACE_COUNTS["fit"]
    for i in range(70):  # 1 -> 70 labels: buckets 64 and 128
        buffer.add(x[i % 40][None] + 0.01 * i, y[i % 40][None], 0)
        learner.fit(jax.random.key(0), None, buffer)
    assert gp_module.TRACE_COUNTS["fit"] - before == 2


def test_nngp_input_gradients_are_finite_at_training_points_and_straddle_is_refused():
    x, y, _ = _three_class_data()
    learner = GPConfig(kernel="nngp").build((4,), 3)
    params = learner.fit(jax.random.key(0), None, _buffer(x, y)).params
    scorer = Scorer("entropy")
    grads = jax.grad(lambda p: jnp.sum(scorer(learner, params, p)))(jnp.asarray(x[:5]))
    assert np.all(np.isfinite(np.asarray(grads))) and np.any(np.asarray(grads) != 0)
    with pytest.raises(ValueError, match="binary boundary"):
        Scorer("straddle")(learner, params, jnp.asarray(x[:2]))


def test_the_loop_reports_the_rounds_where_a_gp_fit_compiled():
    x, y, _ = _three_class_data(n=200, seed=4)
    data = Dataset.from_arrays(x, y, seed=0)
    problem = Problem.from_dataset(data)
    learner = LearnerConfig(model="gp", kernel="nngp", noise=0.03).build(problem.feature_shape, problem.num_classes)
    loop = LoopConfig(budget=70, seed_size=6, seed_strategy="stratified", batch_size=4, fsync=False)
    runs = [run_loop(jax.random.key(0), problem, learner, build_strategy({"kind": "uncertainty", "measure": "entropy"}),
                     DatasetOracle(data.y, data.classes), loop) for _ in range(2)]
    assert [r["queries"] for r in runs[0].history if r["compiled"]] == [6, 66]  # buckets 64 and 128
    assert not any(r["compiled"] for r in runs[1].history)  # compiled once, reused


@pytest.mark.slow
def test_margin_sampling_with_the_network_gp_learns_digits_faster_than_random():
    """Ten digit classes, one seed label per class, 50 queries: margin passes 91%, random does not."""
    data = digits(0)
    problem = Problem.from_dataset(data)
    learner = LearnerConfig(model="gp", kernel="nngp", noise=0.01).build(problem.feature_shape, problem.num_classes)
    loop = LoopConfig(budget=60, seed_size=10, seed_strategy="stratified", batch_size=1, fsync=False)
    accuracy = {}
    for kind in ({"kind": "uncertainty", "measure": "margin"}, {"kind": "random"}):
        result = run_loop(jax.random.key(0), problem, learner, build_strategy(kind), DatasetOracle(data.y, data.classes),
                          loop)
        accuracy[kind["kind"]] = result.history[-1]["accuracy"]
    assert accuracy["uncertainty"] > 0.91 and accuracy["uncertainty"] > accuracy["random"] + 0.03, accuracy  # .922 vs .874
