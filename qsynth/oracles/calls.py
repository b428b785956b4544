"""One query, one call: run a labeling function on a point and always come back with an `Answer`.

This is what runs inside a worker process (or in the caller's process for serial oracles).
A labeling function ("task") takes one query point `x` (a NumPy array) and returns one of:

- a label (an int, a bool, or an integral float),
- `(label, value)` — `value` a raw output such as a landing distance, kept for level-set work,
- a dict with any of `status` ("ok" | "abstain" | "failed"), `label`, `value`, `cost`, `error`,
- an `Answer` (its query id is replaced by the query's).

Anything else — an exception, a timeout, a label outside the class set, a non-finite value —
becomes a FAILED `Answer` that names the query and keeps the reason (and the traceback).

The wall-clock budget: where the call runs on a process's main thread (the default worker
pool, a serial oracle in a script) a SIGALRM timer interrupts it; everywhere else (threads,
Dask workers) it is cooperative: long-running tasks call `time_left()` and stop themselves,
and the caller abandons the call after the deadline. Imports no JAX.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from qsynth.records import Answer, Status, validate_answer

__all__ = ["QueryTimeout", "as_answer", "attempt", "call_task", "time_left"]

_deadline = threading.local()


class QueryTimeout(TimeoutError):
    """A query ran past its wall-clock budget."""


def time_left() -> float:
    """Seconds left in the running query's budget (infinite when it has none).

    Simulators with long step loops check it every few hundred steps and raise
    `QueryTimeout` (or return a FAILED dict) when it reaches zero; that is how a timeout is
    enforced where no signal can interrupt the call (threads, Dask workers).
    """
    end = getattr(_deadline, "end", None)
    return math.inf if end is None else end - time.monotonic()


@contextlib.contextmanager
def _budget(seconds: float | None) -> Iterator[None]:
    """Run the body under a wall-clock budget: SIGALRM on a main thread, `time_left()` always."""
    previous_end = getattr(_deadline, "end", None)
    if seconds is None:
        yield
        return
    _deadline.end = time.monotonic() + seconds
    use_signal = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not use_signal:
        try:
            yield
        finally:
            _deadline.end = previous_end
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise QueryTimeout(f"ran past its {seconds:g} s budget")

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)  # (remaining, interval) of any outer timer
    t0 = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0] > 0:  # give an outer timer (pytest-timeout, say) back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(old_timer[0] - (time.monotonic() - t0), 1e-3), old_timer[1])
        _deadline.end = previous_end


def as_answer(out: Any, query_id: str, classes: tuple[int, ...], cost: float = 1.0) -> Answer:
    """Turn whatever a labeling function returned into a validated `Answer` for `query_id`."""
    if isinstance(out, Answer):
        raw = Answer(query_id, out.status, out.label, out.value, out.cost, out.error)
    elif isinstance(out, dict):
        unknown = sorted(set(out) - {"status", "label", "value", "cost", "error"})
        if unknown:
            raw = Answer(query_id, Status.FAILED, cost=cost, error=f"answer dict has unknown keys {unknown}")
        else:
            try:
                status = Status(out.get("status", "ok" if out.get("label") is not None else "failed"))
            except ValueError:
                status = None
            if status is None:
                raw = Answer(query_id, Status.FAILED, cost=cost, error=f"unknown status {out.get('status')!r}")
            else:
                raw = Answer(query_id, status, out.get("label"), out.get("value"), out.get("cost", cost),
                             out.get("error") or (None if status is Status.OK else "no reason given"))
    elif isinstance(out, tuple) and len(out) == 2:
        raw = Answer(query_id, Status.OK, _label(out[0]), _value(out[1]), cost)
    elif out is None:
        raw = Answer(query_id, Status.FAILED, cost=cost, error="the labeling function returned None")
    else:
        raw = Answer(query_id, Status.OK, _label(out), None, cost)
    if raw.status is Status.FAILED and not (raw.error or "").startswith(f"query {query_id}:"):
        raw = Answer(query_id, Status.FAILED, raw.label, raw.value, raw.cost, f"query {query_id}: {raw.error}")
    return validate_answer(raw, query_id, classes)


def _label(v: Any) -> Any:
    if getattr(v, "shape", None) == () and hasattr(v, "dtype"):  # NumPy or JAX 0-d array
        v = np.asarray(v).item()
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    return v


def _value(v: Any) -> Any:
    if getattr(v, "shape", None) == () and hasattr(v, "dtype"):
        return float(np.asarray(v))
    return v


def call_task(task: Callable[[np.ndarray], Any], query_id: str, x: np.ndarray, classes: tuple[int, ...],
              timeout: float | None = None, cost: float = 1.0) -> Answer:
    """Label one query with `task` under a `timeout`-second budget; never raises.

    Returns:
      A validated `Answer`; its `error` holds the exception and traceback when the task raised.
    """
    return attempt(task, query_id, x, classes, timeout, cost)[0]


def attempt(task: Callable[[np.ndarray], Any], query_id: str, x: np.ndarray, classes: tuple[int, ...],
            timeout: float | None = None, cost: float = 1.0) -> tuple[Answer, str]:
    """`call_task`, also saying how it went: "answered", "raised" (worth a retry) or "timeout".

    A task that raises `SystemExit` (a `sys.exit()` in a simulator) or its own `KeyboardInterrupt`
    fails its query like any other exception; only a real Ctrl-C (SIGINT) while it runs stops
    the caller, as it would have anyway.
    """
    ctrl_c = _InterruptWatch()
    try:
        with ctrl_c, _budget(timeout):
            out = task(x)
    except QueryTimeout as exc:
        return Answer(query_id, Status.FAILED, cost=cost, error=f"query {query_id}: timeout: {exc}"), "timeout"
    except (SystemExit, KeyboardInterrupt) as exc:
        if ctrl_c.fired:
            raise
        return Answer(query_id, Status.FAILED, cost=cost, error=f"query {query_id}: the task raised "
                      f"{type(exc).__name__}({exc}) (it would have ended the run)\n{traceback.format_exc(limit=8)}"), \
            "raised"
    except Exception as exc:  # noqa: BLE001 (every failure becomes an answer)
        tb = traceback.format_exc(limit=8)
        return Answer(query_id, Status.FAILED, cost=cost,
                      error=f"query {query_id}: {type(exc).__name__}: {exc}\n{tb}"), "raised"
    try:
        return as_answer(out, query_id, classes, cost), "answered"
    except Exception as exc:  # noqa: BLE001 (a value that cannot even be inspected)
        return Answer(query_id, Status.FAILED, cost=cost,
                      error=f"query {query_id}: could not read the answer {out!r:.200}: {exc}"), "answered"


class _InterruptWatch:
    """While active (in the main thread), notes whether a real SIGINT arrived, and lets it through."""

    def __init__(self) -> None:
        self.fired = False
        self._previous: Any = None

    def __enter__(self) -> _InterruptWatch:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.fired = True
        if callable(self._previous):
            self._previous(signum, frame)
        elif self._previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
