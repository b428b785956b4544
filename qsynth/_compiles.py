"""Count the programs JAX traces (each new jitted program or input shape is traced, then compiled).

A round whose fit traced anything paid for a compilation; benchmarks set such rounds apart.
The counter listens to JAX's own monitoring event, so it covers every learner, a user's too.
"""

from __future__ import annotations

import threading

import jax

__all__ = ["traces"]

_EVENT = "/jax/core/compile/jaxpr_trace_duration"
_lock = threading.Lock()
_count = 0


def _listen(event: str, duration: float, **_: object) -> None:
    global _count
    if event == _EVENT:
        with _lock:
            _count += 1


jax.monitoring.register_event_duration_secs_listener(_listen)


def traces() -> int:
    """Programs traced in this process so far (any thread)."""
    return _count
