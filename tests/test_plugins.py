"""Every plug-in point, from Python (values) and from a config ("package.module:attr"), resume included."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests import plugins_fixture as fx
from qsynth.config import ConfigError, parse_config
from qsynth.experiments.box_task import box_task
from qsynth.experiments.runner import resume_experiment, run_experiment
from qsynth.learners import LearnerConfig
from qsynth.learners.gradients import dense_relu_gradient_norms
from qsynth.loop import LoopConfig, run_loop
from qsynth.oracles import DatasetOracle
from qsynth.plugins import PluginError, resolve
from qsynth.problem import Problem
from qsynth.store import read_label_log
from qsynth.strategies import LatentSynthesis, PoolSampling, RandomSampling, build_strategy
from qsynth.strategies.scoring import Scorer, expected_gradient_length, score_points

PLUGINS = "tests.plugins_fixture"


def test_a_reference_resolves_or_names_the_field():
    assert resolve("math:sqrt", "x")(9.0) == 3.0
    with pytest.raises(PluginError, match=r"learner.model: cannot import module 'nowhere'"):
        resolve("nowhere:thing", "learner.model")
    with pytest.raises(PluginError, match=r"oracle.function: module 'math' has no attribute 'nothing'"):
        resolve("math:nothing", "oracle.function")


def test_own_nnx_model_and_optax_optimizer_train_and_egl_is_exact_for_them(key):
    learner = LearnerConfig(model=fx.TanhNet, optimizer=fx.clipped_sgd, members=3, steps=40,
                            learning_rate=0.1).build((2,), 2)
    data = fx.ring(0)
    from qsynth.data import LabeledBuffer

    buf = LabeledBuffer.empty((2,))
    buf.add(data.x[:40], data.y[:40], 0)
    state = learner.fit(key, None, buf)
    assert isinstance(learner.optimizer, optax.GradientTransformation)
    before = learner.init(key).params["net"]
    assert not np.allclose(jax.tree.leaves(state.params["net"])[0], jax.tree.leaves(before)[0])  # it trained
    # expected gradient length: exact per-example gradients (the ReLU closed form would be wrong for tanh)
    x = jnp.asarray(data.x[:5], jnp.float32)
    norms = np.asarray(learner.gradient_norms(state.params, x))  # [nets, n, c]
    net0 = jax.tree.map(lambda a: a[0], state.params["net"])

    def loss(net, xi, c):
        return optax.softmax_cross_entropy_with_integer_labels(learner.net_logits(net, xi[None])[0], c)

    for i in range(5):
        for c in range(2):
            g = jax.grad(loss)(net0, x[i], c)
            want = np.sqrt(sum(float(jnp.sum(leaf ** 2)) for leaf in jax.tree.leaves(g)))
            assert norms[0, i, c] == pytest.approx(want, rel=1e-4)
    from flax import nnx

    model = nnx.merge(learner.graphdef, net0)
    relu_form = np.asarray(dense_relu_gradient_norms([model.hidden, model.out], x, 2))
    assert not np.allclose(relu_form, norms[0], rtol=1e-3)  # what a silent closed form would have given
    assert expected_gradient_length(learner, state.params, x).shape == (5,)


def test_a_measure_of_ones_own_scores_and_climbs_and_a_hard_one_is_refused_for_synthesis():
    from tests.helpers import tiny_context

    ctx = tiny_context(10, 1)
    got = score_points(ctx.learner, Scorer(fx.gini), ctx.params, ctx.problem.pool[:7])
    p = np.asarray(ctx.learner.probs(ctx.params, ctx.problem.pool[:7])).mean(0)
    np.testing.assert_allclose(got, 1 - (p.astype(np.float64) ** 2).sum(-1), atol=1e-6)
    assert PoolSampling(measure=fx.gini).name == "gini"
    assert build_strategy({"kind": "uncertainty", "measure": f"{PLUGINS}:gini"}).name == "gini"
    with pytest.raises(ValueError, match="'hard_votes' is not differentiable"):
        LatentSynthesis(measure=fx.hard_votes)
    with pytest.raises(ValueError, match="must map probs"):
        PoolSampling(measure=lambda probs: probs)


def test_a_strategy_object_and_a_pretrained_generator_from_python(key):
    data = fx.ring(0)
    problem = Problem.from_dataset(data)
    learner = LearnerConfig(hidden=(8,), members=2, steps=20, warm_steps=5).build((2,), 2)
    result = run_loop(key, problem, learner, fx.FarthestFirst(), DatasetOracle(data.y, data.classes),
                      LoopConfig(budget=8, seed_size=2, batch_size=2))
    assert len(result.answers) == 8
    synth = dataclasses.replace(LatentSynthesis(starts=8, steps=3), generator=fx.make_decoder(data.x, key))
    from tests.helpers import tiny_context

    queries, _ = synth.select(key, tiny_context(10, 1), 2, None)
    assert queries.x.shape == (2, 2) and queries.z.shape == (2, 2)
    np.testing.assert_allclose(queries.x, queries.z @ fx.make_decoder(data.x, key).weights, rtol=1e-5)
    with pytest.raises(ValueError, match="needs a generator that encodes"):
        dataclasses.replace(LatentSynthesis(starts=8, steps=3, start_from="pool"),
                            generator=fx.make_decoder(data.x, key)).select(key, tiny_context(10, 1), 2, None)


def test_random_on_a_pool_less_box_is_uniform_in_the_box(key):
    task = box_task(fx.inside_ring, bounds=[(-1.5, 1.5), (-1.5, 1.5)], grid=20)
    assert task.problem.pool is None
    learner = LearnerConfig(hidden=(8,), members=2, steps=20, warm_steps=5).build((2,), 2)
    result = run_loop(key, task.problem, learner, RandomSampling(), task.oracle, LoopConfig(budget=30, seed_size=4))
    x = result.buffer.x[:result.buffer.size]
    assert result.buffer.size == 30 and np.all((x >= 0) & (x <= 1))  # the learner's unit cube
    phys = task.physical(x)
    assert phys.min() >= -1.5 and phys.max() <= 1.5 and np.ptp(phys, axis=0).min() > 2.0
    labels = [a.label for a in result.answers]
    assert labels == [fx.inside_ring(p) for p in phys]  # the function saw physical values


TABLE = {
    "name": "plugins", "seeds": [0],
    "data": {"name": f"{PLUGINS}:ring", "args": {"n": 80, "n_test": 100}},
    "learner": {"model": f"{PLUGINS}:TanhNet", "optimizer": f"{PLUGINS}:clipped_sgd", "members": 2, "steps": 20,
                "warm_steps": 5, "learning_rate": 0.1},
    "generator": {"model": f"{PLUGINS}:make_decoder", "latent": 2},
    "oracle": {"kind": "function", "function": f"{PLUGINS}:inside_ring"},
    "loop": {"budget": 12, "seed_size": 2, "batch_size": 2, "fsync": False},
    "strategies": [{"kind": f"{PLUGINS}:FarthestFirst"}, {"kind": "uncertainty", "measure": f"{PLUGINS}:gini"},
                   {"kind": "synthesis", "measure": f"{PLUGINS}:gini", "starts": 8, "steps": 3}],
}


@pytest.mark.slow
def test_a_config_of_user_plugins_runs_and_resumes_after_a_crash_to_the_same_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("QSYNTH_THREADS", "1")
    config = parse_config(TABLE)
    whole = run_experiment(config, tmp_path / "whole", progress=False, plots=False).path
    monkeypatch.setitem(fx.STOP_AFTER, "calls", fx._CALLS["n"] + 15)  # dies in the second strategy's run
    with pytest.raises(fx.Stopped):
        run_experiment(config, tmp_path / "cut", progress=False, plots=False)
    monkeypatch.setitem(fx.STOP_AFTER, "calls", None)
    cut = resume_experiment(tmp_path / "cut" / "plugins", progress=False, plots=False).path
    for name in ("farthest-first", "gini", "synthesis-gini"):
        assert read_label_log(cut / name / "seed-0" / "labels.jsonl") == \
            read_label_log(whole / name / "seed-0" / "labels.jsonl"), name


@pytest.mark.parametrize("change, message", [
    ({"learner": {"model": "nowhere:Net"}}, r"learner.model: cannot import module 'nowhere'"),
    ({"strategies": [{"kind": f"{PLUGINS}:ring"}]}, r"strategies\[0\]: strategy .* is not a Strategy"),
    ({"strategies": [{"kind": f"{PLUGINS}:FarthestFirst", "width": 3}]}, r"strategies\[0\]: .*unknown field"),
    ({"oracle": {"kind": "function"}}, r"oracle.function: the function oracle needs"),
    ({"data": {"name": "box", "args": {"bounds": [[0, 1]]}}}, r"data.args.reference: a box task needs a reference"),
    ({"strategies": [{"kind": "uncertainty", "measure": f"{PLUGINS}:nothing"}]},
     r"strategies\[0\]: measure: module 'tests.plugins_fixture' has no attribute 'nothing'"),
    ({"generator": {"model": f"{PLUGINS}:STOP_AFTER"}}, r"generator.model: .* is not callable"),
])
def test_bad_plugins_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**TABLE, **change})


@pytest.mark.slow
def test_your_own_simulator_from_a_config_on_a_box_with_worker_processes(tmp_path, monkeypatch):
    import pathlib

    monkeypatch.setenv("PYTHONPATH", str(pathlib.Path(__file__).resolve().parents[1]))  # the workers import it
    table = {"name": "mysim", "seeds": [0],
             "data": {"name": "box", "args": {"bounds": [[-1.5, 1.5], [-1.5, 1.5]], "names": ["a", "b"],
                                              "reference": f"{PLUGINS}:inside_ring", "grid": 20}},
             "oracle": {"kind": "function", "function": f"{PLUGINS}:inside_ring", "workers": 2, "timeout": 30.0},
             "learner": {"hidden": [8], "members": 2, "steps": 20, "warm_steps": 5},
             "loop": {"budget": 10, "seed_size": 4, "batch_size": 3, "fsync": False},
             "strategies": [{"kind": "random"}, {"kind": "input_synthesis", "starts": 8, "steps": 3}]}
    run = run_experiment(parse_config(table), tmp_path, progress=False, plots=False).path
    for name in ("random", "input_synthesis-entropy"):
        log = read_label_log(run / name / "seed-0" / "labels.jsonl")
        queries = {r["query_id"]: r["x"] for r in log if r["kind"] == "query"}
        answers = [r for r in log if r["kind"] == "answer"]
        assert len(answers) == 10 and all(a["status"] == "ok" for a in answers)
        for a in answers:  # each answer is the function of the query's physical point
            assert a["label"] == fx.inside_ring(-1.5 + 3.0 * np.asarray(queries[a["query_id"]]))
