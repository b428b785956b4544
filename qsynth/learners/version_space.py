"""A committee over the version space of a homogeneous halfspace (noise-free labels).

For `y = [w*·x > 0]` the version space after labels {(x_i, y_i)} is the cone
{w : s_i w·x_i > 0, s_i = 2y_i − 1}. This learner keeps `members` particles drawn
approximately uniformly from that cone's intersection with the unit ball (so their
directions are uniform on the version space's piece of the sphere) by *rounded
hit-and-run*: each step picks a direction from the particles' own covariance (plus a little
isotropic noise, so thin needle-shaped version spaces still mix), finds the chord of the
line inside the ball and every constraint, and jumps to a uniform point of the chord.
After new labels, particles that violate them are replaced by copies of those that do not;
if none survive, a feasible point is found by a perceptron on the normalized constraints, or
where that is too slow (thin version spaces) by a max-margin linear program.

* The point estimate is the normalized particle mean (an estimate of the Bayes point, the
  version space's centre of mass); `normal(params)` returns it, and its test error for
  Gaussian inputs is exactly angle(ŵ, w*)/π.
* `probs(params, x)` is each particle's soft vote `sigmoid(scale · w_m·x / ‖x‖)`, with
  `scale` set from the committee's angular spread at each fit, so the committee's
  disagreement (BALD, entropy) is a smooth, scale-free function of the query's direction
  that gradient ascent can climb.

References:
  Herbrich, Graepel & Campbell (2001). Bayes Point Machines.
  Smith (1984). Efficient Monte Carlo Procedures for Generating Points Uniformly Distributed over
    Bounded Regions. (hit-and-run)
  Gilad-Bachrach, Navot & Tishby (2005). Query by Committee Made Real.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from qsynth.data.buffer import LabeledBuffer

__all__ = ["VersionSpaceConfig", "VersionSpaceLearner", "VersionSpaceState", "TRACE_COUNTS"]

TRACE_COUNTS: collections.Counter[str] = collections.Counter()


@dataclasses.dataclass(frozen=True, kw_only=True)
class VersionSpaceConfig:
    """members: committee particles. steps: hit-and-run steps per fit. sharpness: committee
    logit at the typical particle-to-centre angle. perceptron_steps: budget of the fallback."""

    members: int = 256
    steps: int = 100
    sharpness: float = 2.0
    perceptron_steps: int = 20_000

    def __post_init__(self) -> None:
        if self.members < 2 or self.steps < 1 or not self.sharpness > 0:
            raise ValueError(f"version space: need members >= 2, steps >= 1, sharpness > 0; got {self}")

    def build(self, feature_shape: tuple[int, ...], num_classes: int = 2) -> VersionSpaceLearner:
        return VersionSpaceLearner(self, tuple(int(s) for s in feature_shape), int(num_classes))


class VersionSpaceState(NamedTuple):
    """params: {"w": [members, d] particles in the unit ball, "scale": committee sharpness}."""

    params: dict[str, Array]


@dataclasses.dataclass(frozen=True)
class VersionSpaceLearner:
    """The committee, with the learner interface strategies use (`probs`, `fit`, `predict_proba`)."""

    config: VersionSpaceConfig
    feature_shape: tuple[int, ...]
    num_classes: int = 2

    def __post_init__(self) -> None:
        if len(self.feature_shape) != 1 or self.num_classes != 2:
            raise ValueError(f"a version-space learner is for binary halfspaces on flat features; got feature shape "
                             f"{self.feature_shape} and {self.num_classes} classes")

    @property
    def members(self) -> int:
        return self.config.members

    @property
    def dim(self) -> int:
        return self.feature_shape[0]

    def probs(self, params: dict[str, Array], x: Array) -> Array:
        """Particle votes `[members, n, 2]` for `x: [n, d]` (depends only on x's direction)."""
        x = jnp.asarray(x, jnp.float32)
        w = params["w"] / jnp.linalg.norm(params["w"], axis=1, keepdims=True)
        cos = (w @ x.T) / (jnp.linalg.norm(x, axis=1)[None, :] + 1e-12)
        p1 = jax.nn.sigmoid(params["scale"] * cos)
        return jnp.stack([1.0 - p1, p1], axis=-1)

    def normal(self, params: dict[str, Array]) -> np.ndarray:
        """The point estimate ŵ `[d]`: the normalized mean particle direction."""
        w = np.asarray(params["w"], np.float64)
        m = (w / np.linalg.norm(w, axis=1, keepdims=True)).mean(axis=0)
        return m / np.linalg.norm(m)

    def init(self, key: Array) -> VersionSpaceState:
        w = jax.random.normal(key, (self.members, self.dim))
        w = 0.5 * w / jnp.linalg.norm(w, axis=1, keepdims=True)
        return VersionSpaceState({"w": w, "scale": jnp.float32(self.config.sharpness)})

    def fit(self, key: Array, state: VersionSpaceState | None, buffer: LabeledBuffer,
            steps: int | None = None) -> VersionSpaceState:
        """Move the committee into the version space of the buffer's labels and mix it.

        Raises:
          RuntimeError: no direction separates the labels (they are not from a homogeneous halfspace).
        """
        k_init, k_fit, k_fix = jax.random.split(key, 3)
        if state is None:
            state = self.init(k_init)
        a = (buffer.x * (2.0 * buffer.y - 1.0)[:, None]).astype(np.float32)  # s_i x_i
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        mask = buffer.mask
        w = np.asarray(state.params["w"])
        feasible = np.all((w @ a.T > 0) | (mask[None, :] == 0), axis=1)
        if not feasible.any():
            start = np.asarray(_perceptron(jnp.asarray(a), jnp.asarray(mask), jnp.asarray(self.normal(state.params)),
                                           self.config.perceptron_steps))
            if np.any((a @ start <= 0) & (mask > 0)):
                start = _max_margin_direction(a[mask > 0])  # thin version spaces: the perceptron is too slow
            if start is None:
                raise RuntimeError("version space: no homogeneous halfspace separates the labels "
                                   f"(perceptron gave up after {self.config.perceptron_steps} steps and the "
                                   "max-margin linear program found no positive margin)")
            w = np.tile(0.5 * start / np.linalg.norm(start), (self.members, 1)).astype(np.float32)
            feasible = np.ones(self.members, bool)
        rng = np.random.default_rng(np.asarray(jax.random.key_data(k_fix)))
        survivors = np.flatnonzero(feasible)
        w = w[np.where(feasible, np.arange(self.members), rng.choice(survivors, self.members))]
        n_steps = self.config.steps if steps is None else steps
        w = _hit_and_run(jnp.asarray(w, jnp.float32), jnp.asarray(a), jnp.asarray(mask), k_fit, jnp.int32(n_steps))
        unit = w / jnp.linalg.norm(w, axis=1, keepdims=True)
        centre = jnp.mean(unit, axis=0)
        centre = centre / jnp.linalg.norm(centre)
        spread = jnp.mean(jnp.arccos(jnp.clip(unit @ centre, -1.0, 1.0)))
        scale = self.config.sharpness / jnp.maximum(spread, 1e-6)
        return VersionSpaceState({"w": w, "scale": scale.astype(jnp.float32)})

    def predict_proba(self, params: dict[str, Array], x: np.ndarray, chunk_size: int = 4096) -> np.ndarray:
        """Hard probabilities `[n, 2]` of the point estimate ŵ (the classifier that is evaluated)."""
        s = np.asarray(x, np.float64) @ self.normal(params)
        p1 = (s > 0).astype(np.float64)
        return np.stack([1.0 - p1, p1], axis=1)


@jax.jit
def _hit_and_run(w: Array, a: Array, mask: Array, key: Array, steps: Array) -> Array:
    """`steps` rounded hit-and-run moves of every particle inside {‖w‖ ≤ 1, a_i·w ≥ 0 where mask}."""
    TRACE_COUNTS["hit_and_run"] += 1
    m, d = w.shape
    active = mask > 0

    def body(i: Array, w: Array) -> Array:
        k_dir, k_t = jax.random.split(jax.random.fold_in(key, i))
        cov = jnp.cov(w.T).reshape(d, d) + 1e-4 * jnp.eye(d) * jnp.mean(jnp.sum(w * w, axis=1))
        chol = jnp.linalg.cholesky(cov + 1e-9 * jnp.eye(d))
        u = jax.random.normal(k_dir, (m, d)) @ chol.T
        u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
        # the ball: |w + t u|^2 <= 1  ->  t in [-b - r, -b + r]
        b = jnp.sum(w * u, axis=1)
        c = jnp.sum(w * w, axis=1) - 1.0
        r = jnp.sqrt(jnp.maximum(b * b - c, 0.0))
        lo, hi = -b - r, -b + r
        aw, au = w @ a.T, u @ a.T  # [m, cap]
        t_bound = -aw / jnp.where(au == 0, 1.0, au)
        lo = jnp.maximum(lo, jnp.max(jnp.where(active[None, :] & (au > 0), t_bound, -jnp.inf), axis=1))
        hi = jnp.minimum(hi, jnp.min(jnp.where(active[None, :] & (au < 0), t_bound, jnp.inf), axis=1))
        t = jax.random.uniform(k_t, (m,), minval=0.0, maxval=1.0)
        t = lo + t * jnp.maximum(hi - lo, 0.0)
        moved = w + t[:, None] * u
        ok = (hi > lo) & jnp.all((moved @ a.T >= 0) | ~active[None, :], axis=1)
        return jnp.where(ok[:, None], moved, w)

    return jax.lax.fori_loop(0, steps, body, w)


def _max_margin_direction(a: np.ndarray) -> np.ndarray | None:
    """A direction w with a_i·w > 0 for every row of `a: [n, d]`, by linear programming, or None.

    Maximizes t subject to a_i·w ≥ t and −1 ≤ w ≤ 1 (HiGHS): the perceptron needs about
    (1/margin)² updates, which for a thousand labels in 20 dimensions is far too many.
    """
    from scipy.optimize import linprog

    n, d = a.shape
    cost = np.zeros(d + 1)
    cost[-1] = -1.0  # maximize t
    bounds = [(-1.0, 1.0)] * d + [(None, 1.0)]
    res = linprog(cost, A_ub=np.hstack([-a.astype(np.float64), np.ones((n, 1))]), b_ub=np.zeros(n), bounds=bounds,
                  method="highs")
    if res.status != 0 or not res.x[-1] > 0:
        return None
    w = res.x[:d]
    w = w / np.linalg.norm(w)
    return w if np.all(a @ w > 0) else None


@functools.partial(jax.jit, static_argnums=3)
def _perceptron(a: Array, mask: Array, w0: Array, steps: int) -> Array:
    """A direction with a_i·w > 0 for every active row (perceptron on the most violated constraint)."""
    TRACE_COUNTS["perceptron"] += 1

    def body(_: Array, w: Array) -> Array:
        margins = jnp.where(mask > 0, a @ w, jnp.inf)
        worst = jnp.argmin(margins)
        return jnp.where(margins[worst] <= 1e-6, w + a[worst] * 0.1, w)

    return jax.lax.fori_loop(0, steps, body, w0)
