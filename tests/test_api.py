import subprocess
import sys

import qsynth


def test_public_api_resolves():
    for name in qsynth.__all__:
        assert getattr(qsynth, name) is not None


def test_oracles_and_records_import_without_jax():
    code = "import sys, qsynth.oracles, qsynth.records; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_readme_script_runs():
    """The ten-line script in the README, shrunk: it must run as written."""
    import jax

    from qsynth import DatasetOracle, LearnerConfig, LoopConfig, Problem, build_strategy, moons, run_loop

    data = moons(seed=0, n=100)
    problem = Problem.from_dataset(data)
    learner = LearnerConfig(hidden=(8,), members=2, steps=20, warm_steps=5).build(problem.feature_shape, 2)
    strategy = build_strategy({"kind": "bald"})
    oracle = DatasetOracle(data.y, data.classes)
    result = run_loop(jax.random.key(0), problem, learner, strategy, oracle, LoopConfig(budget=6, seed_size=2))
    assert result.history[-1]["queries"] == 6
