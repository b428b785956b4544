"""Built-in simulators against their closed forms and references, and the region F1 utility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsynth.oracles.region import f1_score, grid, region_f1
from qsynth.oracles.simulators import CartPole, Normalized, Projectile, make_simulator


def test_projectile_lands_where_the_closed_form_says():
    sim = Projectile()
    rng = np.random.default_rng(0)
    params = rng.uniform(sim.low, sim.high, (200, 2))
    exact = sim.closed_form_distance(params)
    simulated = np.array([sim(p)["value"] for p in params])
    assert np.max(np.abs(simulated - exact)) < 1e-4
    # a hand-worked throw: 45°, v² = 2 g → R = 2 m exactly, in the window
    assert sim(np.array([45.0, math.sqrt(2 * 9.81)]))["value"] == pytest.approx(2.0, abs=1e-4)
    labels = np.array([sim(p)["label"] for p in params])
    clear = np.abs(np.abs(exact - sim.target) - sim.tolerance) > 1e-3
    assert np.array_equal(labels[clear], sim.reference(params)[clear])
    assert np.allclose(sim.simulated_distance(params), simulated, atol=1e-9)


def test_projectile_with_a_launch_height_and_with_drag():
    high = Projectile(height=1.0)
    p = np.array([[30.0, 5.0]])
    assert high(p[0])["value"] == pytest.approx(high.closed_form_distance(p)[0], abs=1e-4)
    draggy = Projectile(drag=0.1)
    assert draggy(p[0])["value"] < Projectile()(p[0])["value"] - 0.1
    with pytest.raises(ValueError, match="only without drag"):
        draggy.closed_form_distance(p)
    # the drag reference is a finer simulation of the same flight
    assert draggy.reference(p)[0] == draggy(p[0])["label"]
    assert draggy.config()["drag"] == 0.1 and draggy.config()["integrator"] == "rk4"


def test_projectile_success_region_is_the_two_lobs_of_the_closed_form():
    sim = Projectile()
    g = grid(sim.low, sim.high, 60)
    ref = sim.reference(g).reshape(60, 60)  # rows: speed, columns: angle
    assert 0.03 < ref.mean() < 0.2
    row = ref[np.argmin(np.abs(np.unique(g[:, 1]) - 6.0))]  # at 6 m/s: a low and a high angle band
    edges = np.flatnonzero(np.diff(row) != 0)
    assert len(edges) == 4


def test_cartpole_keeps_the_pole_up_only_with_enough_gain_and_damping():
    sim = CartPole()
    assert sim(np.array([30.0, 4.0]))["label"] == 1
    assert sim(np.array([5.0, 4.0]))["label"] == 0  # too weak to hold the pole against gravity
    assert sim(np.array([30.0, 0.0]))["label"] == 0  # undamped: the oscillation grows
    rng = np.random.default_rng(1)
    params = rng.uniform(sim.low, sim.high, (150, 2))
    answers = [sim(p) for p in params]
    labels = np.array([a["label"] for a in answers])
    margins = np.array([a["value"] for a in answers])
    assert np.array_equal(labels == 1, margins >= 0)
    assert np.all((margins >= -1) & (margins <= 1))
    # a failure's value is minus the horizon still left: no control falls at once, a late failure is near 0
    assert sim(np.array([0.0, 0.0]))["value"] < -0.8
    late = margins[labels == 0].max()
    assert -0.5 < late < 0
    agree = np.mean(labels == sim.reference(params))
    assert agree >= 0.97 and 0.2 < labels.mean() < 0.8


def test_cartpole_without_saturation_matches_linear_stability_for_small_tilts():
    """Small tilt, no force limit, long horizon: success iff the linearised closed loop is stable."""
    sim = CartPole(theta0=0.01, force_max=1e6, horizon=20.0, x_max=1e3, k_x=0.0, k_v=0.0)
    m, mp, l, g = sim.cart_mass, sim.pole_mass, sim.half_length, sim.gravity
    total = m + mp
    # linearised pole dynamics with the cart free: alpha = (g θ − F/total) / (l (4/3 − mp/total)),
    # F = kθ θ + kω ω → stable iff kθ > total g and kω > 0 (Routh–Hurwitz for a second-order system)
    for k_theta, k_omega in [(12.0, 1.0), (11.5, 2.0), (10.0, 3.0), (20.0, 0.5), (20.0, -0.5)]:
        stable = k_theta > total * g and k_omega > 0
        assert sim(np.array([k_theta, k_omega]))["label"] == int(stable), (k_theta, k_omega)


def test_normalized_maps_the_unit_box_to_the_parameters():
    sim = Normalized(Projectile())
    assert np.allclose(sim.physical(np.array([0.0, 1.0])), [10.0, 8.0])
    assert np.allclose(sim.unit(sim.physical(np.array([0.3, 0.7]))), [0.3, 0.7])
    u = np.array([0.5, 0.5])
    assert sim(u) == Projectile()(np.array([45.0, 5.0]))
    with pytest.raises(ValueError, match="outside the unit box"):
        sim(np.array([1.5, 0.5]))
    with pytest.raises(ValueError, match="takes 2 parameters"):
        Projectile()(np.zeros(3))


def test_make_simulator_names_bad_arguments():
    assert isinstance(make_simulator("cartpole", {"horizon": 2.0}), CartPole)
    with pytest.raises(ValueError, match="unknown simulator 'rocket'"):
        make_simulator("rocket")
    with pytest.raises(ValueError, match="'projectile'.*speed"):
        make_simulator("projectile", {"speed": 3})
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        make_simulator("projectile", {"tolerance": 0})


def test_grid_and_f1():
    g = grid(np.array([0.0, 10.0]), np.array([1.0, 20.0]), 4)
    assert g.shape == (16, 2)
    assert np.allclose(np.unique(g[:, 0]), [0.125, 0.375, 0.625, 0.875])
    assert np.allclose(np.unique(g[:, 1]), [11.25, 13.75, 16.25, 18.75])
    # TP=2, FP=1, FN=1 → 2·2 / (2·2 + 1 + 1)
    assert f1_score(np.array([1, 1, 1, 0, 0]), np.array([1, 1, 0, 1, 0])) == pytest.approx(4 / 6)
    assert f1_score(np.zeros(3), np.zeros(3)) == 1.0
    sim = Projectile()
    assert region_f1(sim.reference, sim.reference, sim.low, sim.high, 50) == 1.0
    assert region_f1(lambda p: np.zeros(len(p)), sim.reference, sim.low, sim.high, 50) == 0.0


def test_mujoco_ball_in_cup_lands_where_the_ballistic_throw_does(tmp_path):
    pytest.importorskip("mujoco")
    from qsynth.oracles.simulators.mujoco_cup import BallInCup

    sim = BallInCup(log_dir=str(tmp_path / "logs"))
    hit = sim(np.array([45.0, math.sqrt(2 * 9.81)]))  # lands 2 m away in vacuum: in the cup
    assert hit["label"] == 1 and hit["value"] < sim.settings["cup_half_width"]
    assert sim(np.array([45.0, 3.0]))["label"] == 0 and sim(np.array([45.0, 7.0]))["label"] == 0
    rng = np.random.default_rng(0)
    params = rng.uniform(sim.low, sim.high, (60, 2))
    agree = np.mean(sim.reference(params) == Projectile(target=2.0, tolerance=0.15).reference(params))
    assert agree > 0.9  # rims and bounces move the edges; the region is the ballistic one
    cfg = sim.config()
    assert cfg["solref"] == [0.02, 1.0] and "mujoco" in cfg and "<freejoint" in sim.mjcf()
    import pickle

    assert pickle.loads(pickle.dumps(sim))(np.array([45.0, 3.0]))["label"] == 0  # workers get a copy


def test_mujoco_divergence_is_a_failed_answer_and_its_log_stays_in_the_log_dir(tmp_path):
    pytest.importorskip("mujoco")
    from qsynth.oracles import FunctionOracle
    from qsynth.oracles.simulators.mujoco_cup import BallInCup
    from qsynth.records import Queries, Status

    sim = BallInCup(gravity=1e20, log_dir=str(tmp_path / "logs"))
    (a,) = FunctionOracle(sim, (0, 1)).label(Queries(("q0",), np.array([[45.0, 4.0]]), np.zeros(1)))
    assert a.status is Status.FAILED and "diverged" in a.error and "mjWARN_BADQACC" in a.error
    assert (tmp_path / "logs" / "MUJOCO_LOG.TXT").exists()
