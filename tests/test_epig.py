"""EPIG (expected predictive information gain) from member probabilities: a brute-force NumPy
reference, hand-worked values and bounds, and the strategies that give it its targets (the pool,
the box, decoded prior draws)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth.generators import GeneratorConfig, fit_generator
from qsynth.learners import LearnerConfig
from qsynth.strategies import build_strategy
from qsynth.strategies.measures import Scorer
from qsynth.strategies.scoring import with_targets
from qsynth.uncertainty import bald, epig
from tests.helpers import random_probs, tiny_context, tiny_moons


def _brute_force(probs, target_probs):
    """I(y; y*) by the definition, one (candidate, target) pair at a time, in float64."""
    probs, target_probs = np.asarray(probs, np.float64), np.asarray(target_probs, np.float64)
    members, n, c = probs.shape
    out = np.zeros(n)
    for i in range(n):
        total = 0.0
        for j in range(target_probs.shape[1]):
            joint = np.zeros((c, c))
            for m in range(members):
                joint += np.outer(probs[m, i], target_probs[m, j]) / members
            py, pt = joint.sum(1), joint.sum(0)
            nz = joint > 0
            total += np.sum(joint[nz] * np.log(joint[nz] / np.outer(py, pt)[nz]))
        out[i] = total / target_probs.shape[1]
    return out


def test_epig_against_a_brute_force_reference():
    rng = np.random.default_rng(0)
    probs, target_probs = random_probs(rng, 4, 6, 3), random_probs(rng, 4, 5, 3)
    got = np.asarray(epig(jnp.asarray(probs), jnp.asarray(target_probs)))
    np.testing.assert_allclose(got, _brute_force(probs, target_probs), rtol=1e-4, atol=1e-6)


def test_epig_hand_worked_values_and_bounds():
    sure = jnp.asarray([[[1.0, 0.0]], [[0.0, 1.0]]])  # two members, certain and opposed: [2, 1, 2]
    agreed = jnp.asarray([[[0.5, 0.5]], [[0.5, 0.5]]])
    # the answer names the member, and the member names the target's label: one bit, log 2
    np.testing.assert_allclose(np.asarray(epig(sure, sure)), [np.log(2.0)], rtol=1e-6)
    # members that agree on the target: nothing to learn about it, wherever we ask
    np.testing.assert_allclose(np.asarray(epig(sure, agreed)), [0.0], atol=1e-7)
    np.testing.assert_allclose(np.asarray(epig(agreed, sure)), [0.0], atol=1e-7)
    # one member: no parameter uncertainty, no information
    one = random_probs(np.random.default_rng(1), 1, 4, 3)
    np.testing.assert_allclose(np.asarray(epig(jnp.asarray(one), jnp.asarray(one))), 0.0, atol=1e-7)
    # 0 <= EPIG <= BALD at the candidate (y - θ - y*: information about y* passes through θ)
    rng = np.random.default_rng(2)
    probs, target_probs = jnp.asarray(random_probs(rng, 5, 50, 2)), jnp.asarray(random_probs(rng, 5, 20, 2))
    got, b = np.asarray(epig(probs, target_probs)), np.asarray(bald(probs))
    assert np.all(got >= 0) and np.all(got <= b + 1e-6)
    # the targets' order does not matter
    np.testing.assert_allclose(np.asarray(epig(probs, target_probs[:, ::-1])), got, rtol=1e-5)


def test_epig_is_differentiable_in_the_candidate():
    context = tiny_context(labeled=10, round_index=1)
    params = with_targets(context.learner, context.params, context.problem.pool[:32], measure="epig")
    assert params["targets"].shape == (3, 32, 2)  # the members' probabilities at the targets
    score = jax.jit(lambda p: Scorer("epig")(context.learner, params, p[None])[0])
    g = np.asarray(jax.grad(score)(jnp.asarray([0.5, 0.2], jnp.float32)))
    assert np.all(np.isfinite(g)) and np.any(g != 0)


def test_with_targets_for_epig_keeps_a_uniform_subset_and_refuses_one_member():
    context = tiny_context(labeled=10, round_index=1)
    pool = context.problem.pool
    kept = with_targets(context.learner, context.params, pool, keep=16, rng=np.random.default_rng(0), measure="epig")
    assert kept["targets"].shape == (3, 16, 2)
    with pytest.raises(ValueError, match="needs `rng`"):
        with_targets(context.learner, context.params, pool, keep=16, measure="epig")
    gp = LearnerConfig(model="gp", lengthscale=0.3).build((2,), 2)
    with pytest.raises(ValueError, match="several members"):
        with_targets(gp, gp.init(jax.random.key(0)).params, pool[:8], measure="epig")
    with pytest.raises(ValueError, match="no target measure"):
        with_targets(context.learner, context.params, pool, measure="entropy")


@pytest.fixture(scope="module")
def vae():
    config = GeneratorConfig(latent=2, hidden=(32, 32), steps=300, batch_size=64, warmup=150, learning_rate=5e-3,
                             beta=0.3)
    return fit_generator(jax.random.key(0), config, tiny_moons(0, 120).x)


@pytest.mark.parametrize("spec", [
    {"kind": "uncertainty", "measure": "epig"},
    {"kind": "input_synthesis", "measure": "epig", "starts": 16, "steps": 5},
    {"kind": "input_synthesis", "measure": "epig", "starts": 16, "steps": 5, "targets": "pool"},
    {"kind": "synthesis", "measure": "epig", "starts": 16, "steps": 5},
    {"kind": "synthesis", "measure": "epig", "starts": 16, "steps": 5, "targets": "prior"},
], ids=lambda s: "-".join(map(str, s.values())))
def test_strategies_climb_or_rank_epig(spec, vae):
    context = tiny_context(labeled=10, round_index=2)
    strategy = build_strategy(spec)
    if getattr(strategy, "needs_generator", False):
        strategy = dataclasses.replace(strategy, generator=vae)
    state = strategy.init(context.problem)
    key = jax.random.key(3)
    q1, _ = strategy.select(key, context, 3, state)
    q2, _ = strategy.select(key, context, 3, state)
    assert len(q1) == 3 and np.all(np.isfinite(q1.x)) and np.all(q1.scores >= 0)
    np.testing.assert_array_equal(q1.x, q2.x)  # the targets are drawn from the round key
    if spec["kind"] != "uncertainty":
        # the ascent climbs: no chosen start ends below where it began
        assert np.all(q1.extra["acquisition_after"] >= q1.extra["acquisition_before"] - 1e-6)


def test_target_settings_that_cannot_work_are_named(vae):
    context = tiny_context(labeled=10, round_index=2)
    no_pool = dataclasses.replace(context.problem, pool=None, pool_y=None)
    with pytest.raises(ValueError, match="targets = 'pool' is for a target measure"):
        build_strategy({"kind": "input_synthesis", "measure": "entropy", "targets": "pool"})
    with pytest.raises(ValueError, match=r"targets must be one of \['box', 'pool'\]"):
        build_strategy({"kind": "input_synthesis", "measure": "epig", "targets": "prior"})
    with pytest.raises(ValueError, match=r"targets must be one of \['pool', 'prior'\]"):
        build_strategy({"kind": "synthesis", "measure": "epig", "targets": "box"})
    with pytest.raises(ValueError, match="has no pool"):
        build_strategy({"kind": "input_synthesis", "measure": "epig", "targets": "pool"}).init(no_pool)
    latent = dataclasses.replace(build_strategy({"kind": "synthesis", "measure": "epig"}), generator=vae)
    assert latent._target_source(no_pool) == "prior"  # without a pool, decoded prior draws


def test_the_default_job_variants_change_only_the_learner_and_the_synthesis_arms():
    import importlib.util
    from pathlib import Path

    from qsynth.config import ConfigError, parse_config

    path = Path(__file__).resolve().parents[1] / "experiments" / "default_job.py"
    spec = importlib.util.spec_from_file_location("default_job", path)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    today = job.default_table()
    assert job.VARIANT_MEASURES == {"epig": "epig", "bi": "boundary_information"}
    for variant, measure in {**job.VARIANT_MEASURES, "today": "entropy"}.items():
        for learner in (*job.LEARNER_CHANGES, *job.LEARNER_REPLACEMENTS):
            table = job.variant_table(variant, learner)
            if learner in job.LEARNER_REPLACEMENTS and variant == "epig":  # the GP: one member, no EPIG
                with pytest.raises(ConfigError, match="strategy 'synthesis-epig'"):
                    parse_config(table)
            else:
                parse_config(table)  # a valid config: every arm, the GP's committee arms included
            assert {k: v for k, v in table.items() if k not in ("learner", "strategies")} == \
                {k: v for k, v in today.items() if k not in ("learner", "strategies")}
            assert [s["kind"] for s in table["strategies"]] == [s["kind"] for s in today["strategies"]]
            for new, old in zip(table["strategies"], today["strategies"]):
                if old["kind"] in job.SYNTHESIS_KINDS and variant == "today":
                    assert new == {k: v for k, v in old.items() if k != "targets"} | {"measure": "entropy"}
                elif old["kind"] in job.SYNTHESIS_KINDS:
                    assert new == {**old, "measure": measure, "targets": "pool"}
                else:
                    assert new == old
    from qsynth import recommended

    assert job.variant_table("bi", "gp")["learner"] == {"model": "gp", "kernel": "matern52", "lengthscale_by": "loo"}
    assert job.variant_table("bi", "gp_shortest")["learner"] == recommended.pool_learner() == \
        {**job.variant_table("bi", "gp")["learner"], "lengthscale_peak": "shortest"}
    assert job.variant_table("bi", "gp_shortest") == today  # the built-in config since 2026-12-03
    assert job.variant_table("today", "default")["learner"] == job.ENSEMBLE  # the one before
    accuracy = {"synthesis-epig": np.array([0.95, 0.97]), "random": np.array([0.94, 0.97]),
                "entropy": np.array([0.96, 0.975]), "bald": np.array([0.96, 0.97])}
    kinds = {"synthesis-epig": "synthesis", "random": "random", "entropy": "uncertainty", "bald": "bald"}
    (row,) = job.checks(accuracy, kinds)
    assert row["best_pool"] == "entropy" and row["seeds_at_or_above_random"] == 2 and row["meets"]
    np.testing.assert_allclose(row["vs_best_pool"][0], -0.0075)
