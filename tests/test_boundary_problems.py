"""The boundary suite's problems: exact labels at known points, the recorded success fractions,
the islands really separate, and a fixed evaluation set."""

import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath
from scipy import ndimage

from qsynth.experiments.boundaries import (EVALUATION_POINTS, GRID, POLYGON, PROBLEMS, branin, evaluation_set,
                                           hartmann, islands, polygon, polygon_labels, smooth4d, smooth8d)

BOX_PROBLEMS = [name for name, p in PROBLEMS.items() if p.simulator is None]


def test_the_test_functions_at_their_known_minima():
    minima = np.array([[-np.pi, 12.275], [np.pi, 2.275], [9.42478, 2.475]])
    np.testing.assert_allclose(branin(minima), 0.397887, atol=1e-5)
    np.testing.assert_allclose(hartmann(np.array([[0.114614, 0.555649, 0.852547]])), -3.86278, atol=1e-4)
    x6 = np.array([[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]])
    np.testing.assert_allclose(hartmann(x6), -3.32237, atol=1e-4)
    assert all(islands(m) == 1 for m in minima) and islands(np.array([-5.0, 0.0])) == 0
    assert smooth4d(np.array([0.114614, 0.555649, 0.852547, 0.9])) == 1
    assert smooth8d(np.concatenate([x6[0], [0.0, 1.0]])) == 1 and smooth8d(np.zeros(8)) == 0


def test_the_polygon_against_matplotlib():
    u = np.random.default_rng(0).uniform(0, 1, (5000, 2))
    np.testing.assert_array_equal(polygon_labels(u), PolygonPath(np.asarray(POLYGON)).contains_points(u))
    assert polygon(np.array([0.3, 0.3])) == 1 and polygon(np.array([0.8, 0.5])) == 0  # (inside the notch)


@pytest.mark.parametrize("name", BOX_PROBLEMS)
def test_success_fractions_are_the_recorded_ones_on_a_fixed_evaluation_set(name):
    problem = PROBLEMS[name]
    u, y = evaluation_set(problem)
    assert u.shape == ((GRID * GRID, 2) if problem.dim == 2 else (EVALUATION_POINTS, problem.dim))
    assert u.min() >= 0 and u.max() <= 1
    assert abs(y.mean() - problem.success_fraction) < 1e-4
    u2, y2 = evaluation_set(problem)
    np.testing.assert_array_equal(u, u2)
    np.testing.assert_array_equal(y, y2)


def test_the_islands_are_three_separate_regions():
    _, y = evaluation_set(PROBLEMS["islands"])
    _, count = ndimage.label(y.reshape(GRID, GRID))
    assert count == 3


def test_inactive_dimensions_change_nothing():
    u = np.random.default_rng(1).uniform(0, 1, (200, 8))
    moved = u.copy()
    moved[:, 6:] = np.random.default_rng(2).uniform(0, 1, (200, 2))
    assert [smooth8d(a) for a in u] == [smooth8d(b) for b in moved]


def test_the_recommended_box_configuration_parses_and_is_the_suites():
    """`qsynth.recommended`'s tables are valid config, fresh on each call, and the suite's final
    arms run exactly them."""
    import sys
    from pathlib import Path

    from qsynth import recommended
    from qsynth.config import parse_config

    config = parse_config({"name": "box", "data": {"name": "box", "args": {"bounds": [[0, 1], [0, 1]],
                                                                 "reference": "qsynth.experiments.boundaries:polygon"}},
                           "oracle": {"kind": "function", "function": "qsynth.experiments.boundaries:polygon"},
                           "learner": recommended.box_learner(),
                           "strategies": [recommended.box_synthesis(), recommended.box_pool(), recommended.box_random()]})
    assert config.learner.model == "gp" and config.learner.lengthscale_by == "loo_balanced"
    from qsynth.strategies import build_strategy

    built = [build_strategy(s) for s in config.strategies]  # (every field checked)
    assert [s.measure for s in built[:2]] == ["boundary_information"] * 2
    recommended.box_learner()["model"] = "mlp"
    assert recommended.box_learner()["model"] == "gp"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    import boundaries

    assert boundaries.LEARNERS["gp_loo_balanced"] == recommended.box_learner()
    assert boundaries.STRATEGIES["input_synthesis_bi_rescore"] == recommended.box_synthesis()
    assert boundaries.RECOMMENDED == ("input_synthesis_bi_rescore-gp_loo_balanced", "pool_bi-gp_loo_balanced",
                                      "random-gp_loo_balanced")
    # the archived rows' arms keep what they ran
    assert boundaries.LEARNERS["gp_loo"] == {"model": "gp", "kernel": "matern52", "lengthscale_by": "loo"}
    assert "rescore" not in boundaries.STRATEGIES["input_synthesis_bi"]
    assert boundaries.STRATEGIES["pool_bi"] == recommended.box_pool()
    assert set(boundaries.RECOMMENDED) <= set(boundaries.ARMS) and set(boundaries.FINAL) <= set(boundaries.ARMS)
