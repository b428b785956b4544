"""Cart-pole stabilisation by a state-feedback controller: gains in, "the pole stayed up" out.

The classic cart-pole (Barto, Sutton & Anderson 1983; the constants of Gym's CartPole)
with a continuous, saturated force F = clip(k_θ θ + k_ω θ̇ + k_x x + k_v ẋ, ±force_max)
— a PD controller on the pole angle plus fixed cart-position feedback. The queried
parameters are the pole gains (k_θ, k_ω); the cart gains are settings. Starting from a
tilt `theta0`, success means |θ| <= 12° and |x| <= 2.4 m for the whole horizon.

(Gym's stock left/right action makes only the direction of the gain vector matter; a
continuous force gives a real two-dimensional success region.) The answer's `value` is
non-negative exactly on success: on success, the worst normalized margin over the horizon,
min(1 − |θ|/θ_max, 1 − |x|/x_max); on failure, minus the fraction of the horizon still left
when a limit was crossed (a controller that fails late scores just below 0, one that falls
at once close to −1). Both sides shrink to 0 at the boundary, so a level-set learner can
regress the value across it. The reference is the same dynamics at a quarter of the step.

References:
  Barto, Sutton & Anderson (1983). Neuronlike adaptive elements that can solve difficult
  learning control problems. IEEE Trans. SMC 13(5).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qsynth.oracles.calls import QueryTimeout, time_left
from qsynth.oracles.simulators.base import Simulator, rk4_step

__all__ = ["CartPole"]


class CartPole(Simulator):
    """Does the controller with pole gains (k_θ, k_ω) keep the pole up? (success iff margin ≥ 0)

    Args:
      k_x, k_v: the fixed cart position and velocity gains.
      theta0: initial pole angle (radians). horizon: simulated seconds. dt: RK4 step.
      force_max: actuator saturation (N). theta_max, x_max: the failure thresholds.
      gravity, cart_mass, pole_mass, half_length: the plant (Gym's defaults).
      low, high: the gain box.
    """

    name = "cartpole"
    parameter_names = ("k_theta", "k_omega")
    success_values = (0.0, float("inf"))

    def __init__(self, *, k_x: float = 1.0, k_v: float = 2.0, theta0: float = 0.15, horizon: float = 5.0,
                 dt: float = 0.01, force_max: float = 10.0, theta_max: float = math.radians(12.0),
                 x_max: float = 2.4, gravity: float = 9.8, cart_mass: float = 1.0, pole_mass: float = 0.1,
                 half_length: float = 0.5, low: tuple[float, float] = (0.0, 0.0),
                 high: tuple[float, float] = (40.0, 6.0)):
        super().__init__(low, high)
        for field, v in (("horizon", horizon), ("dt", dt), ("force_max", force_max), ("theta_max", theta_max),
                         ("x_max", x_max), ("cart_mass", cart_mass), ("pole_mass", pole_mass),
                         ("half_length", half_length)):
            if not v > 0:
                raise ValueError(f"cartpole: {field} must be > 0, got {v}")
        self.k_x, self.k_v, self.theta0, self.horizon, self.dt = float(k_x), float(k_v), float(theta0), horizon, dt
        self.force_max, self.theta_max, self.x_max = float(force_max), float(theta_max), float(x_max)
        self.gravity, self.cart_mass, self.pole_mass, self.half_length = gravity, cart_mass, pole_mass, half_length

    def config(self) -> dict[str, Any]:
        return {**super().config(), "k_x": self.k_x, "k_v": self.k_v, "theta0": self.theta0,
                "horizon": self.horizon, "integrator": "rk4", "dt": self.dt, "force_max": self.force_max,
                "theta_max": self.theta_max, "x_max": self.x_max, "gravity": self.gravity,
                "cart_mass": self.cart_mass, "pole_mass": self.pole_mass, "half_length": self.half_length}

    def _dynamics(self, k_theta: Any, k_omega: Any, clip: Any) -> Any:
        total = self.cart_mass + self.pole_mass
        ml = self.pole_mass * self.half_length

        def f(s: tuple) -> tuple:
            x, v, th, om = s
            force = clip(k_theta * th + k_omega * om + self.k_x * x + self.k_v * v)
            sin, cos = np.sin(th), np.cos(th)
            temp = (force + ml * om * om * sin) / total
            alpha = (self.gravity * sin - cos * temp) / (self.half_length * (4.0 / 3.0 - self.pole_mass * cos * cos / total))
            return v, temp - ml * alpha * cos / total, om, alpha

        return f

    def simulate(self, params: np.ndarray) -> dict[str, Any]:
        fm = self.force_max
        f = self._dynamics(float(params[0]), float(params[1]), lambda u: fm if u > fm else -fm if u < -fm else u)
        s = (0.0, 0.0, self.theta0, 0.0)
        margin = 1.0 - abs(self.theta0) / self.theta_max
        for i in range(int(round(self.horizon / self.dt))):
            s = rk4_step(f, s, self.dt)
            if not all(map(math.isfinite, s)):
                raise FloatingPointError(f"cartpole: the state became non-finite at t={(i + 1) * self.dt:.2f} s")
            margin = min(margin, 1.0 - abs(s[2]) / self.theta_max, 1.0 - abs(s[0]) / self.x_max)
            if margin < 0:  # fell (or left the track): no need to go on
                steps = self.horizon / self.dt
                return {"label": 0, "value": -(1.0 - i / steps)}  # in [-1, -1/steps]: never 0
            if i % 256 == 255 and time_left() <= 0:
                raise QueryTimeout(f"cartpole: out of time at simulated t={(i + 1) * self.dt:.2f} s")
        return {"label": 1, "value": margin}

    def reference(self, params: np.ndarray, dt: float | None = None) -> np.ndarray:
        """Success labels [n] for gains `[n, 2]`, all simulated at once at a quarter of the step."""
        p = np.asarray(params, dtype=np.float64)
        dt = self.dt / 4 if dt is None else dt
        f = self._dynamics(p[:, 0], p[:, 1], lambda u: np.clip(u, -self.force_max, self.force_max))
        n = len(p)
        s = (np.zeros(n), np.zeros(n), np.full(n, self.theta0), np.zeros(n))
        ok = np.full(n, abs(self.theta0) <= self.theta_max)
        for _ in range(int(round(self.horizon / dt))):
            s = rk4_step(f, s, dt)
            ok &= np.isfinite(s[2]) & (np.abs(s[2]) <= self.theta_max) & (np.abs(s[0]) <= self.x_max)
        return ok.astype(np.int64)
