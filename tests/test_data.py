import gzip

import numpy as np
import pytest

from qsynth.data import (Dataset, LabeledBuffer, capacity_for, checkerboard, digits, drifting_halfspace, halfspace,
                         load_idx, load_npz, make_mnist1d, mnist1d, moons, read_idx, stratified_split, write_idx, xor)


def test_halfspace_labels_follow_the_true_normal():
    d = halfspace(3, d=5, n=200, n_test=300)
    w = d.meta["w"]
    assert d.feature_shape == (5,) and np.isclose(np.linalg.norm(w), 1.0)
    np.testing.assert_array_equal(d.y, (d.x @ w > 0).astype(np.int32))
    np.testing.assert_array_equal(d.y_test, (d.x_test @ w > 0).astype(np.int32))
    u = halfspace(3, d=5, n=100, distribution="uniform")
    assert np.all(np.abs(u.x) <= 1.0) and np.all(u.bounds[0] == -1)
    with pytest.raises(ValueError, match="distribution"):
        halfspace(0, distribution="cauchy")


def test_synthetic_datasets_are_seeded_and_balanced():
    a, b = moons(1, n=200), moons(1, n=200)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(moons(2, n=200).x, a.x)
    c = checkerboard(0, n=2000, cells=4)
    ij = ((c.x + 1) / 2 * 4).astype(int)
    np.testing.assert_array_equal(c.y, ij.sum(1) % 2)
    x = xor(0, n=400)
    np.testing.assert_array_equal(x.y, (np.sign(x.x[:, 0]) != np.sign(x.x[:, 1])).astype(int))
    for data in (a, c, x):
        assert 0.35 < data.y.mean() < 0.65


def test_drifting_stream_rotates_the_boundary():
    d = drifting_halfspace(0, d=2, n=1000, n_test=500, rotation_degrees=90)
    w0, w1 = d.meta["drift"]["w_start"], d.meta["drift"]["w_end"]
    assert np.isclose(w0 @ w1, 0.0, atol=1e-9)
    np.testing.assert_array_equal(d.test_labels_at(0.0), (d.x_test @ w0 > 0))
    np.testing.assert_array_equal(d.test_labels_at(1.0), (d.x_test @ w1 > 0))
    # early stream labels follow w0, late ones w1
    assert np.mean(d.y[:50] == (d.x[:50] @ w0 > 0)) > 0.95
    assert np.mean(d.y[-50:] == (d.x[-50:] @ w1 > 0)) > 0.95


def test_digits_split_is_stratified_and_standardized():
    d = digits(0)
    assert d.x.shape == (1297, 64) and d.x_test.shape == (500, 64) and d.classes == tuple(range(10))
    np.testing.assert_allclose(d.x.mean(0), 0, atol=1e-5)
    counts = np.bincount(d.y_test, minlength=10)
    assert counts.min() >= 48 and counts.max() <= 52
    pair = digits(1, classes=(3, 8), n_test=100, as_images=True)
    assert pair.classes == (3, 8) and pair.feature_shape == (8, 8, 1) and set(np.unique(pair.y)) == {3, 8}
    with pytest.raises(ValueError, match="not digits"):
        digits(0, classes=(3, 12))


def test_digits_default_test_size_scales_with_the_subset():
    """Without n_test, a subset holds out the share 500 of 1,797 holds: 99 of 3-vs-8's 357 images."""
    pair = digits(0, classes=(3, 8))
    assert len(pair.x_test) == 99 and len(pair.x) + len(pair.x_test) == 357
    assert len(digits(0).x_test) == 500


def test_stratified_split_keeps_proportions():
    y = np.repeat([0, 1, 2], [100, 50, 10])
    pool, test = stratified_split(y, 32, seed=0)
    assert len(pool) == 128 and len(test) == 32 and not set(pool) & set(test)
    np.testing.assert_array_equal(np.bincount(y[test]), [20, 10, 2])


def test_from_arrays_errors_name_the_problem():
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 2
    d = Dataset.from_arrays(x, y, seed=1)
    assert len(d.x) == 30 and len(d.x_test) == 10
    bad = x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite features"):
        Dataset.from_arrays(bad, y, standardize_features=False)
    with pytest.raises(ValueError, match=r"y has shape \(39,\)"):
        Dataset.from_arrays(x, y[:-1])
    with pytest.raises(ValueError, match="outside classes"):
        Dataset.from_arrays(x, y, classes=(0, 5))


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", x=rng.normal(size=(50, 4)), y=np.arange(50) % 3)
    d = load_npz(tmp_path / "mine.npz")
    assert d.name == "mine" and d.classes == (0, 1, 2) and len(d.x) + len(d.x_test) == 50
    np.savez(tmp_path / "bad.npz", features=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"bad.npz has no array 'x'; it holds \['features'\]"):
        load_npz(tmp_path / "bad.npz")


def test_idx_round_trip_and_mnist_loader(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    labels = (np.arange(60) % 10).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    with open(tmp_path / "train-images-idx3-ubyte", "rb") as f:
        raw = f.read()
    assert raw[:4] == bytes([0, 0, 8, 3]) and int.from_bytes(raw[4:8], "big") == 60
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (60).to_bytes(4, "big") + labels.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "train-images-idx3-ubyte"), images)
    d = load_idx(tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte.gz", test_fraction=0.2)
    assert d.feature_shape == (28, 28, 1) and d.x.max() <= 1.0 and len(d.x_test) == 12
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    (tmp_path / "short").write_bytes(raw[:100])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short")


def test_mnist1d_shapes_and_balance():
    raw = make_mnist1d()
    assert raw["x"].shape == (4000, 40) and raw["x_test"].shape == (1000, 40)
    np.testing.assert_array_equal(np.bincount(np.concatenate([raw["y"], raw["y_test"]])), [500] * 10)
    assert abs(np.concatenate([raw["x"], raw["x_test"]]).std() - 1.0) < 1e-9
    assert mnist1d(as_images=True).feature_shape == (40, 1)


def test_mnist1d_equals_the_published_reference():
    ref = pytest.importorskip("mnist1d.data", reason="the reference package `mnist1d` is not installed")
    expected = ref.make_dataset(ref.get_dataset_args())
    ours = make_mnist1d()
    for k in ("x", "y", "x_test", "y_test"):
        np.testing.assert_allclose(ours[k], expected[k], rtol=0, atol=1e-12)


def test_capacity_buckets_and_buffer_growth():
    assert [capacity_for(n) for n in (1, 64, 65, 128, 129, 300)] == [64, 64, 128, 128, 256, 512]
    buf = LabeledBuffer.empty((2,))
    buf.add(np.ones((60, 2)), np.zeros(60), 0)
    assert buf.capacity == 64 and buf.mask.sum() == 60
    buf.add(2 * np.ones((10, 2)), np.ones(10), 3)
    assert buf.capacity == 128 and buf.size == 70
    np.testing.assert_array_equal(buf.round_added[:72], [0] * 60 + [3] * 10 + [-1, -1])
    np.testing.assert_array_equal(buf.x[60:70], 2.0)
    with pytest.raises(ValueError, match="feature shape"):
        buf.add(np.ones((1, 3)), np.zeros(1), 4)


def test_from_arrays_takes_bounds_in_the_units_of_x_and_standardizes_them_with_it():
    rng = np.random.default_rng(0)
    x = rng.uniform([0.0, 10.0], [1.0, 20.0], size=(200, 2))
    y = (x[:, 0] > 0.5).astype(int)
    raw = Dataset.from_arrays(x, y, bounds=([0, 10], [1, 20]), standardize_features=False)
    assert np.array_equal(raw.bounds[0], [0, 10]) and np.array_equal(raw.bounds[1], [1, 20])
    scaled = Dataset.from_arrays(x, y, bounds=([0, 10], [1, 20]))
    low, high = scaled.bounds
    assert np.all(low <= scaled.x.min(0)) and np.all(high >= scaled.x.max(0))
    # the box maps like the features: a pool point's raw and scaled positions agree in the box
    assert np.allclose((scaled.x - low) / (high - low), (raw.x - raw.bounds[0]) / (raw.bounds[1] - raw.bounds[0]),
                       atol=1e-5)
    with pytest.raises(ValueError, match="bounds must be .low, high. of 2 values each"):
        Dataset.from_arrays(x, y, bounds=([0], [1]))
