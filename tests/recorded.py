"""Comparing a run with one recorded on another processor.

XLA's CPU code differs between processors (the same run on an Intel Xeon and an AMD EPYC
differs in the last bits of its floats), so a recording names its processor and JAX in a
`machine.json`: on that machine every number must be equal; on another, the runs must match
in every query, index, label, id and shape exactly and in every float to within
`FOREIGN_RTOL` (seen: at most 0.5% between the two, on a GP's smallest checkpoint values).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

__all__ = ["FOREIGN_ATOL", "FOREIGN_RTOL", "arrays_match", "close", "recorded_here", "this_machine"]

#: Float tolerance on a processor other than the recording's (and absolute, for values near 0).
FOREIGN_RTOL, FOREIGN_ATOL = 2e-2, 1e-5


def this_machine() -> dict[str, str]:
    """{"cpu": the processor's model name, "jax": the JAX version}."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "jax": jax.__version__}


def recorded_here(machine_file: Path) -> bool:
    """Whether the recording whose `machine.json` this is was made on this processor and JAX."""
    return machine_file.exists() and json.loads(machine_file.read_text()) == this_machine()


def close(a: object, b: object) -> bool:
    """Equal, floats (however nested in dicts and lists) to within the foreign tolerance."""
    if isinstance(a, float) and isinstance(b, float):
        return (np.isnan(a) and np.isnan(b)) or bool(np.isclose(a, b, rtol=FOREIGN_RTOL, atol=FOREIGN_ATOL))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def arrays_match(got: np.ndarray, want: np.ndarray, exact: bool) -> bool:
    """Same dtype and shape; equal (NaN equal to NaN), or float arrays within the foreign tolerance."""
    floats = want.dtype.kind in "fc"
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if exact or not floats:
        return bool(np.array_equal(got, want, equal_nan=floats))
    return bool(np.allclose(got, want, rtol=FOREIGN_RTOL, atol=FOREIGN_ATOL, equal_nan=True))
