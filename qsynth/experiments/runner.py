"""Run a config over strategies × seeds, write the run folder, aggregate, plot.

```
runs/<name>/config.toml   summary.json   plots/   <strategy>/seed-<k>/{labels.jsonl, metrics.csv, checkpoint/}
```
Everything that could be wrong with the config, the data or their combination is checked
for every (strategy, seed) before the first one starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import jax
import numpy as np

from qsynth import _interrupts
from qsynth.config import RunConfig, load_run_config, to_toml
from qsynth.data.datasets import Dataset
from qsynth.data.registry import make_dataset
from qsynth.experiments.summary import format_table, summarize
from qsynth.experiments.tables import write_results_csv, write_summary_csv
from qsynth.generators.train import VAE, TrainedGenerator, fit_generator, load_generator
from qsynth.loop import RunResult, run_loop
from qsynth.experiments.oracles import RunOracles
from qsynth.plugins import is_reference, resolve
from qsynth.problem import Problem
from qsynth.progress import Progress, make_progress
from qsynth.session_state import check_checkpoint_belongs
from qsynth.store import (CheckpointError, RunLock, SeedStore, load_checkpoint, read_label_log, read_metrics,
                          write_whole)
from qsynth.strategies.registry import build_strategy

__all__ = ["ExperimentResult", "load_histories", "plot_run", "resume_experiment", "run_experiment", "run_identity",
           "write_summary"]


@dataclasses.dataclass
class ExperimentResult:
    """The run folder, the summary table (dict) and every (strategy, seed) result."""

    path: Path
    summary: dict[str, dict]
    results: dict[str, dict[int, RunResult]]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("qsynth", "jax", "jaxlib", "flax", "optax", "numpy"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def build_dataset(config: RunConfig, seed: int) -> Dataset:
    """The dataset of `config` for one seed: a registered dataset, a box or simulator task, or the
    `Dataset` a `"package.module:attr"` function returns."""
    name = config.data.name
    if name not in ("simulator", "box") and not is_reference(name):
        return make_dataset(name, config.data.args, seed)
    if name == "simulator":
        from qsynth.experiments.simulator_task import simulator_dataset as build
    elif name == "box":
        from qsynth.experiments.box_task import box_dataset as build
    else:
        build = resolve(name, "data.name")
    args = dict(config.data.args)
    args.setdefault("seed", seed)
    try:
        data = build(**args)
    except TypeError as exc:
        raise ValueError(f"data.args: {exc}") from None
    if not isinstance(data, Dataset):
        raise ValueError(f"data.name: {name!r} returned {type(data).__name__}, not a qsynth.Dataset")
    return data


def task_problem(config: RunConfig, data: Dataset) -> Problem:
    """The problem a run of `config` learns on `data` (with a failure class under failures = "class")."""
    problem = Problem.from_dataset(data)
    return problem.with_failure_class() if config.oracle.failures == "class" else problem


def task_classes(config: RunConfig, data: Dataset) -> tuple[int, ...]:
    """The classes the learner of a run of `config` predicts on `data` (its failure class last)."""
    return task_problem(config, data).classes


def _prepare(config: RunConfig, progress: Progress | None = None) -> tuple[dict[int, Dataset], dict[int, Problem]]:
    datasets, problems = {}, {}
    progress = progress or Progress()
    for seed in config.seeds:
        with progress.phase(f"dataset {config.data.name}, seed {seed}"):
            data = build_dataset(config, seed)
        datasets[seed], problems[seed] = data, task_problem(config, data)
    probe = problems[config.seeds[0]]
    if config.learner.model == "cnn" and len(probe.feature_shape) < 2:
        raise ValueError(f"learner.model: 'cnn' needs image or sequence features, but {config.data.name!r} has "
                         f"feature shape {probe.feature_shape}; set data.args.as_images = true or use 'mlp'")
    if config.learner.model != "gp":  # (a GP's state is its kernel's few numbers)
        from qsynth.learners.memory import check_fits_in_memory

        lc = config.learner
        check_fits_in_memory(lc.build(probe.feature_shape, probe.num_classes),
                             f"learner.members = {lc.members}, learner.hidden = {list(lc.hidden)}")
    believers = [s for s in map(build_strategy, config.strategies) if getattr(s, "batch", None) == "believer"]
    if believers and config.loop.batch_size > 1:  # (with one query per round a believer is never asked)
        from qsynth.strategies.believer import believing_learner

        learner = config.learner.build(probe.feature_shape, probe.num_classes,
                                       datasets[config.seeds[0]].meta.get("success_values"))
        for strategy in believers:
            believing_learner(learner, strategy.name)
    for seed, problem in problems.items():
        if problem.pool is not None and config.loop.seed_size > len(problem.pool):
            raise ValueError(f"loop.seed_size ({config.loop.seed_size}) exceeds the pool of {problem.name!r} "
                             f"({len(problem.pool)} points, seed {seed})")
        for spec in config.strategies:
            strategy = build_strategy(spec)
            if getattr(strategy, "needs_generator", False):
                if is_reference(config.generator.model):
                    resolve(config.generator.model, "generator.model")  # imports it: a wrong reference fails now
                    continue
                generator = VAE(config.generator, problem.feature_shape)
                try:
                    generator.graphdef  # noqa: B018 (builds the VAE abstractly: a model that cannot fit the data raises)
                except ValueError as exc:
                    raise ValueError(f"generator: {exc}") from None
                strategy = dataclasses.replace(strategy, generator=TrainedGenerator(generator, params=None))
            strategy.init(problem)  # raises if the problem lacks the stream/pool/bounds it needs
    return datasets, problems


def run_experiment(config: RunConfig, out_dir: str | Path = "runs", *, progress: bool = True,
                   plots: bool = True, overwrite: bool = False, resume: bool = False, jobs: int | None = None,
                   dask: str | None = None) -> ExperimentResult:
    """Run every strategy of `config` on every seed; write `out_dir/<config.name>/`.

    A folder that already holds a run is never appended to or deleted: it is an error, or
    with `overwrite` it is first renamed to `<name>.replaced-<UTC time>` (no label is lost),
    or with `resume` the run goes on where it stopped (see `resume_experiment`). The run
    folder is locked for as long as this writes it (one writer per run). With `jobs` > 1 the
    (strategy, seed) runs go to that many worker processes, and with `dask` (an address, or ""
    for a local cluster of `jobs` workers) to a Dask cluster (`qsynth.experiments.sweep`), with
    the same results; both default to the config's `[run]`.

    Raises:
      ValueError: the config does not fit the data (raised before any run starts).
      FileExistsError: the run folder already holds a run and neither `overwrite` nor `resume` is set.
      RuntimeError: another process is writing the run.
    """
    path = Path(out_dir) / config.name
    jobs = config.run.jobs if jobs is None else jobs
    if dask is None and config.run.executor == "dask":
        dask = config.run.dask_address
    if jobs < 1:
        raise ValueError(f"--jobs: must be >= 1, got {jobs}")
    if (jobs > 1 or dask is not None) and config.oracle.kind == "human":
        raise ValueError("--jobs: a person labels one run at a time; run a human-oracle config without --jobs "
                         "or --dask (and with [run] jobs = 1)")
    occupied = any(path.glob("*/seed-*/labels.jsonl")) and not resume
    if occupied and not overwrite:  # before building datasets: a simulator's reference grid can take a minute
        raise FileExistsError(f"{path} already holds a run; choose another name (--name), pass --resume "
                              f"{path} to continue it, or --overwrite to move the old run aside")
    if occupied:
        with RunLock(path):  # fails now, before any work, while another process writes the old run
            pass
    typing_here = config.oracle.kind == "human" and config.oracle.interface == "terminal"
    bar = make_progress(len(config.strategies) * len(config.seeds), enabled=progress, live=not typing_here)
    try:
        return _run_experiment(config, path, bar, progress, plots, occupied, resume, jobs, dask)
    finally:
        bar.close()


def _run_experiment(config: RunConfig, path: Path, bar: Progress, progress: bool, plots: bool, occupied: bool,
                    resume: bool, jobs: int = 1, dask: str | None = None) -> ExperimentResult:
    datasets, problems = _prepare(config, bar)
    if occupied:
        with RunLock(path):  # held while the folder is moved: no writer can be inside it
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            backup = path.with_name(f"{path.name}.replaced-{stamp}")
            path.rename(backup)
        if progress:
            bar.note(f"moved the previous run to {backup}")
    path.mkdir(parents=True, exist_ok=True)
    with RunLock(path):
        _record_data_files(path, datasets, resume)
        if not resume or not (path / "config.toml").exists():
            write_whole(path / "config.toml", to_toml(config, _versions()))
        if jobs > 1 or dask is not None:
            from qsynth.experiments.sweep import run_sweep

            results = run_sweep(config, path, datasets, bar, jobs=jobs, dask=dask, resume=resume, plots=plots)
        else:
            generators = _generators(config, datasets, path, bar, plots)
            with RunOracles(config, path, progress=bar) as make_oracle:
                results = _run_all(config, path, datasets, problems, make_oracle, generators, bar, resume)
        histories = load_histories(path) if resume else \
            {name: [r.history for r in by_seed.values()] for name, by_seed in results.items()}
        summary = write_summary(path, config, histories)
        if plots:
            plot_run(path, config, histories, datasets)
    return ExperimentResult(path=path, summary=summary, results=results)


def _record_data_files(path: Path, datasets: dict[int, Dataset], resume: bool) -> None:
    """Files a dataset reads in place (a memory-mapped pool) are recorded by path and SHA-256 in
    `data.json`, not copied; a resume refuses files whose contents have changed since."""
    files = next((d.meta["files"] for d in datasets.values() if d.meta.get("files")), None)
    if files is None:
        return
    record = path / "data.json"
    if resume and record.exists():
        then = json.loads(record.read_text(encoding="utf-8"))["files"]
        for field, was in then.items():
            now = files.get(field)
            if now is None or now["sha256"] != was["sha256"]:
                raise ValueError(f"data.args.{field}: {was['path']} has changed since the run began (SHA-256 "
                                 f"{was['sha256'][:12]}… then, {now['sha256'][:12] + '…' if now else 'no file'} now); "
                                 "resuming would learn from other data. Restore the file, or start a new run")
        return
    write_whole(record, json.dumps({"files": files}, indent=1))


def resume_experiment(run_path: str | Path, *, progress: bool = True, plots: bool = True,
                      oracle: dict[str, Any] | None = None, jobs: int | None = None,
                      dask: str | None = None) -> ExperimentResult:
    """Continue an interrupted run from its folder: each (strategy, seed) restores its last
    checkpoint and replays the answers logged after it (never asking an oracle again for a query
    it answered); finished ones are left as they are.

    `oracle` overrides fields of the run's `[oracle]` for this session (where a person labels:
    interface, host, port); what is answered and how it is judged stays the run's.

    Raises:
      FileNotFoundError: the folder holds no run. ConfigError: its config is from a newer qsynth.
    """
    run_path = Path(run_path)
    config = load_run_config(run_path)
    if config.name != run_path.name:
        config = dataclasses.replace(config, name=run_path.name)
    if oracle:
        config = dataclasses.replace(config, oracle=dataclasses.replace(config.oracle, **oracle))
    return run_experiment(config, run_path.parent, progress=progress, plots=plots, resume=True, jobs=jobs, dask=dask)


def _run_all(config: RunConfig, path: Path, datasets: dict[int, Dataset], problems: dict[int, Problem],
             make_oracle: RunOracles, generators: dict[int, TrainedGenerator], bar: Progress,
             resume: bool = False) -> dict[str, dict[int, RunResult]]:
    results: dict[str, dict[int, RunResult]] = {}
    for spec in config.strategies:
        for seed in config.seeds:
            result = run_one(config, path, spec, seed, datasets[seed], problems[seed], make_oracle,
                             generators.get(seed), bar, resume)
            if result is not None:
                results.setdefault(build_strategy(spec).name, {})[seed] = result
    return results


def run_one(config: RunConfig, path: Path, spec: dict[str, Any], seed: int, data: Dataset, problem: Problem,
            make_oracle: RunOracles, generator: TrainedGenerator | None, bar: Progress,
            resume: bool = False) -> RunResult | None:
    """One (strategy, seed) run of `config`, written to `path/<strategy>/seed-<seed>/` (locked while it
    runs); None where `resume` finds it finished before."""
    strategy = build_strategy(spec)
    if getattr(strategy, "needs_generator", False):
        strategy = dataclasses.replace(strategy, generator=generator)
    learner = config.learner.build(problem.feature_shape, problem.num_classes, data.meta.get("success_values"))
    seed_dir = path / strategy.name / f"seed-{seed}"
    identity = run_identity(config, spec, strategy.name, seed)
    label = f"{strategy.name} seed {seed}"
    with RunLock(seed_dir):
        if resume and _finished(seed_dir, identity, seed):
            bar.skip(label)
            bar.note(f"{label}: finished before, kept as it is")
            return None
        _interrupts.check()
        with bar.phase(f"oracle ({config.oracle.kind}), seed {seed}"):
            oracle = make_oracle(data, seed, seed_dir)
        store = SeedStore(seed_dir, fsync=config.loop.fsync, identity=identity)
        bar.start(label, config.loop.budget)

        def on_round(row: dict[str, float]) -> None:
            bar.round(row, label)
            _interrupts.check()  # (a Ctrl-C that Python dropped stops the run here, after its round)

        try:
            result = run_loop(jax.random.key(seed), problem, learner, strategy, oracle,
                              config.loop, store=store, on_round=on_round, resume=resume)
        finally:
            store.close()
    if result.resumed_from:
        bar.note(f"{label}: {result.resumed_from}")
    bar.finish(label, result.history[-1], result.stop_reason)
    return result


#: The [oracle] fields that say how a query is answered (the others say where and how fast: a
#: resumed run may change them).
_ANSWERING = ("kind", "function", "threshold", "cost", "max_distance", "command", "noise")


def run_identity(config: RunConfig, spec: dict[str, Any], strategy_name: str, seed: int) -> dict[str, Any]:
    """What names one (strategy, seed) run in its checkpoints: the strategy, the seed, and a hash of
    everything in the config that decides its numbers (data, learner, generator, loop, this
    strategy's table, how the oracle answers) — not the run's name, its other seeds or strategies,
    its summary targets, or where its oracle runs."""
    loop = dataclasses.asdict(config.loop)
    oracle = {k: getattr(config.oracle, k) for k in _ANSWERING}
    if loop.pop("failures") != "avoid":  # (in the hash only when set: runs from before it keep theirs)
        oracle["failures"] = config.oracle.failures
    decides = {"data": dataclasses.asdict(config.data), "learner": dataclasses.asdict(config.learner),
               "generator": dataclasses.asdict(config.generator), "loop": loop, "oracle": oracle, "strategy": spec}
    text = json.dumps(decides, sort_keys=True, default=str)
    return {"strategy": strategy_name, "seed": seed, "config": hashlib.sha256(text.encode()).hexdigest()[:16]}


def _finished(seed_dir: Path, identity: dict[str, Any], seed: int) -> bool:
    """Whether a (strategy, seed) run ran to its end: its last checkpoint says why it stopped, and it
    proves it belongs to this run and its label log (else `CheckpointError`, naming what differs)."""
    try:
        arrays, meta = load_checkpoint(seed_dir / "checkpoint")
    except FileNotFoundError:
        return False
    if meta.get("finished") is None:
        return False
    log = read_label_log(seed_dir / "labels.jsonl") if (seed_dir / "labels.jsonl").exists() else []
    covered = check_checkpoint_belongs(seed_dir / "checkpoint", arrays, meta, log,
                                       np.asarray(jax.random.key_data(jax.random.key(seed))), identity)
    if covered != len(log):
        raise CheckpointError(f"{seed_dir}: the run's final checkpoint covers {covered} label-log records but the log "
                              f"holds {len(log)}; records were added after the run ended. Delete "
                              f"{seed_dir / 'checkpoint'} to resume from the label log alone")
    return True


def _generators(config: RunConfig, datasets: dict[int, Dataset], path: Path,
                progress: Progress, plots: bool = True) -> dict[int, TrainedGenerator]:
    """One VAE per seed, trained on that seed's unlabeled pool, saved under `generator/seed-<k>/`."""
    if not any(getattr(build_strategy(s), "needs_generator", False) for s in config.strategies):
        return {}
    out: dict[int, Any] = {}
    for seed, data in datasets.items():
        folder = path / "generator" / f"seed-{seed}"
        if is_reference(config.generator.model):  # your own: rebuilt the same way on resume
            key = jax.random.fold_in(jax.random.key(seed), 1_000_003 + config.generator.seed)
            out[seed] = _user_generator(config.generator.model, data, key)
            continue
        if (folder / "quality.json").exists():  # a resumed run: the generator it was trained with
            out[seed] = load_generator(folder)
            continue
        t0 = time.perf_counter()
        key = jax.random.fold_in(jax.random.key(seed), 1_000_003 + config.generator.seed)
        gen = fit_generator(key, config.generator, data.x)
        gen.save(folder)
        recon = gen.reconstruction_error(data.x_test)
        (folder / "quality.json").write_text(json.dumps({
            "test_reconstruction_mse": recon, "test_feature_variance": float(np.var(data.x_test)),
            "train_seconds": time.perf_counter() - t0}, indent=1))
        progress.note(f"generator seed {seed}: trained in {time.perf_counter() - t0:.1f} s, held-out reconstruction "
                      f"MSE {recon:.3f} (feature variance {np.var(data.x_test):.3f})")
        if plots and seed == config.seeds[0]:
            from qsynth import plotting

            images = plotting.as_images(gen.sample(jax.random.key(seed), 32)[1], data.x.shape[1:])
            if images is not None:
                (path / "plots").mkdir(exist_ok=True)
                ax = plotting.plot_image_grid(images, title=f"32 decoded prior samples (generator, seed {seed}); "
                                              f"held-out reconstruction MSE {recon:.3f}")
                plotting.save(ax, str(path / "plots" / "generator_prior_samples.png"))
        out[seed] = gen
    return out


def _user_generator(reference: str, data: Dataset, key: jax.Array) -> Any:
    from qsynth.generators.base import Generator

    gen = resolve(reference, "generator.model")(data.x, key)
    if not isinstance(gen, Generator):
        raise ValueError(f"generator.model: {reference!r} made a {type(gen).__name__}, which is not a qsynth Generator "
                         "(it needs latent, feature_shape, params, generate, log_prior and sample_prior)")
    return gen


def strategy_names(config: RunConfig) -> list[str]:
    """The names of the config's strategies, in its order (the order of tables, colours and legends)."""
    return [build_strategy(spec).name for spec in config.strategies]


def in_config_order(config: RunConfig, histories: dict[str, Any]) -> dict[str, Any]:
    """`histories` with the config's strategies first, in its order (others after, by name)."""
    order = strategy_names(config)
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(histories.items(), key=lambda kv: (rank.get(kv[0], len(order)), kv[0])))


def write_summary(path: Path, config: RunConfig, histories: dict[str, list[list[dict[str, float]]]]) -> dict:
    """Aggregate the histories and write `path/summary.json`, and the tidy `summary.csv` and
    `results.csv` (`qsynth.experiments.tables`); returns the per-strategy summary."""
    summary = summarize(in_config_order(config, histories), config.targets, config.at_labels)
    (path / "summary.json").write_text(json.dumps({"name": config.name, "dataset": config.data.name,
                                                   "seeds": list(config.seeds), "strategies": summary}, indent=1),
                                       encoding="utf-8")
    write_summary_csv(path, summary)
    write_results_csv(path, strategy_names(config))
    return summary


def load_histories(path: str | Path) -> dict[str, list[list[dict[str, float]]]]:
    """Per strategy, the metrics of every seed found under a run folder."""
    path = Path(path)
    out: dict[str, list[list[dict[str, float]]]] = {}
    for metrics in sorted(path.glob("*/seed-*/metrics.csv")):
        rows = read_metrics(metrics)
        if rows:
            out.setdefault(metrics.parent.parent.name, []).append(rows)
    if not out:
        raise FileNotFoundError(f"{path}: no <strategy>/seed-<k>/metrics.csv found; is this a qsynth run folder?")
    return out


def plot_run(path: str | Path, config: RunConfig, histories: dict[str, list[list[dict[str, float]]]] | None = None,
             datasets: dict[int, Dataset] | None = None) -> list[Path]:
    """Draw the run's plots into `path/plots/`: learning curves and, for 2-D data, decision boundaries."""
    from qsynth import plotting
    from qsynth.loop import load_params

    path = Path(path)
    plots = path / "plots"
    plots.mkdir(exist_ok=True)
    histories = in_config_order(config, histories or load_histories(path))
    written = []
    styles = plotting.strategy_styles(strategy_names(config))
    seeds = f"{len(config.seeds)} seed{'s' * (len(config.seeds) != 1)}"
    with_f1 = all("f1" in runs[0][-1] for runs in histories.values())
    if with_f1:  # a success region: its F1 is the headline, beside accuracy
        import matplotlib.pyplot as plt

        _, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
        plotting.plot_learning_curves(histories, targets=config.targets, ax=left, styles=styles,
                                      title=f"{config.name}: test accuracy, {seeds}")
        left.get_legend().remove()
        ax = plotting.plot_learning_curves(histories, key="f1", ax=right, styles=styles,
                                           title=f"F1 of the success region, {seeds}")
    else:
        ax = plotting.plot_learning_curves(histories, targets=config.targets, styles=styles,
                                           title=f"{config.name}: {config.data.name}, {seeds}")
    plotting.save(ax, str(plots / "learning_curves.png"))
    written.append(plots / "learning_curves.png")
    refused = [name for name, runs in histories.items() if any(h[-1]["abstained"] + h[-1]["failed"] for h in runs)]
    if refused:  # (the strategies that never had a refusal are left out: their share is 0 throughout)
        shares = {name: [[{**row, "unanswered": (row["abstained"] + row["failed"]) / max(row["queries"], 1)}
                          for row in h] for h in histories[name]] for name in refused}
        others = len(histories) - len(refused)
        ax = plotting.plot_learning_curves(shares, key="unanswered", styles=styles,
                                           title=f"{config.name}: share of the queries not answered "
                                                 f"(abstained or failed), {seeds}"
                                                 + (f"; {others} strategies with none not shown" if others else ""))
        ax.set_ylabel("share not answered")
        plotting.save(ax, str(plots / "unanswered.png"))
        written.append(plots / "unanswered.png")
    seed = config.seeds[0]
    data = (datasets or {}).get(seed) or build_dataset(config, seed)
    if data.feature_shape == (2,):
        classes = task_classes(config, data)
        learner = config.learner.build(data.feature_shape, len(classes), data.meta.get("success_values"))
        failure = len(data.classes) if len(classes) > len(data.classes) else None  # (its index)
        positive = data.classes.index(data.meta.get("success_class", data.classes[-1]))
        seen = np.concatenate([data.x, data.x_test])
        low, high = seen.min(0) - 0.3, seen.max(0) + 0.3
        for name in histories:
            seed_dir = path / name / f"seed-{seed}"
            if not (seed_dir / "checkpoint" / "state.npz").exists():
                continue
            params = load_params(learner, str(seed_dir / "checkpoint"))
            queried, qy = _queried_points(seed_dir / "labels.jsonl", classes, failure is not None)
            acc = histories[name][0][-1]["accuracy"]
            if "simulator" in data.meta:
                from qsynth.experiments.simulator_task import simulator_from_meta

                sim = simulator_from_meta(data.meta)
                f1 = histories[name][0][-1].get("f1", float("nan"))
                ax = plotting.plot_success_region(
                    lambda x: learner.predict_proba(params, x), sim.reference, low=sim.sim.low, high=sim.sim.high,
                    names=sim.sim.parameter_names, queried=queried, queried_y=qy, positive=positive, failure=failure,
                    title=f"{name}, seed {seed}: {len(queried)} queries, grid accuracy {acc:.3f}, F1 {f1:.3f}")
                out = plots / f"region-{name}.png"
                plotting.save(ax, str(out))
                written.append(out)
                continue
            shown = (data.x, data.y) if len(data.x) else (data.x_test, data.y_test)  # a box task may have no pool
            ax = plotting.plot_decision_boundary(lambda x: learner.predict_proba(params, x), bounds=(low, high),
                                                 x=shown[0], y=shown[1], queried=queried, queried_y=qy,
                                                 positive=positive, failure=failure,
                                                 title=f"{name}, seed {seed}: accuracy {acc:.3f}")
            paths = [r["path"] for r in read_label_log(seed_dir / "labels.jsonl")
                     if r["kind"] == "query" and "path" in r]
            if paths:
                plotting.plot_ascent_paths(ax, np.asarray(paths[:12]))
            out = plots / f"boundary-{name}.png"
            plotting.save(ax, str(out))
            written.append(out)
    written += _plot_synthesis(path, plots, histories, data, seed)
    return written


def _plot_synthesis(path: Path, plots: Path, histories: dict[str, Any], data: Dataset, seed: int) -> list[Path]:
    """Query grids (image data) and latent views (2-D latents) for strategies whose queries carry codes."""
    from qsynth import plotting

    written = []
    gen_dir = path / "generator" / f"seed-{seed}"
    generator = load_generator(gen_dir) if (gen_dir / "generator.json").exists() else None
    for name in histories:
        log = path / name / f"seed-{seed}" / "labels.jsonl"
        if not log.exists():
            continue
        records = read_label_log(log)
        answers = {r["query_id"]: r for r in records if r["kind"] == "answer"}
        queries = [r for r in records if r["kind"] == "query" and not r["query_id"].startswith("seed")
                   and ("z" in r or "synthesized_x" in r or "ascent_steps" in r)]
        if not queries:
            continue
        shown = queries[:32]
        images = plotting.as_images(np.asarray([q["x"] for q in shown]), data.feature_shape)
        if images is not None:
            titles, refused = [], []
            for q in shown:
                a = answers.get(q["query_id"], {})
                said = a.get("label") if a.get("status") == "ok" else a.get("status", "?")
                score = q.get("score")
                refused.append(a.get("status") in ("abstain", "failed"))
                titles.append(f"{q['query_id'][1:5].lstrip('0')}: {score:.2f}→{said}" if score is not None else str(said))
            ax = plotting.plot_image_grid(images, titles, marked=refused,
                                          title=f"{name}, seed {seed}: the first {len(shown)} queries "
                                          "(round: acquisition → answer; red: not answered)")
            out = plots / f"queries-{name}.png"
            plotting.save(ax, str(out))
            written.append(out)
        if generator is not None and generator.latent == 2 and all("z" in q for q in queries):
            ax = plotting.plot_latent_space(generator.encode(data.x), data.y,
                                            queried=np.asarray([q["z"] for q in queries]),
                                            title=f"{name}, seed {seed}: latent codes")
            out = plots / f"latent-{name}.png"
            plotting.save(ax, str(out))
            written.append(out)
    return written


def _queried_points(log: Path, classes: tuple[int, ...], failure_class: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The queried points `[m, d]` and their class indices `[m]` (−1: no label; a FAILED answer is
    the last class's index under failures = "class")."""
    records = read_label_log(log)
    xs = {r["query_id"]: r["x"] for r in records if r["kind"] == "query"}
    ys = {r["query_id"]: (classes.index(r["label"]) if r["status"] == "ok" else
                          len(classes) - 1 if failure_class and r["status"] == "failed" else -1)
          for r in records if r["kind"] == "answer"}
    ids = [q for q in xs if q in ys]
    if not ids:
        return np.zeros((0, 2)), np.zeros(0)
    return np.asarray([xs[q] for q in ids]), np.asarray([ys[q] for q in ids])


def print_table(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    """The summary table (and its warnings) on `stream` (standard output by default)."""
    (stream or sys.stdout).write(format_table(summary) + "\n")


__all__ += ["print_table"]
