"""Strategies by name, for configs: `build_strategy({"kind": "uncertainty", "measure": "margin"})`.

A `kind` may also be a `"package.module:attr"` reference to your own strategy class or factory,
called with the table's other fields; what it returns must satisfy the `Strategy` protocol.
The names here exist only at the config boundary: the loop and the session take any
`Strategy` value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from qsynth.fields import ConfigError, check_fields
from qsynth.plugins import is_reference, resolve
from qsynth.strategies.base import Strategy
from qsynth.strategies.pool import PoolSampling, RandomSampling
from qsynth.strategies.stream import StreamPolicy, StreamSampling
from qsynth.strategies.synthesis import BestOfPrior, InputSynthesis, LatentSynthesis, PriorSampling

__all__ = ["STRATEGY_KINDS", "build_strategy"]


def _fields(cls: type, spec: dict[str, Any], kind: str, allowed: set[str] | None = None,
            typed: bool = True) -> dict[str, Any]:
    """`spec` with its fields checked against `cls`'s: no unknown names (beyond `allowed`), and
    with `typed` each value of its field's type."""
    names = {f.name for f in dataclasses.fields(cls) if f.init} - {"generator"} if allowed is None else allowed
    unknown = sorted(set(spec) - names)
    if unknown:
        raise ValueError(f"strategy {kind!r}: unknown field(s) {unknown}; allowed: {sorted(names)}")
    if not typed:
        return spec
    try:
        return check_fields(cls, spec)
    except ConfigError as exc:
        raise ValueError(f"strategy {kind!r}: {exc}") from None


def _pool(default_measure: str, measures: tuple[str, ...] | None = None) -> Callable[[str, dict[str, Any]], Strategy]:
    def build(kind: str, spec: dict[str, Any]) -> Strategy:
        spec = dict(_fields(PoolSampling, spec, kind))
        spec.setdefault("measure", default_measure)
        if measures is not None and spec["measure"] not in measures:
            raise ValueError(f"strategy {kind!r}: measure must be one of {list(measures)}, got {spec['measure']!r}")
        return PoolSampling(**spec)

    return build


def _stream(kind: str, spec: dict[str, Any]) -> Strategy:
    policy_fields = {f.name for f in dataclasses.fields(StreamPolicy)}
    _fields(StreamSampling, spec, kind, allowed=(policy_fields - {"kind"}) | {"policy", "label", "window"},
            typed=False)
    spec = dict(spec)
    outer = _fields(StreamSampling, {k: spec.pop(k) for k in ("label", "window") if k in spec}, kind)
    if "policy" in spec:
        spec["kind"] = spec.pop("policy")
    return StreamSampling(policy=StreamPolicy(**_fields(StreamPolicy, spec, kind)), **outer)


STRATEGY_KINDS: dict[str, Callable[[str, dict[str, Any]], Strategy]] = {
    "random": lambda kind, spec: RandomSampling(**_fields(RandomSampling, spec, kind)),
    "uncertainty": _pool("entropy"),
    "qbc": _pool("vote_entropy", ("vote_entropy", "kl_to_consensus", "soft_vote_entropy")),
    "bald": _pool("bald", ("bald",)),
    "egl": _pool("expected_gradient_length", ("expected_gradient_length",)),
    "stream": _stream,
    "synthesis": lambda kind, spec: LatentSynthesis(**_fields(LatentSynthesis, spec, kind)),
    "input_synthesis": lambda kind, spec: InputSynthesis(**_fields(InputSynthesis, spec, kind)),
    "prior_random": lambda kind, spec: PriorSampling(**_fields(PriorSampling, spec, kind)),
    "prior_best": lambda kind, spec: BestOfPrior(**_fields(BestOfPrior, spec, kind)),
}


def register_strategy(kind: str, build: Callable[[str, dict[str, Any]], Strategy]) -> None:
    """Deprecated: name your strategy in a config as `kind = "package.module:attr"` instead
    (it survives `--resume` in a fresh process, which a registration does not)."""
    import warnings

    warnings.warn("register_strategy is deprecated and will be removed in qsynth 0.3; name your strategy as "
                  "kind = 'package.module:attr' in the config instead", DeprecationWarning, stacklevel=2)
    STRATEGY_KINDS[kind] = build


def build_strategy(spec: dict[str, Any]) -> Strategy:
    """A strategy from a config table: `kind` plus that kind's fields.

    Raises:
      ValueError: unknown kind or field, or a bad value, named in the message.
    """
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if is_reference(kind):
        return _plugin(kind, spec)
    if kind not in STRATEGY_KINDS:
        raise ValueError(f"unknown strategy kind {kind!r}; choose one of {sorted(STRATEGY_KINDS)} or give a "
                         "'package.module:attr' reference to your own")
    return STRATEGY_KINDS[kind](kind, spec)


def _plugin(kind: str, spec: dict[str, Any]) -> Strategy:
    factory = resolve(kind, "kind")
    if not callable(factory):
        raise ValueError(f"strategy {kind!r} is not a class or factory")
    if isinstance(factory, type) and dataclasses.is_dataclass(factory):
        _fields(factory, spec, kind)
    try:
        strategy = factory(**spec)
    except TypeError as exc:
        raise ValueError(f"strategy {kind!r}: {exc}") from None
    if not isinstance(strategy, Strategy):
        raise ValueError(f"strategy {kind!r} made a {type(strategy).__name__}, which is not a Strategy (it needs name, "
                         "scenario, init(problem) and select(key, ctx, batch_size, state))")
    return strategy
