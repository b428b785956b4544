"""`WorkerPool`: a `concurrent.futures.Executor` of long-lived worker processes that survives faults.

Why not the standard library's `ProcessPoolExecutor`: when one of its workers dies (a
simulator segfaults, a task calls `os._exit`), the whole pool breaks and every pending
future fails with it; and a running task can never be stopped. Here each worker runs
one task at a time and the pool knows which, so

- a worker that dies fails only its own task (`WorkerCrashed`, with the exit code), and is
  replaced by a fresh process;
- a task given a deadline (`submit_with_deadline`) that runs past it is killed with its
  worker (`TimeoutError`), and the worker is replaced;
- workers are started once, up front, and reused; each is pinned to one BLAS/XLA thread
  (a second thread per worker makes a 2-core machine thrash);
- a worker dies with its parent (a watchdog thread sees the parent go), and the programs a
  worker's tasks start (`ExternalProgram`) die with the worker, whoever kills it.

Tasks and their arguments must be picklable (module-level functions, not lambdas):
workers are started with "spawn", so scripts need an `if __name__ == "__main__":` guard.
Imports no JAX.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from qsynth._parallel import XLA_ONE_THREAD
from qsynth.oracles import children

__all__ = ["WorkerCrashed", "WorkerPool"]

_PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
_ENV_LOCK = threading.Lock()


class WorkerCrashed(RuntimeError):
    """The worker process running a task died (segfault, `os._exit`, killed by the OS)."""


@dataclasses.dataclass
class _Job:
    future: concurrent.futures.Future
    payload: bytes
    kill_after: float | None


@dataclasses.dataclass
class _Worker:
    process: Any
    conn: Any
    ready: bool = False
    jobs: collections.deque = dataclasses.field(default_factory=collections.deque)  # (id, _Job) sent, in order
    deadline: float | None = None  # of the first job (the one running)
    groups: set = dataclasses.field(default_factory=set)  # process groups of the programs it runs


def _worker_main(conn: Any, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """A worker: run pickled `(fn, args, kwargs)` jobs one at a time until told to stop.

    It dies with its parent (a watchdog thread), taking the programs it started along, and it
    tells the parent each program's process group, so a parent that kills it kills those too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    children.watch_parent()
    sending = threading.Lock()

    def send(msg: Any) -> None:
        with sending:
            conn.send(msg)

    children.set_listener(lambda op, pgid: send(("group", op, pgid)))
    if initializer is not None:
        initializer(*initargs)
    send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        job_id, payload = msg
        try:
            fn, args, kwargs = pickle.loads(payload)
            result = (job_id, "ok", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 (a task's SystemExit is its failure, not the worker's)
            result = (job_id, "error", exc, traceback.format_exc())
        try:
            send(result)
        except Exception as exc:  # noqa: BLE001 (an unpicklable result or exception)
            send((job_id, "error", RuntimeError(f"the task's result could not be sent back: {exc!r}"),
                  traceback.format_exc()))


class WorkerPool(concurrent.futures.Executor):
    """Persistent worker processes with per-task crash and deadline isolation.

    Args:
      workers: number of processes (default: the CPUs this process may use).
      pin_threads: start workers with one BLAS/OpenMP/XLA thread each.
      initializer, initargs: run once in each worker when it starts (and restarts).
      start_method: multiprocessing start method ("spawn" is safe beside JAX's threads).
      prefetch: jobs sent to a worker ahead (1 running + the rest waiting): hides the round trip
        to the parent between two short tasks. A waiting job of a worker that dies is requeued.
    """

    def __init__(self, workers: int | None = None, *, pin_threads: bool = True,
                 initializer: Callable[..., None] | None = None, initargs: tuple = (),
                 start_method: str = "spawn", prefetch: int = 2):
        n = workers if workers is not None else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        if n < 1:
            raise ValueError(f"WorkerPool: workers must be >= 1, got {n}")
        if prefetch < 1:
            raise ValueError(f"WorkerPool: prefetch must be >= 1, got {prefetch}")
        self.size, self.prefetch = n, prefetch
        self._ctx = multiprocessing.get_context(start_method)
        self._pin, self._init, self._initargs = pin_threads, initializer, initargs
        self._queue: collections.deque[_Job] = collections.deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._shutdown = False
        self._woken = False
        self._next_id = 0
        self.restarts = 0
        self._startup_failures = 0
        self._broken: str | None = None
        self._workers = [self._spawn() for _ in range(n)]
        self._thread = threading.Thread(target=self._dispatch, name="qsynth-worker-pool", daemon=True)
        self._thread.start()

    # -- public -----------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        return self.submit_with_deadline(None, fn, *args, **kwargs)

    def submit_with_deadline(self, kill_after: float | None, fn: Callable[..., Any], /, *args: Any,
                             **kwargs: Any) -> concurrent.futures.Future:
        """Like `submit`; a task still running `kill_after` seconds after it started is killed
        with its worker, and its future fails with `TimeoutError`."""
        payload = pickle.dumps((fn, args, kwargs))  # an unpicklable task fails here, in the caller
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._broken is not None:
                raise RuntimeError(f"WorkerPool is broken: {self._broken}")
            if self._shutdown:
                raise RuntimeError("WorkerPool: cannot submit after shutdown")
            self._queue.append(_Job(future, payload, kill_after))
        self._wake()
        return future

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until every worker has started (imports done): time the work, not the start-up."""
        end = time.monotonic() + timeout
        while not all(w.ready for w in self._workers):
            if self._broken is not None:
                raise RuntimeError(f"WorkerPool is broken: {self._broken}")
            if time.monotonic() > end:
                raise TimeoutError(f"WorkerPool: workers not ready after {timeout} s")
            time.sleep(0.01)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._queue:
                    self._queue.popleft().future.cancel()
        self._wake()
        if wait:
            self._thread.join()

    # -- internals --------------------------------------------------------------------------
    def _wake(self) -> None:
        if self._woken:  # one byte in the pipe is enough until the dispatcher has looked
            return
        self._woken = True
        try:
            self._wake_w.send_bytes(b"!")
        except OSError:
            pass

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(child, self._init, self._initargs), daemon=True,
                                    name="qsynth-oracle-worker")
        with _ENV_LOCK:  # spawned children inherit the environment at start: pin their threads there
            saved = dict(os.environ)
            if self._pin:
                os.environ.update(_PINNED)
                flags = os.environ.get("XLA_FLAGS", "")
                if "intra_op_parallelism_threads" not in flags:
                    os.environ["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
            try:
                process.start()
            finally:
                os.environ.clear()
                os.environ.update(saved)
        child.close()
        return _Worker(process, parent)

    def _replace(self, i: int) -> None:
        old = self._workers[i]
        try:
            old.conn.close()
        except OSError:
            pass
        old.process.join(timeout=1.0)
        self.restarts += 1
        self._workers[i] = self._spawn()

    def _finish(self, job: _Job, ok: bool, value: Any, tb: str = "") -> None:
        if job.future.done():
            return
        if ok:
            job.future.set_result(value)
        else:
            if tb and isinstance(value, BaseException):
                value.add_note(f"in the worker process:\n{tb}")
            job.future.set_exception(value)

    def _fail_all(self, reason: str) -> None:
        self._broken = reason
        with self._lock:
            self._shutdown = True
            while self._queue:
                job = self._queue.popleft()
                if job.future.running() or job.future.set_running_or_notify_cancel():
                    job.future.set_exception(RuntimeError(f"WorkerPool: {reason}"))

    def _assign(self) -> None:
        """Give each ready worker up to `prefetch` jobs (one running, the next ones waiting in its pipe,
        so a worker never idles while the parent reacts to its last result); fill breadth-first."""
        for depth in range(1, self.prefetch + 1):
            for w in self._workers:
                if not w.ready or len(w.jobs) >= depth:
                    continue
                with self._lock:
                    job = self._queue.popleft() if self._queue else None
                if job is None:
                    return
                if not (job.future.running() or job.future.set_running_or_notify_cancel()):
                    continue  # cancelled while queued
                self._next_id += 1
                if not w.jobs:
                    w.deadline = None if job.kill_after is None else time.monotonic() + job.kill_after
                w.jobs.append((self._next_id, job))
                try:
                    w.conn.send((self._next_id, job.payload))
                except OSError:  # the worker is gone; its sentinel reports the crash
                    pass

    def _lose_worker(self, i: int, error: BaseException) -> None:
        """Worker i is dead (or killed): its running job fails with `error`, its waiting jobs go back
        to the front of the queue, and a fresh worker takes its place."""
        w = self._workers[i]
        for pgid in w.groups:  # the programs it started die with it
            children.kill_group(pgid)
        running = w.jobs.popleft()[1] if w.jobs else None
        with self._lock:
            for _, job in reversed(w.jobs):
                self._queue.appendleft(job)
        w.jobs.clear()
        if self._broken is None:
            self._replace(i)
        if running is not None:
            self._finish(running, False, error)

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                idle = not self._queue and all(not w.jobs for w in self._workers)
                if self._shutdown and idle:
                    break
            self._assign()
            deadlines = [w.deadline for w in self._workers if w.deadline is not None]
            wait_s = None if not deadlines else max(0.0, min(deadlines) - time.monotonic())
            objects = [self._wake_r] + [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
            ready = multiprocessing.connection.wait(objects, timeout=wait_s)
            if self._wake_r in ready:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
                self._woken = False  # (the next loop's _assign sees every job queued before this)
            for i, w in enumerate(self._workers):
                while w.conn in ready and w.conn.poll():
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        break
                    if msg[0] == "ready":
                        w.ready = True
                    elif msg[0] == "group":
                        (w.groups.add if msg[1] == "started" else w.groups.discard)(msg[2])
                    elif w.jobs and msg[0] == w.jobs[0][0]:
                        _, job = w.jobs.popleft()
                        nxt = w.jobs[0][1] if w.jobs else None
                        w.deadline = None if nxt is None or nxt.kill_after is None else \
                            time.monotonic() + nxt.kill_after
                        self._finish(job, msg[1] == "ok", msg[2], msg[3] if len(msg) > 3 else "")
                if w.process.sentinel in ready and not w.process.is_alive():
                    code = w.process.exitcode
                    if not w.ready:
                        self._startup_failures += 1
                        if self._startup_failures > 2 * self.size and self._broken is None:
                            self._fail_all(f"worker processes keep dying at start-up (last exit code {code}); "
                                           "see their stderr above (an initializer that raises? a script "
                                           "without an `if __name__ == \"__main__\":` guard?)")
                    self._lose_worker(i, WorkerCrashed(f"the worker process (pid {w.process.pid}) died with "
                                                       f"exit code {code}" + _signal_name(code)))
                elif w.deadline is not None and time.monotonic() >= w.deadline:
                    w.process.kill()
                    kill_after = w.jobs[0][1].kill_after
                    self._lose_worker(i, TimeoutError(f"the task ran past its {kill_after:g} s deadline; its "
                                                      "worker process was killed and replaced"))
        for w in self._workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self._workers:
            w.process.join(timeout=2.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            for pgid in w.groups:
                children.kill_group(pgid)
            w.conn.close()
        self._wake_r.close()
        self._wake_w.close()


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return ""
    try:
        return f" ({signal.Signals(-code).name})"
    except ValueError:
        return ""
