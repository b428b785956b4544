"""Run independent jitted programs on several CPU cores at once, from a small thread pool.

XLA's CPU backend runs the small operations of a learner's training step (an ensemble's
[members, 64, 128] matmuls, its optimizer update, its dropout masks) on one core: a 5-member
fit takes as long on one core as on two. Independent programs called from separate Python
threads do run side by side (JAX releases the GIL while XLA executes), so an ensemble's
members are trained in groups, one group per thread (`Learner.fit`).

How many programs run at once is `threads()`: `QSYNTH_THREADS` if set, else the cores this
process may use on the CPU backend, and 1 on any other (`qsynth._backend`). How an ensemble is
split into windows is `windows()`: `QSYNTH_WINDOWS` if set, else those same cores — never the
thread count, because the split decides the numbers (a vmapped matmul's batch size changes
its rounding) while the threads only decide how many windows run side by side. So a process
pinned to fewer threads (a sweep's worker, a CI job with `QSYNTH_THREADS=1`) computes
bitwise the same fits as an unpinned one on the same machine.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["BLAS_THREAD_VARIABLES", "XLA_ONE_THREAD", "member_windows", "one_blas_thread", "program_environment",
           "run_all", "threads", "usable_cores", "windows"]

#: What a process meant to use one core adds to `XLA_FLAGS` before JAX loads: XLA's CPU backend
#: runs each operation on the calling thread instead of over an Eigen pool of one thread per core,
#: whose threads spin while they wait (the oracle workers and a sweep's one-core workers).
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

#: The thread counts of the BLAS libraries NumPy and SciPy load. jaxlib runs the GP's LAPACK calls
#: (its Cholesky factors and triangular solves) through SciPy's OpenBLAS.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

T = TypeVar("T")


def one_blas_thread() -> bool:
    """Give the BLAS libraries one thread each (a count you set is kept); True if that takes effect.

    Call it before NumPy, SciPy or JAX load: the libraries read the counts once, when they load
    (so with NumPy already loaded this changes nothing and returns False). qsynth's BLAS calls
    are LAPACK on small matrices; with a thread per core, OpenBLAS's threads spin after each call
    and take the cores from XLA's: `qsynth run` (the default job, serial, 2 cores) took 74.7 s
    with them and 64.3 s with one (docs/performance.md), with bitwise the same results. A program
    qsynth starts (an external simulator) does not inherit them (`program_environment`).
    """
    import sys

    if "numpy" in sys.modules:
        return False
    for name in BLAS_THREAD_VARIABLES:
        if name not in os.environ:
            os.environ[name] = "1"
            _SET_HERE.add(name)
    return True


_SET_HERE: set[str] = set()  # the BLAS counts `one_blas_thread` set in this process


def program_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a program qsynth starts (an external simulator): this process's, less
    the BLAS counts `one_blas_thread` set for qsynth's own calls, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in _SET_HERE}, **(extra or {})}


def threads() -> int:
    """How many programs to run at once (≥ 1)."""
    return _count("QSYNTH_THREADS")


def windows() -> int:
    """How many windows to split an ensemble's members into (≥ 1; it decides the fits' numbers)."""
    return _count("QSYNTH_WINDOWS")


def _count(variable: str) -> int:
    """`variable` from the environment (a positive integer), else the cores on CPU, else 1."""
    value = os.environ.get(variable)
    if value is not None:
        try:
            count = int(value)
        except ValueError:
            raise ValueError(f"{variable} must be a positive integer, got {value!r}") from None
        if count < 1:
            raise ValueError(f"{variable} must be a positive integer, got {value!r}")
        return count
    from qsynth._backend import cpu_speedups

    return usable_cores() if cpu_speedups() else 1


def usable_cores() -> int:
    """The cores this process may run on (≥ 1)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


@functools.cache
def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="qsynth")


def run_all(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Call every task, up to `threads()` at once; results in task order (a task's error is raised)."""
    workers = min(threads(), len(tasks))
    if workers <= 1:
        return [task() for task in tasks]
    futures = [_pool(workers).submit(task) for task in tasks]
    return [f.result() for f in futures]


def member_windows(members: int, groups: int) -> list[tuple[int, int]]:
    """Split `members` stacked networks into at most `groups` windows `(start, size)` of equal size.

    Equal sizes mean one compiled program serves every window. Where `members` does not divide
    evenly, the last window overlaps the one before it (5 in 2: members 0–2 and 2–4); the
    overlapping member is computed twice, identically, and kept once.
    """
    groups = max(1, min(groups, members))
    size = -(-members // groups)
    starts = sorted({min(g * size, members - size) for g in range(groups)})
    return [(start, size) for start in starts]
