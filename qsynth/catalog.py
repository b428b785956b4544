"""What a config may name, with each name's fields and their defaults: what `qsynth list` prints.

`strategy_fields("synthesis")` is `[("measure", "entropy"), ("starts", 256), ...]`: the fields a
`[[strategies]]` table of that kind may set (`kind` aside). `dataset_arguments("digits")` is
the `[data] args` that dataset takes (`seed` aside: the run's seed is passed). Read from the
classes and functions themselves, so the list cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

__all__ = ["REQUIRED", "dataset_arguments", "describe", "strategy_fields"]

#: The default shown for a field or argument a config must give.
REQUIRED = "(required)"


def _strategy_classes() -> dict[str, tuple[type, dict[str, Any]]]:
    """Each built-in kind: its class and the defaults its builder sets beyond the class's own."""
    from qsynth.strategies.pool import PoolSampling, RandomSampling
    from qsynth.strategies.stream import StreamSampling
    from qsynth.strategies.synthesis import BestOfPrior, InputSynthesis, LatentSynthesis, PriorSampling

    return {"random": (RandomSampling, {}), "uncertainty": (PoolSampling, {}),
            "qbc": (PoolSampling, {"measure": "vote_entropy"}), "bald": (PoolSampling, {"measure": "bald"}),
            "egl": (PoolSampling, {"measure": "expected_gradient_length"}), "stream": (StreamSampling, {}),
            "synthesis": (LatentSynthesis, {}), "input_synthesis": (InputSynthesis, {}),
            "prior_random": (PriorSampling, {}), "prior_best": (BestOfPrior, {})}


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return REQUIRED


def strategy_fields(kind: str) -> list[tuple[str, Any]]:
    """The fields a `[[strategies]]` table of built-in `kind` may set, with their defaults.

    Raises:
      ValueError: `kind` is not a built-in strategy kind.
    """
    from qsynth.strategies.stream import StreamPolicy

    classes = _strategy_classes()
    if kind not in classes:
        raise ValueError(f"unknown strategy kind {kind!r}; choose one of {sorted(classes)}")
    cls, overrides = classes[kind]
    out = [(f.name, overrides.get(f.name, _default(f))) for f in dataclasses.fields(cls)
           if f.init and f.name not in ("generator", "policy")]
    if kind == "stream":  # the policy's fields sit in the strategy's own table
        out = [("policy", StreamPolicy.kind)] + [(f.name, _default(f)) for f in dataclasses.fields(StreamPolicy)
                                                 if f.name != "kind"] + out
    return out


def dataset_arguments(name: str) -> list[tuple[str, Any]]:
    """The `[data] args` built-in dataset `name` (or "box", "simulator") takes, with their defaults (`seed` aside).

    Raises:
      ValueError: `name` is not a built-in dataset.
    """
    from qsynth.data.registry import DATASETS
    from qsynth.experiments.box_task import box_dataset
    from qsynth.experiments.simulator_task import simulator_dataset

    functions = {**DATASETS, "box": box_dataset, "simulator": simulator_dataset}
    if name not in functions:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(functions)}")
    params = inspect.signature(functions[name]).parameters.values()
    return [(p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for p in params if p.name != "seed"]


def _show(pairs: list[tuple[str, Any]]) -> str:
    def value(v: Any) -> str:
        if v is REQUIRED:
            return v
        if isinstance(v, tuple):
            v = list(v)
        return "none" if v is None else repr(v).replace("'", '"').replace("True", "true").replace("False", "false")

    return ", ".join(f"{k} = {value(v)}" for k, v in pairs) or "(none)"


def describe() -> str:
    """The text of `qsynth list`: every dataset with its arguments, every strategy kind with its
    fields, the measures, learners, stream policies, oracles and simulators."""
    from qsynth.data.registry import DATASETS
    from qsynth.oracles.simulators import SIMULATORS
    from qsynth.strategies.measures import COMMITTEE_MEASURES
    from qsynth.strategies.pool import BATCH_RULES
    from qsynth.strategies.stream import POLICIES
    from qsynth.strategies.synthesis import SYNTHESIS_BATCH_RULES
    from qsynth.uncertainty import MEASURES

    lines = ["(each name with its fields and their defaults; none = not set, (required) = must be given)", "",
             "datasets ([data] name, then its args):"]
    lines += [f"  {name:<20} {_show(dataset_arguments(name))}" for name in sorted([*DATASETS, "box", "simulator"])]
    lines += ["  package.module:attr  your own function returning a qsynth.Dataset, called with args",
              "", "strategies ([[strategies]] kind, then its fields):"]
    lines += [f"  {kind:<20} {_show(strategy_fields(kind))}" for kind in _strategy_classes()]
    lines += ["  package.module:attr  your own Strategy class or factory, called with the table's other fields", "",
              "measures:   " + ", ".join(f"{k}{'' if m.differentiable else ' (not differentiable)'}"
                                       for k, m in MEASURES.items()) + ", straddle and boundary_information (need "
              "learner.model = \"gp\"), epig (an ensemble; boundary_information and epig take targets: synthesis "
              "targets = \"box\" | \"pool\" | \"prior\"); " + ", ".join(COMMITTEE_MEASURES)
              + " score disagreement: they need learner.members >= 2 (not the gp)",
              "learners:   logreg, mlp, cnn (posterior = ensemble or mc_dropout), gp (target = label | value)",
              "batch rules: pool " + " | ".join(BATCH_RULES) + "; synthesis " + " | ".join(SYNTHESIS_BATCH_RULES)
              + " (believer: a learner that can believe, learner.model = \"gp\")",
              "stream policies: " + ", ".join(POLICIES),
              "oracles:    dataset, teacher, nearest_neighbour, simulator, program, human",
              "simulators: " + ", ".join(SIMULATORS) + "  ([data] name = \"simulator\"; ball_in_cup needs qsynth[mujoco])"]
    return "\n".join(lines)
