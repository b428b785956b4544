"""A pool larger than memory: `.npy` files opened memory-mapped (`[data] name = "npy"`).

The pool's features stay on disk: NumPy maps the file, and qsynth reads it a block at a time
(its checks, and pool scoring, which gathers one chunk of candidates at a time:
`qsynth.strategies.scoring.score_points(rows=...)`), so a 10^7 × 20 pool (800 MB) is scored
with a few tens of MB of memory (benchmarks/memmap_pool.py). The run folder records each
file's path and SHA-256 (`data.json`), not a copy; a resume refuses files whose contents
changed. A sweep's workers reopen the files rather than receive a copy.

    [data]
    name = "npy"
    args = { path = "pool.npy", labels = "labels.npy", n_test = 10000 }

`path`: float32 features `[n, *feature_shape]`; `labels`: integer labels `[n]` (int32 keeps
them mapped too; other integer types are read into memory, 4 bytes a label); the held-out
test set is `test_path`/`test_labels` (read into memory), or else the last `n_test` rows of
the pool files (write the files shuffled). Imports no JAX.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from qsynth._chunks import unique_values
from qsynth.data.datasets import Dataset

__all__ = ["file_sha256", "load_npy", "reopen"]

_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's contents (read in 16 MiB blocks; remembered while it is unchanged)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 24):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def _open(path: str | os.PathLike, field: str) -> np.ndarray:
    if not Path(path).is_file():
        raise ValueError(f"data.args.{field}: {path} does not exist")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"data.args.{field}: {path} is not a .npy array NumPy can map ({exc})") from None


def _labels(array: np.ndarray, field: str, path: Any) -> np.ndarray:
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"data.args.{field}: {path} holds {array.dtype} of shape {array.shape}; labels are integers [n]")
    return array if array.dtype == np.int32 else np.asarray(array, np.int32)


def load_npy(path: str, labels: str, *, test_path: str | None = None, test_labels: str | None = None,
             n_test: int = 10_000, name: str | None = None, seed: int = 0) -> Dataset:
    """A dataset whose pool is the memory-mapped `path` (float32 `[n, *feature_shape]`) with `labels`
    (integers `[n]`); the test set from `test_path`/`test_labels`, else the pool files' last
    `n_test` rows. `seed` is unused (the files fix everything).

    Raises:
      ValueError: a file is missing or not a mappable .npy, the features are not float32, the counts
        differ, or the test set is not as large as asked (each naming `data.args.<field>`).
    """
    del seed
    x = _open(path, "path")
    if x.dtype != np.float32 or x.ndim < 2:
        raise ValueError(f"data.args.path: {path} holds {x.dtype} of shape {x.shape}; a mapped pool must be float32 "
                         "[n, *feature_shape] (save it with np.save(path, x.astype(np.float32)))")
    y = _labels(_open(labels, "labels"), "labels", labels)
    if len(y) != len(x):
        raise ValueError(f"data.args.labels: {labels} holds {len(y)} labels for the {len(x)} rows of {path}")
    files = {"path": str(path), "labels": str(labels)}
    if (test_path is None) != (test_labels is None):
        raise ValueError("data.args.test_path: give both test_path and test_labels, or neither")
    if test_path is not None:
        x_test = np.array(_open(test_path, "test_path"), dtype=np.float32)
        y_test = np.array(_labels(_open(test_labels, "test_labels"), "test_labels", test_labels))
        files.update(test_path=str(test_path), test_labels=str(test_labels))
    else:
        if not 0 < n_test < len(x):
            raise ValueError(f"data.args.n_test: the last n_test rows of {path} are held out for testing, so it must be "
                             f"in (0, {len(x)}); got {n_test}")
        x_test, y_test = np.array(x[-n_test:]), np.array(y[-n_test:])
        x, y = x[:-n_test], y[:-n_test]
    meta = {"files": {field: {"path": str(Path(p).resolve()), "sha256": file_sha256(p)} for field, p in files.items()},
            "reopen": {"path": path, "labels": labels, "test_path": test_path, "test_labels": test_labels,
                       "n_test": n_test, "name": name}}
    return Dataset(name=name or Path(path).stem, x=x, y=y, x_test=x_test, y_test=y_test,
                   classes=tuple(unique_values(y, y_test)), meta=meta)


def reopen(arguments: dict[str, Any]) -> Dataset:
    """The dataset `load_npy(**arguments)` makes (how a mapped dataset travels to another process)."""
    return load_npy(**arguments)
