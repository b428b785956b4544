"""The exact GP learner and the straddle acquisition: NumPy references, masking, compilation, end to end."""

from __future__ import annotations

import copy
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.config import ConfigError, parse_config
from qsynth.data.buffer import LabeledBuffer
from qsynth.experiments.runner import run_experiment
from qsynth.learners import GPConfig, LearnerConfig
from qsynth.learners import gaussian_process as gp_module
from qsynth.problem import Problem
from qsynth.problem import TestSetEvaluator as GridEvaluator
from qsynth.strategies.base import RoundContext
from qsynth.strategies.pool import PoolSampling
from qsynth.strategies.scoring import Scorer, score_points
from qsynth.store import load_checkpoint, read_label_log
from qsynth.strategies.synthesis import InputSynthesis
from qsynth.uncertainty import straddle


def _matern52(a: np.ndarray, b: np.ndarray, ell: float) -> np.ndarray:
    r = math.sqrt(5.0) * np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)) / ell
    return (1 + r + r * r / 3) * np.exp(-r)


def _rbf(a: np.ndarray, b: np.ndarray, ell: float) -> np.ndarray:
    return np.exp(-0.5 * ((a[:, None] - b[None]) ** 2).sum(-1) / ell**2)


def _reference(x, t, xs, ell, noise, kernel, mean):
    """NumPy posterior (mean, var) and profile log likelihood, the textbook way (R&W §2.2, §5.4)."""
    k = _matern52 if kernel == "matern52" else _rbf
    r = k(x, x, ell) + (noise + 1e-6) * np.eye(len(x))
    tc = t - mean
    alpha = np.linalg.solve(r, tc)
    signal = tc @ alpha / len(x)
    ks = k(xs, x, ell)
    mu = mean + ks @ alpha
    var = signal * (1 - np.einsum("ij,ji->i", ks, np.linalg.solve(r, ks.T)))
    loglik = -0.5 * len(x) * np.log(signal) - 0.5 * np.linalg.slogdet(r)[1]
    return mu, var, loglik


def _data(n=25, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 2))
    v = np.sin(4 * x[:, 0]) + x[:, 1]
    buffer = LabeledBuffer.empty((2,))  # capacity 64: 39 masked slots
    buffer.add(x, (v > 0.8).astype(np.int32), 0, v)
    return x, v, buffer, rng.uniform(0, 1, (7, 2))


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
def test_value_posterior_matches_numpy_with_masked_capacity(kernel):
    x, v, buffer, xs = _data()
    learner = GPConfig(target="value", success=(0.8, math.inf), kernel=kernel, lengthscale=0.3).build((2,))
    params = learner.fit(jax.random.key(0), None, buffer).params
    mean, std = learner.latent(params, xs)
    mu, var, _ = _reference(x, v, xs, 0.3, learner.config.noise, kernel, v.mean())
    np.testing.assert_allclose(np.asarray(mean), mu, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(std) ** 2, var, rtol=2e-3, atol=1e-6)
    # P(f > 0.8) under N(mean, std²)
    p = learner.predict_proba(params, xs)[:, 1]
    ref = 0.5 * (1 + np.vectorize(math.erf)((mu - 0.8) / np.sqrt(var) / math.sqrt(2)))
    np.testing.assert_allclose(p, ref, atol=2e-3)


def test_lengthscale_is_the_marginal_likelihood_argmax_and_interval_probability():
    x, v, buffer, xs = _data(n=30, seed=1)
    grid = (0.05, 0.1, 0.2, 0.4, 0.8)
    learner = GPConfig(target="value", success=(0.5, 1.2), lengthscale_grid=grid).build((2,))
    params = learner.fit(jax.random.key(0), None, buffer).params
    logliks = [_reference(x, v, xs, ell, learner.config.noise, "matern52", v.mean())[2] for ell in grid]
    assert float(params["lengthscale"]) == pytest.approx(grid[int(np.argmax(logliks))])
    mean, std = (np.asarray(a, np.float64) for a in learner.latent(params, xs))
    phi = np.vectorize(lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2))))
    np.testing.assert_allclose(learner.predict_proba(params, xs)[:, 1],
                               phi((1.2 - mean) / std) - phi((0.5 - mean) / std), atol=1e-5)


def test_label_target_interpolates_its_labels_and_the_prior_is_uncertain():
    x, _, buffer, _ = _data()
    learner = GPConfig(target="label").build((2,))
    params = learner.fit(jax.random.key(0), None, buffer).params
    assert np.array_equal(learner.predict_proba(params, x).argmax(1), buffer.y[:buffer.size])
    prior = learner.init(jax.random.key(0)).params
    np.testing.assert_allclose(learner.predict_proba(prior, x), 0.5, atol=1e-6)
    mean, std = learner.latent(prior, x)
    np.testing.assert_allclose(np.asarray(mean), 0.0) and np.testing.assert_allclose(np.asarray(std), 1.0, rtol=1e-4)


def test_empty_slots_change_nothing_and_nan_values_are_left_out():
    x, v, buffer, xs = _data()
    learner = GPConfig(target="value", success=(0.8, math.inf)).build((2,))
    big = LabeledBuffer.empty((2,), minimum_capacity=256)
    big.add(x, buffer.y[:buffer.size], 0, v)
    a = learner.fit(jax.random.key(0), None, buffer).params
    b = learner.fit(jax.random.key(1), None, big).params
    for got, want in zip(learner.latent(b, xs), learner.latent(a, xs)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)
    with_gap = buffer.copy()
    with_gap.add(np.array([[0.5, 0.5]]), np.array([1]), 1, np.array([np.nan]))  # a label without a value
    c = learner.fit(jax.random.key(0), None, with_gap).params
    np.testing.assert_allclose(np.asarray(learner.latent(c, xs)[0]), np.asarray(learner.latent(a, xs)[0]), rtol=1e-5)
    only_labels = LabeledBuffer.empty((2,))
    only_labels.add(x, buffer.y[:buffer.size], 0)
    with pytest.raises(ValueError, match=r"Answer\.value"):
        learner.fit(jax.random.key(0), None, only_labels)


def test_fit_compiles_once_per_capacity_bucket():
    learner = GPConfig(target="label", kernel="rbf").build((3,))
    rng = np.random.default_rng(0)
    buffer = LabeledBuffer.empty((3,))
    before = gp_module.TRACE_COUNTS["fit"]
    for _ in range(100):  # 1 -> 100 labels: buckets 64 and 128
        x = rng.uniform(0, 1, (1, 3))
        buffer.add(x, (x[:, 0] > 0.5).astype(np.int32), 0)
        learner.fit(jax.random.key(0), None, buffer)
    assert gp_module.TRACE_COUNTS["fit"] - before == 2


def test_straddle_by_hand_and_through_the_scorer():
    got = straddle(jnp.array([0.0, 1.0, 3.0]), jnp.array([1.0, 1.0, 0.5]), (1.0, 2.0))
    np.testing.assert_allclose(np.asarray(got), [1.96 - 1.0, 1.96, 0.98 - 1.0], rtol=1e-6)
    x, v, buffer, xs = _data()
    learner = GPConfig(target="value", success=(0.5, 1.2)).build((2,))
    params = learner.fit(jax.random.key(0), None, buffer).params
    mean, std = learner.latent(params, xs)
    np.testing.assert_allclose(score_points(learner, Scorer("straddle"), params, xs),
                               np.asarray(straddle(mean, std, (0.5, 1.2))), rtol=1e-4, atol=1e-4)
    mlp = LearnerConfig(hidden=(4,), members=2).build((2,), 2)
    with pytest.raises(ValueError, match="needs a learner with a latent mean"):
        score_points(mlp, Scorer("straddle"), mlp.init(jax.random.key(0)).params, xs)


def _ctx(learner, params, buffer, pool=None):
    grid = np.zeros((1, 2), np.float32)
    problem = Problem(name="toy", feature_shape=(2,), classes=(0, 1), evaluator=GridEvaluator(grid, np.zeros(1, int)),
                      bounds=(np.zeros(2, np.float32), np.ones(2, np.float32)), pool=pool)
    available = None if pool is None else np.ones(len(pool), bool)
    return RoundContext(round_index=3, learner=learner, params=params, problem=problem, available=available,
                        buffer=buffer)


def test_straddle_synthesis_climbs_inside_the_box_and_pool_straddle_takes_the_argmax():
    x, v, buffer, _ = _data()
    learner = GPConfig(target="value", success=(0.8, math.inf)).build((2,))
    params = learner.fit(jax.random.key(0), None, buffer).params
    synth = InputSynthesis(measure="straddle", starts=32, steps=30, min_distance=0.05)
    q, _ = synth.select(jax.random.key(2), _ctx(learner, params, buffer), 4, None)
    assert q.x.shape == (4, 2) and np.all((q.x >= 0) & (q.x <= 1))
    assert np.all(q.extra["acquisition_after"] >= q.extra["acquisition_before"] - 1e-6)
    assert np.all(q.extra["acquisition_after"] > 0)  # each query's interval straddles the level
    pool = np.random.default_rng(3).uniform(0, 1, (500, 2)).astype(np.float32)
    q, _ = PoolSampling(measure="straddle").select(jax.random.key(0), _ctx(learner, params, buffer, pool), 1, None)
    assert int(q.pool_index[0]) == int(np.argmax(score_points(learner, Scorer("straddle"), params, pool)))


def test_learner_config_errors_name_the_field():
    with pytest.raises(ValueError, match="learner.target"):
        LearnerConfig(model="gp", target="margin")
    with pytest.raises(ValueError, match="apply to model = 'gp' only"):
        LearnerConfig(model="mlp", target="value")
    with pytest.raises(ValueError, match="learner.success"):
        LearnerConfig(model="gp", target="value", success=(2.0, 1.0))
    with pytest.raises(ValueError, match="two classes"):
        LearnerConfig(model="gp", target="value", success=(0.0, 1.0)).build((2,), 3)
    with pytest.raises(ValueError, match="learner.lengthscale"):
        LearnerConfig(model="gp", kernel="nngp", lengthscale=0.5)
    with pytest.raises(ValueError, match="learner.depth"):
        LearnerConfig(model="gp", kernel="nngp", depth=0)
    with pytest.raises(ValueError, match="apply to model = 'gp' only"):
        LearnerConfig(model="mlp", depth=2)
    with pytest.raises(ValueError, match="learner.success"):
        LearnerConfig(model="gp", target="value").build((2,), 2)  # no interval and no simulator to ask
    built = LearnerConfig(model="gp", target="value").build((2,), 2, (1.85, 2.15))
    assert built.levels == (1.85, 2.15)


TABLE = {
    "name": "throw_gp", "seeds": [0], "targets": [0.95], "at_labels": [16],
    "data": {"name": "simulator", "args": {"simulator": "projectile", "pool_size": 300, "grid": 60}},
    "oracle": {"kind": "simulator"},
    "learner": {"model": "gp", "target": "value"},
    "loop": {"budget": 16, "seed_size": 4, "seed_strategy": "stratified", "batch_size": 2, "fsync": False},
    "strategies": [{"kind": "input_synthesis", "measure": "straddle", "starts": 64, "steps": 20},
                   {"kind": "random"}],
}


def test_level_set_run_from_simulator_values_beats_random(tmp_path):
    """The projectile's landing distance, regressed by the GP: straddle synthesis finds the band."""
    run = run_experiment(parse_config(copy.deepcopy(TABLE)), tmp_path, progress=False)
    f1 = {name: by_seed[0].history[-1]["f1"] for name, by_seed in run.results.items()}
    assert f1["input_synthesis-straddle"] > 0.9 and f1["input_synthesis-straddle"] > f1["random"] + 0.1  # 0.94 vs 0.74
    # every answer's value reached the buffer, and the checkpoint keeps it (for resume)
    seed_dir = run.path / "input_synthesis-straddle" / "seed-0"
    logged = [r["value"] for r in read_label_log(seed_dir / "labels.jsonl") if r.get("status") == "ok"]
    arrays, meta = load_checkpoint(seed_dir / "checkpoint")
    assert len(logged) == meta["buffer_size"] == 16
    np.testing.assert_allclose(arrays["buffer_value"][:16], logged, rtol=1e-6)
    bad = copy.deepcopy(TABLE)
    bad["learner"] = {"model": "gp", "target": "value", "kernel": "cubic"}
    with pytest.raises(ConfigError, match="learner.kernel"):
        parse_config(bad)


def test_a_checkpoint_from_before_the_inverse_factor_still_loads():
    """The variance is a product with L⁻¹ kept at the fit; a state written without it (the old
    layout: its other leaves in the same order) is restored with L⁻¹ rebuilt from L."""
    from qsynth.session_state import load_learner_state

    learner = GPConfig().build((2,))
    rng = np.random.default_rng(0)
    buf = LabeledBuffer.empty((2,))
    x = rng.uniform(0, 1, (15, 2)).astype(np.float32)
    buf.add(x, (x[:, 0] > 0.5).astype(np.int32), 0)
    state = learner.fit(jax.random.key(0), None, buf)
    old = {k: v for k, v in state.params.items() if k != "inverse_factor"}
    arrays = {f"state_{i:04d}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(old))}
    restored = load_learner_state(learner, arrays, "old checkpoint")
    probe = jnp.asarray(rng.uniform(0, 1, (9, 2)), jnp.float32)
    np.testing.assert_allclose(restored.params["inverse_factor"], state.params["inverse_factor"], atol=1e-6)
    np.testing.assert_allclose(learner.latent(restored.params, probe)[1], learner.latent(state.params, probe)[1],
                               rtol=1e-6)
    # and the product gives the triangular solve's variance
    k = learner._cross_covariance(state.params, probe)
    v = jax.scipy.linalg.solve_triangular(state.params["chol"], k.T, lower=True)
    var = state.params["signal"] * jnp.maximum(1.0 - jnp.sum(v * v, axis=0), 1e-10)
    np.testing.assert_allclose(learner.latent(state.params, probe)[1], np.sqrt(var), rtol=1e-4)


def _loo_log_probits(x, t, ell, r):
    """Each label's log Φ(tᵢ μ₋ᵢ/σ₋ᵢ) `[n]`, refitting without it, in float64."""
    s2 = t @ np.linalg.solve(_matern52(x, x, ell) + r * np.eye(len(x)), t) / len(x)  # the fit's signal
    out = np.empty(len(x))
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        k = _matern52(x[keep], x[keep], ell) + r * np.eye(keep.sum())
        ks = _matern52(x[i:i + 1], x[keep], ell)[0]
        mean = ks @ np.linalg.solve(k, t[keep])
        var = s2 * (1.0 + r - ks @ np.linalg.solve(k, ks))
        out[i] = math.log(max(0.5 * math.erfc(-t[i] * mean / math.sqrt(var) / math.sqrt(2)), 1e-300))
    return out


def test_lengthscale_by_loo_picks_the_brute_force_leave_one_out_choice():
    """lengthscale_by = "loo": the lengthscale whose refits without each label classify it best
    (Σ log Φ(yᵢ μ₋ᵢ/σ₋ᵢ)), found by refitting n times per candidate in float64."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (25, 2))
    y = (x[:, 0] + 0.3 * np.sin(6 * x[:, 1]) > 0.5).astype(np.int32)
    grid = (0.05, 0.1, 0.2, 0.4, 0.8)
    learner = GPConfig(lengthscale_grid=grid, lengthscale_by="loo").build((2,))
    buf = LabeledBuffer.empty((2,))
    buf.add(x.astype(np.float32), y, 0)
    chosen = float(learner.fit(jax.random.key(0), None, buf).params["lengthscale"])
    t, r = 2.0 * y - 1.0, learner.config.noise + 1e-6
    assert chosen == pytest.approx(max(grid, key=lambda ell: _loo_log_probits(x, t, ell, r).sum()), rel=1e-6)
    by_likelihood = GPConfig(lengthscale_grid=grid).build((2,)).fit(jax.random.key(0), None, buf)
    assert float(by_likelihood.params["lengthscale"]) != pytest.approx(chosen)  # (here the two criteria differ)
    with pytest.raises(ValueError, match="needs target = 'label'"):
        GPConfig(target="value", success=(0.0, 1.0), lengthscale_by="loo")


def test_lengthscale_by_loo_balanced_weighs_each_class_alike():
    """lengthscale_by = "loo_balanced": the same leave-one-out probits, each class's summed with
    weight n / (2 n_class), so a rare class counts as much as the common one (brute force)."""
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 1, (30, 2))
    y = ((x[:, 0] - 0.7) ** 2 + (x[:, 1] - 0.6) ** 2 < 0.04).astype(np.int32)  # a small disc: 4 of 30
    grid = (0.03, 0.06, 0.12, 0.25, 0.5, 1.0)
    buf = LabeledBuffer.empty((2,))
    buf.add(x.astype(np.float32), y, 0)
    t = 2.0 * y - 1.0
    counts = np.bincount(y, minlength=2)
    weight = len(y) / (2.0 * counts[y])
    chosen = {by: float(GPConfig(lengthscale_grid=grid, lengthscale_by=by).build((2,)).fit(
        jax.random.key(0), None, buf).params["lengthscale"]) for by in ("loo", "loo_balanced")}
    r = GPConfig().noise + 1e-6
    logs = {ell: _loo_log_probits(x, t, ell, r) for ell in grid}
    assert counts[1] == 4
    assert chosen["loo"] == pytest.approx(max(grid, key=lambda ell: logs[ell].sum()), rel=1e-6)
    assert chosen["loo_balanced"] == pytest.approx(max(grid, key=lambda ell: (weight * logs[ell]).sum()), rel=1e-6)
    assert chosen["loo_balanced"] != pytest.approx(chosen["loo"])  # (here the weighing changes the choice)


def test_ard_lengthscales_find_the_dimension_that_matters_and_never_score_worse():
    """ard_steps: one lengthscale per input dimension. On labels that depend on x₀ only, the
    other dimensions' lengthscales grow past x₀'s, the log marginal likelihood (float64, NumPy,
    the fit's own profile form) is at least the grid's best, and the posterior is that of the
    anisotropic kernel."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (60, 3))
    y = (np.sin(6 * x[:, 0]) > 0).astype(np.int32)
    buf = LabeledBuffer.empty((3,))
    buf.add(x.astype(np.float32), y, 0)
    t, r = 2.0 * y - 1.0, 1e-4 + 1e-6

    def loglik(ell):  # the profile log marginal likelihood of the ±1 targets, ell scalar or [3]
        k = _matern52(x / ell, x / ell, 1.0) + r * np.eye(len(x))
        s2 = t @ np.linalg.solve(k, t) / len(x)
        return -0.5 * len(x) * math.log(s2) - 0.5 * np.linalg.slogdet(k)[1]

    grid_fit = GPConfig().build((3,)).fit(jax.random.key(0), None, buf).params
    ard = GPConfig(ard_steps=30).build((3,))
    params = ard.fit(jax.random.key(0), None, buf).params
    ell = np.asarray(params["lengthscale"], np.float64)
    assert ell.shape == (3,) and ell[1] > 3 * ell[0] and ell[2] > 3 * ell[0]
    assert loglik(ell) >= loglik(float(grid_fit["lengthscale"])) - 1e-3
    test = rng.uniform(0, 1, (5, 3))
    k = _matern52(x / ell, x / ell, 1.0) + r * np.eye(len(x))
    want = _matern52(test / ell, x / ell, 1.0) @ np.linalg.solve(k, t)
    np.testing.assert_allclose(np.asarray(ard.latent(params, jnp.asarray(test, jnp.float32))[0]), want,
                               rtol=2e-3, atol=2e-3)
    assert ard.init(jax.random.key(0)).params["lengthscale"].shape == (3,)  # (checkpoints keep one shape)
    with pytest.raises(ValueError, match="ard_steps"):
        GPConfig(ard_steps=10, lengthscale=0.3)
    with pytest.raises(ValueError, match="ard_steps"):
        GPConfig(ard_steps=10, kernel="nngp")


def test_lengthscale_peak_shortest_takes_the_top_of_the_first_hill():
    """lengthscale_peak = "shortest": from the first index where the criterion rises, the first one
    it does not rise after (the argmax where it never rises); the fit takes the grid's value there."""
    for values, top in [([-27, -28, -20, -12, -13, -14, -11], 3), ([1, 2, 3], 2), ([3, 2, 1], 0),
                        ([-5, -3, -3, -1], 1), ([0, 0, 0], 0), ([-np.inf, -2, -1, -3], 2)]:
        assert int(gp_module.first_peak(jnp.asarray(values, jnp.float32))) == top, values
    rng = np.random.default_rng(2)  # labels crowded on both sides of a curve, as synthesis leaves them
    s, side = rng.uniform(0, 1, 24), rng.choice([-1, 1], 24)
    x = np.concatenate([rng.uniform(0, 1, (6, 2)),
                        np.stack([0.5 + 0.25 * np.sin(3 * s) + side * rng.uniform(0.005, 0.04, 24), s], 1)])
    y = (x[:, 0] > 0.5 + 0.25 * np.sin(3 * x[:, 1])).astype(np.int32)
    y[rng.choice(len(y), 2, replace=False)] ^= 1
    buf = LabeledBuffer.empty((2,))
    buf.add(x.astype(np.float32), y, 0)
    grid = tuple(float(v) for v in np.geomspace(0.02, 1.0, 16))
    chosen = {}
    for peak in ("highest", "shortest"):
        learner = GPConfig(lengthscale_grid=grid, lengthscale_by="loo", lengthscale_peak=peak).build((2,))
        chosen[peak] = float(learner.fit(jax.random.key(0), None, buf).params["lengthscale"])
    t, r = 2.0 * y - 1.0, 1e-4 + 1e-6  # the LOO probit likelihood in closed form (checked against refits above)
    curve = []
    for ell in grid:
        inverse = np.linalg.inv(_matern52(x, x, ell) + r * np.eye(len(x)))
        alpha, diag = inverse @ t, np.diagonal(inverse)
        z = t * (t - alpha / diag) / np.sqrt((t @ alpha / len(x)) / diag)
        curve.append(sum(math.log(0.5 * math.erfc(-v / math.sqrt(2))) for v in z))
    assert chosen["highest"] == pytest.approx(grid[int(np.argmax(curve))], rel=1e-6)
    assert chosen["shortest"] == pytest.approx(grid[int(gp_module.first_peak(jnp.asarray(curve)))], rel=1e-6)
    assert chosen["shortest"] < chosen["highest"]  # (here the LOO curve has two hills)
    with pytest.raises(ValueError, match="lengthscale_peak must be 'highest' or 'shortest'"):
        GPConfig(lengthscale_peak="lowest")
