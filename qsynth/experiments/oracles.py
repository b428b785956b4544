"""The oracles of a run, built from `[oracle]`, sharing one executor, closed when the run ends.

Workers (a `WorkerPool`, threads or a Dask cluster) are started once per run and reused by
every strategy and seed. What answers — the simulator's own settings (model, integrator,
horizon, contact parameters), the executor, timeouts — is written to `runs/<name>/oracle.json`.
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from qsynth.config import RunConfig
from qsynth.data.datasets import Dataset
from qsynth.oracles import DatasetOracle, ExternalProgram, FunctionOracle, NearestNeighbourOracle, NoisyLabels, \
    ParallelOracle, WorkerPool

__all__ = ["RunOracles"]


class RunOracles:
    """`with RunOracles(config, path) as make: oracle = make(data, seed)`; executors close on exit.

    Call it once per (strategy, seed): every run gets its own oracle (so a simulator's memory
    of answered points never makes one strategy's queries free because another asked them),
    while the expensive parts — a trained teacher, the worker processes — are made once.
    """

    def __init__(self, config: RunConfig, path: Path, progress: bool = True):
        self.config, self.path, self.progress = config, Path(path), progress
        self.oc = config.oracle
        self._executor: concurrent.futures.Executor | None = None
        self._closers: list[Any] = []
        self._record: dict[str, Any] = {"kind": self.oc.kind}
        self._stateless: dict[int, Any] = {}

    def __enter__(self) -> RunOracles:
        return self

    def __exit__(self, *exc: object) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception as err:  # noqa: BLE001 (closing must not hide the run's own error)
                print(f"warning: closing the oracle's executor failed: {err}", file=sys.stderr)

    def __call__(self, data: Dataset, seed: int) -> Any:
        oracle = self._build(data, seed)
        if self.oc.noise > 0:
            oracle = NoisyLabels(oracle, self.oc.noise, seed=seed)
            self._record["noise"] = self.oc.noise
        (self.path / "oracle.json").write_text(json.dumps(self._record, indent=1, default=str), encoding="utf-8")
        return oracle

    # -- per kind -------------------------------------------------------------------------------
    def _build(self, data: Dataset, seed: int) -> Any:
        if self.oc.kind in ("dataset", "teacher", "nearest_neighbour"):
            if seed not in self._stateless:
                self._stateless[seed] = self._build_stateless(data, seed)
            return self._stateless[seed]
        return self._build_runner(data)

    def _build_stateless(self, data: Dataset, seed: int) -> Any:
        oc, classes = self.oc, data.classes
        if oc.kind == "dataset":
            return DatasetOracle(data.y, classes, cost=oc.cost)
        if oc.kind == "teacher":
            from qsynth.oracles.teacher import TeacherOracle

            x, y = np.concatenate([data.x, data.x_test]), np.concatenate([data.y, data.y_test])
            key = jax.random.fold_in(jax.random.key(seed), 2_000_003)
            self._record.update(threshold=oc.threshold, model="3×MLP(128, 128), trained on pool + test")
            return TeacherOracle.fit(key, x, y, classes, threshold=oc.threshold, cost=oc.cost)
        if oc.kind == "nearest_neighbour":
            self._record.update(max_distance=oc.max_distance, samples="pool + test")
            return NearestNeighbourOracle(np.concatenate([data.x, data.x_test]), np.concatenate([data.y, data.y_test]),
                                          classes, max_distance=oc.max_distance, cost=oc.cost)
        raise AssertionError(oc.kind)

    def _build_runner(self, data: Dataset) -> Any:
        """A simulator or a program, in this process or on the shared executor."""
        oc, classes = self.oc, data.classes
        if oc.kind == "simulator":
            from qsynth.experiments.simulator_task import simulator_from_meta

            overrides = {}
            if data.meta["simulator"] == "ball_in_cup":  # MuJoCo writes its log files into the run folder
                overrides["log_dir"] = str(self.path / "oracle-logs")
            task: Any = simulator_from_meta(data.meta, **overrides)
            self._record["simulator"] = task.config()
        else:  # program
            task = ExternalProgram(list(oc.command), timeout=oc.timeout or 3600.0)
            self._record["program"] = task.config()
        shape = data.x.shape[1:]
        self._record.update(workers=oc.workers, executor=oc.executor if oc.workers else "in-process",
                            timeout=oc.timeout, retries=oc.retries)
        if oc.workers == 0:
            return FunctionOracle(task, classes, feature_shape=shape, timeout=oc.timeout, cost=oc.cost)
        return ParallelOracle(task, classes, executor=self._shared_executor(), timeout=oc.timeout,
                              retries=oc.retries, cost=oc.cost, feature_shape=shape, reuse_answers=oc.noise == 0)

    def _shared_executor(self) -> concurrent.futures.Executor:
        if self._executor is not None:
            return self._executor
        oc = self.oc
        if oc.executor == "process":
            pool = WorkerPool(oc.workers)
            self._closers.append(lambda: pool.shutdown(wait=True, cancel_futures=True))
            self._executor = pool
        elif oc.executor == "threads":
            threads = concurrent.futures.ThreadPoolExecutor(oc.workers, thread_name_prefix="qsynth-oracle")
            self._closers.append(lambda: threads.shutdown(wait=False, cancel_futures=True))
            self._executor = threads
        else:
            self._executor = self._dask()
        return self._executor

    def _dask(self) -> concurrent.futures.Executor:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise ValueError(f"oracle.executor = 'dask' needs Dask: pip install 'qsynth[dask]' ({exc})") from None
        if self.oc.dask_address:
            client = Client(self.oc.dask_address)
            self._record["dask_address"] = self.oc.dask_address
        else:
            cluster = LocalCluster(n_workers=self.oc.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            self._closers.append(cluster.close)
            client = Client(cluster)
        self._closers.append(client.close)
        return client.get_executor()
