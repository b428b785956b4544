"""A run's (strategy, seed) runs in parallel: worker processes on this machine (`qsynth run
CONFIG --jobs N`) or tasks on a Dask cluster (`--dask ADDRESS`; a local cluster without one).

The sweep is two kinds of task. A seed's *preparation* builds what its runs share, once: the
generator (trained and saved under `generator/seed-<k>/`, as a serial run saves it) and a
teacher, dataset or nearest-neighbour oracle (sent back to the driver and handed to each of the
seed's runs). Each *run* is one (strategy, seed): it writes `<strategy>/seed-<k>/` exactly as a
serial run does, under that folder's own lock, while the driver holds the run's. A worker keeps
what it has loaded (a seed's problem and generator, the run's oracles) for its next task.

Local workers (`qsynth._local_workers`) are each bound to their own share of the cores, their
BLAS and XLA threads pinned to it, and `qsynth run` starts them before it loads JAX itself; a
local Dask cluster's workers bind their task thread to their share by name.
Every task pins its process before any work: `QSYNTH_THREADS` to its share of the cores,
`QSYNTH_WINDOWS` to the driver's (the split decides the numbers, so a worker on another
machine computes the serial run's), and a persistent XLA compile cache the workers share (the
`JAX_COMPILATION_CACHE_DIR` you set, else `<run>/.compile-cache`, removed when the sweep ends),
so a program one worker compiled is loaded, not compiled again, by the others. So every label
log, checkpoint and metric (timings aside) is bitwise the serial run's. Workers die with their
driver (`qsynth.oracles.children.watch_parent`); a run that fails is reported with its
traceback while the others go on; `--resume` finishes only what is unfinished. What the runs
report (start, rounds, end) reaches the driver's one progress display through a queue.

Imports no JAX (the workers do).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import queue as queues
import shutil
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from qsynth import _local_workers

__all__ = ["SweepError", "run_sweep"]


class SweepError(RuntimeError):
    """Some runs of a parallel sweep failed (each with its traceback, in the message)."""


@dataclasses.dataclass(frozen=True)
class Pinning:
    """What a task sets in its process before it runs: threads (None: the worker's own cores),
    the ensemble's windows, the shared compile cache, and on a local Dask cluster each worker's
    own cores (by the worker's name, 0 to N-1; empty: leave the cores alone)."""

    threads: int | None
    windows: int
    compile_cache: str
    cores: tuple[tuple[int, ...], ...] = ()


# -- in a worker ------------------------------------------------------------------------------

_kept: dict[Any, Any] = {}  # what this worker has built: "oracles": (sweep id, RunOracles); (sweep id, seed): (problem, generator)


def _pin(pinning: Pinning) -> None:
    if pinning.threads is not None:
        os.environ["QSYNTH_THREADS"] = str(pinning.threads)
    os.environ["QSYNTH_WINDOWS"] = str(pinning.windows)
    if _kept.get("pinned") == pinning:
        return
    if pinning.cores and "pinned" not in _kept:
        _bind_dask_worker(pinning.cores)
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", pinning.compile_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # a sweep's programs are small and many
    if "pinned" not in _kept:
        from qsynth.oracles.children import watch_parent

        watch_parent()
    _kept["pinned"] = pinning


def _bind_dask_worker(cores: tuple[tuple[int, ...], ...]) -> None:
    """Bind this thread, the local Dask worker's one task thread (and so the XLA threads it starts
    when it first loads JAX), to the worker's own share of the cores, as a local worker binds
    itself (`qsynth._local_workers`)."""
    from dask.distributed import get_worker

    try:
        share = cores[int(get_worker().name) % len(cores)]
    except (ValueError, TypeError):  # (not a worker of the sweep's own local cluster)
        return
    os.sched_setaffinity(0, share)


class _Reporter:
    """A worker's stand-in for the driver's progress display: every call goes to the driver, a
    run's rounds at most every `ROUNDS_EVERY` seconds (the latest one; each `put` to a Dask
    queue is a message through the scheduler)."""

    live = False
    ROUNDS_EVERY = 0.5

    def __init__(self, events: Any):
        self.events = events
        self.rounds: dict[Any, tuple[Any, ...]] = {}  # label: its latest round not yet sent
        self.sent = 0.0

    def _send(self, *event: Any) -> None:
        if event[0] == "round":
            self.rounds[event[2]] = event
            if time.monotonic() - self.sent < self.ROUNDS_EVERY:
                return
        out, self.rounds = [*self.rounds.values(), *([] if event[0] == "round" else [event])], {}
        self.sent = time.monotonic()
        try:
            for one in out:
                self.events.put(one)
        except Exception:  # noqa: BLE001 (a display that is gone never stops a run)
            pass

    def start(self, label: str, budget: int) -> None:
        self._send("start", label, budget)

    def round(self, row: dict[str, float], label: str | None = None) -> None:
        self._send("round", {k: row[k] for k in ("queries", "accuracy") if k in row}, label)

    def finish(self, label: str, row: dict[str, float], stop_reason: str) -> None:
        self._send("finish", label, row, stop_reason)

    def skip(self, label: str) -> None:
        self._send("skip", label)

    def note(self, text: str) -> None:
        self._send("note", text)

    def phase(self, text: str) -> Any:
        from qsynth.progress import Progress

        return Progress.phase(self, text)


def _one_seed(config: Any, seed: int) -> Any:
    return dataclasses.replace(config, seeds=(seed,))


def _train_generator(config: Any, path: str, sweep: str, seed: int, data: Any, plots: bool, pinning: Pinning,
                     events: Any = None) -> None:
    """Train `seed`'s generator and save it under `generator/seed-<k>/` (a task; a saved one is kept)."""
    _pin(pinning)
    from qsynth.experiments import runner

    report = _Reporter(events or _local_workers.events)
    generators = runner._generators(_one_seed(config, seed), {seed: data}, Path(path), report, plots)
    _kept[sweep, seed] = (runner.task_problem(config, data), generators.get(seed))


def _share_oracle(config: Any, path: str, sweep: str, seed: int, data: Any, pinning: Pinning,
                  events: Any = None) -> Any:
    """Build `seed`'s shareable oracle (a teacher, say) and return it with its `oracle.json` record (a task)."""
    _pin(pinning)
    report = _Reporter(events or _local_workers.events)
    with report.phase(f"oracle ({config.oracle.kind}), seed {seed}"):
        return _oracles(config, path, sweep, report).shared(data, seed)


def _run(config: Any, path: str, sweep: str, index: int, seed: int, data: Any, shared: Any, resume: bool,
         pinning: Pinning, events: Any = None) -> Any:
    """Strategy `index` of `config` on `seed` (a task): its `RunResult`, None if it had finished before."""
    _pin(pinning)
    from qsynth.experiments import runner

    report = _Reporter(events or _local_workers.events)
    if (sweep, seed) not in _kept:  # (another worker trained the generator: load it)
        generators = runner._generators(_one_seed(config, seed), {seed: data}, Path(path), report, False)
        _kept[sweep, seed] = (runner.task_problem(config, data), generators.get(seed))
    problem, generator = _kept[sweep, seed]
    oracles = _oracles(config, path, sweep, report)
    oracles.adopt(seed, shared)
    return runner.run_one(config, Path(path), config.strategies[index], seed, data, problem, oracles, generator,
                          report, resume)


def _oracles(config: Any, path: str, sweep: str, report: Any) -> Any:
    """This worker's `RunOracles` for the sweep (its executors are started once, closed when the
    worker ends or the next sweep comes)."""
    import atexit

    from qsynth.experiments.oracles import RunOracles

    kept = _kept.get("oracles")
    if kept is not None and kept[0] == sweep:
        return kept[1]
    if kept is not None:
        kept[1].__exit__(None, None, None)
        for key in [k for k in _kept if isinstance(k, tuple)]:
            del _kept[key]
    oracles = RunOracles(config, Path(path), progress=report)
    if "atexit" not in _kept:
        atexit.register(lambda: _kept["oracles"][1].__exit__(None, None, None))
        _kept["atexit"] = True
    _kept["oracles"] = (sweep, oracles)
    return oracles


# -- in the driver ----------------------------------------------------------------------------

def run_sweep(config: Any, path: Path, datasets: dict[int, Any], progress: Any, *, jobs: int = 2,
              dask: str | None = None, resume: bool = False, plots: bool = True) -> dict[str, dict[int, Any]]:
    """Run `config`'s (strategy, seed) runs in `jobs` local worker processes, or as tasks on the Dask
    cluster at address `dask` (`""`: a local cluster of `jobs` workers). Per strategy (config
    order), per seed, its `RunResult` (runs finished before a resume are left out, as in a serial
    resume). `datasets`: each seed's dataset, built by the driver.

    Raises:
      SweepError: some runs failed (after every other run has finished).
    """
    from qsynth import _parallel
    from qsynth.experiments.oracles import RunOracles
    from qsynth.strategies.registry import build_strategy

    own_cache = not os.environ.get("JAX_COMPILATION_CACHE_DIR")
    cache = str(path / ".compile-cache") if own_cache else os.environ["JAX_COMPILATION_CACHE_DIR"]
    sweep = uuid.uuid4().hex
    specs = [build_strategy(s) for s in config.strategies]
    names = [strategy.name for strategy in specs]
    needs_generator = [getattr(strategy, "needs_generator", False) for strategy in specs]
    share_oracle = config.oracle.kind in RunOracles.SHAREABLE
    cluster = _Cluster(jobs, dask)
    pinning = Pinning(cluster.threads, _parallel.windows(), cache, cluster.cores)
    results: dict[tuple[int, int], Any] = {}
    failures: dict[str, list[str]] = {}  # traceback: what failed with it
    try:
        pending: dict[concurrent.futures.Future, tuple[str, int, int]] = {}
        waiting = {seed: list(range(len(specs))) for seed in config.seeds}  # the runs not yet submitted
        shared: dict[int, Any] = {}  # seed: its shareable oracle (None: each run builds its own)
        generator_ready: set[int] = set()

        def submit_ready(seed: int) -> None:
            if share_oracle and seed not in shared:
                return
            for index in [i for i in waiting[seed] if seed in generator_ready or not needs_generator[i]]:
                waiting[seed].remove(index)
                future = cluster.submit(_run, config, str(path), sweep, index, seed, datasets[seed],
                                        shared.get(seed), resume, pinning, cluster.events_for_task)
                pending[future] = ("run", index, seed)

        # What a seed shares goes first: the first seed's generator and oracle side by side (each
        # worker compiles one), then every other seed's generator (quick once compiled, so they
        # run on the worker that compiled it, not loaded again by the other), then their oracles.
        first, *rest = config.seeds
        preparation = [("generator", first), ("oracle", first), *[("generator", s) for s in rest],
                       *[("oracle", s) for s in rest]]
        for kind, seed in preparation:
            if kind == "generator" and any(needs_generator):
                future = cluster.submit(_train_generator, config, str(path), sweep, seed, datasets[seed],
                                        plots and seed == first, pinning, cluster.events_for_task)
                pending[future] = ("generator", -1, seed)
            elif kind == "generator":
                generator_ready.add(seed)
            elif share_oracle:
                future = cluster.submit(_share_oracle, config, str(path), sweep, seed, datasets[seed], pinning,
                                        cluster.events_for_task)
                pending[future] = ("oracle", -1, seed)
        for seed in config.seeds:
            submit_ready(seed)
        while pending:
            done, _ = concurrent.futures.wait(list(pending), timeout=0.25,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            cluster.show(progress)
            for future in done:
                kind, index, seed = pending.pop(future)
                try:
                    value = future.result()
                except Exception as exc:  # noqa: BLE001 (reported with its traceback; the other runs go on)
                    text = "".join(traceback.format_exception(exc))
                    what = f"seed {seed}'s {kind}" if kind != "run" else f"{names[index]} seed {seed}"
                    lost = [i for i in waiting[seed] if kind == "oracle" or needs_generator[i]] if kind != "run" else []
                    if lost:  # the runs that needed it cannot start
                        waiting[seed] = [i for i in waiting[seed] if i not in lost]
                        what += f" (so {', '.join(names[i] for i in lost)} did not run)"
                    if text not in failures:  # (the same error in many runs is shown once)
                        progress.note(f"{what} failed:\n{text}")
                    else:
                        progress.note(f"{what} failed: the same error as {failures[text][0]}")
                    failures.setdefault(text, []).append(what)
                    continue
                if kind == "generator":
                    generator_ready.add(seed)
                elif kind == "oracle":
                    shared[seed] = value
                elif value is not None:
                    results[index, seed] = value
                if kind != "run":
                    submit_ready(seed)
        cluster.show(progress)
    except BaseException:
        cluster.cancel()
        raise
    finally:
        cluster.close()
        if own_cache:
            shutil.rmtree(cache, ignore_errors=True)
    if failures:
        count = sum(len(whats) for whats in failures.values())
        raise SweepError(f"{count} of the sweep's tasks failed (the other runs finished; --resume runs only what is "
                         "unfinished):\n" + "\n".join(f"{', '.join(whats)}:\n{text}" for text, whats in failures.items()))
    return {names[i]: {seed: results[i, seed] for seed in config.seeds if (i, seed) in results}
            for i in range(len(names)) if any((i, seed) in results for seed in config.seeds)}


class _Cluster:
    """Local worker processes ("spawn", each pinned to its share of the cores) or a Dask client;
    `submit` returns a `concurrent.futures.Future`; `show` hands the runs' reports to a display."""

    def __init__(self, jobs: int, dask: str | None):
        from qsynth._parallel import usable_cores

        self.dask, self.closers, self.futures = dask, [], []
        self.cores: tuple[tuple[int, ...], ...] = ()  # (a local Dask cluster's workers' own cores)
        if dask is None:  # (started already where `qsynth run` did so before it loaded JAX)
            workers = _local_workers.take(jobs)
            self.events: Any = workers.events
            self.events_for_task = None  # (each worker got the queue when it started)
            self.threads: int | None = workers.threads
            self.closers.append(workers.close)
            self.executor: Any = workers.executor
            return
        try:
            from dask.distributed import Client, LocalCluster, Queue
        except ImportError as exc:
            raise ValueError(f"--dask: needs Dask: pip install 'qsynth[dask]' ({exc})") from None
        import logging

        if dask:
            try:
                client = Client(dask)
            except OSError as exc:
                raise ValueError(f"--dask: cannot reach the Dask scheduler at {dask!r} ({exc}); start one "
                                 "(dask scheduler) or give --dask with no address for a local cluster") from None
            self.threads = None
        else:
            import dask

            self.threads = max(1, usable_cores() // jobs)
            self.cores = tuple(_local_workers.core_shares(jobs))
            environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
                       if k != "MALLOC_TRIM_THRESHOLD_"}  # (trimming the heap at 64 KiB costs XLA's threads a third
            xla = _local_workers.thread_environment(self.threads).get("XLA_FLAGS")  # of their time in the kernel)
            if xla is not None:
                environ["XLA_FLAGS"] = xla
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                                  "distributed.worker.profile.enabled": False}):
                cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR)
            self.closers.append(cluster.close)
            client = Client(cluster)
        self.closers.insert(0, client.close)
        self.client = client
        self.events = Queue(f"qsynth-progress-{uuid.uuid4().hex}", client=client)
        self.events_for_task = self.events
        self.executor = client.get_executor(pure=False)

    def submit(self, fn: Any, *args: Any) -> concurrent.futures.Future:
        future = self.executor.submit(fn, *args)
        self.futures.append(future)
        return future

    def show(self, progress: Any) -> None:
        """Hand every report that has arrived to `progress`."""
        for event in self._reports():
            kind, *args = event
            getattr(progress, kind)(*args)

    def _reports(self) -> list[Any]:
        if self.dask is None:
            out = []
            while True:
                try:
                    out.append(self.events.get_nowait())
                except queues.Empty:
                    return out
        if self.events.qsize() == 0:
            return []
        got = self.events.get(batch=True)
        return list(got or [])

    def cancel(self) -> None:
        for future in self.futures:
            future.cancel()

    def close(self) -> None:
        for close in self.closers:
            try:
                close()
            except Exception as err:  # noqa: BLE001 (closing must not hide the sweep's own error)
                print(f"warning: closing the sweep's workers failed: {err}", file=sys.stderr)
