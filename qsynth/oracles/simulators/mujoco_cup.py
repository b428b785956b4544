"""A ball thrown into a cup, simulated by MuJoCo (optional extra: `pip install 'qsynth[mujoco]'`).

The MJCF model is written here: a 57 g ball of radius 3 cm launched from 5 cm above the
floor at `angle` degrees with `speed` m/s, towards an open square cup (inner half-width
`cup_half_width`, walls `wall_height` tall) centred `cup_distance` metres away. Success:
after `horizon` seconds the ball rests inside the cup. Unlike the projectile, the ball may
hit a rim and bounce in or out, so the success region has ragged edges that only the
simulator knows; the reference is the simulator itself on a grid.

Contact settings change the answer (stiff thin walls throw the ball out): they are
parameters (`solref`, `solimp`, `friction`) and recorded in the run's `oracle.json`.
MuJoCo hides divergence — it warns, resets the state and goes on — so after every throw
its warning counters (bad qpos/qvel/qacc) and the state are checked, and a divergent throw
is a FAILED answer. MuJoCo writes `MUJOCO_LOG.TXT` into the working directory: with
`log_dir` set (a run sets `runs/<name>/oracle-logs/`), each throw runs there.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np

from qsynth.oracles.calls import QueryTimeout, time_left
from qsynth.oracles.simulators.base import Simulator

__all__ = ["BallInCup"]

_MODEL = """
<mujoco model="ball_in_cup">
  <option timestep="{timestep}" gravity="0 0 -{gravity}" integrator="implicitfast"/>
  <default>
    <geom solref="{solref}" solimp="{solimp}" friction="{friction} 0.005 0.0001"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="ball" pos="0 0 {launch_height}">
      <freejoint name="ball"/>
      <geom name="ball" type="sphere" size="{radius}" mass="{mass}"/>
    </body>
    <body name="cup" pos="{cup_distance} 0 0">
      <geom name="cup_base" type="box" pos="0 0 {half_t}" size="{outer} {outer} {half_t}"/>
      <geom name="wall_near" type="box" pos="-{wall_x} 0 {wall_z}" size="{half_t} {outer} {wall_half}"/>
      <geom name="wall_far" type="box" pos="{wall_x} 0 {wall_z}" size="{half_t} {outer} {wall_half}"/>
      <geom name="wall_left" type="box" pos="0 -{wall_x} {wall_z}" size="{outer} {half_t} {wall_half}"/>
      <geom name="wall_right" type="box" pos="0 {wall_x} {wall_z}" size="{outer} {half_t} {wall_half}"/>
    </body>
  </worldbody>
</mujoco>
"""


class BallInCup(Simulator):
    """Does a throw at (angle, speed) end with the ball in the cup?

    Args:
      cup_distance: metres from the launch point to the cup's centre.
      cup_half_width, wall_height, wall_thickness: the cup's inner half-width and walls (m).
      radius, mass: the ball. launch_height: the ball's starting height (m).
      horizon: simulated seconds per throw. timestep: MuJoCo's step.
      solref, solimp, friction: MuJoCo contact parameters for every geom.
      log_dir: folder to run MuJoCo in (where it writes MUJOCO_LOG.TXT); None: the current one.
      low, high: the parameter box (angle in degrees, speed in m/s).

    Answers carry the ball's final distance from the cup's centre line as `value`.
    """

    name = "ball_in_cup"
    parameter_names = ("angle_deg", "speed_m_s")

    def __init__(self, *, cup_distance: float = 2.0, cup_half_width: float = 0.15, wall_height: float = 0.12,
                 wall_thickness: float = 0.02, radius: float = 0.03, mass: float = 0.057,
                 launch_height: float = 0.05, gravity: float = 9.81, horizon: float = 2.0, timestep: float = 0.002,
                 solref: tuple[float, float] = (0.02, 1.0), solimp: tuple[float, float, float] = (0.9, 0.95, 0.001),
                 friction: float = 1.0, log_dir: str | None = None,
                 low: tuple[float, float] = (10.0, 2.0), high: tuple[float, float] = (80.0, 8.0)):
        super().__init__(low, high)
        for field, v in (("cup_distance", cup_distance), ("cup_half_width", cup_half_width),
                         ("wall_height", wall_height), ("wall_thickness", wall_thickness), ("radius", radius),
                         ("mass", mass), ("horizon", horizon), ("timestep", timestep), ("gravity", gravity)):
            if not v > 0:
                raise ValueError(f"ball_in_cup: {field} must be > 0, got {v}")
        self.settings = dict(cup_distance=float(cup_distance), cup_half_width=float(cup_half_width),
                             wall_height=float(wall_height), wall_thickness=float(wall_thickness),
                             radius=float(radius), mass=float(mass), launch_height=float(launch_height),
                             gravity=float(gravity), horizon=float(horizon), timestep=float(timestep),
                             solref=[float(v) for v in solref], solimp=[float(v) for v in solimp],
                             friction=float(friction))
        self.log_dir = log_dir
        self._model: Any = None

    def __getstate__(self) -> dict[str, Any]:  # the compiled model stays in its process
        return {**self.__dict__, "_model": None}

    def mjcf(self) -> str:
        """The MJCF model text."""
        s = self.settings
        half_t = s["wall_thickness"] / 2
        return _MODEL.format(
            timestep=s["timestep"], gravity=s["gravity"], solref=" ".join(map(str, s["solref"])),
            solimp=" ".join(map(str, s["solimp"])), friction=s["friction"], launch_height=s["launch_height"],
            radius=s["radius"], mass=s["mass"], cup_distance=s["cup_distance"], half_t=half_t,
            outer=s["cup_half_width"] + s["wall_thickness"], wall_x=s["cup_half_width"] + half_t,
            wall_z=s["wall_height"] / 2, wall_half=s["wall_height"] / 2)

    def config(self) -> dict[str, Any]:
        import mujoco

        return {**super().config(), **self.settings, "mujoco": mujoco.__version__, "integrator": "implicitfast",
                "log_dir": self.log_dir}

    def _compiled(self) -> Any:
        if self._model is None:
            import mujoco

            self._model = mujoco.MjModel.from_xml_string(self.mjcf())
        return self._model

    def simulate(self, params: np.ndarray) -> dict[str, Any]:
        import mujoco

        if self.log_dir is not None:
            os.makedirs(self.log_dir, exist_ok=True)
        with contextlib.chdir(self.log_dir) if self.log_dir is not None else contextlib.nullcontext():
            model = self._compiled()
            data = mujoco.MjData(model)
            a = math.radians(float(params[0]))
            data.qvel[:3] = [float(params[1]) * math.cos(a), 0.0, float(params[1]) * math.sin(a)]
            steps = int(round(self.settings["horizon"] / self.settings["timestep"]))
            watched = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                       mujoco.mjtWarning.mjWARN_BADQACC)
            for i in range(0, steps, 10):
                mujoco.mj_step(model, data, nstep=min(10, steps - i))
                bad = {w.name: int(data.warning[int(w)].number) for w in watched}
                if any(bad.values()) or not np.all(np.isfinite(data.qpos)):  # MuJoCo resets and goes on: we stop
                    raise FloatingPointError(f"ball_in_cup: the simulation diverged at t={data.time:.3f} s (MuJoCo "
                                             f"warnings {bad}, position {data.qpos[:3].tolist()})")
                if time_left() <= 0:
                    raise QueryTimeout(f"ball_in_cup: out of time at simulated t={data.time:.2f} s")
        x, y, z = (float(v) for v in data.qpos[:3])
        s = self.settings
        dx, dy = x - s["cup_distance"], y
        inside = max(abs(dx), abs(dy)) < s["cup_half_width"] and z < s["wall_height"]
        return {"label": int(inside), "value": math.hypot(dx, dy)}

    def reference(self, params: np.ndarray) -> np.ndarray:
        """Labels [n] from the simulator itself (there is no closed form with rims and bounces)."""
        return np.asarray([self.simulate(p)["label"] for p in np.asarray(params, dtype=np.float64)], np.int64)
