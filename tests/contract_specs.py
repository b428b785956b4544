"""The strategy specs the contract suites run, generated from the registries (not a hand-kept list):
every strategy kind, every measure each kind accepts, every stream policy."""

from __future__ import annotations

from qsynth.strategies import POLICIES, STRATEGY_KINDS, build_strategy
from qsynth.strategies.scoring import EXPECTED_GRADIENT_LENGTH
from qsynth.uncertainty import MEASURES

#: Measures every kind is tried with ("straddle" needs a GP's latent posterior: tests/test_gaussian_process.py).
CANDIDATE_MEASURES = (*MEASURES, EXPECTED_GRADIENT_LENGTH)
#: Small ascents, so that each synthesis spec compiles and runs in about a second.
ASCENT = {"starts": 32, "steps": 10}


def _builds(spec: dict) -> bool:
    try:
        build_strategy(spec)
    except ValueError:
        return False
    return True


def _scenario(kind: str) -> str:
    return build_strategy({"kind": kind}).scenario


def pool_and_stream_specs() -> list[dict]:
    specs = []
    for kind in sorted(STRATEGY_KINDS):
        if _scenario(kind) == "synthesis":
            continue
        if kind == "stream":
            specs += [{"kind": kind, "policy": p, "budget": 0.5, **({"threshold": 0.99} if p == "fixed_uncertainty"
                                                                    else {})} for p in POLICIES]
        elif kind == "random":
            specs.append({"kind": kind})
        else:
            specs += [{"kind": kind, "measure": m} for m in CANDIDATE_MEASURES if _builds({"kind": kind, "measure": m})]
    specs.append({"kind": "uncertainty", "measure": "entropy", "batch": "kcenter"})
    return specs


def synthesis_specs() -> list[dict]:
    specs = []
    for kind in sorted(STRATEGY_KINDS):
        if _scenario(kind) != "synthesis":
            continue
        extra = ASCENT if kind in ("synthesis", "input_synthesis") else {"candidates": 256} if kind == "prior_best" else {}
        specs += [{"kind": kind, "measure": m, **extra} for m in CANDIDATE_MEASURES
                  if _builds({"kind": kind, "measure": m, **extra})]
    specs += [{"kind": "synthesis", "measure": "bald", **ASCENT, "start_from": "pool"},
              {"kind": "synthesis", "measure": "smooth_margin", **ASCENT, "match": "latent"},
              {"kind": "synthesis", "measure": "soft_vote_entropy", **ASCENT, "match": "input"},
              {"kind": "input_synthesis", "measure": "entropy", **ASCENT, "match": "input"}]
    return specs
