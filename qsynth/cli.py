"""The `qsynth` command: thin — parse arguments, call the library.

  qsynth run [CONFIG.toml]   run strategies × seeds (the built-in default config without one)
  qsynth run --resume RUN    continue an interrupted run
  qsynth label RUN           label a run's queries yourself (web page, or --terminal)
  qsynth plot RUN_DIR        redraw plots and the table from a run folder
  qsynth compare RUN ...     one table (paired over shared seeds) and one figure across run folders
  qsynth list                the datasets, strategy kinds and uncertainty measures a config may name
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import sys
from importlib import resources
from pathlib import Path

__all__ = ["main"]


def _default_config_path() -> Path:
    return Path(str(resources.files("qsynth") / "configs" / "default.toml"))


def _cmd_run(args: argparse.Namespace) -> int:
    from qsynth.config import load_config, load_run_config

    if args.resume:
        if args.config or args.name or args.seeds or args.overwrite or args.budget:
            raise ValueError("--resume RUN_DIR takes the config from the run folder: give no config, --name, "
                             "--seeds, --budget or --overwrite with it")
        if args.check:
            return _report_check(load_run_config(args.resume), Path(args.resume), resume=True)
        from qsynth.experiments.runner import print_table, resume_experiment

        print(f"qsynth run --resume {args.resume}", file=sys.stderr)
        result = resume_experiment(args.resume, progress=not args.quiet, plots=not args.no_plots, jobs=args.jobs,
                                   dask=args.dask)
        print_table(result.summary)
        print(f"\nrun folder: {result.path}  (plots in {result.path / 'plots'})")
        return _failure_status(result.summary, args.allow_failures)
    config = load_config(args.config or _default_config_path())
    if args.name:
        config = dataclasses.replace(config, name=args.name)
    if args.seeds:
        config = dataclasses.replace(config, seeds=tuple(args.seeds))
    if args.budget is not None:
        if args.budget < 1:
            raise ValueError(f"--budget: must be >= 1 label, got {args.budget}")
        if args.budget < config.loop.seed_size:
            raise ValueError(f"--budget: {args.budget} labels is fewer than the config's loop.seed_size "
                             f"({config.loop.seed_size})")
        config = dataclasses.replace(config, loop=dataclasses.replace(config.loop, budget=args.budget))
    if args.check:
        return _report_check(config, Path(args.out) / config.name, overwrite=args.overwrite)
    from qsynth.experiments.runner import print_table, run_experiment

    print(f"qsynth run {config.name!r}: {config.data.name}, {len(config.strategies)} strategies × "
          f"{len(config.seeds)} seed{'s' * (len(config.seeds) != 1)}, budget {config.loop.budget} labels", file=sys.stderr)
    result = run_experiment(config, args.out, progress=not args.quiet, overwrite=args.overwrite,
                            plots=not args.no_plots, jobs=args.jobs, dask=args.dask)
    print_table(result.summary)
    print(f"\nrun folder: {result.path}  (plots in {result.path / 'plots'})")
    return _failure_status(result.summary, args.allow_failures)


def _prestart_workers(args: argparse.Namespace) -> None:
    """For `qsynth run` on local workers (`--jobs N`, or the config's `[run] jobs`): start them now,
    before this process loads JAX, so that their start and imports overlap its own; the sweep takes
    them (`qsynth._local_workers`). A config that cannot be read starts none (the run says why)."""
    if args.command != "run" or args.check:
        return
    from qsynth.config import load_config, load_run_config

    try:
        config = load_run_config(args.resume) if args.resume else load_config(args.config or _default_config_path())
    except Exception:  # noqa: BLE001 (reported by the run itself, as before)
        return
    jobs = config.run.jobs if args.jobs is None else args.jobs
    local = args.dask is None and config.run.executor != "dask"
    if jobs > 1 and local and config.oracle.kind != "human":
        from qsynth import _local_workers

        _local_workers.prestart(jobs)


def _report_check(config, path: Path, *, resume: bool = False, overwrite: bool = False) -> int:
    """`--check`: the config resolved and validated (every field, the dataset's arguments, each
    strategy's table, every plugin reference imported), and where it would write; nothing is built."""
    from qsynth.experiments.runner import strategy_names

    names = strategy_names(config)
    occupied = any(path.glob("*/seed-*/labels.jsonl"))
    if resume:
        where = f"it would continue the run in {path}" if occupied else f"{path} holds no answers yet; it would start it"
    elif occupied and not overwrite:
        raise FileExistsError(f"{path} already holds a run; choose another name (--name), pass --resume {path} to "
                              "continue it, or --overwrite to move the old run aside")
    else:
        where = f"it would write {path}" + (" (the old run moved aside first)" if occupied else "")
    print(f"config OK: {config.name!r}: {config.data.name}, {len(names)} strategies ({', '.join(names)}) × "
          f"{len(config.seeds)} seeds {list(config.seeds)}, budget {config.loop.budget} labels, oracle "
          f"{config.oracle.kind}; {where}")
    return 0


def _failure_status(summary: dict, allowed: bool) -> int:
    """1 when a (strategy, seed) run got no usable label (every answer failed or abstained), unless allowed."""
    from qsynth.experiments.summary import unlearned_runs

    unlearned = unlearned_runs(summary)
    if not unlearned or allowed:
        return 0
    which = ", ".join(f"{name} ({n} seed{'s' * (n > 1)})" for name, n in unlearned.items())
    print(f"qsynth: error: runs that never got a usable label, because every answer failed or abstained: {which}; "
          "see failed and abstained in their metrics.csv and the label log's answers (pass --allow-failures to "
          "accept such runs)", file=sys.stderr)
    return 1


def _cmd_label(args: argparse.Namespace) -> int:
    from qsynth.config import load_run_config
    from qsynth.experiments.runner import print_table, resume_experiment

    path = Path(args.run_dir)
    config = load_run_config(path)
    if config.oracle.kind != "human":
        raise ValueError(f"{path}: this run's oracle is {config.oracle.kind!r}; qsynth label serves runs whose "
                         "[oracle] kind is \"human\" (continue others with qsynth run --resume)")
    override = {"interface": "terminal" if args.terminal else "web"}
    if args.port is not None:
        override["port"] = args.port
    elif not args.terminal and config.oracle.port == 0:  # the address an open tab still has, when it is free
        from qsynth.experiments.oracles import labeling_port

        override["port"], taken = labeling_port(path, config.oracle.host)
        if taken and not args.check:
            print(f"\n*** port {taken}, where this run's labeling page was, is taken: the page gets a NEW address "
                  "(printed below); an open tab of the old one will not work ***\n", file=sys.stderr)
    if args.check:
        return _report_check(dataclasses.replace(config, oracle=dataclasses.replace(config.oracle, **override)),
                             path, resume=True)
    result = resume_experiment(path, progress=not args.quiet, oracle=override)
    print_table(result.summary)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from qsynth.config import load_run_config
    from qsynth.experiments.runner import load_histories, plot_run, print_table, write_summary

    path = Path(args.run_dir)
    config = load_run_config(path)
    histories = load_histories(path)
    summary = write_summary(path, config, histories)
    written = plot_run(path, config, histories)
    print_table(summary)
    print("\n" + "\n".join(str(p) for p in written))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from qsynth.experiments.compare import compare_runs, format_comparison, load_arms, plot_comparison

    arms = load_arms(args.runs)
    base, rows = compare_runs(arms, metric=args.metric, at=args.at, baseline=args.baseline)
    print(format_comparison(base, rows, metric=args.metric, at=args.at))
    if args.plot:
        print(f"\nlearning curves: {plot_comparison(arms, args.plot, metric=args.metric)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from qsynth.catalog import describe

    print(describe())
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qsynth")
    except PackageNotFoundError:
        return "(not installed)"


def _run_dir(args: argparse.Namespace) -> str | None:
    """The run folder a command writes (for messages), if it is known from the arguments."""
    if getattr(args, "resume", None) or getattr(args, "run_dir", None):
        return args.resume if getattr(args, "resume", None) else args.run_dir
    if args.command == "run":
        from qsynth.config import load_config

        try:
            name = args.name or load_config(args.config or _default_config_path()).name
        except Exception:  # noqa: BLE001 (only for the message)
            return None
        return str(Path(args.out) / name)
    return None


def _os_error(exc: OSError, run_dir: str | None) -> str:
    """One sentence for an OSError: the file, what the system said, and what is safe."""
    where = f" {exc.filename}" if exc.filename else ""
    text = f"cannot write{where}: {exc.strerror or exc}"
    if exc.errno == errno.ENOSPC:
        text += " (the disk is full)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        text += " (no permission to write there; choose another --out, or make the folder writable)"
    if run_dir and Path(run_dir).exists() and any(Path(run_dir).glob("*/seed-*/labels.jsonl")):
        text += (f". Every answer logged before this is intact in {run_dir}; once the problem is fixed, "
                 f"qsynth run --resume {run_dir} continues the run from there")
    return text


def main(argv: list[str] | None = None) -> int:
    from qsynth import _interrupts, _parallel

    _parallel.one_blas_thread()  # before NumPy loads: spinning OpenBLAS threads cost the default job 14%

    _interrupts.install()  # a Ctrl-C always stops the command, even one Python drops
    parser = argparse.ArgumentParser(prog="qsynth", description="Active learning and query synthesis in JAX.")
    parser.add_argument("--version", action="version", version=f"qsynth {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a config (strategies × seeds); the built-in default without one")
    run.add_argument("config", nargs="?", help="a TOML config (default: the built-in moons comparison)")
    run.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    run.add_argument("--name", help="override the config's name (the run folder's name)")
    run.add_argument("--seeds", type=int, nargs="+", help="override the config's seeds")
    run.add_argument("--budget", type=int, metavar="LABELS", help="override the config's loop.budget")
    run.add_argument("--jobs", type=int, metavar="N",
                     help="run the (strategy, seed) runs in N worker processes (the same results as one "
                          "process; default: the config's [run] jobs, 1)")
    run.add_argument("--dask", nargs="?", const="", metavar="ADDRESS",
                     help="run them as tasks on the Dask cluster at ADDRESS (a local cluster of --jobs workers "
                          "without one); the run folder must be on a filesystem the workers share")
    run.add_argument("--check", action="store_true",
                     help="resolve and validate the config (and say where it would write); build and run nothing")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--overwrite", action="store_true",
                     help="if the run folder already holds a run, move it aside to <name>.replaced-<time> first")
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue an interrupted run from its folder (last checkpoint + the answers logged after it)")
    run.add_argument("--no-plots", action="store_true",
                     help="draw no plots (qsynth plot RUN_DIR draws them later)")
    run.add_argument("--allow-failures", action="store_true",
                     help="exit 0 even when a run got no usable label (every answer failed or abstained)")
    run.set_defaults(fn=_cmd_run)
    label = sub.add_parser("label", help="label a run's queries yourself (a run whose [oracle] kind is human)")
    label.add_argument("run_dir")
    label.add_argument("--terminal", action="store_true", help="label in this terminal instead of a web page")
    label.add_argument("--port", type=int, help="the page's port (default: the config's, or where the run's page "
                                                "was if it is free; 0 picks a free one)")
    label.add_argument("--quiet", action="store_true", help="no progress output")
    label.add_argument("--check", action="store_true", help="validate the run folder's config; serve nothing")
    label.set_defaults(fn=_cmd_label)
    plot = sub.add_parser("plot", help="redraw plots and the summary table from a run folder")
    plot.add_argument("run_dir")
    plot.set_defaults(fn=_cmd_plot)
    compare = sub.add_parser("compare", help="one table and one learning-curve figure across run folders, paired "
                                             "against a baseline over shared seeds")
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--metric", default="accuracy", help="a metrics.csv column (default: accuracy; f1 for "
                                                              "success regions)")
    compare.add_argument("--at", type=int, metavar="LABELS", help="compare at this many labels instead of at the end")
    compare.add_argument("--baseline", metavar="ARM", help="RUN_DIR/STRATEGY or STRATEGY (default: the first arm)")
    compare.add_argument("--plot", default="comparison.png", metavar="FILE",
                         help="where to draw the learning curves (default: comparison.png; '' for none)")
    compare.set_defaults(fn=_cmd_compare)
    lst = sub.add_parser("list", help="datasets (with their args), strategies (with their fields), measures, "
                                      "learners, oracles a config may name")
    lst.set_defaults(fn=_cmd_list)
    args = parser.parse_args(argv)
    try:
        _prestart_workers(args)
        with _interrupts.deferred():  # a Ctrl-C during these imports (C extensions) is raised once they are done
            import matplotlib

            matplotlib.use("Agg")  # the command line draws into files, never a window
            if args.command in ("run", "label", "plot", "compare"):
                import qsynth.experiments.runner  # noqa: F401
        code = args.fn(args)
        _interrupts.check()  # a Ctrl-C that was dropped and only noted: the run did not finish as asked
        return code
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        print(f"qsynth: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only folder, a full disk: say which file, and that the log is safe
        print(f"qsynth: error: {_os_error(exc, _run_dir(args))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        run = _run_dir(args) or "RUN_DIR"
        print(f"\nqsynth: stopped ({str(exc) or 'interrupted'}); every answer so far is in the run's log: continue "
              f"with qsynth run --resume {run}" + (f" (or qsynth label {run})" if args.command == "label" else ""),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
