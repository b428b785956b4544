"""Module-level labeling functions for the oracle tests (worker processes import them by name).

Each reads the query's first coordinate as a switch, so one batch can mix behaviours:
x[0] == 0 answers, 1 raises, 2 hangs (interruptible), 3 hangs ignoring signals, 4 kills its
own worker process, 5 returns NaN, 6 answers a label outside {0, 1}, 7 returns None, 8 takes 2 s.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np


def sign_label(x: np.ndarray) -> tuple[int, float]:
    """Label 1 when the coordinates sum above zero; the sum is the raw value."""
    s = float(np.sum(x))
    return int(s > 0), s


def misbehave(x: np.ndarray):
    mode = int(x[0])
    if mode == 1:
        raise RuntimeError(f"simulator exploded at {x.tolist()}")
    if mode == 2:
        time.sleep(3600)
    if mode == 3:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    if mode == 4:
        os._exit(3)
    if mode == 5:
        return 1, float("nan")
    if mode == 6:
        return 7
    if mode == 7:
        return None
    if mode == 8:
        time.sleep(2.0)  # slow, but finishes (a thread running it cannot be stopped)
    return int(x[1] > 0), float(x[1])


class FlakyOnce:
    """Raises on the first attempt for each point, answers on the second (a file marks the first)."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, x: np.ndarray) -> int:
        mark = os.path.join(self.folder, f"{float(x[0]):.6f}")
        if not os.path.exists(mark):
            open(mark, "w").close()
            raise RuntimeError("first attempt fails")
        return int(x[0] > 0)


def busy(x: np.ndarray, seconds: float = 0.005) -> int:
    """Spin for `seconds` of CPU (a stand-in for a ~5 ms simulator step loop)."""
    end = time.perf_counter() + seconds
    s = 0.0
    while time.perf_counter() < end:
        s += 1.0
    return int(x[0] > 0)


def environment() -> dict[str, str]:
    """The worker's environment variables."""
    return dict(os.environ)


def quits(x: np.ndarray) -> int:
    """x[0] == 1: `sys.exit(3)` (a simulator that quits), 2: raises its own KeyboardInterrupt, else answers 1."""
    import sys

    if int(x[0]) == 1:
        sys.exit(3)
    if int(x[0]) == 2:
        raise KeyboardInterrupt("the simulator's own")
    return 1


def explodes(x: np.ndarray) -> int:
    """Always raises: every query FAILED."""
    raise RuntimeError(f"simulator diverged at {x.tolist()}")
