"""How much memory a learner's state takes, estimated from its shapes, and whether this machine has it.

A config asking for `members = 100000000` would otherwise fail deep inside XLA with an
out-of-memory message naming no field; `check_fits_in_memory` refuses it up front, naming
the fields and the estimate. The estimate is exact for what it counts — the parameters
and optimizer state of every member, from `jax.eval_shape` of `init` (nothing is
allocated) — and doubles it for a training step's gradients and temporaries.
"""

from __future__ import annotations

import os

import jax

from qsynth.learners.base import Learner

__all__ = ["available_memory_bytes", "check_fits_in_memory", "state_bytes"]

#: A training step holds the state, its gradients and the optimizer's update: about twice the state.
TRAINING_FACTOR = 2.0


def state_bytes(learner: Learner) -> int:
    """Bytes of the learner's initial state (parameters and optimizer state), from its shapes only."""
    shapes = jax.eval_shape(learner.init, jax.random.key(0))
    return int(sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(shapes)))


def available_memory_bytes() -> int | None:
    """Memory this process could still get: MemAvailable (Linux), else physical memory; None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(learner: Learner, what: str, available: int | None = None) -> int:
    """The estimated bytes a learner needs to train; raises ValueError naming `what` (the config
    fields that size it) when that is more than the memory available."""
    need = int(TRAINING_FACTOR * state_bytes(learner))
    have = available_memory_bytes() if available is None else available
    if have is not None and need > have:
        raise ValueError(f"{what}: this learner needs about {need / 1e9:.1f} GB to train (its parameters and "
                         f"optimizer state, {need / TRAINING_FACTOR / 1e9:.1f} GB, twice over for a step), more than "
                         f"the {have / 1e9:.1f} GB of memory available; use fewer members or narrower layers")
    return need
