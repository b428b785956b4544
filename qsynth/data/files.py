"""User data from files: `.npz` archives with `x`/`y` arrays and MNIST-format IDX files."""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path

import numpy as np

from qsynth.data.datasets import Dataset

__all__ = ["load_npz", "load_idx", "read_idx", "write_idx"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped), the format of the MNIST distribution.

    Raises:
      ValueError: the magic number, type code or size does not match the format.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (the magic number must start with two zero bytes)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes) but {len(data) - header} bytes follow")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array as an IDX file (uint8 or big-endian int32/float32/float64)."""
    array = np.asarray(array)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
    if array.dtype not in codes:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(s.to_bytes(4, "big") for s in array.shape)
    with open(path, "wb") as f:
        f.write(header + array.astype(array.dtype.newbyteorder(">")).tobytes())


def load_idx(train_images: str | os.PathLike, train_labels: str | os.PathLike,
             test_images: str | os.PathLike | None = None, test_labels: str | os.PathLike | None = None, *,
             name: str = "mnist", as_images: bool = True, seed: int = 0, test_fraction: float = 1 / 7,
             limit: int | None = None) -> Dataset:
    """An MNIST-format dataset from IDX files (pixels scaled to [0, 1]).

    Args:
      train_images, train_labels: the training files (e.g. train-images-idx3-ubyte[.gz]).
      test_images, test_labels: the test files; without them a stratified split is made.
      as_images: feature shape (28, 28, 1) rather than flat (784,).
      limit: keep only the first `limit` training images (quick experiments).
    """
    x = read_idx(train_images).astype(np.float32)
    y = read_idx(train_labels).astype(np.int64)
    if len(x) != len(y):
        raise ValueError(f"{train_images} holds {len(x)} images but {train_labels} holds {len(y)} labels")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    scale = 255.0 if x.max(initial=0) > 1.0 else 1.0

    def shape(a: np.ndarray) -> np.ndarray:
        a = a / scale
        return a.reshape(len(a), *a.shape[1:], 1) if as_images else a.reshape(len(a), -1)

    if (test_images is None) != (test_labels is None):
        raise ValueError("give both test_images and test_labels, or neither")
    x_test = y_test = None
    if test_images is not None:
        x_test = shape(read_idx(test_images).astype(np.float32))
        y_test = read_idx(test_labels).astype(np.int64)
        if len(x_test) != len(y_test):
            raise ValueError(f"{test_images} holds {len(x_test)} images but {test_labels} holds {len(y_test)} labels")
    return Dataset.from_arrays(shape(x), y, x_test, y_test, name=name, seed=seed, test_fraction=test_fraction,
                               standardize_features=False)


def load_npz(path: str | os.PathLike, *, name: str | None = None, seed: int = 0, test_fraction: float = 0.25,
             standardize_features: bool = True) -> Dataset:
    """A dataset from an `.npz` holding `x` and `y` (and optionally `x_test`, `y_test`).

    Raises:
      ValueError: the file is missing, not an .npz, lacks `x` or `y`, or holds arrays that do not make a
        dataset (the message names the file, and the array).
    """
    from qsynth.data.arguments import npz_headers

    npz_headers(path, "path")  # a file that is not an .npz of the right arrays: named before it is read
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        return Dataset.from_arrays(arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"),
                                   name=name or Path(path).stem, seed=seed, test_fraction=test_fraction,
                                   standardize_features=standardize_features)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path}: {exc}") from None
