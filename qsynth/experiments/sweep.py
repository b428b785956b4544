"""A run's seeds in worker processes on this machine: `qsynth run CONFIG --jobs N`.

Each seed is one task: a worker builds what the seed's runs share once — its dataset (a
simulator's reference grid), its generator, its oracle (a teacher) — and then runs every
strategy of the config on it, in the config's order, writing each (strategy, seed) folder
exactly as a serial run does; the driver holds the run's lock throughout. Workers are
started with "spawn", each pinned to its share of the cores' threads (`QSYNTH_THREADS`;
an ensemble's split into windows, `QSYNTH_WINDOWS`, is left as it is), so every label
log, checkpoint and metric (timings aside) is bitwise the serial run's. A worker dies
with its driver (`qsynth.oracles.children.watch_parent`); a seed that fails is reported
with its traceback and the others go on; `--resume` finishes only what is unfinished.
Imports no JAX (the workers do).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import traceback
from pathlib import Path
from typing import Any

__all__ = ["SweepError", "run_seeds_in_processes"]


class SweepError(RuntimeError):
    """Some seeds of a parallel sweep failed (each with its traceback, in the message)."""


def _start_worker(threads: int) -> None:
    os.environ["QSYNTH_THREADS"] = str(threads)
    from qsynth.oracles.children import watch_parent

    watch_parent()


def _run_seed(config: Any, path: str, seed: int, resume: bool, plots: bool) -> dict[str, Any]:
    """Every strategy of `config` on `seed` (in a worker): {strategy name: RunResult}."""
    import dataclasses

    from qsynth.experiments import runner
    from qsynth.experiments.oracles import RunOracles
    from qsynth.problem import Problem
    from qsynth.progress import Progress

    folder = Path(path)
    data = runner.build_dataset(config, seed)
    datasets, problems = {seed: data}, {seed: Problem.from_dataset(data)}
    generators = runner._generators(config, datasets, folder, Progress(), plots)
    mine = dataclasses.replace(config, seeds=(seed,))
    with RunOracles(mine, folder) as make_oracle:
        results = runner._run_all(mine, folder, datasets, problems, make_oracle, generators, Progress(), resume)
    return {name: by_seed[seed] for name, by_seed in results.items()}


def run_seeds_in_processes(config: Any, path: Path, jobs: int, progress: Any, *, resume: bool = False,
                           plots: bool = True) -> dict[str, dict[int, Any]]:
    """Run `config`'s seeds in `jobs` worker processes; per strategy (config order), per seed, its
    `RunResult` (runs finished before a resume are left out, as in a serial resume).

    Raises:
      SweepError: a seed's task failed (after every other seed has finished).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    workers = max(1, min(jobs, len(config.seeds)))
    context = multiprocessing.get_context("spawn")
    results: dict[int, dict[str, Any]] = {}
    failures: list[str] = []
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                initargs=(max(1, cores // workers),)) as pool:
        futures = {pool.submit(_run_seed, config, str(path), seed, resume, plots and seed == config.seeds[0]): seed
                   for seed in config.seeds}
        try:
            for future in concurrent.futures.as_completed(futures):
                seed = futures[future]
                try:
                    results[seed] = future.result()
                except Exception:  # noqa: BLE001 (reported with its traceback; the other seeds go on)
                    text = traceback.format_exc()
                    failures.append(f"seed {seed}:\n{text}")
                    progress.note(f"seed {seed} failed:\n{text}")
                    continue
                for name, result in results[seed].items():
                    progress.finish(f"{name} seed {seed}", result.history[-1], result.stop_reason)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    if failures:
        raise SweepError(f"{len(failures)} of {len(config.seeds)} seeds failed (the others finished; "
                         "--resume runs only what is unfinished):\n" + "\n".join(failures))
    names = list(dict.fromkeys(name for seed in config.seeds for name in results.get(seed, {})))
    return {name: {seed: results[seed][name] for seed in config.seeds if name in results.get(seed, {})}
            for name in names}
