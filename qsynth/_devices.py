"""Data-parallel work across devices with `jax.sharding`: a `Mesh` over `jax.devices()`.

Where more than one device is present (several GPUs, a TPU slice, or CPU devices made with
`XLA_FLAGS=--xla_force_host_platform_device_count=8`):

* pool scoring puts each chunk of candidates split over the devices along its rows
  (`NamedSharding(mesh, P("data"))`) and the learner's parameters on every device, so each
  device scores its share of the chunk (`qsynth.strategies.scoring.score_points`);
* an ensemble's fit splits the stacked members over the devices (`P("data")` on the members
  axis of every parameter and optimizer leaf) and runs one training program, each device
  training its members (`NetworkLearner.fit`), instead of the CPU's windows on threads.

The results equal one device's within float tolerance (`tests/test_sharding.py`, 8 fake CPU
devices). A mesh uses the largest number of devices that divides the axis it splits (5
members on 8 devices: 5), so no shard is padded. `QSYNTH_SHARDING=0` turns it off.

Several hosts: start each process with `jax.distributed.initialize(...)` before qsynth, and
`jax.devices()` lists every host's devices; this module builds its mesh from that list the
same way; where a mesh spans processes, each process gives its own devices their part of
a value it holds whole (`jax.make_array_from_callback`) — qsynth's chunks and parameters,
which every process computes identically from the same seed. Only one host (with fake
devices) is tested.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["mesh_for", "replicated", "split_rows"]


def _enabled() -> bool:
    value = os.environ.get("QSYNTH_SHARDING", "1")
    if value not in ("0", "1"):
        raise ValueError(f"QSYNTH_SHARDING must be 0 or 1, got {value!r}")
    return value == "1"


def mesh_for(size: int) -> Mesh | None:
    """A 1-D mesh (axis "data") over the most devices that evenly divide an axis of `size`; None
    on one device (or with `QSYNTH_SHARDING=0`)."""
    if size < 2 or not _enabled():
        return None
    count = jax.device_count()
    if count < 2:
        return None
    use = max(d for d in range(1, min(count, size) + 1) if size % d == 0)
    return None if use < 2 else _mesh(use)


@functools.cache
def _mesh(count: int) -> Mesh:
    return Mesh(jax.devices()[:count], ("data",))


def split_rows(tree: Any, mesh: Mesh) -> Any:
    """Every leaf of `tree` placed on `mesh`, split along its first axis."""
    return _place(tree, NamedSharding(mesh, PartitionSpec("data")))


def replicated(tree: Any, mesh: Mesh) -> Any:
    """Every leaf of `tree` placed whole on each device of `mesh`."""
    return _place(tree, NamedSharding(mesh, PartitionSpec()))


def _place(tree: Any, sharding: NamedSharding) -> Any:
    if sharding.is_fully_addressable:  # one process: a plain transfer
        return jax.device_put(tree, sharding)
    # several processes: each one holds the whole value (computed identically) and gives its devices their part
    return jax.tree.map(lambda a: jax.make_array_from_callback(a.shape, sharding, lambda index: a[index]), tree)
