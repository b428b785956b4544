import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from qsynth.data import LabeledBuffer, capacity_for
from qsynth.learners import TRACE_COUNTS, LearnerConfig
from qsynth.learners.learner import _masked_cross_entropy
from tests.helpers import TINY, tiny_moons


def _buffer(data, n):
    buf = LabeledBuffer.empty(data.feature_shape)
    buf.add(data.x[:n], data.y[:n], 0)
    return buf


def test_probs_shape_and_normalization(key):
    data = tiny_moons()
    learner = TINY.build(data.feature_shape, 2)
    state = learner.fit(key, None, _buffer(data, 20))
    p = learner.probs(state.params, data.x_test[:7])
    assert p.shape == (3, 7, 2)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    assert not np.allclose(p[0], p[1])  # members differ
    mean = learner.predict_proba(state.params, data.x_test)
    assert mean.shape == (len(data.x_test), 2)
    np.testing.assert_allclose(mean[:7], np.asarray(p.mean(0)), atol=1e-6)  # the committee mean, row for row
    member_mean = np.asarray(learner.probs(state.params, data.x_test)).mean(0)
    np.testing.assert_allclose(mean, member_mean, atol=1e-6)


def test_compiles_once_per_capacity_bucket_as_labels_grow(key):
    """Labeled set growing 2 -> 300: at most one fit compilation per capacity bucket (64, 128, 256, 512)."""
    data = tiny_moons(0, n=320)
    learner = LearnerConfig(model="mlp", hidden=(4,), members=2, steps=3, warm_steps=2).build((2,), 2)
    buf = LabeledBuffer.empty((2,))
    state = None
    before = TRACE_COUNTS["fit"]
    buf.add(data.x[:2], data.y[:2], 0)
    buckets = {buf.capacity}
    state = learner.fit(key, state, buf)
    for n in range(3, 301):
        buf.add(data.x[n - 1:n], data.y[n - 1:n], n)
        buckets.add(buf.capacity)
        state = learner.fit(jax.random.fold_in(key, n), state, buf)
    assert buckets == {64, 128, 256, 512}
    assert TRACE_COUNTS["fit"] - before <= len(buckets)


def test_masked_loss_equals_loss_on_sliced_data():
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(64, 3)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, 3, 64).astype(np.int32))
    mask = jnp.asarray((np.arange(64) < 23).astype(np.float32))
    sliced = optax.softmax_cross_entropy_with_integer_labels(logits[:23], y[:23]).mean()
    np.testing.assert_allclose(_masked_cross_entropy(logits, y, mask), sliced, rtol=1e-6)


def test_padding_does_not_change_the_fit(key):
    """Training on a buffer padded to 64 or to 128 slots gives the same parameters."""
    data = tiny_moons()
    learner = TINY.build((2,), 2)
    small = _buffer(data, 30)
    big = LabeledBuffer.empty((2,), minimum_capacity=128)
    big.add(data.x[:30], data.y[:30], 0)
    a = learner.fit(key, None, small)
    b = learner.fit(key, None, big)
    for u, v in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(u, v, atol=1e-5)


def test_members_train_independently(key):
    """A member trained inside the stack equals the same member trained alone (vmapped optimizer)."""
    data = tiny_moons()
    cfg = LearnerConfig(model="mlp", hidden=(8,), members=3, steps=15, learning_rate=0.05)
    stack = cfg.build((2,), 2)
    buf = _buffer(data, 25)
    k_init, k_fit = jax.random.split(key)
    init = stack.init(k_init)
    from qsynth.learners.learner import _fit
    trained, _ = _fit(stack, init.params["net"], init.opt_state, buf.x, buf.y, buf.mask, k_fit, jnp.int32(15),
                      jnp.int32(0))
    solo = LearnerConfig(model="mlp", hidden=(8,), members=1, steps=15, learning_rate=0.05).build((2,), 2)
    take = lambda tree, i: jax.tree.map(lambda a: a[i:i + 1], tree)  # noqa: E731
    for i in range(3):
        alone, _ = _fit(solo, take(init.params["net"], i), take(init.opt_state, i), buf.x, buf.y, buf.mask, k_fit,
                        jnp.int32(15), jnp.int32(0))
        for u, v in zip(jax.tree.leaves(alone), jax.tree.leaves(take(trained, i))):
            np.testing.assert_allclose(u, v, atol=1e-5)


@pytest.mark.parametrize("windows", ["2", "3"])
def test_a_fit_split_into_windows_equals_the_fit_of_the_whole_stack(key, monkeypatch, windows):
    """Members trained in windows (5 members: 0-2 and 2-4, or 0-1, 2-3, 3-4) get the same
    bootstrap weights, dropout and minibatches as in one program: the same result, to rounding."""
    data = tiny_moons()
    cfg = LearnerConfig(model="mlp", hidden=(8,), members=5, dropout=0.3, steps=12, batch_size=8, bootstrap=True)
    learner = cfg.build((2,), 2)
    buf = _buffer(data, 20)
    monkeypatch.setenv("QSYNTH_WINDOWS", "1")
    whole = learner.fit(key, None, buf)
    monkeypatch.setenv("QSYNTH_WINDOWS", windows)
    monkeypatch.setenv("QSYNTH_THREADS", windows)
    split = learner.fit(key, None, buf)
    again = learner.fit(key, None, buf)  # the windows' program is compiled now: they run side by side
    for u, v, w in zip(jax.tree.leaves(whole), jax.tree.leaves(split), jax.tree.leaves(again)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(np.asarray(v), np.asarray(w))


@pytest.mark.parametrize("windows", ["1", "2", "3"])
def test_the_thread_count_never_changes_a_fit(key, monkeypatch, windows):
    """For a given split into windows, how many threads run them changes nothing, bitwise (so a
    process pinned to fewer threads — a sweep's worker — computes what an unpinned one does)."""
    data = tiny_moons()
    cfg = LearnerConfig(model="mlp", hidden=(8,), members=5, dropout=0.3, steps=12, batch_size=8, bootstrap=True)
    learner = cfg.build((2,), 2)
    buf = _buffer(data, 20)
    monkeypatch.setenv("QSYNTH_WINDOWS", windows)
    fits = []
    for threads in ("1", "2", "3", "1"):
        monkeypatch.setenv("QSYNTH_THREADS", threads)
        fits.append(jax.tree.leaves(learner.fit(key, None, buf)))
    for other in fits[1:]:
        for u, v in zip(fits[0], other):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


@pytest.mark.parametrize("value", ["0", "two"])
def test_a_bad_thread_or_window_count_is_named(monkeypatch, value):
    from qsynth._parallel import threads, windows
    monkeypatch.setenv("QSYNTH_THREADS", value)
    with pytest.raises(ValueError, match="QSYNTH_THREADS must be a positive integer"):
        threads()
    monkeypatch.setenv("QSYNTH_WINDOWS", value)
    with pytest.raises(ValueError, match="QSYNTH_WINDOWS must be a positive integer"):
        windows()


def test_member_windows_cover_every_member_once_with_equal_sizes():
    from qsynth._parallel import member_windows
    assert member_windows(5, 2) == [(0, 3), (2, 3)]
    assert member_windows(4, 2) == [(0, 2), (2, 2)]
    assert member_windows(5, 3) == [(0, 2), (2, 2), (3, 2)]
    assert member_windows(1, 2) == [(0, 1)]
    assert member_windows(3, 8) == [(0, 1), (1, 1), (2, 1)]
    for members in range(1, 12):
        for groups in range(1, 6):
            windows = member_windows(members, groups)
            assert len({size for _, size in windows}) == 1 and len(windows) <= groups
            assert set().union(*(range(s, s + n) for s, n in windows)) == set(range(members))


def test_learners_fit_separable_data(key):
    data = tiny_moons(0, n=200)
    for cfg in (TINY, LearnerConfig(model="logreg", members=2, steps=100, learning_rate=0.1),
                LearnerConfig(model="mlp", hidden=(16,), posterior="mc_dropout", dropout=0.1, members=4, steps=150,
                              learning_rate=0.05)):
        learner = cfg.build((2,), 2)
        state = learner.fit(key, None, _buffer(data, 200))
        acc = np.mean(learner.predict_proba(state.params, data.x_test).argmax(1) == data.y_test)
        assert acc > 0.8, cfg


def test_mc_dropout_committee_is_a_fixed_function_of_params(key):
    data = tiny_moons()
    learner = LearnerConfig(model="mlp", hidden=(16,), posterior="mc_dropout", dropout=0.3, members=6,
                            steps=20).build((2,), 2)
    state = learner.fit(key, None, _buffer(data, 30))
    p1, p2 = learner.probs(state.params, data.x_test[:5]), learner.probs(state.params, data.x_test[:5])
    np.testing.assert_array_equal(p1, p2)
    assert p1.shape == (6, 5, 2) and not np.allclose(p1[0], p1[1])


def test_cnn_on_images(key):
    learner = LearnerConfig(model="cnn", hidden=(16,), members=2, steps=5).build((8, 8, 1), 3)
    buf = LabeledBuffer.empty((8, 8, 1))
    buf.add(np.random.default_rng(0).normal(size=(10, 8, 8, 1)), np.arange(10) % 3, 0)
    state = learner.fit(key, None, buf)
    assert learner.probs(state.params, np.zeros((4, 8, 8, 1), np.float32)).shape == (2, 4, 3)
    seq = LearnerConfig(model="cnn", hidden=(16,), members=1, steps=2).build((40, 1), 10)
    assert seq.probs(seq.init(key).params, np.zeros((3, 40, 1), np.float32)).shape == (1, 3, 10)


def test_cnn_trains_in_unrolled_blocks_exactly_like_the_loop_program(key, monkeypatch):
    """A CNN's fit runs in blocks of CONV_BLOCK unrolled steps (XLA's CPU convolution gradient is
    ~10x slower inside a while loop); the steps, keys, bootstrap weights and MC key are the loop's.
    (Blocks of 3 here, not 10: the unrolled program compiles in a third of the time.)"""
    from qsynth.learners import learner as module

    monkeypatch.setattr(module, "CONV_BLOCK", 3)
    for shape, posterior in (((8, 8, 1), "ensemble"), ((40, 1), "mc_dropout")):
        config = LearnerConfig(model="cnn", hidden=(8,), posterior=posterior, members=2, dropout=0.3, steps=5,
                               batch_size=8, bootstrap=posterior == "ensemble")
        learner = config.build(shape, 3)
        buf = LabeledBuffer.empty(shape)
        buf.add(np.random.default_rng(1).normal(size=(12, *shape)), np.arange(12) % 3, 0)
        got = learner.fit(key, None, buf)  # 5 steps: one full block and one of 2 live steps
        k_init, k_fit = jax.random.split(key)
        init = learner.init(k_init)
        want = module._fit(learner, init.params["net"], init.opt_state, buf.x, buf.y, buf.mask, k_fit,
                           jnp.int32(5), jnp.int32(0))
        assert int(got.params["scratch_size"]) == 12
        for u, v in zip(jax.tree.leaves((got.params["net"], got.opt_state)), jax.tree.leaves(want)):
            np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)


def test_shrink_and_perturb_starts_a_warm_fit_from_the_mix(key):
    data = tiny_moons()
    buf = _buffer(data, 20)
    still = dict(TINY.__dict__, learning_rate=1e-12, weight_decay=0.0, warm_steps=1)
    plain = LearnerConfig(**still).build((2,), 2)
    mixed = LearnerConfig(**{**still, "shrink": 0.5, "perturb": 0.25}).build((2,), 2)
    previous = plain.fit(key, None, buf)
    k2 = jax.random.key(7)
    fresh = mixed.init(jax.random.split(k2)[0]).params["net"]
    got = mixed.fit(k2, previous, buf).params["net"]
    for g, p, f in zip(jax.tree.leaves(got), jax.tree.leaves(previous.params["net"]), jax.tree.leaves(fresh)):
        np.testing.assert_allclose(np.asarray(g), 0.5 * np.asarray(p) + 0.25 * np.asarray(f), atol=1e-6)
    for g, p in zip(jax.tree.leaves(plain.fit(k2, previous, buf).params["net"]),
                    jax.tree.leaves(previous.params["net"])):
        np.testing.assert_allclose(np.asarray(g), np.asarray(p), atol=1e-6)
    with pytest.raises(ValueError, match="learner.shrink"):
        LearnerConfig(shrink=0.0)


def test_warm_start_continues_and_scratch_restarts(key):
    data = tiny_moons()
    buf = _buffer(data, 20)
    warm = TINY.build((2,), 2)
    cold = LearnerConfig(**{**TINY.__dict__, "warm_start": False}).build((2,), 2)
    s1 = warm.fit(key, None, buf)
    s2 = warm.fit(key, s1, buf)
    assert not np.allclose(jax.tree.leaves(s1.params["net"])[0], jax.tree.leaves(s2.params["net"])[0])
    c1 = cold.fit(key, s1, buf)
    c2 = cold.fit(key, None, buf)
    for u, v in zip(jax.tree.leaves(c1.params), jax.tree.leaves(c2.params)):
        np.testing.assert_array_equal(u, v)


def test_restart_growth_retrains_from_scratch_once_the_labeled_set_has_doubled(key):
    """With restart_growth = 2 and fits at 5, 7, 9, 10, 19, 20 labels, the fits at 5, 10 and 20
    are from scratch (identical to a fit with no previous state), the others warm."""
    data = tiny_moons()
    learner = LearnerConfig(**{**TINY.__dict__, "restart_growth": 2.0}).build((2,), 2)
    state, kinds = None, []
    for n in (5, 7, 9, 10, 19, 20):
        buf, k = _buffer(data, n), jax.random.fold_in(key, n)
        new = learner.fit(k, state, buf)
        scratch = learner.fit(k, None, buf)
        same = all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(new.params), jax.tree.leaves(scratch.params)))
        kinds.append("scratch" if same else "warm")
        assert int(new.params["scratch_size"]) == (n if same else int(state.params["scratch_size"]))
        state = new
    assert kinds == ["scratch", "warm", "warm", "scratch", "warm", "scratch"]
    with pytest.raises(ValueError, match="learner.restart_growth"):
        LearnerConfig(restart_growth=1.0)


@pytest.mark.parametrize("field, value, message", [
    ("model", "svm", "learner.model"), ("members", 0, "learner.members"), ("dropout", 1.0, "learner.dropout"),
    ("posterior", "laplace", "learner.posterior"), ("learning_rate", float("nan"), "learner.learning_rate"),
    ("steps", 0, "learner.steps"), ("hidden", (), "learner.hidden"),
])
def test_learner_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        LearnerConfig(**{field: value})
    with pytest.raises(ValueError, match="mc_dropout"):
        LearnerConfig(posterior="mc_dropout")


def test_capacity_for_is_a_power_of_two():
    for n in range(1, 2000, 37):
        c = capacity_for(n)
        assert c >= n and c & (c - 1) == 0 and (c == 64 or c // 2 < n)


def test_minibatch_training_samples_only_filled_slots(key):
    """With batch_size set, a step costs the same at any capacity and never trains on empty slots."""
    data = tiny_moons(0, n=200)
    cfg = LearnerConfig(model="mlp", hidden=(16,), members=2, steps=200, learning_rate=0.05, batch_size=16)
    learner = cfg.build((2,), 2)
    buf = _buffer(data, 200)
    state = learner.fit(key, None, buf)
    acc = np.mean(learner.predict_proba(state.params, data.x_test).argmax(1) == data.y_test)
    assert acc > 0.8
    # empty slots hold garbage labels: a minibatch drawn from them would be visible in the fit
    poisoned = _buffer(data, 3)
    poisoned.x[3:] = 100.0
    poisoned.y[3:] = 1 - data.y[0]
    clean = _buffer(data, 3)
    a, b = learner.fit(key, None, poisoned), learner.fit(key, None, clean)
    for u, v in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(u, v, atol=1e-6)
    with pytest.raises(ValueError, match="learner.batch_size"):
        LearnerConfig(batch_size=0)
