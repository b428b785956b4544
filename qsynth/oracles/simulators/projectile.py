"""A thrown ball that must land in a target window: angle and speed in, hit or miss out.

The ball leaves height `height` at `angle` degrees above the horizontal with `speed` m/s,
under gravity and optional quadratic air drag (acceleration −k |v| v). Success: it lands
(comes back to height 0) at a distance within `target ± tolerance`. Integrated with RK4;
the landing point is interpolated within the last step.

Without drag the range has a closed form, R = v cos θ (v sin θ + sqrt(v² sin² θ + 2 g h)) / g,
which is the reference boundary (two bands in the angle–speed plane: a low and a high lob);
with drag the reference is the same integrator at a ten times smaller step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qsynth.oracles.calls import QueryTimeout, time_left
from qsynth.oracles.simulators.base import Simulator, rk4_step

__all__ = ["Projectile"]


class Projectile(Simulator):
    """Does a throw land in the target window?

    Args:
      target, tolerance: success iff |landing distance − target| <= tolerance (metres).
      drag: quadratic drag coefficient k in 1/m (0: vacuum, closed-form reference).
      gravity: m/s². height: launch height in metres (>= 0).
      dt: integration step in seconds. max_time: simulated seconds before a throw is FAILED.
      low, high: the parameter box (angle in degrees, speed in m/s).

    Answers carry the landing distance as `value`.
    """

    name = "projectile"
    parameter_names = ("angle_deg", "speed_m_s")

    def __init__(self, *, target: float = 2.0, tolerance: float = 0.15, drag: float = 0.0, gravity: float = 9.81,
                 height: float = 0.0, dt: float = 2e-3, max_time: float = 20.0,
                 low: tuple[float, float] = (10.0, 2.0), high: tuple[float, float] = (80.0, 8.0)):
        super().__init__(low, high)
        for field, v in (("tolerance", tolerance), ("gravity", gravity), ("dt", dt), ("max_time", max_time)):
            if not v > 0:
                raise ValueError(f"projectile: {field} must be > 0, got {v}")
        if drag < 0 or height < 0:
            raise ValueError(f"projectile: drag and height must be >= 0, got drag={drag}, height={height}")
        self.target, self.tolerance, self.drag, self.gravity = float(target), float(tolerance), float(drag), float(gravity)
        self.success_values = (self.target - self.tolerance, self.target + self.tolerance)
        self.height, self.dt, self.max_time = float(height), float(dt), float(max_time)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "target": self.target, "tolerance": self.tolerance, "drag": self.drag,
                "gravity": self.gravity, "height": self.height, "integrator": "rk4", "dt": self.dt,
                "max_time": self.max_time}

    def _derivative(self, s: tuple) -> tuple:
        _, _, vx, vy = s
        k = self.drag * (vx * vx + vy * vy) ** 0.5
        return vx, vy, -k * vx, -self.gravity - k * vy

    def landing_distance(self, angle_deg: float, speed: float) -> float:
        """Where one throw comes down (metres), simulated."""
        a = math.radians(angle_deg)
        s = (0.0, self.height, speed * math.cos(a), speed * math.sin(a))
        steps = int(math.ceil(self.max_time / self.dt))
        for i in range(steps):
            nxt = rk4_step(self._derivative, s, self.dt)
            if nxt[1] <= 0.0 and (i > 0 or self.height > 0 or nxt[3] < 0):
                frac = s[1] / (s[1] - nxt[1]) if s[1] != nxt[1] else 1.0
                return s[0] + frac * (nxt[0] - s[0])
            if not all(map(math.isfinite, nxt)):
                raise FloatingPointError(f"projectile: the state became non-finite at t={(i + 1) * self.dt:.3f} s")
            s = nxt
            if i % 1024 == 1023 and time_left() <= 0:
                raise QueryTimeout(f"projectile: out of time at simulated t={(i + 1) * self.dt:.3f} s")
        raise RuntimeError(f"projectile: the ball had not landed after {self.max_time} simulated seconds")

    def simulate(self, params: np.ndarray) -> dict[str, Any]:
        r = self.landing_distance(float(params[0]), float(params[1]))
        return {"label": int(abs(r - self.target) <= self.tolerance), "value": r}

    def closed_form_distance(self, params: np.ndarray) -> np.ndarray:
        """Range without drag, for `params: [n, 2]` (angle in degrees, speed)."""
        if self.drag != 0.0:
            raise ValueError("projectile: the closed-form range holds only without drag")
        p = np.asarray(params, dtype=np.float64)
        a, v = np.radians(p[:, 0]), p[:, 1]
        vy = v * np.sin(a)
        return v * np.cos(a) * (vy + np.sqrt(vy * vy + 2 * self.gravity * self.height)) / self.gravity

    def simulated_distance(self, params: np.ndarray, dt: float | None = None) -> np.ndarray:
        """Ranges [n] for `params: [n, 2]`, simulated all at once (NumPy), step `dt` (default `self.dt`)."""
        p = np.asarray(params, dtype=np.float64)
        dt = self.dt if dt is None else dt
        a = np.radians(p[:, 0])
        s = (np.zeros(len(p)), np.full(len(p), self.height), p[:, 1] * np.cos(a), p[:, 1] * np.sin(a))
        out = np.full(len(p), np.nan)
        flying = np.ones(len(p), bool)
        for _ in range(int(math.ceil(self.max_time / dt))):
            nxt = rk4_step(self._derivative, s, dt)
            down = flying & (nxt[1] <= 0.0)
            if down.any():
                frac = s[1][down] / np.where(s[1][down] != nxt[1][down], s[1][down] - nxt[1][down], 1.0)
                out[down] = s[0][down] + frac * (nxt[0][down] - s[0][down])
                flying &= ~down
            if not flying.any():
                break
            s = nxt
        return out

    def reference(self, params: np.ndarray) -> np.ndarray:
        """Success labels [n]: closed form without drag, else simulated at a tenth of `dt`."""
        r = self.closed_form_distance(params) if self.drag == 0.0 else self.simulated_distance(params, self.dt / 10)
        return (np.abs(r - self.target) <= self.tolerance).astype(np.int64)
