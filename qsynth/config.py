"""Run configuration: frozen, keyword-only dataclasses loaded from TOML, validated by field.

A config names a dataset (and its arguments), a learner, the loop's budget and stopping
rules, the strategies to compare, and the seeds. Errors name the offending field
(`learner.members: expected int, got str 'five'`) and are raised before any work starts.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from qsynth.fields import ConfigError, build_dataclass
from qsynth.generators.config import GeneratorConfig
from qsynth.learners.config import LearnerConfig
from qsynth.loop_config import FAILURE_POLICIES, LoopConfig
from qsynth.plugins import is_reference, resolve

__all__ = ["ConfigError", "DataConfig", "OracleConfig", "RunConfig", "SCHEMA_VERSION", "SweepConfig", "load_config",
           "load_run_config", "parse_config", "to_toml"]

SCHEMA_VERSION = 1

#: Task kinds a `[data]` table may name beside the datasets of `qsynth.data`.
TASKS = ("box", "simulator")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Which dataset: `name` is a function of `qsynth.data` (moons, digits, ...), "npz"/"idx",
    "box" (your own simulator's parameter box; see `qsynth.experiments.box_task`), "simulator"
    (a built-in simulator's box; see `qsynth.experiments.simulator_task`), or a
    `"package.module:attr"` reference to your own function returning a `qsynth.Dataset`.

    `args` are passed to it as keyword arguments (for "npz": path=...; for "idx":
    train_images=..., train_labels=..., ...; for "box": bounds=[[low, high], ...], names=[...],
    reference="mysim:hit" or reference_grid="grid.npz", grid=..., pool_size=...; for
    "simulator": simulator=..., params={...}, pool_size=..., grid=...). The run's seed is passed
    as `seed` unless `args` fixes one.
    """

    name: str = "moons"
    args: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        from qsynth.data.registry import DATASETS

        if self.name not in DATASETS and self.name not in TASKS and not is_reference(self.name):
            raise ConfigError(f"data.name: unknown dataset {self.name!r}; choose one of "
                              f"{sorted([*DATASETS, *TASKS])} or give a 'package.module:attr' reference")
        if is_reference(self.name) and not callable(resolve(self.name, "data.name")):
            raise ConfigError(f"data.name: {self.name!r} is not callable")
        if self.name in DATASETS:
            from qsynth.data.arguments import check_dataset_args

            object.__setattr__(self, "args", check_dataset_args(self.name, self.args))
        if self.name == "box" and "bounds" not in self.args and "simulator" not in self.args:
            raise ConfigError("data.args.bounds: a box task needs its parameter box, bounds = [[low, high], ...]")
        if self.name == "box" and "bounds" in self.args and not ({"reference", "reference_grid"} & set(self.args)):
            raise ConfigError("data.args.reference: a box task needs a reference to score the learner by: a "
                              "'package.module:attr' function (often the oracle's own) or reference_grid = a .npz")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OracleConfig:
    """Who answers, and how.

    kind:
      "dataset": held labels of pool points.
      "teacher": a classifier trained on all of a task's labeled data (pool and test); it
        answers any input, synthesized ones included, and abstains when its confidence is
        below `threshold`.
      "nearest_neighbour": the label of the nearest pool or test sample; abstains farther
        than `max_distance`.
      "simulator": runs the built-in simulator of a `[data] name = "simulator"` (or "box" with
        `args.simulator`) task on every query.
      "function": calls `function` (a `"package.module:attr"` reference to your own simulator
        or ground truth) on every query; on a "box" task it gets the physical parameters.
      "program": runs `command` per query (JSON on stdin, JSON on stdout).
      "human": a person, on a local labeling page (`interface = "web"`, on `host`:`port`; port
        0 picks a free one; the URL with the run's token is printed) or in the terminal
        (`interface = "terminal"`); `show_prediction` shows the current model's guess.
    Synthesis strategies that create new points need any kind but "dataset".

    Execution (simulator, program): `workers` = 0 runs queries one by one in this process;
    n > 0 fans each batch out over n worker processes (`executor = "process"`), threads
    ("threads", enough for programs), or a Dask cluster ("dask": `dask_address`, or a local
    cluster of n workers when empty). `timeout` is the per-query budget in seconds, `retries`
    the extra attempts for a query that raised or crashed its worker.
    `noise`: probability that an answer's label is flipped to another class (seeded per run).
    `failures`: what a failed call tells the answerability model that synthesis weighs its
    acquisition by: "avoid" (where calls fail, answers are unlikely: steer away), "ignore"
    (failed calls are not modelled), or "class": a failed call is learned as a class of its own
    (label max(classes) + 1), so the learner predicts where calls fail and the plots draw that
    region; accuracy then counts a test point predicted to fail as wrong, and the success F1
    counts it as not a success. Abstentions are always modelled.
    """

    kind: str = "dataset"
    function: str = ""
    threshold: float = 0.0
    cost: float = 1.0
    max_distance: float | None = None
    command: tuple[str, ...] = ()
    workers: int = 0
    executor: str = "process"
    dask_address: str = ""
    timeout: float | None = None
    retries: int = 0
    noise: float = 0.0
    interface: str = "web"
    host: str = "127.0.0.1"
    port: int = 0
    show_prediction: bool = False
    keys: str = "qsynth"
    failures: str = "avoid"

    def __post_init__(self) -> None:
        if self.failures not in FAILURE_POLICIES:
            raise ConfigError(f"oracle.failures must be 'avoid', 'ignore' or 'class', got {self.failures!r}")
        kinds = ("dataset", "teacher", "nearest_neighbour", "simulator", "function", "program", "human")
        if self.kind not in kinds:
            raise ConfigError(f"oracle.kind must be one of {list(kinds)}, got {self.kind!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"oracle.threshold must be in [0, 1], got {self.threshold}")
        if not self.cost >= 0:
            raise ConfigError(f"oracle.cost must be >= 0, got {self.cost}")
        if self.max_distance is not None and not self.max_distance > 0:
            raise ConfigError(f"oracle.max_distance must be > 0, got {self.max_distance}")
        if self.kind == "function" and not is_reference(self.function):
            raise ConfigError(f"oracle.function: the function oracle needs a 'package.module:attr' reference to the "
                              f"function that answers a query, got {self.function!r}")
        if self.kind == "function" and not callable(resolve(self.function, "oracle.function")):
            raise ConfigError(f"oracle.function: {self.function!r} is not callable")
        if self.function and self.kind != "function":
            raise ConfigError("oracle.function applies to kind = \"function\" only")
        if self.kind == "program" and not self.command:
            raise ConfigError("oracle.command: the program oracle needs a command, e.g. [\"python\", \"sim.py\"]")
        if self.workers < 0:
            raise ConfigError(f"oracle.workers must be >= 0, got {self.workers}")
        if self.executor not in ("process", "threads", "dask"):
            raise ConfigError(f"oracle.executor must be 'process', 'threads' or 'dask', got {self.executor!r}")
        if self.executor == "dask" and self.workers == 0 and not self.dask_address:
            raise ConfigError("oracle.workers: a local Dask cluster needs workers >= 1 (or give oracle.dask_address)")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"oracle.timeout must be > 0 seconds, got {self.timeout}")
        if self.retries < 0:
            raise ConfigError(f"oracle.retries must be >= 0, got {self.retries}")
        if self.keys not in ("qsynth", "prodigy"):
            raise ConfigError(f"oracle.keys must be 'qsynth' or 'prodigy', got {self.keys!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"oracle.port must be in [0, 65535] (0: a free one), got {self.port}")
        if self.retries and self.workers == 0:
            raise ConfigError("oracle.retries: retries need workers (set oracle.workers >= 1)")
        if not 0.0 <= self.noise <= 1.0:
            raise ConfigError(f"oracle.noise must be in [0, 1], got {self.noise}")
        if self.interface not in ("web", "terminal"):
            raise ConfigError(f"oracle.interface must be 'web' or 'terminal', got {self.interface!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"oracle.port must be in 0..65535, got {self.port}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """Where the (strategy, seed) runs go (`[run]`; never what they compute): `jobs` worker
    processes on this machine (1: one after another, in this process), or with `executor =
    "dask"` tasks on the Dask cluster at `dask_address` (a local cluster of `jobs` workers when
    empty). See `qsynth.experiments.sweep`; `qsynth run --jobs N` / `--dask [ADDRESS]` override."""

    jobs: int = 1
    executor: str = "local"
    dask_address: str = ""

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ConfigError(f"run.jobs: must be >= 1, got {self.jobs}")
        if self.executor not in ("local", "dask"):
            raise ConfigError(f"run.executor must be 'local' or 'dask', got {self.executor!r}")
        if self.dask_address and self.executor != "dask":
            raise ConfigError("run.dask_address: set executor = \"dask\" to run on a Dask cluster")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """A whole experiment: strategies × seeds on one dataset with one learner.

    `targets` are the test accuracies whose labels-to-reach the summary reports;
    `at_labels` the label counts at which it reports accuracy. `generator` is the VAE that
    latent-synthesis strategies search (trained once per seed on the unlabeled pool, only
    when a strategy needs it).
    """

    name: str = "run"
    seeds: tuple[int, ...] = (0, 1, 2)
    data: DataConfig = DataConfig()
    learner: LearnerConfig = LearnerConfig()
    generator: GeneratorConfig = GeneratorConfig()
    oracle: OracleConfig = OracleConfig()
    loop: LoopConfig = LoopConfig(budget=50)
    run: SweepConfig = SweepConfig()
    strategies: tuple[dict[str, Any], ...] = ({"kind": "random"}, {"kind": "uncertainty"})
    targets: tuple[float, ...] = (0.9,)
    at_labels: tuple[int, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        from qsynth.strategies.measures import check_committee
        from qsynth.strategies.registry import build_strategy

        if not self.seeds:
            raise ConfigError("seeds: give at least one seed")
        for i, seed in enumerate(self.seeds):
            if not 0 <= seed < 2**32:
                raise ConfigError(f"seeds[{i}]: a seed is an integer in [0, 2**32), got {seed}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: duplicates in {list(self.seeds)}")
        if not self.strategies:
            raise ConfigError("strategies: give at least one [[strategies]] table")
        if self.loop.failures not in ("avoid", self.oracle.failures):
            raise ConfigError("loop.failures: set failures in the [oracle] table")
        object.__setattr__(self, "loop", dataclasses.replace(self.loop, failures=self.oracle.failures))
        builtin_simulator = self.data.name == "simulator" or (self.data.name == "box" and "simulator" in self.data.args)
        if self.oracle.kind == "simulator" and not builtin_simulator:
            raise ConfigError("oracle.kind: the simulator oracle runs the simulator of a [data] name = \"simulator\" "
                              f"task (got data.name = {self.data.name!r}); for your own function use kind = "
                              "\"function\"")
        if builtin_simulator and self.oracle.kind not in ("simulator", "human"):
            raise ConfigError(f"oracle.kind: a simulator task is answered by the simulator (or a person), not by "
                              f"{self.oracle.kind!r}")
        if self.data.name == "box" and not builtin_simulator and self.oracle.kind not in ("function", "program", "human"):
            raise ConfigError(f"oracle.kind: a box task is answered by your function (kind = \"function\"), a program "
                              f"or a person, not by {self.oracle.kind!r}")
        names = []
        for i, spec in enumerate(self.strategies):
            try:
                strategy = build_strategy(spec)
            except ValueError as exc:
                raise ConfigError(f"strategies[{i}]: {exc}") from None
            names.append(strategy.name)
            if creates_points(strategy) and self.oracle.kind == "dataset":
                raise ConfigError(f"strategies[{i}]: {strategy.name!r} synthesizes new points, which the dataset "
                                  "oracle cannot label; set [oracle] kind = \"teacher\" (or another oracle that "
                                  "answers any point, or match = \"latent\" to query real pool points)")
            if (getattr(strategy, "measure", None) == "expected_gradient_length" and self.learner.model == "gp"
                    and self.learner.target != "label"):
                raise ConfigError(f"strategies[{i}]: {strategy.name!r} (expected gradient length) with learner.model "
                                  "= 'gp' needs learner.target = 'label': the gradient is taken for each candidate "
                                  "label's regressed target, and with target = 'value' a label fixes none")
            members = self.learner.committee_size
            setting = "learner.model = 'gp'" if self.learner.model == "gp" else f"learner.members = {members}"
            try:
                check_committee(getattr(strategy, "measure", None), members, strategy.name, f"the learner ({setting})",
                                posterior=self.learner.model == "gp")
            except ValueError as exc:
                raise ConfigError(f"strategies[{i}]: {exc}") from None
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"strategies: names {dupes} appear twice; give one a distinct `label`")
        for i, t in enumerate(self.targets):
            if not 0.0 < t <= 1.0:
                raise ConfigError(f"targets[{i}]: accuracy targets must be in (0, 1], got {t}")
        for i, n in enumerate(self.at_labels):
            if n < 1:
                raise ConfigError(f"at_labels[{i}]: a label count at which to report accuracy must be >= 1, got {n}")
        if self.schema_version > SCHEMA_VERSION:
            raise ConfigError(f"schema_version: this config is version {self.schema_version}, newer than this "
                              f"qsynth understands ({SCHEMA_VERSION}); upgrade qsynth")
        if any(c in self.name for c in "/\\") or self.name in ("", ".", ".."):
            raise ConfigError(f"name: {self.name!r} is not a valid run folder name")


def creates_points(strategy: Any) -> bool:
    """Whether a strategy asks about points that are in no dataset (synthesis without matching)."""
    return strategy.scenario == "synthesis" and getattr(strategy, "match", None) is None


def parse_config(table: dict[str, Any]) -> RunConfig:
    """A `RunConfig` from a parsed TOML table (raises ConfigError naming the field)."""
    return build_dataclass(RunConfig, table, "")


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_config(table)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(config: RunConfig, header: dict[str, Any] | None = None) -> str:
    """The resolved config as TOML (every default written out), with an optional [provenance] table."""
    lines = []
    tables = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            body = {g.name: getattr(value, g.name) for g in dataclasses.fields(value) if g.init}
            tables.append((f.name, {k: v for k, v in body.items() if v is not None}))
        elif f.name == "strategies":
            continue
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    for name, body in tables:
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in body.items()]
    for spec in config.strategies:
        lines.append("\n[[strategies]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.items()]
    if header:
        lines.append("\n[provenance]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in header.items()]
    return "\n".join(lines) + "\n"


def strip_provenance(table: dict[str, Any]) -> dict[str, Any]:
    """A written config table without its [provenance] (to re-read a run's config.toml)."""
    return {k: v for k, v in table.items() if k != "provenance"}


def load_run_config(run_path: str | Path) -> RunConfig:
    """The resolved config a run folder was written with (its `config.toml`, provenance dropped).

    Raises:
      FileNotFoundError: the folder holds no config.toml. ConfigError: it is invalid or from a newer qsynth.
    """
    path = Path(run_path) / "config.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_path}: no config.toml; is this a qsynth run folder?")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); a run's config.toml is written whole by qsynth") from None
    missing = [k for k in ("name", "seeds", "strategies", "provenance") if k not in table]
    if missing:  # (never parsed with defaults: that would resume another experiment)
        raise ConfigError(f"{path} is incomplete (no {', '.join(missing)}): not a config qsynth wrote for a run; "
                          "restore it, or start the run again in a new folder")
    return parse_config(strip_provenance(table))
