import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsynth.strategies import POLICIES, StreamPolicy


@given(kind=st.sampled_from(POLICIES), budget=st.floats(0.01, 1.0), seed=st.integers(0, 2**31),
       confidence_scale=st.floats(0.0, 1.0))
def test_budget_is_never_exceeded(kind, budget, seed, confidence_scale):
    policy = StreamPolicy(kind=kind, budget=budget)
    rng = np.random.default_rng(seed)
    conf = 1.0 - confidence_scale * rng.random(400)
    state = policy.init()
    for t, c in enumerate(conf):
        _, state = policy.decide(rng, float(c), state)
        assert state.seen == t + 1
        assert state.queried <= budget * state.seen + 1e-9


def test_variable_threshold_moves_with_decisions():
    policy = StreamPolicy(kind="variable_uncertainty", budget=1.0, step=0.1)
    rng = np.random.default_rng(0)
    state = dataclasses.replace(policy.init(), seen=10)
    q, s = policy.decide(rng, 0.5, state)  # 0.5 < θ=1: query, θ shrinks
    assert q and np.isclose(s.threshold, 0.9)
    q, s = policy.decide(rng, 0.95, s)  # 0.95 > 0.9: skip, θ grows
    assert not q and np.isclose(s.threshold, 0.99)


def test_fixed_uncertainty_queries_only_below_threshold():
    policy = StreamPolicy(kind="fixed_uncertainty", budget=1.0, threshold=0.8)
    rng = np.random.default_rng(0)
    state = policy.init()
    decisions = []
    for c in [0.9, 0.7, 0.85, 0.6]:
        q, state = policy.decide(rng, c, state)
        decisions.append(q)
    assert decisions == [False, True, False, True]


def test_variable_uncertainty_spends_about_its_budget_on_any_scale():
    for scale in (0.05, 0.5):
        policy = StreamPolicy(kind="variable_uncertainty", budget=0.1)
        rng = np.random.default_rng(1)
        state = policy.init()
        for c in 1.0 - scale * rng.random(3000):
            _, state = policy.decide(rng, float(c), state)
        assert 0.07 < state.queried / state.seen <= 0.1


def test_decisions_are_deterministic_per_generator():
    policy = StreamPolicy(kind="split", budget=0.3)
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(42)
        state, qs = policy.init(), []
        for c in np.linspace(0.5, 1.0, 200):
            q, state = policy.decide(rng, float(c), state)
            qs.append(q)
        runs.append(qs)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("field, value", [("budget", 0.0), ("step", 1.5), ("random_share", 2.0), ("spread", -1.0)])
def test_bad_policy_parameters(field, value):
    with pytest.raises(ValueError, match=f"stream {field}"):
        StreamPolicy(**{field: value})
