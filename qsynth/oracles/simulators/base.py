"""What every simulator oracle shares: a parameter box, a success label, a reference boundary.

A `Simulator` answers one parameter vector (physical units, within `low`..`high`) with
`{"label": 1 if the task succeeds else 0, "value": a raw output}`; it is a picklable
object, so the same instance runs in this process or in worker processes. `reference`
labels many points at once from an analytic formula or a high-resolution simulation, for
scoring a learned success region (`qsynth.oracles.region`). `config()` is what a run
records about it (model, integrator, horizon, contact settings, seed).

The learner sees the parameter box scaled to the unit cube: `Normalized(sim)` takes
u ∈ [0, 1]^d and runs `sim` at `low + u (high - low)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Normalized", "Simulator", "rk4_step"]


def rk4_step(f: Callable[[tuple], tuple], state: tuple, dt: float) -> tuple:
    """One classical Runge–Kutta step of `ds/dt = f(s)`; `state` is a tuple of floats or of arrays."""
    k1 = f(state)
    k2 = f(tuple(s + 0.5 * dt * k for s, k in zip(state, k1)))
    k3 = f(tuple(s + 0.5 * dt * k for s, k in zip(state, k2)))
    k4 = f(tuple(s + dt * k for s, k in zip(state, k3)))
    return tuple(s + dt / 6.0 * (a + 2.0 * b + 2.0 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))


class Simulator:
    """Base class: parameter names and box, the class set (0 = failure, 1 = success), checks.

    Subclasses implement `simulate(params: [d]) -> dict`, `reference(params: [n, d]) -> [n]`
    (or leave `has_reference` False) and `config()`.
    """

    name: str = "simulator"
    parameter_names: tuple[str, ...] = ()
    classes: tuple[int, ...] = (0, 1)
    has_reference: bool = True
    #: (low, high) such that an answer is a success exactly when low <= value <= high, where
    #: the raw `value` determines the label (a level-set learner regresses it); else None.
    success_values: tuple[float, float] | None = None

    def __init__(self, low: Sequence[float], high: Sequence[float]):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        d = len(self.parameter_names)
        if self.low.shape != (d,) or self.high.shape != (d,):
            raise ValueError(f"{self.name}: low and high must have {d} entries ({', '.join(self.parameter_names)}), "
                             f"got {self.low.shape} and {self.high.shape}")
        if not np.all(self.low < self.high):
            raise ValueError(f"{self.name}: need low < high for every parameter, got low={self.low.tolist()} "
                             f"high={self.high.tolist()}")

    @property
    def dim(self) -> int:
        return len(self.parameter_names)

    def check(self, params: Any) -> np.ndarray:
        """`params` as a float array of shape [d], or a ValueError naming what is wrong."""
        p = np.asarray(params, dtype=np.float64)
        if p.shape != (self.dim,):
            raise ValueError(f"{self.name} takes {self.dim} parameters ({', '.join(self.parameter_names)}), "
                             f"got shape {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{self.name}: non-finite parameters {p.tolist()}")
        return p

    def __call__(self, params: np.ndarray) -> dict[str, Any]:
        return self.simulate(self.check(params))

    def simulate(self, params: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def reference(self, params: np.ndarray) -> np.ndarray:
        """Success labels [n] for `params: [n, d]`, analytic or from a high-resolution simulation."""
        raise NotImplementedError(f"{self.name} has no reference boundary")

    def config(self) -> dict[str, Any]:
        return {"simulator": self.name, "parameters": list(self.parameter_names),
                "low": self.low.tolist(), "high": self.high.tolist()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k not in ("simulator", "parameters"))
        return f"{type(self).__name__}({args})"


class Normalized:
    """`sim` seen through the unit cube: u ∈ [0, 1]^d ↦ `sim(low + u (high - low))`."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.classes = sim.classes
        self.has_reference = sim.has_reference
        self.success_values = sim.success_values

    @property
    def dim(self) -> int:
        return self.sim.dim

    def physical(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        return self.sim.low + u * (self.sim.high - self.sim.low)

    def unit(self, params: np.ndarray) -> np.ndarray:
        return (np.asarray(params, dtype=np.float64) - self.sim.low) / (self.sim.high - self.sim.low)

    def __call__(self, u: np.ndarray) -> dict[str, Any]:
        u = np.asarray(u, dtype=np.float64)
        if u.shape == (self.dim,) and np.all(np.isfinite(u)) and not np.all((u >= -1e-6) & (u <= 1 + 1e-6)):
            raise ValueError(f"{self.sim.name}: normalized parameters {u.tolist()} are outside the unit box")
        return self.sim(self.physical(u) if u.shape == (self.dim,) else u)

    def reference(self, u: np.ndarray) -> np.ndarray:
        return self.sim.reference(self.physical(u))

    def config(self) -> dict[str, Any]:
        return {**self.sim.config(), "normalized": True}
