"""Parallel sweeps (issue 19, items 1-2): `--jobs N` runs the (strategy, seed) runs in worker
processes and `--dask` on a (local) Dask cluster, with every label log, checkpoint and metric
(timings aside) bitwise the serial run's; a SIGKILLed sweep resumes to the serial runs."""

from __future__ import annotations

import contextlib

import pytest

from qsynth.config import ConfigError, parse_config
from qsynth.experiments.runner import run_experiment

TABLE = {
    "name": "sweep", "seeds": [0, 1], "targets": [0.8],
    "data": {"name": "moons", "args": {"n": 80, "n_test": 80}},
    "learner": {"hidden": [8], "members": 3, "steps": 15, "warm_steps": 4},
    "oracle": {"kind": "nearest_neighbour"},  # (shared by a seed's runs, as a teacher is; cheap to build)
    "loop": {"budget": 7, "seed_size": 3, "fsync": False},
    "strategies": [{"kind": "bald"}, {"kind": "input_synthesis", "measure": "entropy", "starts": 8, "steps": 5}],
}


def test_the_workers_reports_reach_one_display():
    """What a worker's run reports (start, rounds, end, notes) is replayed on the driver's display."""
    import queue

    from qsynth.experiments.sweep import _Cluster, _Reporter
    from qsynth.progress import Progress

    class Seen(Progress):
        def __init__(self):
            super().__init__(2)
            self.calls = []

        def start(self, label, budget):
            self.calls.append(("start", label, budget))

        def round(self, row, label=None):
            self.calls.append(("round", row["queries"], label))

        def finish(self, label, row, stop_reason):
            super().finish(label, row, stop_reason)
            self.calls.append(("finish", label, stop_reason))

        def note(self, text):
            self.calls.append(("note", text))

    cluster = _Cluster.__new__(_Cluster)
    cluster.dask, cluster.events = None, queue.Queue()
    worker = _Reporter(cluster.events)
    worker.start("bald seed 1", 7)
    worker.round({"queries": 4.0, "accuracy": 0.5, "fit_s": 0.1}, "bald seed 1")
    worker.note("hello")
    worker.finish("bald seed 1", {"queries": 7.0, "accuracy": 0.75}, "budget")
    shown = Seen()
    cluster.show(shown)
    assert shown.calls == [("start", "bald seed 1", 7), ("round", 4.0, "bald seed 1"), ("note", "hello"),
                           ("finish", "bald seed 1", "budget")]
    assert shown.done == 1


def test_a_seed_folder_is_locked_while_its_run_writes_it(tmp_path):
    from qsynth.store import RunLock

    config = parse_config({**TABLE, "seeds": [0], "strategies": [{"kind": "bald"}]})
    with RunLock(tmp_path / "sweep" / "bald" / "seed-0"):  # another process (say) is writing this seed
        with pytest.raises(RuntimeError, match="seed-0 is being written by pid"):
            run_experiment(config, tmp_path, progress=False, plots=False)


def test_bad_jobs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--jobs: must be >= 1"):
        run_experiment(parse_config(TABLE), tmp_path, jobs=0)
    with pytest.raises(ValueError, match="a person labels one run at a time"):
        run_experiment(parse_config({**TABLE, "oracle": {"kind": "human"}}), tmp_path, jobs=2)
    for run in ({"jobs": 2}, {"executor": "dask"}):  # the config's [run] is where a sweep goes by default
        with pytest.raises(ValueError, match="a person labels one run at a time"):
            run_experiment(parse_config({**TABLE, "oracle": {"kind": "human"}, "run": run}), tmp_path)
    import dask
    import dask.distributed  # noqa: F401 (first: leaving the `set` below would drop the defaults it loads)

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(ValueError, match="--dask: cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"):
            run_experiment(parse_config(TABLE), tmp_path / "nowhere", progress=False, plots=False, dask="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="run.executor must be 'local' or 'dask'"):
        parse_config({**TABLE, "run": {"executor": "slurm"}})
    with pytest.raises(ConfigError, match="run.dask_address: set executor"):
        parse_config({**TABLE, "run": {"dask_address": "tcp://x:8786"}})


@pytest.mark.slow
def test_killed_failing_and_dask_sweeps_all_end_bitwise_at_the_serial_runs(tmp_path, monkeypatch):
    """One sweep's story, told once so that only its first step compiles (every process shares
    one persistent compile cache, as `tests.reliability` does):

    1. the uninterrupted serial sweep, the reference (`qsynth run`, which fills the cache);
    2. `qsynth run --jobs 2` while another process holds one run's seed folder, SIGKILLed
       mid-sweep: its workers die with it;
    3. `--resume --jobs 2`, the folder still held: that run fails, reported with its traceback
       (exit status 2), and the other runs finish;
    4. released, a serial `--resume` runs only that run, and every label log, checkpoint and
       metric (timings aside) equals the reference: no answer lost, none asked twice;
    5. a local Dask cluster of 2 workers, on the sweep's own compile cache: bitwise the
       reference again, each finished run reaches this process's one display, and the cache
       goes with the sweep.
    """
    import io
    import json
    import signal
    import time
    import uuid

    from qsynth.config import to_toml
    from qsynth.store import RunLock
    from tests import reliability as rel

    table = {**TABLE, "loop": {**TABLE["loop"], "budget": 11}}
    config = tmp_path / "sweep.toml"
    config.write_text(to_toml(parse_config(table)))
    marker = uuid.uuid4().hex
    for name, value in rel._env(marker, tmp_path / "xla").items():  # as the command lines below run
        monkeypatch.setenv(name, value)  # (and the Dask workers, which inherit them)
    serial = rel._qsynth(["run", str(config), "--out", str(tmp_path / "serial")], marker, tmp_path)
    assert serial.wait(timeout=240) == 0, serial.stderr.read()  # (it fills the compile cache the others load)
    reference = rel.outcome(tmp_path / "serial" / "sweep")
    run = tmp_path / "jobs" / "sweep"
    held = run / "input_synthesis-entropy" / "seed-1"
    with RunLock(held):  # (this process stands for another writer of that run)
        driver = rel._qsynth(["run", str(config), "--out", str(tmp_path / "jobs"), "--jobs", "2"], marker, tmp_path)
        try:
            while rel._lines(run) < 10 and driver.poll() is None:  # both seeds under way
                time.sleep(0.05)
            assert driver.poll() is None, driver.stderr.read()
            before = rel._answers(run)
            driver.send_signal(signal.SIGKILL)
            driver.wait()
            assert rel._wait_gone(marker) == [], "a worker outlived its driver"
            resumed = rel._qsynth(["run", "--resume", str(run), "--jobs", "2"], marker, tmp_path)
            assert resumed.wait(timeout=240) == 2
        finally:
            driver.kill()
        message = resumed.stderr.read()
        assert "1 of the sweep's tasks failed" in message and "input_synthesis-entropy seed 1:" in message, message
        assert "Traceback" in message and "seed-1 is being written by pid" in message, message
    finished = run_experiment(parse_config(table), tmp_path / "jobs", progress=False, plots=False, resume=True)
    assert {name: list(by_seed) for name, by_seed in finished.results.items()} == {"input_synthesis-entropy": [1]}
    assert rel.check(reference, run, before) == []

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")  # (so the sweep makes, and must remove, its own)
    shown = io.StringIO()
    with contextlib.redirect_stderr(shown):
        on_dask = run_experiment(parse_config(table), tmp_path / "dask", plots=False, jobs=2, dask="")
    assert rel.check(reference, on_dask.path, {}) == []
    assert list(on_dask.results) == ["bald", "input_synthesis-entropy"]
    summary = json.loads((tmp_path / "serial" / "sweep" / "summary.json").read_text())["strategies"]
    assert {name: s["final_accuracy"] for name, s in on_dask.summary.items()} == \
        {name: s["final_accuracy"] for name, s in summary.items()}
    done = sorted(line.split(":")[0].split("] ")[1] for line in shown.getvalue().splitlines() if line.startswith("["))
    assert done == ["bald seed 0", "bald seed 1", "input_synthesis-entropy seed 0", "input_synthesis-entropy seed 1"]
    assert not (run / ".compile-cache").exists() and not (on_dask.path / ".compile-cache").exists()


def test_local_workers_get_their_share_of_threads(monkeypatch):
    """Each of N local workers' BLAS libraries get one thread and OpenMP cores / N (spinning
    OpenBLAS threads made a GP sweep slower than serial), and a one-thread worker's XLA runs its
    operations on one thread; a variable the user set is kept, and the driver's own environment
    is left as it was."""
    import os

    from qsynth import _local_workers
    from qsynth._parallel import BLAS_THREAD_VARIABLES, XLA_ONE_THREAD

    for name in (*BLAS_THREAD_VARIABLES, "OMP_NUM_THREADS", "XLA_FLAGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    assert _local_workers.thread_environment(1) == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                                    "XLA_FLAGS": XLA_ONE_THREAD}
    assert _local_workers.thread_environment(2) == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"}
    workers = _local_workers.start(2)
    try:
        names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
        seen = tuple(workers.executor.submit(os.getenv, name).result() for name in names)
    finally:
        workers.close()
    one = workers.threads == 1
    assert seen == ("1", str(workers.threads), "3", XLA_ONE_THREAD if one else None)
    assert not {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS"} & set(os.environ)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")  # the user's own choice is kept
    assert "XLA_FLAGS" not in _local_workers.thread_environment(1)


def test_local_workers_run_on_cores_of_their_own(monkeypatch):
    """XLA keeps a thread pool of one thread per core whatever `XLA_FLAGS` say, so unbound workers
    took each other's cores (a teacher's fit took 6.3 s in each of two concurrent processes and
    5.3 s in each when bound): each local worker binds itself to its own share of the cores before
    it loads JAX, and runs on all of them where there are fewer cores than workers."""
    import multiprocessing
    import os

    from qsynth import _local_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert _local_workers.core_shares(2) == [(0, 1), (2, 3)]
    assert _local_workers.core_shares(3) == [(0,), (1,), (2,)]
    assert _local_workers.core_shares(5) == []
    monkeypatch.undo()

    context = multiprocessing.get_context("spawn")
    mine = sorted(os.sched_getaffinity(0))
    for shares, expected in (([(mine[-1],)], {mine[-1]}), ([], set(mine))):
        cores = context.Queue()
        for share in shares:
            cores.put(share)
        with context.Pool(1, initializer=_local_workers._start_worker, initargs=(None, cores, {})) as pool:
            assert pool.apply(os.sched_getaffinity, (0,)) == expected


def test_qsynth_run_starts_its_local_workers_before_it_loads_jax(monkeypatch):
    """`qsynth run --jobs N` starts the sweep's N workers before it imports JAX, and the sweep takes
    those; a sweep with another number of workers starts its own."""
    import argparse
    import types

    from qsynth import _local_workers, cli

    started = []

    def start(jobs: int) -> types.SimpleNamespace:
        started.append(jobs)
        return types.SimpleNamespace(jobs=jobs, close=lambda: None)

    monkeypatch.setattr(_local_workers, "start", start)
    for jobs, dask, check, expected in ((2, None, False, [2]), (1, None, False, []), (None, None, False, []),
                                        (2, "", False, []), (2, None, True, [])):
        started.clear()
        cli._prestart_workers(argparse.Namespace(command="run", config=None, resume=None, check=check, jobs=jobs,
                                                 dask=dask))  # (the default job, --jobs, --dask, --check)
        assert started == expected
    assert _local_workers.take(3).jobs == 3 and _local_workers.take(2).jobs == 2
    assert started == [3]  # (the prestarted two were taken, not started again)
    assert not _local_workers._prestarted


def test_a_local_dask_worker_binds_its_task_thread_to_its_own_cores(monkeypatch):
    """On a local Dask cluster each worker binds its task thread (and so XLA's threads, which it
    starts) to the share of the cores its name picks (Dask, 2 workers on 2 cores: 47.3 s -> 40.4 s
    on the default job); a worker not named by an index (another cluster's) is left alone."""
    import os
    import types

    import dask.distributed

    from qsynth.experiments import sweep

    bound: list[tuple[int, ...]] = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cores: bound.append((pid, tuple(cores))))
    for name in (0, 1, "2"):
        monkeypatch.setattr(dask.distributed, "get_worker", lambda name=name: types.SimpleNamespace(name=name))
        sweep._bind_dask_worker(((0, 1), (2, 3)))
    monkeypatch.setattr(dask.distributed, "get_worker", lambda: types.SimpleNamespace(name="tcp://10.0.0.7:40000"))
    sweep._bind_dask_worker(((0, 1), (2, 3)))
    assert bound == [(0, (0, 1)), (0, (2, 3)), (0, (0, 1))]
