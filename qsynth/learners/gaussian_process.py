"""An exact Gaussian process in JAX, for low-dimensional boundaries such as a simulator's success region.

The GP regresses one scalar target t(x) and classifies by where t falls:

* `target = "label"` — least-squares classification: t = +1 for class 1, −1 for class 0,
  zero prior mean, and class 1 where the latent function is positive. Works from binary
  answers alone.
* `target = "value"` — the oracle's raw output (`Answer.value`: a projectile's landing
  distance, a controller's worst margin), with the empirical mean as prior mean; class 1
  where t lies in `success = (low, high)` (either end may be infinite). This is the
  level-set setting of Bryan et al. (2005) and Gotovos et al. (2013): the continuous value
  says how far from the boundary a point is, which a binary label cannot.

Kernel: Matérn-5/2 (default) or squared exponential, isotropic, on inputs as given (the
simulator task's unit box). The signal variance has a closed form (profile likelihood for a
fixed noise-to-signal ratio `noise`); the lengthscale is chosen at every fit by the log
marginal likelihood over `lengthscale_grid` (all candidates factorized at once, vmapped),
unless fixed. Training data live in the labeled buffer's fixed-capacity arrays with a
validity mask (an empty slot becomes an isolated unit-variance point with target 0, which
changes neither the posterior nor the likelihood ranking), so the jitted fit compiles once
per capacity bucket.

What strategies see:
  `latent(params, x) -> (mean [n], std [n])`, the posterior of t (for the straddle acquisition);
  `probs(params, x) -> [1, n, 2]` with P(class 1) = P(low ≤ t(x) ≤ high) under that posterior,
  so every probability-based measure (entropy, smooth margin, ...) works too, and synthesis
  can climb either.

References:
  Rasmussen & Williams (2006). Gaussian Processes for Machine Learning, §2.2 (prediction),
    §4.2 (Matérn kernels), §5.4 (marginal likelihood), §6.5 (least-squares classification).
  Bryan, Schneider, Nichol, Miller, Genovese & Wasserman (2005). Active Learning for Identifying
    Function Threshold Boundaries. (straddle)
  Gotovos, Casati, Hitz & Krause (2013). Active Learning for Level Set Estimation.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.linalg import solve_triangular
from jax.scipy.stats import norm

from qsynth._chunks import map_in_chunks
from qsynth.data.buffer import LabeledBuffer

__all__ = ["GPConfig", "GPState", "GaussianProcessLearner", "TRACE_COUNTS"]

TRACE_COUNTS: collections.Counter[str] = collections.Counter()

DEFAULT_LENGTHSCALES = tuple(float(v) for v in np.geomspace(0.02, 1.0, 16))
_JITTER = 1e-6


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPConfig:
    """How the GP models the answers.

    Attributes:
      target: "label" (regress ±1 on the class) or "value" (regress `Answer.value`).
      success: the value interval (low, high) counted as class 1 when target = "value".
      kernel: "matern52" or "rbf".
      lengthscale: a fixed lengthscale, or None to pick one per fit by marginal likelihood.
      lengthscale_grid: the candidates for that choice.
      noise: noise variance as a fraction of the signal variance (a nugget; answers are
        deterministic in the simulators here).
    """

    target: str = "label"
    success: tuple[float, float] = (0.0, math.inf)
    kernel: str = "matern52"
    lengthscale: float | None = None
    lengthscale_grid: tuple[float, ...] = DEFAULT_LENGTHSCALES
    noise: float = 1e-4

    def __post_init__(self) -> None:
        if self.target not in ("label", "value"):
            raise ValueError(f"learner.target must be 'label' or 'value', got {self.target!r}")
        object.__setattr__(self, "success", tuple(float(v) for v in self.success))
        low, high = self.success if len(self.success) == 2 else (math.nan, math.nan)
        if len(self.success) != 2 or not low < high or math.isnan(low) or math.isnan(high):
            raise ValueError(f"learner.success must be (low, high) with low < high, got {self.success}")
        if self.target == "label" and self.success != (0.0, math.inf):
            raise ValueError("learner.success applies to target = 'value' only (with target = 'label' class 1 is "
                             "where the latent function is positive)")
        if self.kernel not in ("matern52", "rbf"):
            raise ValueError(f"learner.kernel must be 'matern52' or 'rbf', got {self.kernel!r}")
        object.__setattr__(self, "lengthscale_grid", tuple(float(v) for v in self.lengthscale_grid))
        if self.lengthscale is not None and not (self.lengthscale > 0 and math.isfinite(self.lengthscale)):
            raise ValueError(f"learner.lengthscale must be a finite positive number (or absent), got {self.lengthscale}")
        if not self.lengthscale_grid or any(not (v > 0 and math.isfinite(v)) for v in self.lengthscale_grid):
            raise ValueError(f"learner.lengthscale_grid must be finite positive numbers, got {self.lengthscale_grid}")
        if not (self.noise > 0 and math.isfinite(self.noise)):
            raise ValueError(f"learner.noise must be a finite positive number, got {self.noise}")

    def build(self, feature_shape: tuple[int, ...], num_classes: int = 2) -> GaussianProcessLearner:
        return GaussianProcessLearner(self, tuple(int(s) for s in feature_shape), int(num_classes))


class GPState(NamedTuple):
    """params: {"x": [cap, d] inputs, "mask": [cap], "alpha": [cap] (R + rI)⁻¹(t − m),
    "chol": [cap, cap] Cholesky factor of the masked R + rI, "lengthscale", "signal" (variance),
    "mean" (prior mean): scalars}."""

    params: dict[str, Array]


@dataclasses.dataclass(frozen=True)
class GaussianProcessLearner:
    """The GP with the learner interface (`init`, `fit`, `probs`, `predict_proba`) plus `latent`."""

    config: GPConfig
    feature_shape: tuple[int, ...]
    num_classes: int = 2
    members: int = 1

    def __post_init__(self) -> None:
        if self.num_classes != 2:
            raise ValueError(f"learner.model 'gp' is a binary (success / failure) learner; the problem has "
                             f"{self.num_classes} classes")

    @property
    def dim(self) -> int:
        return math.prod(self.feature_shape)

    @property
    def levels(self) -> tuple[float, ...]:
        """The finite ends of the class-1 interval: the level sets the boundary lies on."""
        return tuple(v for v in self.config.success if math.isfinite(v))

    # ---- pure functions -------------------------------------------------------------------
    def latent(self, params: dict[str, Array], x: Array) -> tuple[Array, Array]:
        """Posterior mean and standard deviation `[n]`, `[n]` of the target at `x: [n, *feature_shape]`."""
        x = jnp.asarray(x, jnp.float32).reshape(-1, self.dim)
        k = _kernel(self.config.kernel, x, params["x"], params["lengthscale"]) * params["mask"][None, :]  # [n, cap]
        mean = params["mean"] + k @ params["alpha"]
        v = solve_triangular(params["chol"], k.T, lower=True)  # [cap, n]
        var = params["signal"] * jnp.maximum(1.0 - jnp.sum(v * v, axis=0), 1e-10)
        return mean, jnp.sqrt(var)

    def probs(self, params: dict[str, Array], x: Array) -> Array:
        """`[1, n, 2]`: P(class 1) = P(low ≤ t(x) ≤ high) under the posterior."""
        mean, std = self.latent(params, x)
        low, high = self.config.success
        p1 = jnp.ones_like(mean)
        if math.isfinite(high):
            p1 = norm.cdf((high - mean) / std)
        if math.isfinite(low):
            p1 = p1 - norm.cdf((low - mean) / std)
        p1 = jnp.clip(p1, 0.0, 1.0)
        return jnp.stack([1.0 - p1, p1], axis=-1)[None]

    # ---- fitting --------------------------------------------------------------------------
    def init(self, key: Array) -> GPState:
        """The prior: no data (one masked slot), unit signal variance."""
        del key
        return GPState(_prior_params(self, 1))

    def fit(self, key: Array, state: GPState | None, buffer: LabeledBuffer) -> GPState:
        """Condition on the buffer's labels (or values) and pick the lengthscale.

        Deterministic: `key` and `state` are unused (the fit is exact, not warm-started).

        Raises:
          ValueError: target = "value" and no labeled example carries a finite `Answer.value`.
        """
        del key, state
        mask = buffer.mask.copy()
        if self.config.target == "label":
            t = 2.0 * buffer.y.astype(np.float32) - 1.0
        else:
            t = np.nan_to_num(buffer.value, nan=0.0).astype(np.float32)
            has_value = np.isfinite(buffer.value)
            if mask.sum() > 0 and not np.any(has_value & (mask > 0)):
                raise ValueError(f"learner.target = 'value' needs the oracle's raw output (Answer.value) with each "
                                 f"label; none of the {int(mask.sum())} labels has one (use target = 'label', or "
                                 "an oracle that returns values, such as the simulators)")
            mask = mask * has_value
        x = buffer.x.reshape(buffer.capacity, -1).astype(np.float32)
        grid = (self.config.lengthscale,) if self.config.lengthscale is not None else self.config.lengthscale_grid
        return GPState(_fit(self, jnp.asarray(x), jnp.asarray(t), jnp.asarray(mask, jnp.float32),
                            jnp.asarray(grid, jnp.float32)))

    def predict_proba(self, params: dict[str, Array], x: np.ndarray, chunk_size: int = 4096) -> np.ndarray:
        """P(class) `[n, 2]` (NumPy), in fixed-size chunks."""
        return map_in_chunks(lambda c: _probs(self, params, c), np.asarray(x, np.float32), chunk_size)


def _kernel(kind: str, a: Array, b: Array, lengthscale: Array) -> Array:
    """Correlations `[n, m]` between rows of `a: [n, d]` and `b: [m, d]` (1 on the diagonal)."""
    sq = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1) / (lengthscale * lengthscale)
    if kind == "rbf":
        return jnp.exp(-0.5 * sq)
    r = jnp.sqrt(5.0 * sq + 1e-12)  # safe at zero distance (the gradient of sqrt is not)
    return (1.0 + r + r * r / 3.0) * jnp.exp(-r)


def _prior_params(learner: GaussianProcessLearner, capacity: int) -> dict[str, Array]:
    return {"x": jnp.zeros((capacity, learner.dim), jnp.float32), "mask": jnp.zeros(capacity, jnp.float32),
            "alpha": jnp.zeros(capacity, jnp.float32), "chol": jnp.eye(capacity, dtype=jnp.float32),
            "lengthscale": jnp.float32(learner.config.lengthscale or 0.2), "signal": jnp.float32(1.0),
            "mean": jnp.float32(0.0)}


def _masked_correlation(kind: str, x: Array, mask: Array, lengthscale: Array, noise: float) -> Array:
    """R + rI on the filled slots; an empty slot is an isolated point of unit variance."""
    r = _kernel(kind, x, x, lengthscale) * mask[:, None] * mask[None, :]
    return r + jnp.diag((1.0 - mask) + mask * noise + _JITTER)


@functools.partial(jax.jit, static_argnums=0)
def _fit(learner: GaussianProcessLearner, x: Array, t: Array, mask: Array, grid: Array) -> dict[str, Array]:
    TRACE_COUNTS["fit"] += 1
    cfg = learner.config
    n = jnp.sum(mask)
    mean = 0.0 if cfg.target == "label" else jnp.sum(mask * t) / jnp.maximum(n, 1.0)
    tc = (t - mean) * mask

    def factor(lengthscale: Array) -> tuple[Array, Array, Array, Array]:
        chol = jnp.linalg.cholesky(_masked_correlation(cfg.kernel, x, mask, lengthscale, cfg.noise))
        alpha = solve_triangular(chol.T, solve_triangular(chol, tc, lower=True), lower=False)
        signal = jnp.where(n > 0, jnp.sum(tc * alpha) / jnp.maximum(n, 1.0), 1.0)
        signal = jnp.maximum(signal, 1e-12)
        # profile log marginal likelihood (constants dropped): −n/2 log s² − ½ log|R + rI|
        loglik = -0.5 * n * jnp.log(signal) - jnp.sum(jnp.log(jnp.diagonal(chol)))
        return chol, alpha, signal, jnp.where(jnp.isfinite(loglik), loglik, -jnp.inf)

    chols, alphas, signals, logliks = jax.vmap(factor)(grid)
    best = jnp.argmax(logliks)
    return {"x": x, "mask": mask, "alpha": alphas[best], "chol": chols[best], "lengthscale": grid[best],
            "signal": signals[best], "mean": jnp.asarray(mean, jnp.float32)}


@functools.partial(jax.jit, static_argnums=0)
def _probs(learner: GaussianProcessLearner, params: dict[str, Array], x: Array) -> Array:
    TRACE_COUNTS["probs"] += 1
    return learner.probs(params, x)[0]
