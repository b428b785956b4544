"""Committee measures (disagreement between members) are refused with a one-member learner, unless it
is a two-class GP, whose committee is its posterior (`tests/test_posterior_committee.py`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.learners import GPConfig, LearnerConfig
from qsynth.strategies.measures import COMMITTEE_MEASURES, EPIG, check_committee
from qsynth.uncertainty import MEASURES, epig

DISAGREEMENT = [m for m in COMMITTEE_MEASURES if m != EPIG]


@pytest.mark.parametrize("name", DISAGREEMENT)
def test_a_committee_measure_is_zero_with_one_member_and_not_with_two(name):
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(0), (2, 50, 3)) * 2.0, axis=-1)
    np.testing.assert_allclose(np.asarray(MEASURES[name](probs[:1])), 0.0, atol=1e-6)
    assert float(jnp.max(MEASURES[name](probs))) > 1e-3


def test_epig_is_zero_with_one_member():
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(1), (1, 20, 2)), axis=-1)
    targets = jax.nn.softmax(jax.random.normal(jax.random.key(2), (1, 30, 2)), axis=-1)
    np.testing.assert_allclose(np.asarray(epig(probs, targets)), 0.0, atol=1e-6)


@pytest.mark.parametrize("name", COMMITTEE_MEASURES)
def test_a_committee_measure_with_one_member_is_refused_naming_the_strategy(name):
    with pytest.raises(ValueError, match=rf"strategy 'arm': measure '{name}' scores the disagreement .* the GP has 1 "
                                         "member"):
        check_committee(name, 1, "arm", "the GP")


def test_what_a_one_member_learner_can_run_is_not_refused():
    assert GPConfig().build((2,), 2).members == 1
    assert LearnerConfig(hidden=(4,), members=2).build((2,), 2).members == 2
    for name in ("entropy", "margin", "least_confidence", "variation_ratio", "boundary_information", "straddle"):
        check_committee(name, 1, "arm")
    for name in COMMITTEE_MEASURES:
        check_committee(name, 2, "arm")
    check_committee(lambda probs: probs[0, :, 0], 1, "arm")  # (a function is the user's business)


@pytest.mark.parametrize("learner, strategy, message", [
    ({"model": "gp"}, {"kind": "uncertainty", "measure": "mean_std"},
     r"strategies\[1\]: strategy 'mean_std': .*\(learner.model = 'gp'\)"),
    ({"members": 1}, {"kind": "qbc"}, r"strategies\[1\]: .* \(learner.members = 1\) has 1 member"),
    ({"model": "gp"}, {"kind": "input_synthesis", "measure": "epig"}, r"strategies\[1\]: .*boundary_information"),
])
def test_a_config_pairing_a_committee_measure_with_one_member_is_refused(learner, strategy, message):
    from qsynth.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config({"name": "x", "seeds": [0], "data": {"name": "moons"}, "learner": learner,
                      "oracle": {"kind": "teacher"}, "loop": {"budget": 8, "seed_size": 4},
                      "strategies": [{"kind": "random"}, strategy]})
    parse_config({"name": "x", "seeds": [0], "data": {"name": "moons"}, "learner": {"model": "gp"},
                  "loop": {"budget": 8, "seed_size": 4}, "strategies": [{"kind": "uncertainty", "measure": "margin"}]})


def test_a_two_class_gp_runs_every_committee_measure_its_posterior_has_in_closed_form():
    from qsynth.config import parse_config

    parse_config({"name": "x", "seeds": [0], "data": {"name": "moons"}, "learner": {"model": "gp"},
                  "oracle": {"kind": "teacher"}, "loop": {"budget": 8, "seed_size": 4},
                  "strategies": [{"kind": "bald"}, {"kind": "qbc"}, {"kind": "egl"},
                                 {"kind": "qbc", "measure": "kl_to_consensus"},
                                 {"kind": "input_synthesis", "measure": "bald"}]})
    for name in ("vote_entropy", "kl_to_consensus", "bald"):
        check_committee(name, 1, "arm", "the GP", posterior=True)
    with pytest.raises(ValueError, match="measure 'mean_std' scores the disagreement"):
        check_committee("mean_std", 1, "arm", "the GP", posterior=True)


def test_a_session_with_vote_entropy_on_a_multiclass_gp_is_refused():
    from qsynth.problem import Problem, TestSetEvaluator
    from qsynth.session import Session
    from qsynth.strategies.pool import PoolSampling

    x = np.random.default_rng(0).uniform(0, 1, (40, 2)).astype(np.float32)
    problem = Problem(name="toy", feature_shape=(2,), classes=(0, 1, 2), pool=x,
                      evaluator=TestSetEvaluator(np.zeros((1, 2), np.float32), np.zeros(1, int)))
    with pytest.raises(ValueError, match="measure 'vote_entropy' scores the disagreement"):
        Session(problem, GPConfig().build((2,), 3), PoolSampling(measure="vote_entropy"), key=jax.random.key(0))
