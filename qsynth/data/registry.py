"""Dataset names a config may use, mapped to the functions that build them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qsynth.data import datasets as data
from qsynth.data.files import load_idx, load_npz
from qsynth.data.mnist1d import mnist1d
from qsynth.data.npy import load_npy
from qsynth.data.datasets import Dataset
from qsynth.fields import ConfigError

__all__ = ["DATASETS", "make_dataset"]

DATASETS: dict[str, Callable[..., Dataset]] = {
    "halfspace": data.halfspace,
    "moons": data.moons,
    "xor": data.xor,
    "checkerboard": data.checkerboard,
    "drifting_halfspace": data.drifting_halfspace,
    "digits": data.digits,
    "breast_cancer": data.breast_cancer,
    "mnist1d": mnist1d,
    "npz": load_npz,
    "npy": load_npy,
    "idx": load_idx,
}


def make_dataset(name: str, args: dict[str, Any], seed: int) -> Dataset:
    """Build dataset `name` with `args`; `seed` is passed unless `args` sets one.

    Raises:
      ValueError: an unknown name, or arguments the dataset function does not take.
    """
    if name not in DATASETS:
        raise ValueError(f"data.name: unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    args = dict(args)
    if "classes" in args and isinstance(args["classes"], list):
        args["classes"] = tuple(args["classes"])
    args.setdefault("seed", seed)
    try:
        return DATASETS[name](**args)
    except TypeError as exc:
        raise ValueError(f"data.args: {exc}") from None
    except ConfigError as exc:  # a dataset's own check of an argument, which its message names first
        raise ConfigError(f"data.args.{exc}") from None
