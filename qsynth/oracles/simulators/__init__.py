"""Simulators as oracles: physics and robotics tasks that answer "did it work?" for a parameter vector.

Built in (NumPy, no extra dependency): `Projectile` (angle, speed → lands in the target
window?) and `CartPole` (controller gains → does the pole stay up?). With the extra
`qsynth[mujoco]`: `BallInCup` (a MuJoCo ball thrown into a cup). Imports no JAX.
"""

from __future__ import annotations

from typing import Any

from qsynth.oracles.simulators.base import Normalized, Simulator
from qsynth.oracles.simulators.cartpole import CartPole
from qsynth.oracles.simulators.projectile import Projectile

__all__ = ["SIMULATORS", "CartPole", "Normalized", "Projectile", "Simulator", "make_simulator"]

SIMULATORS = ("projectile", "cartpole", "ball_in_cup")


def make_simulator(name: str, args: dict[str, Any] | None = None) -> Simulator:
    """A simulator by name with keyword `args` (raises ValueError naming a bad name or argument)."""
    args = dict(args or {})
    if name == "projectile":
        cls: type[Simulator] = Projectile
    elif name == "cartpole":
        cls = CartPole
    elif name == "ball_in_cup":
        try:
            from qsynth.oracles.simulators.mujoco_cup import BallInCup
        except ImportError as exc:
            raise ValueError(f"simulator 'ball_in_cup' needs MuJoCo: pip install 'qsynth[mujoco]' ({exc})") from None
        cls = BallInCup
    else:
        raise ValueError(f"unknown simulator {name!r}; choose one of {list(SIMULATORS)}")
    for k in ("low", "high"):
        if k in args and isinstance(args[k], list):
            args[k] = tuple(args[k])
    try:
        return cls(**args)
    except TypeError as exc:
        raise ValueError(f"simulator {name!r}: {exc}") from None
