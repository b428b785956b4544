"""Datasets as arrays: one function per dataset, all returning the same `Dataset` record.

Synthetic (halfspace, two moons, XOR/checkerboard, a drifting halfspace stream), real and
offline (scikit-learn's bundled 8×8 digits, MNIST-1D in `mnist1d.py`), and user data
(`Dataset.from_arrays`, `.npz`, MNIST-format IDX in `files.py`). Splits are seeded;
standardization statistics come from the pool only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from qsynth._chunks import first_nonfinite_row, unique_values

__all__ = [
    "Dataset",
    "checkerboard",
    "digits",
    "drifting_halfspace",
    "halfspace",
    "moons",
    "standardize",
    "stratified_split",
    "xor",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset: an unlabeled pool (whose labels only an oracle reveals) and a test set.

    Attributes:
      name: a short name for tables and plots.
      x: [n, *feature_shape] float32 pool (train) inputs; for a stream, in arrival order.
      y: [n] int32 pool labels (held by the dataset oracle, never shown to strategies).
      x_test: [m, *feature_shape] float32 held-out inputs.
      y_test: [m] int32 held-out labels.
      classes: the class labels, sorted.
      bounds: optional ([d] low, [d] high) box of the input domain (flat features).
      meta: anything else a generator knows (the true normal of a halfspace, drift schedule).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[int, ...]
    bounds: tuple[np.ndarray, np.ndarray] | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float32)
        x_test = np.asarray(self.x_test, dtype=np.float32)
        y = np.asarray(self.y)
        y_test = np.asarray(self.y_test)
        for field, arr in (("x", x), ("x_test", x_test)):
            if arr.ndim < 2:
                raise ValueError(f"Dataset {self.name!r}: {field} has shape {arr.shape}; expected [n, *feature_shape]")
            bad = first_nonfinite_row(arr)
            if bad is not None:
                raise ValueError(f"Dataset {self.name!r}: {field} has NaN or infinite features (first at row {bad})")
        if x.shape[1:] != x_test.shape[1:]:
            raise ValueError(f"Dataset {self.name!r}: x has feature shape {x.shape[1:]} but x_test has {x_test.shape[1:]}")
        for field, arr, xs in (("y", y, x), ("y_test", y_test, x_test)):
            if arr.shape != (len(xs),):
                raise ValueError(f"Dataset {self.name!r}: {field} has shape {arr.shape}; expected ({len(xs)},)")
            if arr.size and not np.issubdtype(arr.dtype, np.integer) and not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ValueError(f"Dataset {self.name!r}: {field} holds non-integer labels")
        classes = tuple(int(c) for c in self.classes)
        if len(classes) < 2 or list(classes) != sorted(set(classes)):
            raise ValueError(f"Dataset {self.name!r}: classes must be at least two distinct sorted labels, got {classes}")
        for field, arr in (("y", y), ("y_test", y_test)):
            outside = sorted(set(unique_values(arr)) - set(classes))
            if outside:
                raise ValueError(f"Dataset {self.name!r}: {field} holds labels {outside} outside classes {classes}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "x_test", x_test)
        object.__setattr__(self, "y", y.astype(np.int32, copy=False))
        object.__setattr__(self, "y_test", y_test.astype(np.int32, copy=False))
        object.__setattr__(self, "classes", classes)
        if self.bounds is not None:
            low, high = (np.asarray(b, dtype=np.float32) for b in self.bounds)
            if low.shape != high.shape or low.shape != (int(np.prod(x.shape[1:])),):
                raise ValueError(f"Dataset {self.name!r}: bounds have shapes {low.shape}, {high.shape}; "
                                 f"expected ({int(np.prod(x.shape[1:]))},) each")
            if np.any(low > high):
                raise ValueError(f"Dataset {self.name!r}: bounds have low > high at {np.flatnonzero(low > high).tolist()}")
            object.__setattr__(self, "bounds", (low, high))

    def __reduce_ex__(self, protocol: Any) -> Any:
        if "reopen" in self.meta:  # memory-mapped files (`qsynth.data.npy`): another process maps them too
            from qsynth.data.npy import reopen

            return reopen, (self.meta["reopen"],)
        return object.__reduce_ex__(self, protocol)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def test_labels_at(self, progress: float) -> np.ndarray:
        """Test labels of the concept in force at `progress` ∈ [0, 1] of the stream (drifting data)."""
        drift = self.meta.get("drift")
        if drift is None:
            return self.y_test
        w = _rotate(drift["w_start"], drift["w_end"], float(np.clip(progress, 0.0, 1.0)))
        return (self.x_test.reshape(len(self.x_test), -1) @ w > 0).astype(np.int32)

    @classmethod
    def from_arrays(cls, x: Any, y: Any, x_test: Any = None, y_test: Any = None, *, name: str = "arrays",
                    test_fraction: float = 0.25, seed: int = 0, standardize_features: bool = True,
                    classes: tuple[int, ...] | None = None, bounds: tuple[Any, Any] | None = None) -> Dataset:
        """A dataset from user arrays; with no test set, a stratified seeded split makes one.

        Args:
          x: [n, *feature_shape] inputs. y: [n] integer labels.
          x_test, y_test: optional held-out set (both or neither).
          test_fraction: the share held out when no test set is given.
          seed: seeds the split.
          standardize_features: scale each feature to zero mean, unit variance (pool statistics).
          classes: the class set; by default the sorted labels seen.
          bounds: optional (low [d], high [d]) box of the flat inputs, in the units of `x`
            (standardized with the features), for strategies that synthesize inputs.
        """
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        if x.ndim < 2:
            raise ValueError(f"x has shape {x.shape}; expected [n, *feature_shape]")
        if y.shape != (len(x),):
            raise ValueError(f"y has shape {y.shape}; expected ({len(x)},) to match x")
        if (x_test is None) != (y_test is None):
            raise ValueError("give both x_test and y_test, or neither")
        if x_test is None:
            if not 0.0 < test_fraction < 1.0:
                raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
            pool_idx, test_idx = stratified_split(y, round(len(y) * test_fraction), seed)
            x, y, x_test, y_test = x[pool_idx], y[pool_idx], x[test_idx], y[test_idx]
        x_test = np.asarray(x_test, dtype=np.float32)
        y_test = np.asarray(y_test)
        box = None
        if bounds is not None:
            low, high = (np.asarray(b, dtype=np.float64).reshape(-1) for b in bounds)
            box = np.stack([low, high]) if low.shape == high.shape else None
            if box is None or box.shape[1] != int(np.prod(x.shape[1:])):
                raise ValueError(f"bounds must be (low, high) of {int(np.prod(x.shape[1:]))} values each (the flat "
                                 f"features), got shapes {low.shape} and {high.shape}")
        if standardize_features:
            if box is not None:  # the box goes through the same affine map as the features
                mean, std = _feature_stats(x)
                box = (box - mean.reshape(1, -1)) / std.reshape(1, -1)
            x, x_test = standardize(x, x_test)
        if classes is None:
            classes = tuple(sorted(set(np.unique(y).astype(int).tolist()) | set(np.unique(y_test).astype(int).tolist())))
        return cls(name=name, x=x, y=y, x_test=x_test, y_test=y_test, classes=classes,
                   bounds=None if box is None else (box[0], box[1]))


def _feature_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std [1, *feature_shape] of `x` (std 1 for constant features)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = x.mean(axis=0, keepdims=True)
        std = x.std(axis=0, keepdims=True)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))) and np.all(np.isfinite(x)):
        x = x.astype(np.float64)  # values near float32's limit (1e38): their squares overflow it
        mean, std = x.mean(axis=0, keepdims=True), x.std(axis=0, keepdims=True)
    return mean, np.where(std > 1e-8, std, 1.0)


def standardize(x: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Zero mean, unit variance per feature, with statistics from `x` (constant features keep scale 1)."""
    mean, std = _feature_stats(x)
    return tuple(((a - mean) / std).astype(np.float32) for a in (x, *others))


def stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (pool, test) with class proportions kept; seeded.

    Returns:
      pool_idx [n - n_test], test_idx [n_test], each sorted.
    """
    y = np.asarray(y)
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}), got {n_test}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = np.floor(counts * n_test / len(y)).astype(int)
    remainder = counts * n_test / len(y) - quota
    for i in np.argsort(-remainder, kind="stable")[: n_test - quota.sum()]:
        quota[i] += 1
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)])
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def digits_default_test_size(images: int) -> int:
    """The held-out size `digits` uses without `n_test`: `DIGITS_TEST_SHARE` of `images` (500 of 1,797)."""
    return max(1, round(images * DIGITS_TEST_SHARE))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def halfspace(seed: int = 0, *, d: int = 2, n: int = 1000, n_test: int = 10_000,
              distribution: str = "gaussian") -> Dataset:
    """A homogeneous halfspace in `d` dimensions: `y = [w*·x > 0]`, `w*` a random unit normal.

    Args:
      distribution: "gaussian" (x ~ N(0, I)) or "uniform" (x uniform in [-1, 1]^d; then
        `bounds` is that cube).
    The true normal is in `meta["w"]`.
    """
    if d < 1:
        raise ValueError(f"halfspace: d must be >= 1, got {d}")
    if distribution not in ("gaussian", "uniform"):
        raise ValueError(f"halfspace: distribution must be 'gaussian' or 'uniform', got {distribution!r}")
    rng = np.random.default_rng(seed)
    w = _unit(rng.standard_normal(d))

    def draw(k: int) -> np.ndarray:
        return rng.standard_normal((k, d)) if distribution == "gaussian" else rng.uniform(-1, 1, (k, d))

    x, x_test = draw(n), draw(n_test)
    bounds = None
    if distribution == "uniform":
        bounds = (-np.ones(d), np.ones(d))
    else:
        bounds = (-4.0 * np.ones(d), 4.0 * np.ones(d))
    return Dataset(name=f"halfspace-d{d}", x=x, y=(x @ w > 0), x_test=x_test, y_test=(x_test @ w > 0),
                   classes=(0, 1), bounds=bounds, meta={"w": w})


def moons(seed: int = 0, *, n: int = 500, n_test: int = 1000, noise: float = 0.15) -> Dataset:
    """Two interleaving half circles in 2-D (the scikit-learn construction), with Gaussian noise."""
    rng = np.random.default_rng(seed)

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, k)
        t = rng.uniform(0, np.pi, k)
        x = np.where(y[:, None] == 0,
                     np.stack([np.cos(t), np.sin(t)], 1),
                     np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
        return x + noise * rng.standard_normal((k, 2)), y

    x, y = draw(n)
    x_test, y_test = draw(n_test)
    return Dataset(name="moons", x=x, y=y, x_test=x_test, y_test=y_test, classes=(0, 1),
                   bounds=(np.array([-1.5, -1.0]), np.array([2.5, 1.5])))


def checkerboard(seed: int = 0, *, n: int = 1000, n_test: int = 2000, cells: int = 4) -> Dataset:
    """A `cells × cells` checkerboard on [-1, 1]^2, points uniform; class = cell parity."""
    if cells < 2:
        raise ValueError(f"checkerboard: cells must be >= 2, got {cells}")
    rng = np.random.default_rng(seed)

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-1, 1, (k, 2))
        ij = np.minimum(((x + 1) / 2 * cells).astype(int), cells - 1)
        return x, (ij.sum(1) % 2)

    x, y = draw(n)
    x_test, y_test = draw(n_test)
    return Dataset(name=f"checkerboard-{cells}", x=x, y=y, x_test=x_test, y_test=y_test, classes=(0, 1),
                   bounds=(-np.ones(2), np.ones(2)))


def xor(seed: int = 0, *, n: int = 1000, n_test: int = 2000) -> Dataset:
    """XOR: the 2 × 2 checkerboard."""
    data = checkerboard(seed, n=n, n_test=n_test, cells=2)
    return dataclasses.replace(data, name="xor")


def _rotate(w0: np.ndarray, w1: np.ndarray, t: float) -> np.ndarray:
    """Great-circle interpolation between unit vectors (t = 0 → w0, t = 1 → w1)."""
    omega = np.arccos(np.clip(w0 @ w1, -1.0, 1.0))
    if omega < 1e-9:
        return w0
    return (np.sin((1 - t) * omega) * w0 + np.sin(t * omega) * w1) / np.sin(omega)


def drifting_halfspace(seed: int = 0, *, d: int = 2, n: int = 2000, n_test: int = 2000,
                       rotation_degrees: float = 90.0) -> Dataset:
    """A stream whose class boundary rotates: at stream position t the normal is w(t/n).

    The normal turns by `rotation_degrees` from start to end of the stream along a great
    circle. `x` is in arrival order; `y[t]` is the label under the concept at t.
    `Dataset.test_labels_at(progress)` gives the test labels of the concept at that point.
    """
    if d < 2:
        raise ValueError(f"drifting_halfspace: d must be >= 2, got {d}")
    rng = np.random.default_rng(seed)
    w0 = _unit(rng.standard_normal(d))
    u = rng.standard_normal(d)
    u = _unit(u - (u @ w0) * w0)
    angle = np.deg2rad(rotation_degrees)
    w1 = np.cos(angle) * w0 + np.sin(angle) * u
    x = rng.standard_normal((n, d))
    progress = np.arange(n) / max(n - 1, 1)
    ws = np.stack([_rotate(w0, w1, t) for t in progress])
    y = (np.sum(x * ws, axis=1) > 0).astype(np.int32)
    x_test = rng.standard_normal((n_test, d))
    return Dataset(name=f"drifting-halfspace-d{d}", x=x, y=y, x_test=x_test, y_test=(x_test @ w0 > 0),
                   classes=(0, 1), bounds=(-4.0 * np.ones(d), 4.0 * np.ones(d)),
                   meta={"drift": {"w_start": w0, "w_end": w1}})


#: The share of the chosen images held out when `digits` is given no `n_test` (500 of all 1,797).
DIGITS_TEST_SHARE = 500 / 1797


def digits(seed: int = 0, *, classes: tuple[int, ...] | None = None, n_test: int | None = None,
           as_images: bool = False, standardize_features: bool = True) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1,797 images; offline), stratified seeded split.

    Args:
      classes: a subset such as (5, 7); labels keep their digit values. All ten by default.
      n_test: held-out size; by default the same share of the chosen images as 500 of all 1,797
        (a 1,297 pool with all ten classes; 99 of the 357 images of 3-vs-8).
      as_images: feature shape (8, 8, 1) for a CNN instead of (64,).
      standardize_features: per-pixel standardization with pool statistics; otherwise pixels / 16.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int32)
    if classes is not None:
        classes = tuple(sorted(int(c) for c in classes))
        unknown = sorted(set(classes) - set(range(10)))
        if unknown:
            raise ValueError(f"digits: classes {unknown} are not digits 0-9")
        keep = np.isin(y, classes)
        x, y = x[keep], y[keep]
    else:
        classes = tuple(range(10))
    if n_test is None:
        n_test = digits_default_test_size(len(y))
    pool_idx, test_idx = stratified_split(y, n_test, seed)
    x_pool, x_test = x[pool_idx], x[test_idx]
    if standardize_features:
        x_pool, x_test = standardize(x_pool, x_test)
    else:
        x_pool, x_test = x_pool / 16.0, x_test / 16.0
    if as_images:
        x_pool, x_test = x_pool.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)
    name = "digits" if len(classes) == 10 else "digits-" + "v".join(map(str, classes))
    return Dataset(name=name, x=x_pool, y=y[pool_idx], x_test=x_test, y_test=y[test_idx], classes=classes)


def breast_cancer(seed: int = 0, *, n_test: int = 169, standardize_features: bool = True) -> Dataset:
    """scikit-learn's bundled Wisconsin diagnostic breast cancer data (569 tumours, 30 features
    computed from a fine-needle aspirate image; offline), stratified seeded split.

    Labels keep scikit-learn's values: 0 = malignant (212), 1 = benign (357).

    Args:
      n_test: held-out size (169: a 400-tumour pool).
      standardize_features: per-feature standardization with pool statistics.

    References:
      Street, Wolberg & Mangasarian (1993), Nuclear feature extraction for breast tumor diagnosis.
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int32)
    pool_idx, test_idx = stratified_split(y, n_test, seed)
    x_pool, x_test = x[pool_idx], x[test_idx]
    if standardize_features:
        x_pool, x_test = standardize(x_pool, x_test)
    return Dataset(name="breast-cancer", x=x_pool, y=y[pool_idx], x_test=x_test, y_test=y[test_idx], classes=(0, 1),
                   meta={"feature_names": [str(n) for n in bunch.feature_names], "class_names": ["malignant", "benign"]})
