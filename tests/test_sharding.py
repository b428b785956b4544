"""Data-parallel scoring and fitting across devices (issue 19, item 3): with 8 fake CPU devices,
pool scoring splits each chunk's rows and an ensemble's fit splits its members over a `Mesh`,
and both equal the one-device results within float tolerance. Runs in a separate process (the
device count is fixed when JAX starts)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent('''
    import os
    import jax, numpy as np
    assert jax.device_count() == 8, jax.devices()
    from qsynth.data import LabeledBuffer, moons
    from qsynth.learners import LearnerConfig
    from qsynth.loop import LoopConfig, run_loop
    from qsynth.problem import Problem
    from qsynth.strategies import PoolSampling
    from qsynth.strategies.measures import Scorer
    from qsynth.strategies.scoring import score_points

    from qsynth._devices import mesh_for
    assert [None if mesh_for(n) is None else mesh_for(n).devices.size for n in (64, 5, 7, 11, 1)] == [8, 5, 7, None, None]

    def both(fn):
        os.environ["QSYNTH_SHARDING"] = "0"
        one = fn()
        os.environ["QSYNTH_SHARDING"] = "1"
        return one, fn()

    data = moons(0, n=600, n_test=200)
    members = 5  # (an odd count: a 5-device mesh; `mesh_for` above covers the other splits)
    learner = LearnerConfig(model="mlp", hidden=(16,), members=members, steps=40, warm_steps=5).build((2,), 2)
    buffer = LabeledBuffer.empty((2,))
    buffer.add(data.x[:40], data.y[:40], 0)
    one, many = both(lambda: learner.fit(jax.random.key(1), None, buffer))
    leaf = jax.tree.leaves(many.params["net"])[0]
    assert len(leaf.sharding.device_set) == members, leaf.sharding  # every member on its own device
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(many)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    rows = np.arange(1, 600, 2)
    one_s, many_s = both(lambda: score_points(learner, Scorer("bald"), one.params, data.x, chunk_size=64, rows=rows))
    np.testing.assert_allclose(one_s, many_s, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(many_s)) and len(many_s) == 300

    problem = Problem.from_dataset(data)  # (the same learner: its programs are compiled)
    loop = LoopConfig(budget=10, seed_size=4)
    one, many = both(lambda: run_loop(jax.random.key(0), problem, learner, PoolSampling(measure="entropy"),
                                      __import__("qsynth.oracles", fromlist=["DatasetOracle"]).DatasetOracle(
                                          data.y, data.classes), loop))
    np.testing.assert_allclose([r["accuracy"] for r in one.history], [r["accuracy"] for r in many.history], atol=0.02)
    print("sharded == unsharded")
''')


@pytest.mark.slow
def test_sharded_scoring_and_fit_equal_one_device(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "QSYNTH_WINDOWS": "1",
           "JAX_PLATFORMS": "cpu"}
    script = tmp_path / "sharded.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sharded == unsharded" in done.stdout
