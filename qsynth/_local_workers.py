"""A parallel sweep's local worker processes (`qsynth run --jobs N`), each bound to its own share
of the cores, and started early enough that their start overlaps the driver's.

A worker pins its BLAS libraries and XLA to its share of the threads and binds itself to its own
cores before it loads any of them, then imports the sweep's modules, so its first task starts at
once. `qsynth run` calls `prestart` before it imports JAX itself (about 1.7 s, during which the
workers import theirs); the sweep then `take`s those workers, or starts its own. Imports no JAX.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import multiprocessing
import os
import queue as queues
from typing import Any

from qsynth._parallel import BLAS_THREAD_VARIABLES, XLA_ONE_THREAD, usable_cores

__all__ = ["LocalWorkers", "core_shares", "prestart", "start", "take", "thread_environment"]

events: Any = None  # in a worker: the queue its runs report to (set when the process starts)


@dataclasses.dataclass
class LocalWorkers:
    """`jobs` started worker processes: `executor` runs tasks on them, `events` brings their runs'
    reports to the driver, `threads` is each one's share of the cores."""

    executor: concurrent.futures.ProcessPoolExecutor
    events: Any
    jobs: int
    threads: int

    def close(self) -> None:
        """Stop the workers (tasks not yet started are cancelled)."""
        self.executor.shutdown(wait=True, cancel_futures=True)


def core_shares(jobs: int) -> list[tuple[int, ...]]:
    """Each of `jobs` workers' own cores: the cores this process may use, split into `jobs` equal
    parts (none where there are fewer cores than jobs, or no affinity to set)."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    share = len(cores) // jobs
    return [tuple(cores[k * share:(k + 1) * share]) for k in range(jobs)] if share else []


def thread_environment(threads: int) -> dict[str, str]:
    """The variables that give a worker process `threads` threads (those you set are kept): one
    BLAS thread (`qsynth._parallel.one_blas_thread`), `threads` OpenMP threads, and with one
    thread, XLA's single-threaded operations.

    A library reads these when it loads, so a worker sets them before it loads any. Without them
    each of N workers' OpenBLAS starts a thread per core, which spin while the other workers
    compute: the GP default job took 1.86× its serial time with `--jobs 2` on 2 cores, and 0.69×
    with them (performance.md). Its results did not change: every array of its 55 checkpoints
    equals the serial run's, as the sweep's bitwise test checks on its own config."""
    wanted = {**{name: "1" for name in BLAS_THREAD_VARIABLES}, "OMP_NUM_THREADS": str(threads)}
    out = {name: value for name, value in wanted.items() if os.environ.get(name) is None}
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags and "intra_op_parallelism_threads" not in flags:
        out["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
    return out


def _start_worker(reports: Any, cores: Any, environment: dict[str, str]) -> None:
    """A worker's first act, before it loads any library: set its thread `environment`
    (`thread_environment`), keep the queue its runs report to, bind itself to its own cores (one
    share from the `cores` queue; none left: all of them), then load the sweep's modules.

    XLA keeps a pool of one thread per core whatever `XLA_FLAGS` say, so unbound workers took each
    other's cores: a teacher's fit took 6.3 s in each of two concurrent processes, 5.3 s in each
    when bound (performance.md)."""
    global events
    os.environ.update(environment)
    events = reports
    try:
        os.sched_setaffinity(0, cores.get_nowait())
    except queues.Empty:
        pass
    import qsynth.experiments.runner  # noqa: F401 (JAX and the rest a first task would otherwise wait for,
    import qsynth.experiments.sweep  # noqa: F401 loaded while the driver loads its own)


def start(jobs: int) -> LocalWorkers:
    """`jobs` worker processes, spawned now, each with its share of the cores."""
    context = multiprocessing.get_context("spawn")
    reports, cores = context.Queue(), context.Queue()
    for share in core_shares(jobs):
        cores.put(share)
    threads = max(1, usable_cores() // jobs)
    executor = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                                      initargs=(reports, cores, thread_environment(threads)))
    for _ in range(jobs):  # (a spawning pool starts a worker per task submitted, up to `jobs`)
        executor.submit(int)
    return LocalWorkers(executor, reports, jobs, threads)


_prestarted: list[LocalWorkers] = []


def prestart(jobs: int) -> None:
    """Start `jobs` workers now, for the next sweep of `jobs` workers in this process to `take`
    (stopped when the process ends, if none does)."""
    workers = start(jobs)
    _prestarted.append(workers)
    atexit.register(lambda: workers in _prestarted and workers.close())


def take(jobs: int) -> LocalWorkers:
    """The workers `prestart(jobs)` started, else `jobs` new ones; the sweep closes them."""
    for workers in _prestarted:
        if workers.jobs == jobs:
            _prestarted.remove(workers)
            return workers
    return start(jobs)
