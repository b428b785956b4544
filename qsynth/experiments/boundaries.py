"""The boundary benchmark suite's problems (issue 14): each a box, an exact ground truth, a budget.

Five kinds of success region, each with its exact answer everywhere:

* `polygon` (2-D): a concave hexagon with sharp corners in the unit square (24% of it);
* `islands` (2-D): three separate islands, the Branin function's level set {f < 8} on
  [−5, 10] × [0, 15] (13% of the box, 4–5% each);
* `projectile` (2-D): a thin band, the throws that land in the cup (the built-in simulator,
  drag 0, its closed-form reference), learned from binary labels (7% of the box);
* `smooth4d` (4-D): the Hartmann-3 level set {H₃ < −1.5} on [0, 1]³, with one inactive
  fourth dimension (25% of the box);
* `smooth8d` (8-D): the Hartmann-6 level set {H₆ < −0.3} on [0, 1]⁶, with two inactive
  dimensions (27% of the box);
* `cartpole` (2-D): the gains that keep the pole up (the built-in simulator, its reference; 36%).

F1 of the success region (class 1) is measured on a 120 × 120 lattice in 2-D, and on 20,000
uniform points (a fixed generator, `EVALUATION_SEED`) in higher dimensions. Every box problem's
label function takes physical parameters `x: [d]` (the oracle's call) and its vectorized form
`[n, d]` labels the evaluation set.

References:
  Branin (1972); Hartmann (1973) — the test functions as in Dixon & Szegő (1978), "Towards
    Global Optimisation 2", and Surjanovic & Bingham's Virtual Library of Simulation Experiments.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

__all__ = ["EVALUATION_POINTS", "EVALUATION_SEED", "GRID", "PROBLEMS", "BoundaryProblem", "evaluation_set",
           "labels", "write_evaluation_set"]

#: The 2-D problems' evaluation lattice: GRID × GRID points.
GRID = 120
#: Uniform evaluation points in more than two dimensions, and their generator's seed.
EVALUATION_POINTS = 20_000
EVALUATION_SEED = 20_000

#: The polygon's vertices (unit square), counter-clockwise: a concave hexagon, two reflex corners.
POLYGON = ((0.12, 0.15), (0.88, 0.22), (0.56, 0.46), (0.82, 0.86), (0.30, 0.72), (0.38, 0.42))


@dataclasses.dataclass(frozen=True)
class BoundaryProblem:
    """One problem of the suite.

    Attributes:
      name: the suite's name for it (`--problem NAME`).
      bounds: [(low, high)] per parameter (a simulator's: its own box).
      budgets: the calls at which F1 is reported (the last is the run's budget).
      function: the label function's `"module:attr"` reference (box problems), or None.
      simulator: the built-in simulator's name (simulator problems), or None.
      success_fraction: the share of the box that is class 1, on the evaluation set (tests check it).
    """

    name: str
    bounds: tuple[tuple[float, float], ...]
    budgets: tuple[int, ...]
    function: str | None = None
    simulator: str | None = None
    success_fraction: float = 0.0

    @property
    def dim(self) -> int:
        return len(self.bounds)


def _inside_polygon(u: np.ndarray, vertices: tuple[tuple[float, float], ...] = POLYGON) -> np.ndarray:
    """Even–odd rule: whether each point of `u: [n, 2]` lies inside the polygon, `[n]` bool."""
    v = np.asarray(vertices, np.float64)
    x, y = u[:, 0:1], u[:, 1:2]
    x0, y0 = v[:, 0][None], v[:, 1][None]
    x1, y1 = np.roll(v[:, 0], -1)[None], np.roll(v[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (np.sum(crosses & (x < x_at), axis=1) % 2) == 1


def branin(x: np.ndarray) -> np.ndarray:
    """The Branin–Hoo function of `x: [n, 2]`, `[n]` (three global minima 0.398)."""
    b, c, t = 5.1 / (4 * np.pi ** 2), 5 / np.pi, 1 / (8 * np.pi)
    return (x[:, 1] - b * x[:, 0] ** 2 + c * x[:, 0] - 6) ** 2 + 10 * (1 - t) * np.cos(x[:, 0]) + 10


_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_A3 = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_P3 = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_A6 = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                [17, 8, 0.05, 10, 0.1, 14]])
_P6 = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                       [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann(x: np.ndarray) -> np.ndarray:
    """Hartmann-3 (`x: [n, 3]`) or Hartmann-6 (`x: [n, 6]`) on the unit cube, `[n]` (minima −3.86, −3.32)."""
    a, p = (_A3, _P3) if x.shape[1] == 3 else (_A6, _P6)
    return -np.sum(_ALPHA * np.exp(-np.sum(a * (x[:, None, :] - p) ** 2, axis=-1)), axis=-1)


def _as_rows(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.asarray(x, np.float64))


def polygon_labels(x: np.ndarray) -> np.ndarray:
    return _inside_polygon(_as_rows(x)).astype(np.int32)


def islands_labels(x: np.ndarray) -> np.ndarray:
    return (branin(_as_rows(x)) < 8.0).astype(np.int32)


def smooth4d_labels(x: np.ndarray) -> np.ndarray:
    return (hartmann(_as_rows(x)[:, :3]) < -1.5).astype(np.int32)  # (the fourth dimension is inactive)


def smooth8d_labels(x: np.ndarray) -> np.ndarray:
    return (hartmann(_as_rows(x)[:, :6]) < -0.3).astype(np.int32)  # (dimensions 7 and 8 are inactive)


def polygon(x: np.ndarray) -> int:
    """1 inside the polygon, for one point `x: [2]` (the oracle's call)."""
    return int(polygon_labels(x)[0])


def islands(x: np.ndarray) -> int:
    """1 on an island (Branin < 8), for `x: [2]` in [−5, 10] × [0, 15]."""
    return int(islands_labels(x)[0])


def smooth4d(x: np.ndarray) -> int:
    """1 where Hartmann-3 of the first three parameters is below −1.5, for `x: [4]`."""
    return int(smooth4d_labels(x)[0])


def smooth8d(x: np.ndarray) -> int:
    """1 where Hartmann-6 of the first six parameters is below −0.3, for `x: [8]`."""
    return int(smooth8d_labels(x)[0])


_HERE = "qsynth.experiments.boundaries"
PROBLEMS: dict[str, BoundaryProblem] = {p.name: p for p in (
    BoundaryProblem("polygon", ((0.0, 1.0), (0.0, 1.0)), (25, 50, 100), function=f"{_HERE}:polygon",
                    success_fraction=0.2354),
    BoundaryProblem("islands", ((-5.0, 10.0), (0.0, 15.0)), (25, 50, 100), function=f"{_HERE}:islands",
                    success_fraction=0.1304),
    BoundaryProblem("projectile", ((10.0, 80.0), (2.0, 8.0)), (25, 50, 100), simulator="projectile",
                    success_fraction=0.0656),
    BoundaryProblem("smooth4d", ((0.0, 1.0),) * 4, (25, 50, 100, 200), function=f"{_HERE}:smooth4d",
                    success_fraction=0.2494),
    BoundaryProblem("smooth8d", ((0.0, 1.0),) * 8, (25, 50, 100, 200), function=f"{_HERE}:smooth8d",
                    success_fraction=0.2674),
    BoundaryProblem("cartpole", ((0.0, 40.0), (0.0, 6.0)), (25, 50, 100), simulator="cartpole",
                    success_fraction=0.3554),
)}

_VECTORIZED = {"polygon": polygon_labels, "islands": islands_labels, "smooth4d": smooth4d_labels,
               "smooth8d": smooth8d_labels}


def labels(problem: BoundaryProblem, x: np.ndarray) -> np.ndarray:
    """The exact labels `[n]` of physical points `x: [n, d]` (box problems: the label function;
    simulator problems: the simulator's reference)."""
    if problem.simulator is not None:
        from qsynth.oracles.simulators import make_simulator

        return np.asarray(make_simulator(problem.simulator).reference(np.asarray(x, np.float64)), np.int32)
    return _VECTORIZED[problem.name](x)


def evaluation_set(problem: BoundaryProblem) -> tuple[np.ndarray, np.ndarray]:
    """The points F1 is measured on, in the unit cube `[N, d]`, and their exact labels `[N]`:
    the GRID × GRID lattice in 2-D, else EVALUATION_POINTS uniform points from EVALUATION_SEED."""
    from qsynth.oracles.region import grid

    d = problem.dim
    u = grid(np.zeros(2), np.ones(2), GRID) if d == 2 else \
        np.random.default_rng(EVALUATION_SEED).uniform(0.0, 1.0, (EVALUATION_POINTS, d))
    low, high = np.asarray(problem.bounds).T
    return u, labels(problem, low + u * (high - low))


def write_evaluation_set(problem: BoundaryProblem, path: Path) -> Path:
    """The evaluation set in physical units as a box task's `reference_grid` (.npz with x, y)."""
    u, y = evaluation_set(problem)
    low, high = np.asarray(problem.bounds).T
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=low + u * (high - low), y=y)
    return path
