"""`ParallelOracle`: a labeling function fanned out over an Executor, answers as they arrive.

The loop sees an asynchronous oracle (`submit`/`collect`): a batch of queries goes out at
once, and each answer comes back — validated, logged by the loop — as soon as its worker
is done, in any order. The Executor is any `concurrent.futures.Executor`: by default a
`WorkerPool` of this machine's cores (fault-isolating, started once); a thread pool for
functions that release the GIL or wait on subprocesses; a Dask cluster through
`Client.get_executor()` where one machine is not enough.

What can go wrong with one query stays with that query:

- it raises: FAILED with the traceback, retried up to `retries` times first;
- it runs past `timeout`: interrupted inside the worker (SIGALRM or the task's own
  `time_left()` checks) and FAILED; if it cannot be interrupted, the `WorkerPool` kills
  its worker `grace` seconds later (other executors cannot stop a running task: the query
  is FAILED and abandoned);
- its worker process dies: FAILED with the exit code (retried up to `retries` times);
- it answers nonsense (a label outside the class set, NaN): FAILED by validation.

A query id or a point that is already in flight is never sent twice: a second query with
the same point waits for the first one's answer (and costs nothing), so an asynchronous
run does not ask the same thing twice. Imports no JAX.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from qsynth.oracles.calls import attempt
from qsynth.oracles.workers import WorkerCrashed, WorkerPool
from qsynth.records import Answer, Queries, Status, validate_answer

__all__ = ["ParallelOracle"]


@dataclasses.dataclass
class _InFlight:
    query_id: str
    x: np.ndarray
    key: bytes
    attempts: int = 1
    errors: list[str] = dataclasses.field(default_factory=list)
    running_since: float | None = None
    followers: list[str] = dataclasses.field(default_factory=list)  # same point, asked later


class ParallelOracle:
    """Labels queries with `task(x) -> label | (label, value) | dict` on an Executor.

    Args:
      task: a picklable callable (a module-level function or an object such as a simulator).
      classes: the labels it may give.
      executor: where tasks run (default: a new `WorkerPool(workers)`, shut down by `close`).
      workers: size of the default pool.
      timeout: per-query wall-clock budget in seconds (None: none).
      grace: extra seconds before an uninterruptible query is killed (WorkerPool) or abandoned.
      retries: extra attempts for a query that raised or whose worker crashed (not for timeouts).
      cost: cost per answer.
      feature_shape: optional shape of one query; queries of another shape are FAILED at once.
      reuse_answers: answer a point asked before with its earlier answer (a deterministic
        simulator gives the same answer again) at zero cost; off for noisy oracles.
    """

    def __init__(self, task: Callable[[np.ndarray], Any], classes: tuple[int, ...], *,
                 executor: concurrent.futures.Executor | None = None, workers: int | None = None,
                 timeout: float | None = None, grace: float = 0.5, retries: int = 0, cost: float = 1.0,
                 feature_shape: tuple[int, ...] | None = None, reuse_answers: bool = True):
        if not callable(task):
            raise TypeError(f"ParallelOracle: task must be callable, got {type(task).__name__}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"ParallelOracle: timeout must be > 0 seconds, got {timeout}")
        if retries < 0:
            raise ValueError(f"ParallelOracle: retries must be >= 0, got {retries}")
        self.task = task
        self.classes = tuple(int(c) for c in classes)
        self.owns_executor = executor is None
        self.executor = WorkerPool(workers) if executor is None else executor
        self.timeout, self.grace, self.retries, self.cost = timeout, float(grace), int(retries), float(cost)
        self.feature_shape = None if feature_shape is None else tuple(int(s) for s in feature_shape)
        self.reuse_answers = reuse_answers
        self._inflight: dict[concurrent.futures.Future, _InFlight] = {}
        self._done: queue.SimpleQueue[concurrent.futures.Future] = queue.SimpleQueue()
        self._by_key: dict[bytes, _InFlight] = {}
        self._ready: list[Answer] = []
        self._answered: dict[str, Answer] = {}
        self._by_point: dict[bytes, Answer] = {}
        self._last_progress = time.monotonic()

    # -- the async form ---------------------------------------------------------------------
    @property
    def pending(self) -> tuple[str, ...]:
        """Query ids asked and not yet answered."""
        out = []
        for job in self._inflight.values():
            out += [job.query_id, *job.followers]
        return tuple(out)

    def submit(self, queries: Queries) -> None:
        pending = set(self.pending)
        for i, qid in enumerate(queries.query_id):
            if qid in pending:
                continue  # already in flight: never ask twice
            if qid in self._answered:
                self._ready.append(self._answered[qid])
                continue
            x = np.asarray(queries.x[i])
            if self.feature_shape is not None and x.shape != self.feature_shape:
                self._deliver(Answer(qid, Status.FAILED, cost=0.0, error=f"query {qid}: shape {x.shape} is not the "
                                     f"oracle's input shape {self.feature_shape}"))
                continue
            if not np.all(np.isfinite(x)):
                self._deliver(Answer(qid, Status.FAILED, cost=0.0, error=f"query {qid}: non-finite input (NaN or inf)"))
                continue
            key = x.dtype.str.encode() + str(x.shape).encode() + x.tobytes()
            if key in self._by_key:
                self._by_key[key].followers.append(qid)
            elif self.reuse_answers and key in self._by_point:
                self._deliver(_copy_for(self._by_point[key], qid))
            else:
                job = _InFlight(qid, x, key)
                self._by_key[key] = job
                self._launch(job)

    def collect(self, timeout: float | None = None) -> list[Answer]:
        """Answers that arrived; waits up to `timeout` seconds (None: until one arrives) when none has."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._ready and self._inflight:
            foreign = not isinstance(self.executor, WorkerPool) and self.timeout is not None
            wait_s = None if end is None else max(0.0, end - time.monotonic())
            if foreign:
                wait_s = 0.05 if wait_s is None else min(wait_s, 0.05)
            done: list[concurrent.futures.Future] = []
            try:  # completions arrive on a queue (O(1) each; `futures.wait` re-arms every future per call)
                done.append(self._done.get(timeout=wait_s))
                while True:
                    done.append(self._done.get_nowait())
            except queue.Empty:
                pass
            for future in done:
                if future in self._inflight:  # (an abandoned future may still finish: ignore it)
                    self._settle(future)
            if foreign:
                self._abandon_overdue()
            if end is not None and time.monotonic() >= end:
                break
        out, self._ready = self._ready, []
        return out

    def label(self, queries: Queries) -> list[Answer]:
        """The synchronous form: submit, then collect until every query of the batch is answered."""
        self.submit(queries)
        got: dict[str, Answer] = {}
        wanted = set(queries.query_id)
        while not wanted <= set(got):
            for a in self.collect(timeout=None):
                got[a.query_id] = a
            if not self._inflight and not self._ready:
                break
        return [got.get(q, Answer(q, Status.FAILED, error=f"query {q}: no answer")) for q in queries.query_id]

    def close(self) -> None:
        """Shut down the executor this oracle created (a given executor is the caller's to close)."""
        if self.owns_executor:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParallelOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------
    def _launch(self, job: _InFlight) -> None:
        args = (self.task, job.query_id, job.x, self.classes, self.timeout, self.cost)
        if isinstance(self.executor, WorkerPool):
            kill_after = None if self.timeout is None else self.timeout + self.grace
            future = self.executor.submit_with_deadline(kill_after, attempt, *args)
        else:
            future = self.executor.submit(attempt, *args)
        if not self._inflight:
            self._last_progress = time.monotonic()
        self._inflight[future] = job
        future.add_done_callback(self._done.put)

    def _settle(self, future: concurrent.futures.Future) -> None:
        job = self._inflight.pop(future)
        self._last_progress = time.monotonic()
        retriable = False
        try:
            answer, how = future.result()
            retriable = how == "raised"
        except WorkerCrashed as exc:
            answer, retriable = self._failed(job, f"worker crashed: {exc}"), True
        except TimeoutError as exc:
            answer = self._failed(job, f"timeout: {exc}")
        except concurrent.futures.CancelledError:
            answer = self._failed(job, "cancelled")
        except Exception as exc:  # noqa: BLE001 (a broken executor: BrokenProcessPool, a lost Dask worker, ...)
            answer, retriable = self._failed(job, f"the executor failed: {type(exc).__name__}: {exc}"), True
        if answer.status is Status.FAILED and retriable and job.attempts <= self.retries:
            job.errors.append(answer.error or "")
            job.attempts += 1
            try:
                self._launch(job)
                return
            except Exception as exc:  # noqa: BLE001 (the executor will not take more work)
                answer = self._failed(job, f"could not retry: {type(exc).__name__}: {exc}")
        if answer.status is Status.FAILED and job.errors:
            history = "\n".join(f"attempt {i + 1}: {e}" for i, e in enumerate(job.errors))
            answer = dataclasses.replace(answer, error=f"{answer.error}\n(after {job.attempts} attempts)\n{history}")
        self._by_key.pop(job.key, None)
        if answer.status is not Status.FAILED:
            self._by_point[job.key] = answer
        self._deliver(answer)
        for follower in job.followers:
            self._deliver(_copy_for(answer, follower))

    def _failed(self, job: _InFlight, reason: str) -> Answer:
        return Answer(job.query_id, Status.FAILED, cost=self.cost, error=f"query {job.query_id}: {reason}")

    def _deliver(self, answer: Answer) -> None:
        answer = validate_answer(answer, answer.query_id, self.classes)
        self._answered[answer.query_id] = answer
        self._ready.append(answer)

    def _abandon_overdue(self) -> None:
        """Other executors cannot kill a running task: give up on it after `timeout + grace`.

        Where the executor says when a task started (`Future.running()`), that is the clock;
        where it does not (Dask's futures never say), a query is given up once no answer at all
        has arrived for `timeout + grace` seconds (every worker is then stuck).
        """
        now = time.monotonic()
        limit = self.timeout + self.grace
        stalled = now - self._last_progress > limit
        for future, job in list(self._inflight.items()):
            if job.running_since is None and future.running():
                job.running_since = now
            if (now - job.running_since > limit) if job.running_since is not None else stalled:
                del self._inflight[future]
                future.cancel()
                self._by_key.pop(job.key, None)
                answer = self._failed(job, f"timeout: no answer within {limit:g} s (abandoned: this executor "
                                           "cannot stop a running task; its worker may stay busy)")
                self._deliver(answer)
                for follower in job.followers:
                    self._deliver(_copy_for(answer, follower))


def _copy_for(answer: Answer, query_id: str) -> Answer:
    """`answer`, given again for another query with the same point (it cost nothing more)."""
    error = answer.error
    if error is not None:
        error = error.replace(f"query {answer.query_id}:", f"query {query_id}:", 1)
        error += f" (same point as query {answer.query_id})"
    return dataclasses.replace(answer, query_id=query_id, cost=0.0, error=error)
