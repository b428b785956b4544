"""The process groups of the programs this process is running, so that none outlives its query.

`ExternalProgram` starts each program in a process group of its own and kills the whole
group when the query times out or is interrupted (a program's own children — a shell's
`sleep`, a solver it forks — go with it). While a program runs its group is listed here.
Two things read the list:

- a `WorkerPool` worker reports each group to its parent as it starts and ends (the
  `listener`), so a parent that kills the worker (a deadline) or sees it die kills the
  worker's programs too;
- a worker's watchdog thread (`watch_parent`) kills them, and then the worker, as soon as
  its parent is gone (killed with SIGKILL, say), so nothing is left running under PID 1.

Imports no JAX.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

__all__ = ["ended", "kill_group", "kill_running", "running", "set_listener", "started", "watch_parent"]

_running: set[int] = set()
_lock = threading.Lock()
_listener: Callable[[str, int], None] | None = None


def set_listener(fn: Callable[[str, int], None] | None) -> None:
    """Call `fn("started" | "ended", pgid)` as programs start and end (a worker tells its parent)."""
    global _listener
    _listener = fn


def started(pgid: int) -> None:
    """A program whose process group is `pgid` was started by this process."""
    with _lock:
        _running.add(pgid)
    if _listener is not None:
        _listener("started", pgid)


def ended(pgid: int) -> None:
    """The program of group `pgid` has ended (and been reaped, or its group killed)."""
    with _lock:
        _running.discard(pgid)
    if _listener is not None:
        _listener("ended", pgid)


def running() -> list[int]:
    """The process groups of the programs running now."""
    with _lock:
        return sorted(_running)


def kill_group(pgid: int) -> None:
    """SIGKILL every process of group `pgid` (nothing if it is gone already)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_running() -> None:
    """Kill the groups of every program this process is running."""
    for pgid in running():
        kill_group(pgid)


def watch_parent(interval: float = 0.2) -> threading.Thread:
    """Start a daemon thread that, once this process's parent has died, kills the programs this
    process runs and then the process itself (a worker never outlives the run that started it)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                kill_running()
                os._exit(70)

    thread = threading.Thread(target=watch, name="qsynth-parent-watch", daemon=True)
    thread.start()
    return thread
