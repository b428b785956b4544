"""Datasets as arrays and the labeled buffer."""

from qsynth.data.buffer import LabeledBuffer, capacity_for
from qsynth.data.datasets import (
    Dataset,
    checkerboard,
    digits,
    drifting_halfspace,
    halfspace,
    moons,
    standardize,
    stratified_split,
    xor,
)
from qsynth.data.files import load_idx, load_npz, read_idx, write_idx
from qsynth.data.mnist1d import make_mnist1d, mnist1d

__all__ = [
    "Dataset",
    "LabeledBuffer",
    "capacity_for",
    "checkerboard",
    "digits",
    "drifting_halfspace",
    "halfspace",
    "load_idx",
    "load_npz",
    "make_mnist1d",
    "mnist1d",
    "moons",
    "read_idx",
    "standardize",
    "stratified_split",
    "write_idx",
    "xor",
]
