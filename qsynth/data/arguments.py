"""Check a `[data]` table's arguments against the dataset it names, before any dataset is built.

`check_dataset_args("digits", {"classes": [3, 8], "n_test": 500})` raises a `ConfigError`
naming `data.args.n_test` (the 3-vs-8 subset holds 357 images, fewer than 500 to hold
out), where building the dataset would fail later with no field named. What is checked:
the argument names (against the function's signature), their types (against its
annotations), and the ranges each dataset needs — counts positive, the digits subset and its
held-out size. Files are not opened here (a config stays readable where its data is not,
as for `qsynth plot`): `npz_headers` checks an `.npz` from its headers, without reading an
array, as the first step of loading it. Imports no JAX.
"""

from __future__ import annotations

import inspect
import math
import os
import typing
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from qsynth.fields import ConfigError, check_value

__all__ = ["BREAST_CANCER_SIZE", "DIGITS_CLASS_COUNTS", "check_dataset_args", "npz_headers"]

#: Images per digit in scikit-learn's bundled digits (1,797 in all; checked by a test).
DIGITS_CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)

#: Tumours in scikit-learn's bundled Wisconsin diagnostic breast cancer data.
BREAST_CANCER_SIZE = 569

#: The least value each count-like argument may take.
_AT_LEAST = {"n": 1, "n_test": 1, "d": 1, "cells": 2, "num_samples": 10, "limit": 1}


def check_dataset_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """`args` checked for dataset `name` (lists as tuples where the function takes tuples).

    Raises:
      ConfigError: naming `data.args.<field>`: an argument the dataset does not take, a required
        one missing, a value of the wrong type or out of range, a file that is missing or not
    """
    from qsynth.data.registry import DATASETS

    fn = DATASETS[name]
    params = {p.name: p for p in inspect.signature(fn).parameters.values()}
    hints = typing.get_type_hints(fn)
    unknown = sorted(set(args) - set(params))
    if unknown:
        raise ConfigError(f"data.args.{unknown[0]}: {name} takes no argument {unknown[0]!r}; it takes "
                          f"{sorted(params)}")
    missing = [p for p, spec in params.items() if spec.default is inspect.Parameter.empty and p not in args]
    if missing:
        raise ConfigError(f"data.args.{missing[0]}: {name} needs it (give data.args.{missing[0]} = ...)")
    checked = {k: check_value(v, hints.get(k, Any), f"data.args.{k}") for k, v in args.items()}
    for key, least in _AT_LEAST.items():
        value = checked.get(key)
        if value is not None and value < least:
            raise ConfigError(f"data.args.{key}: must be >= {least}, got {value}")
    if "seed" in checked and checked["seed"] < 0:
        raise ConfigError(f"data.args.seed: must be >= 0, got {checked['seed']}")
    if "noise" in checked and not (math.isfinite(checked["noise"]) and checked["noise"] >= 0):
        raise ConfigError(f"data.args.noise: must be a finite number >= 0, got {checked['noise']}")
    if "test_fraction" in checked and not 0.0 < checked["test_fraction"] < 1.0:
        raise ConfigError(f"data.args.test_fraction: must be in (0, 1), got {checked['test_fraction']}")
    if name == "drifting_halfspace" and checked.get("d", 2) < 2:
        raise ConfigError(f"data.args.d: the drifting halfspace rotates in a plane; d must be >= 2, got {checked['d']}")
    if name == "digits":
        _check_digits(checked)
    if name == "breast_cancer" and not 0 < checked.get("n_test", 169) < BREAST_CANCER_SIZE:
        raise ConfigError(f"data.args.n_test: the breast cancer data has {BREAST_CANCER_SIZE} tumours, so the held-out "
                          f"set must be in (0, {BREAST_CANCER_SIZE}); got {checked['n_test']}")
    return checked


def _check_digits(args: dict[str, Any]) -> None:
    classes = args.get("classes")
    if classes is not None:
        unknown = sorted(set(classes) - set(range(10)))
        if unknown:
            raise ConfigError(f"data.args.classes: {unknown} are not digits 0-9")
        if len(set(classes)) != len(classes) or len(classes) < 2:
            raise ConfigError(f"data.args.classes: give at least two distinct digits, got {list(classes)}")
    chosen = range(10) if classes is None else classes
    total = sum(DIGITS_CLASS_COUNTS[c] for c in chosen)
    n_test = args.get("n_test")
    if n_test is None:
        return
    if not 0 < n_test < total:
        which = "all ten digits" if classes is None else f"digits {sorted(chosen)}"
        raise ConfigError(f"data.args.n_test: {which} have {total} images, so the held-out set must be in "
                          f"(0, {total}); got {n_test}")


def npz_headers(path: str | os.PathLike, field: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The shape and dtype of every array in an `.npz` (from the headers: no array is read).

    Raises:
      ConfigError (naming `field` and the file): missing, not a zip, an array that is not a
        NumPy array file, no `x` or `y`, arrays whose shapes disagree, labels that are not integers.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{field}: no such file {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{field}: {path} is not an .npz file (not a zip archive); write one with numpy.savez")
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as f:
                    major, _ = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(f)
                headers[member.removesuffix(".npy")] = (tuple(shape), np.dtype(dtype))
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"{field}: {path} is corrupt or not an .npz of NumPy arrays ({exc})") from None
    missing = [k for k in ("x", "y") if k not in headers]
    if missing:
        raise ConfigError(f"{field}: {path} has no array {missing[0]!r}; it holds {sorted(headers)} (need 'x' and 'y', "
                          "optionally 'x_test' and 'y_test')")
    if ("x_test" in headers) != ("y_test" in headers):
        raise ConfigError(f"{field}: {path} holds one of 'x_test' and 'y_test' without the other")
    for xs, ys in (("x", "y"), ("x_test", "y_test")):
        if xs not in headers:
            continue
        (xshape, xtype), (yshape, ytype) = headers[xs], headers[ys]
        if len(xshape) < 2 or xshape[0] == 0:
            raise ConfigError(f"{field}: {path}: {xs} has shape {xshape}; expected [n >= 1, *feature_shape]")
        if yshape != (xshape[0],):
            raise ConfigError(f"{field}: {path}: {ys} has shape {yshape}; expected ({xshape[0]},) to match {xs}")
        if xtype.kind not in "fiub":
            raise ConfigError(f"{field}: {path}: {xs} has dtype {xtype}; features must be numbers")
        if ytype.kind not in "iub":
            raise ConfigError(f"{field}: {path}: {ys} has dtype {ytype}; labels must be integers (map "
                              "string or float labels to 0, 1, ... first)")
    if "x_test" in headers and headers["x_test"][0][1:] != headers["x"][0][1:]:
        raise ConfigError(f"{field}: {path}: x has feature shape {headers['x'][0][1:]} but x_test has "
                          f"{headers['x_test'][0][1:]}")
    return headers
