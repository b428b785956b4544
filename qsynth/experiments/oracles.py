"""The oracles of a run, built from `[oracle]`, sharing one executor, closed when the run ends.

Workers (a `WorkerPool`, threads or a Dask cluster) are started once per run and reused by
every strategy and seed. What answers — the simulator's own settings (model, integrator,
horizon, contact parameters), the executor, timeouts — is written to `runs/<name>/oracle.json`.
"""

from __future__ import annotations

import concurrent.futures
import json
import urllib.parse
import os
import socket
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from qsynth.config import RunConfig
from qsynth.data.datasets import Dataset
from qsynth.store import write_whole
from qsynth.oracles import DatasetOracle, ExternalProgram, FunctionOracle, NearestNeighbourOracle, NoisyLabels, \
    ParallelOracle, WorkerPool

__all__ = ["RunOracles"]


class RunOracles:
    """`with RunOracles(config, path) as make: oracle = make(data, seed)`; executors close on exit.

    Call it once per (strategy, seed): every run gets its own oracle (so a simulator's memory
    of answered points never makes one strategy's queries free because another asked them),
    while the expensive parts — a trained teacher, the worker processes — are made once.
    """

    #: The oracle kinds whose one oracle per seed every run of that seed shares (built once).
    SHAREABLE = ("dataset", "teacher", "nearest_neighbour")

    def __init__(self, config: RunConfig, path: Path, progress: Any = None):
        self.config, self.path, self.progress = config, Path(path), progress
        self.oc = config.oracle
        self._executor: concurrent.futures.Executor | None = None
        self._closers: list[Any] = []
        self._record: dict[str, Any] = {"kind": self.oc.kind}
        self._stateless: dict[int, Any] = {}
        self._server: Any = None

    def __enter__(self) -> RunOracles:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:  # an open page shows that the run is over, not a dead address
            try:
                self._server.end("finished" if exc[0] is None else "stopped", self._answers_so_far())
            except Exception as err:  # noqa: BLE001 (the run's own error matters more)
                print(f"warning: telling the labeling page the run ended failed: {err}", file=sys.stderr)
        for close in reversed(self._closers):
            try:
                close()
            except Exception as err:  # noqa: BLE001 (closing must not hide the run's own error)
                print(f"warning: closing the oracle's executor failed: {err}", file=sys.stderr)

    def __call__(self, data: Dataset, seed: int, folder: Path | None = None) -> Any:
        """The oracle of one (strategy, seed) run, whose folder is `folder` (a person's page lists
        the latest answers its label log holds)."""
        oracle = self._build(data, seed, folder)
        if self.oc.noise > 0:
            oracle = NoisyLabels(oracle, self.oc.noise, seed=seed)
            self._record["noise"] = self.oc.noise
        write_whole(self.path / "oracle.json", json.dumps(self._record, indent=1, default=str))  # (a sweep's workers too)
        return oracle

    def shared(self, data: Dataset, seed: int) -> tuple[Any, dict[str, Any]] | None:
        """What every run of `seed` can share — a dataset, teacher or nearest-neighbour oracle, and
        what `oracle.json` says of it — built now (a sweep builds it once per seed); None for the
        kinds each run gets its own of."""
        if self.oc.kind not in self.SHAREABLE:
            return None
        if seed not in self._stateless:
            self._stateless[seed] = self._build_stateless(data, seed)
        return self._stateless[seed], dict(self._record)

    def adopt(self, seed: int, shared: tuple[Any, dict[str, Any]] | None) -> None:
        """Use `shared` (from `shared(...)`, in another process) for `seed`'s runs."""
        if shared is not None:
            self._stateless[seed] = shared[0]
            self._record.update(shared[1])

    # -- per kind -------------------------------------------------------------------------------
    def _build(self, data: Dataset, seed: int, folder: Path | None = None) -> Any:
        if self.oc.kind == "human":
            return self._human(data, folder)
        shared = self.shared(data, seed)
        return self._build_runner(data) if shared is None else shared[0]

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
        if oc.kind == "function":
            task: Any = _function_task(oc.function, data)
            self._record["function"] = oc.function
        elif oc.kind == "simulator":
            from qsynth.experiments.simulator_task import simulator_from_meta

            overrides = {}
            if data.meta["simulator"] == "ball_in_cup":  # MuJoCo writes its log files into the run folder
                overrides["log_dir"] = str(self.path / "oracle-logs")
            task = simulator_from_meta(data.meta, **overrides)
            self._record["simulator"] = task.config()
        else:  # program
            task = ExternalProgram(list(oc.command), timeout=oc.timeout or 3600.0)
            self._record["program"] = task.config()
        shape = data.x.shape[1:]
        self._record.update(workers=oc.workers, executor=oc.executor if oc.workers else "in-process",
                            timeout=oc.timeout, retries=oc.retries)
        if oc.workers == 0 and (oc.timeout is None or oc.kind == "program"):  # (a program's timeout kills it)
            return FunctionOracle(task, classes, feature_shape=shape, timeout=oc.timeout, cost=oc.cost,
                                  in_worker=False)
        if oc.workers == 0:  # a timeout in this process is a signal a function may block: one worker instead
            self._record["executor"] = "process (one worker, because a timeout is set)"
            executor = self._single_worker()
        else:
            executor = self._shared_executor()
        return ParallelOracle(task, classes, executor=executor, timeout=oc.timeout,
                              retries=oc.retries, cost=oc.cost, feature_shape=shape, reuse_answers=oc.noise == 0)

    def _human(self, data: Dataset, folder: Path | None = None) -> Any:
        """A person: a fresh session per (strategy, seed) behind one page for the whole run."""
        from qsynth.oracles.human import HumanSession, TerminalLabeler

        oc, describe = self.oc, _describer(data)
        self._record.update(interface=oc.interface, show_prediction=oc.show_prediction)
        if oc.interface == "terminal":
            return TerminalLabeler(data.classes, describe, show_prediction=oc.show_prediction, cost=oc.cost,
                                   image_dir=self.path / "human")
        history, flagged = _logged_history(folder)
        session = HumanSession(data.classes, describe, show_prediction=oc.show_prediction, cost=oc.cost,
                               answered=self._answers_so_far(), history=history, flagged=flagged)
        if self._server is None:
            self._server = self._labeling_server(session)
            self._closers.append(self._server.close)
            text = f"label the queries at {self._server.url}"
            if getattr(self.progress, "live", False):  # live bars: the line goes above them
                self.progress.note(text)
            else:
                print(text, file=sys.stderr, flush=True)
            _private_folder(self.path / "human")
            tmp = self.path / "human" / "url.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the URL holds the token
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self._server.url + "\n")
            os.chmod(tmp, 0o600)  # (a stale url.tmp of another mode)
            tmp.replace(self.path / "human" / "url")  # (whoever reads it sees a whole line)
        else:
            self._server.session.close()
            self._server.session = session
        self._record.update(host=oc.host, port=self._server.port)
        return session

    def _labeling_server(self, session: Any) -> Any:
        """The page's server on the config's host and port (0: a free one)."""
        from qsynth.oracles.human import LabelingServer

        oc = self.oc
        try:
            return LabelingServer(session, _run_token(self.path), host=oc.host, port=oc.port, title=self.config.name,
                                  keys=oc.keys)
        except OSError as exc:
            raise ValueError(f"oracle.port: cannot serve the labeling page on {oc.host}:{oc.port} "
                             f"({exc.strerror or exc}); choose another with --port, or --port 0 for a free one") \
                from None

    def _answers_so_far(self) -> int:
        """Answers the run's label logs hold (retracted ones taken off): where the page's count goes on."""
        from qsynth.session_state import logged_answers
        from qsynth.store import read_label_log

        return sum(len(logged_answers(read_label_log(log))) for log in self.path.glob("*/seed-*/labels.jsonl"))

    def _single_worker(self) -> concurrent.futures.Executor:
        """One worker process for a run with `workers = 0` and a timeout (started once, shared)."""
        if self._executor is None:
            pool = WorkerPool(1)
            self._closers.append(lambda: pool.shutdown(wait=True, cancel_futures=True))
            self._executor = pool
        return self._executor

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


def _function_task(reference: str, data: Dataset) -> Any:
    """The `[oracle] function` as a task: on a box task it is handed the physical parameters."""
    from qsynth.experiments.box_task import InBox, _resolved

    _resolved(reference)  # imports it now: a wrong reference is an error before any work
    if "box" not in data.meta:
        return _Identity(reference)
    box = data.meta["box"]
    return InBox(reference, tuple(box["low"]), tuple(box["high"]))


class _Identity:
    """A referenced function called with the query as it is (a dataset that is not a box)."""

    def __init__(self, reference: str):
        self.reference = reference

    def __call__(self, x: np.ndarray) -> Any:
        from qsynth.experiments.box_task import _resolved

        return _resolved(self.reference)(x)


def _logged_history(folder: Path | None) -> tuple[list[tuple[str, int | None, np.ndarray]], set[str]]:
    """The latest answers a run's label log holds, oldest first, as (query id, label, point) — of
    rounds before its last one (those are learned from again on resume, so they can be taken
    back) — and the queries it flags."""
    from qsynth.oracles.human.session import HISTORY
    from qsynth.session_state import logged_answers
    from qsynth.store import read_label_log

    if folder is None or not (folder / "labels.jsonl").exists():
        return [], set()
    log = read_label_log(folder / "labels.jsonl")
    points = {r["query_id"]: (r["round"], r["x"]) for r in log if r["kind"] == "query"}
    last_round = max((rnd for rnd, _ in points.values()), default=0)
    history = [(a.query_id, a.label, np.asarray(points[a.query_id][1], np.float32)) for a in logged_answers(log)
               if a.query_id in points and points[a.query_id][0] < last_round]
    return history[-HISTORY:], {r["query_id"] for r in log if r["kind"] == "flag"}


def _recorded_port(url_file: Path) -> int | None:
    """The port of the address a run's page had (`human/url`), if it has one."""
    try:
        port = urllib.parse.urlsplit(url_file.read_text(encoding="utf-8").strip()).port
    except (OSError, ValueError):
        return None
    return port or None


def labeling_port(run_path: str | Path, host: str) -> tuple[int, int | None]:
    """The port `qsynth label` serves a run's page on when none is asked for: the one the run's
    page had (`human/url`), so an open tab keeps working, if it is free; else 0 (a free one).
    Returns the port and, when the recorded one was taken, that recorded port."""
    recorded = _recorded_port(Path(run_path) / "human" / "url")
    if recorded is None:
        return 0, None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (as the server binds: TIME_WAIT is free)
        try:
            probe.bind((host, recorded))
        except OSError:
            return 0, recorded
    return recorded, None


def _private_folder(folder: Path) -> None:
    """`folder`, readable by its owner only (it holds the labeling token and the URL with it)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def _run_token(path: Path) -> str:
    """The run's labeling token: made once (random), kept readable only by its owner, reused on restart."""
    import secrets

    file = path / "human" / "token"
    _private_folder(file.parent)
    if file.exists():
        os.chmod(file, 0o600)
        return file.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(24)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


def _describer(data: Dataset) -> Any:
    """How a person sees a query of `data`: an image in [0, 1], or a table of (physical) parameters."""
    from qsynth.plotting import as_images

    if "box" in data.meta:
        box = data.meta["box"]
        low, high = np.asarray(box["low"]), np.asarray(box["high"])

        def parameters(x: np.ndarray) -> dict[str, Any]:
            values = low + np.asarray(x, np.float64).ravel() * (high - low)
            return {"table": [[n, f"{v:.4g}"] for n, v in zip(box["names"], values)]}

        return parameters
    if "simulator" in data.meta:
        from qsynth.experiments.simulator_task import simulator_from_meta

        sim = simulator_from_meta(data.meta)
        names = sim.sim.parameter_names

        def table(x: np.ndarray) -> dict[str, Any]:
            values = sim.physical(np.asarray(x, np.float64).ravel())
            return {"table": [[n, f"{v:.4g}"] for n, v in zip(names, values)]}

        return table
    if as_images(data.x[:1], data.feature_shape) is not None:
        def image(x: np.ndarray) -> dict[str, Any]:  # contrast-stretched per image (features may be standardized)
            img = as_images(np.asarray(x, np.float64)[None], data.feature_shape)[0]
            low, high = float(img.min()), float(img.max())
            return {"image": ((img - low) / max(high - low, 1e-12)).round(4).tolist()}

        return image
    return lambda x: {"table": [[f"x{i}", f"{v:.4g}"] for i, v in enumerate(np.asarray(x).ravel())]}
