"""An exact Gaussian process in JAX: for low-dimensional boundaries such as a simulator's success
region, and, with the network kernel, for multi-class data such as digits.

The GP regresses a target t(x) and classifies by where t falls:

* `target = "label"` — least-squares classification: t = +1 for class 1, −1 for class 0,
  zero prior mean, and class 1 where the latent function is positive. Works from binary
  answers alone. With C > 2 classes, one output per class with the same kernel:
  t_c = 1 − 1/C for the labeled class and −1/C for the others (one-hot, centered);
  P(class c) = softmax(mean_c / τ), with the temperature τ picked at every fit by the
  leave-one-out cross-entropy of the labeled points, which exact GPs give in closed form
  (R&W §5.4.2 and §6.5: least-squares classification, its outputs calibrated by LOO).
* `target = "value"` — the oracle's raw output (`Answer.value`: a projectile's landing
  distance, a controller's worst margin), with the empirical mean as prior mean; class 1
  where t lies in `success = (low, high)` (either end may be infinite). This is the
  level-set setting of Bryan et al. (2005) and Gotovos et al. (2013): the continuous value
  says how far from the boundary a point is, which a binary label cannot.

Kernel (`qsynth.learners.kernels`): Matérn-5/2 (default) or squared exponential (isotropic, or ARD),
on inputs as given (the simulator task's unit box), or "nngp", the covariance of an
infinitely wide ReLU network (no lengthscale). The signal variance has a closed form (profile likelihood for a
fixed noise-to-signal ratio `noise`); the lengthscale is chosen at every fit by the log
marginal likelihood over `lengthscale_grid` (all candidates factorized at once, vmapped),
unless fixed or the kernel has none — or, with `lengthscale_by = "loo"` (two classes), by
the leave-one-out probit likelihood of the labels (R&W §6.5). With `ard_steps`, the grid's best
is refined into one lengthscale per input dimension (ARD, R&W §5.1) by Adam on the same
criterion, differentiated through the Cholesky factor. Training data live in the labeled buffer's fixed-capacity arrays with a
validity mask (an empty slot becomes an isolated unit-variance point with target 0, which
changes neither the posterior nor the likelihood ranking), so the jitted fit compiles once
per capacity bucket.

What strategies see:
  `latent(params, x) -> (mean [n], std [n])`, the posterior of t (for the straddle acquisition;
  mean `[n, C]` with C > 2 classes);
  `probs(params, x) -> [1, n, C]`: for two classes P(class 1) = P(low ≤ t(x) ≤ high) under that
  posterior, so every probability-based measure (entropy, smooth margin, ...) works too, and
  synthesis can climb either;
  `gradient_norms(params, x) -> [1, n, C]`, the weight-space gradient of its least-squares loss
  for each candidate label (expected gradient length); and, with two classes, the committee
  measures (vote entropy, BALD, ...) of its posterior in closed form
  (`qsynth.strategies.posterior_committee`).

References:
  Rasmussen & Williams (2006). Gaussian Processes for Machine Learning, §2.2 (prediction),
    §4.2 (Matérn kernels), §5.4 (marginal likelihood, leave-one-out), §6.5 (least-squares
    classification).
  Lee, Bahri, Novak, Schoenholz, Pennington & Sohl-Dickstein (2018). Deep Neural Networks as
    Gaussian Processes. (the "nngp" kernel, and least-squares classification with it)
  Bryan, Schneider, Nichol, Miller, Genovese & Wasserman (2005). Active Learning for Identifying
    Function Threshold Boundaries. (straddle)
  Gotovos, Casati, Hitz & Krause (2013). Active Learning for Level Set Estimation.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.stats import norm

from qsynth._chunks import map_in_chunks
from qsynth.data.buffer import LabeledBuffer
from qsynth.learners.base import PreparedTargets
from qsynth.learners.gp_config import DEFAULT_LENGTHSCALES, GPConfig
from qsynth.learners.kernels import covariance, prior_variance

__all__ = ["DEFAULT_LENGTHSCALES", "GPConfig", "GPState", "GaussianProcessLearner", "TRACE_COUNTS"]

TRACE_COUNTS: collections.Counter[str] = collections.Counter()

#: Softmax temperatures tried by the leave-one-out choice (multi-class), on the targets' scale.
TEMPERATURES = tuple(float(v) for v in np.geomspace(0.01, 1.0, 21))
_JITTER = 1e-6


class GPState(NamedTuple):
    """params: {"x": [cap, d] inputs, "mask": [cap], "alpha": (R + rI)⁻¹(t − m), [cap] (two
    classes) or [cap, C] (C > 2), "chol": [cap, cap] Cholesky factor L of the masked R + rI,
    "inverse_factor": L⁻¹ [cap, cap], "lengthscale" (a scalar, or [d] with ARD), "signal"
    (variance), "mean" (prior mean): scalars; with C > 2 classes also "temperature" of the softmax}. A checkpoint from before
    the inverse factor was kept still loads (`GaussianProcessLearner.legacy_state`)."""

    params: dict[str, Array]


@dataclasses.dataclass(frozen=True)
class GaussianProcessLearner:
    """The GP with the learner interface (`init`, `fit`, `probs`, `predict_proba`) plus `latent`."""

    config: GPConfig
    feature_shape: tuple[int, ...]
    num_classes: int = 2
    members: int = 1

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"learner.model 'gp' needs at least two classes, the problem has {self.num_classes}")
        if self.num_classes > 2 and self.config.lengthscale_by.startswith("loo"):
            raise ValueError(f"learner.lengthscale_by = {self.config.lengthscale_by!r} (the probit likelihood of "
                             f"held-out labels) is for two "
                             f"classes; the problem has {self.num_classes}: use lengthscale_by = 'likelihood'")
        if self.num_classes > 2 and self.config.target != "label":
            raise ValueError(f"learner.target = 'value' is for two classes (success / failure); the problem has "
                             f"{self.num_classes} classes: use target = 'label'")

    @property
    def dim(self) -> int:
        return math.prod(self.feature_shape)

    @property
    def outputs(self) -> int:
        """Regressed targets: one per class with more than two classes, else one."""
        return self.num_classes if self.num_classes > 2 else 1

    @property
    def levels(self) -> tuple[float, ...]:
        """The finite ends of the class-1 interval: the level sets the boundary lies on."""
        return tuple(v for v in self.config.success if math.isfinite(v))

    # ---- pure functions -------------------------------------------------------------------
    def latent(self, params: dict[str, Array], x: Array) -> tuple[Array, Array]:
        """Posterior mean `[n]` (`[n, C]` with C > 2 classes) and standard deviation `[n]` of the
        target at `x: [n, *feature_shape]`."""
        return self.prepare_targets(params, x)[1:3]

    def prepare_targets(self, params: dict[str, Array], targets: Array) -> PreparedTargets:
        """The posterior (mean, standard deviation) at `targets: [m, *feature_shape]` and their
        whitened cross-covariance factor L⁻¹ k(X, targets) `[cap, m]`, for `cross_covariance`
        (once per round); `latent` is its mean and standard deviation."""
        x = jnp.asarray(targets, jnp.float32).reshape(-1, self.dim)
        k = self._cross_covariance(params, x)
        mean = params["mean"] + k @ params["alpha"]  # [m] or [m, C]
        factor = params["inverse_factor"] @ k.T  # L⁻¹ kᵀ [cap, m]: a product, ~8× faster on CPU than the solve (and its gradient)
        var = params["signal"] * jnp.maximum(prior_variance(self.config.kernel, x) - jnp.sum(factor * factor, axis=0),
                                             1e-10)
        return PreparedTargets(x, mean, jnp.sqrt(var), factor)

    def cross_covariance(self, params: dict[str, Array], x: Array | PreparedTargets,
                         prepared: PreparedTargets) -> Array:
        """The posterior covariance `[n, m]` of the target between `x: [n, ...]` (or `n` points
        prepared by `prepare_targets`, whose factor is then reused) and prepared targets."""
        if isinstance(x, PreparedTargets):
            x, va = x.x, x.factor  # L⁻¹ k(X, x) [cap, n], computed once for the variance and this
        else:
            x = jnp.asarray(x, jnp.float32).reshape(-1, self.dim)
            va = params["inverse_factor"] @ self._cross_covariance(params, x).T  # [cap, n]
        prior = covariance(self.config.kernel, x, prepared.x, params["lengthscale"], self.config.depth)
        return params["signal"] * (prior - va.T @ prepared.factor)

    def posterior_covariance(self, params: dict[str, Array], a: Array, b: Array) -> Array:
        """The posterior covariance `[n, m]` of the target between `a: [n, ...]` and `b: [m, ...]`."""
        return self.cross_covariance(params, a, self.prepare_targets(params, b))

    def noise_variance(self, params: dict[str, Array]) -> Array:
        """The observation noise variance τ² (the noise-to-signal ratio times the signal variance)."""
        return params["signal"] * self.config.noise

    def believe(self, params: dict[str, Array], x: Array, valid: Array) -> dict[str, Array]:
        """The posterior after also observing `x: [k, *feature_shape]` (the rows where `valid: [k]`
        is 1.0) at the posterior mean there: the kriging believer (Ginsbourger, Le Riche & Carraro
        2010). The mean is unchanged everywhere; the variance shrinks near `x`, exactly as a real
        answer would shrink it (a GP's variance does not depend on the answer). The kernel, signal
        and temperature stay as fitted. The params hold `k` more slots, whatever `valid` holds."""
        return _believe(self, params, jnp.asarray(x, jnp.float32).reshape(-1, self.dim),
                        jnp.asarray(valid, jnp.float32))

    def _cross_covariance(self, params: dict[str, Array], x: Array) -> Array:
        """k(x, training inputs) `[n, cap]`, zero at empty slots, for `x: [n, dim]`."""
        cfg = self.config
        return covariance(cfg.kernel, x, params["x"], params["lengthscale"], cfg.depth) * params["mask"][None, :]

    def _mean(self, params: dict[str, Array], x: Array) -> Array:
        """Posterior mean `[n, C]` at `x: [n, *feature_shape]` (C > 2 classes)."""
        x = jnp.asarray(x, jnp.float32).reshape(-1, self.dim)
        return params["mean"] + self._cross_covariance(params, x) @ params["alpha"]

    def probs(self, params: dict[str, Array], x: Array) -> Array:
        """`[1, n, C]`: two classes, P(class 1) = P(low ≤ t(x) ≤ high) under the posterior; more,
        softmax(mean / temperature)."""
        if self.outputs > 1:  # the mean alone: no triangular solve for the variance
            return jax.nn.softmax(self._mean(params, x) / params["temperature"], axis=-1)[None]
        mean, std = self.latent(params, x)
        low, high = self.config.success
        p1 = jnp.ones_like(mean)
        if math.isfinite(high):
            p1 = norm.cdf((high - mean) / std)
        if math.isfinite(low):
            p1 = p1 - norm.cdf((low - mean) / std)
        p1 = jnp.clip(p1, 0.0, 1.0)
        return jnp.stack([1.0 - p1, p1], axis=-1)[None]

    @property
    def gradient_chunk(self) -> int:
        """Points per scoring chunk for expected gradient length (a closed form: no per-example
        parameter gradients are materialized)."""
        return 1024

    def gradient_norms(self, params: dict[str, Array], x: Array) -> Array:
        """`[1, n, C]`: for each point of `x: [n, *feature_shape]` and candidate label c, the norm of
        the gradient of the GP's own training loss, ½‖f(x) − t_c‖², with respect to its weights in
        the weight-space view f(x) = wᵀφ(x), φ(x)ᵀφ(x′) = k(x, x′) (R&W §2.1), at the posterior
        mean: ‖μ(x) − t_c‖ · √k(x, x) — what expected gradient length needs (Settles et al. 2008,
        who take a network's gradient at its fitted parameters). t_c is the regressed target of
        label c: ±1 for two classes, one-hot centered for more.

        Raises:
          ValueError: `target = "value"` (a value, not a label, is regressed: no per-label target).
        """
        if self.config.target != "label":
            raise ValueError("the measure 'expected_gradient_length' with learner.model = 'gp' needs target = "
                             "'label' (the gradient is taken for each candidate label's regressed target; with "
                             "target = 'value' the GP regresses the oracle's value, which a label does not fix)")
        x = jnp.asarray(x, jnp.float32).reshape(-1, self.dim)
        feature_norm = jnp.sqrt(params["signal"] * prior_variance(self.config.kernel, x))  # ‖φ(x)‖ [n]
        if self.outputs > 1:
            targets = jnp.eye(self.num_classes, dtype=jnp.float32) - 1.0 / self.num_classes  # [C, C]
            residual = jnp.linalg.norm(self._mean(params, x)[:, None, :] - targets[None], axis=-1)  # [n, C]
        else:
            mean = self.latent(params, x)[0]
            residual = jnp.abs(mean[:, None] - jnp.asarray([-1.0, 1.0], jnp.float32)[None, :])  # [n, 2]
        return (residual * feature_norm[:, None])[None]

    # ---- fitting --------------------------------------------------------------------------
    def init(self, key: Array) -> GPState:
        """The prior: no data (one masked slot), unit signal variance."""
        del key
        return GPState(_prior_params(self, 1))

    def fit(self, key: Array, state: GPState | None, buffer: LabeledBuffer) -> GPState:
        """Condition on the buffer's labels (or values) and pick the lengthscale (and temperature).

        Deterministic: `key` and `state` are unused (the fit is exact, not warm-started).

        Raises:
          ValueError: target = "value" and no labeled example carries a finite `Answer.value`.
        """
        del key, state
        mask = buffer.mask.copy()
        if self.config.target == "label" and self.outputs > 1:
            t = np.eye(self.num_classes, dtype=np.float32)[buffer.y] - np.float32(1.0 / self.num_classes)
        elif self.config.target == "label":
            t = (2.0 * buffer.y.astype(np.float32) - 1.0)[:, None]
        else:
            t = np.nan_to_num(buffer.value, nan=0.0).astype(np.float32)[:, None]
            has_value = np.isfinite(buffer.value)
            if mask.sum() > 0 and not np.any(has_value & (mask > 0)):
                raise ValueError(f"learner.target = 'value' needs the oracle's raw output (Answer.value) with each "
                                 f"label; none of the {int(mask.sum())} labels has one (use target = 'label', or "
                                 "an oracle that returns values, such as the simulators)")
            mask = mask * has_value
        x = buffer.x.reshape(buffer.capacity, -1).astype(np.float32)
        return GPState(_fit(self, jnp.asarray(x), jnp.asarray(t), jnp.asarray(mask, jnp.float32),
                            jnp.asarray(self.config.grid, jnp.float32)))

    def legacy_state(self, arrays: list[np.ndarray]) -> GPState | None:
        """The state of a checkpoint written before `inverse_factor` was kept (its leaves, in
        order: alpha, chol, lengthscale, mask, mean, signal[, temperature], x), or None if
        `arrays` is not one."""
        old = [n for n in sorted(_prior_params(self, 1)) if n != "inverse_factor"]
        if len(arrays) != len(old):
            return None
        params = {n: jnp.asarray(a) for n, a in zip(old, arrays)}
        params["inverse_factor"] = _inverse_factor(params["chol"])
        return GPState(params)

    def predict_proba(self, params: dict[str, Array], x: np.ndarray, chunk_size: int = 4096) -> np.ndarray:
        """P(class) `[n, C]` (NumPy), in fixed-size chunks."""
        return map_in_chunks(lambda c: _probs(self, params, c), np.asarray(x, np.float32), chunk_size)


def _prior_params(learner: GaussianProcessLearner, capacity: int) -> dict[str, Array]:
    multi = learner.outputs > 1
    params = {"x": jnp.zeros((capacity, learner.dim), jnp.float32), "mask": jnp.zeros(capacity, jnp.float32),
              "alpha": jnp.zeros((capacity, learner.outputs) if multi else (capacity,), jnp.float32),
              "chol": jnp.eye(capacity, dtype=jnp.float32), "inverse_factor": jnp.eye(capacity, dtype=jnp.float32),
              "lengthscale": (jnp.full((learner.dim,), 0.2, jnp.float32) if learner.config.ard_steps else
                              jnp.float32(learner.config.lengthscale or 0.2)),
              "signal": jnp.float32(1.0), "mean": jnp.float32(0.0)}
    return params | ({"temperature": jnp.float32(1.0)} if multi else {})


def _inverse_factor(chol: Array) -> Array:
    """L⁻¹ of a lower Cholesky factor: one triangular inverse per fit (a third of a full inverse's
    work), so every later posterior variance is a matrix product."""
    return solve_triangular(chol, jnp.eye(chol.shape[0], dtype=chol.dtype), lower=True)


def _masked_covariance(cfg: GPConfig, x: Array, mask: Array, lengthscale: Array) -> Array:
    """R + rI on the filled slots; an empty slot is an isolated point of unit variance."""
    r = covariance(cfg.kernel, x, x, lengthscale, cfg.depth) * mask[:, None] * mask[None, :]
    return r + jnp.diag((1.0 - mask) + mask * cfg.noise + _JITTER)


def _loo_temperature(inverse_factor: Array, alpha: Array, t: Array, y: Array, mask: Array) -> Array:
    """The softmax temperature (of `TEMPERATURES`) with the least leave-one-out cross-entropy.

    Exact GP leave-one-out means (R&W eq. 5.12): μ₋ᵢ = tᵢ − αᵢ / [(R + rI)⁻¹]ᵢᵢ, `[cap, C]`;
    `inverse_factor` is L⁻¹, L the Cholesky factor of R + rI.
    """
    # diag (LLᵀ)⁻¹ = column sums of (L⁻¹)²
    inverse_diagonal = jnp.sum(inverse_factor * inverse_factor, axis=0)
    loo_mean = t - alpha / inverse_diagonal[:, None]
    temperatures = jnp.asarray(TEMPERATURES, jnp.float32)
    log_p = jax.nn.log_softmax(loo_mean[None] / temperatures[:, None, None], axis=-1)  # [T, cap, C]
    nll = -jnp.sum(jnp.take_along_axis(log_p, y[None, :, None], axis=-1)[..., 0] * mask[None, :], axis=-1)
    return temperatures[jnp.argmin(nll)]


#: ARD lengthscales are kept in [ARD_MIN, ARD_MAX] (inputs in the unit box: beyond 100 a
#: dimension no longer matters), refined by Adam at this step size in log space.
ARD_MIN, ARD_MAX, ARD_LEARNING_RATE = 0.01, 100.0, 0.1


def _refine_ard(criterion: Any, start: Array, steps: int) -> Array:
    """The per-dimension lengthscales `[d]` of the best of `steps` Adam iterates (in log space,
    from `start`) by `criterion(lengthscales) -> scalar` (higher is better; −inf where the
    factorization failed, whose gradient is then taken as zero)."""
    import optax

    optimizer = optax.adam(ARD_LEARNING_RATE)
    objective = jax.value_and_grad(lambda log_ell: -criterion(jnp.exp(log_ell)))
    low, high = math.log(ARD_MIN), math.log(ARD_MAX)

    def step(carry: tuple, _: None) -> tuple:
        log_ell, opt_state, best_value, best = carry
        value, grad = objective(log_ell)
        grad = jnp.where(jnp.isfinite(grad), grad, 0.0)
        better = value < best_value
        best_value, best = jnp.where(better, value, best_value), jnp.where(better, log_ell, best)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes its int32 step count with floats
            updates, opt_state = optimizer.update(grad, opt_state)
        return (jnp.clip(log_ell + updates, low, high), opt_state, best_value, best), None

    log0 = jnp.log(start)
    (last, _, best_value, best), _ = jax.lax.scan(step, (log0, optimizer.init(log0), jnp.inf, log0), None, steps)
    last_value = -criterion(jnp.exp(last))
    return jnp.exp(jnp.where(last_value < best_value, last, best))


def first_peak(values: Array) -> Array:
    """The index of the top of the first hill of `values: [g]` (a criterion over an increasing
    grid): from the first index where it rises, the first one it does not rise after; the
    argmax where it never rises."""
    g = values.shape[0]
    index = jnp.arange(g)
    rises = jnp.concatenate([values[1:] > values[:-1], jnp.zeros((1,), bool)])  # rises[i]: values[i+1] > values[i]
    first_rise = jnp.min(jnp.where(rises, index, g))
    top = jnp.min(jnp.where((index > first_rise) & ~rises, index, g - 1))
    return jnp.where(first_rise == g, jnp.argmax(values), top)


@functools.partial(jax.jit, static_argnums=0)
def _fit(learner: GaussianProcessLearner, x: Array, t: Array, mask: Array, grid: Array) -> dict[str, Array]:
    """`t: [cap, outputs]` targets (zero on empty slots), `mask: [cap]`, `grid: [g]` lengthscales."""
    TRACE_COUNTS["fit"] += 1
    cfg = learner.config
    n = jnp.sum(mask)
    mean = 0.0 if cfg.target == "label" else jnp.sum(mask * t[:, 0]) / jnp.maximum(n, 1.0)
    tc = (t - mean) * mask[:, None]
    outputs = t.shape[1]

    def factor(lengthscale: Array) -> tuple[Array, Array, Array, Array]:
        chol = jnp.linalg.cholesky(_masked_covariance(cfg, x, mask, lengthscale))
        alpha = cho_solve((chol, True), tc)
        signal = jnp.where(n > 0, jnp.sum(tc * alpha) / jnp.maximum(n * outputs, 1.0), 1.0)
        signal = jnp.maximum(signal, 1e-12)
        if cfg.lengthscale_by.startswith("loo"):  # leave-one-out probit likelihood of the labels (R&W §6.5, eq. 5.12)
            inverse_diagonal = jnp.sum(_inverse_factor(chol) ** 2, axis=0)  # diag (R + rI)⁻¹
            loo_mean = tc[:, 0] - alpha[:, 0] / inverse_diagonal
            loo_std = jnp.sqrt(signal / inverse_diagonal)
            weight = mask
            if cfg.lengthscale_by == "loo_balanced":  # each class counts as much as the other
                positive = (tc[:, 0] > 0) & (mask > 0)
                n_pos = jnp.sum(jnp.where(positive, mask, 0.0))
                weight = mask * jnp.where(positive, n / jnp.maximum(2.0 * n_pos, 1.0),
                                          n / jnp.maximum(2.0 * (n - n_pos), 1.0))
            loglik = jnp.sum(weight * jax.scipy.stats.norm.logcdf(jnp.sign(tc[:, 0]) * loo_mean / loo_std))
        else:
            # profile log marginal likelihood, the outputs independent given the kernel (constants
            # dropped): −n·C/2 log s² − C/2 log|R + rI|
            loglik = outputs * (-0.5 * n * jnp.log(signal) - jnp.sum(jnp.log(jnp.diagonal(chol))))
        return chol, alpha, signal, jnp.where(jnp.isfinite(loglik), loglik, -jnp.inf)

    chols, alphas, signals, logliks = jax.vmap(factor)(grid)
    best = jnp.argmax(logliks) if cfg.lengthscale_peak == "highest" else first_peak(logliks)
    chol, alpha, signal, lengthscale = chols[best], alphas[best], signals[best], grid[best]
    if cfg.ard_steps:  # one lengthscale per dimension, refined from the grid's best on the same criterion
        lengthscale = _refine_ard(lambda ell: factor(ell)[3], jnp.full((x.shape[1],), lengthscale), cfg.ard_steps)
        chol, alpha, signal, _ = factor(lengthscale)
    params = {"x": x, "mask": mask, "alpha": alpha if outputs > 1 else alpha[:, 0], "chol": chol,
              "inverse_factor": _inverse_factor(chol), "lengthscale": lengthscale, "signal": signal,
              "mean": jnp.asarray(mean, jnp.float32)}
    if outputs > 1:
        y = jnp.argmax(t, axis=-1)
        params["temperature"] = jnp.where(n > 0, _loo_temperature(params["inverse_factor"], alpha, tc, y, mask), 1.0)
    return params


@functools.partial(jax.jit, static_argnums=0)
def _believe(learner: GaussianProcessLearner, params: dict[str, Array], x: Array, valid: Array) -> dict[str, Array]:
    """`GaussianProcessLearner.believe` on `x: [k, dim]`, `valid: [k]`."""
    TRACE_COUNTS["believe"] += 1
    cfg = learner.config
    alpha = params["alpha"] if learner.outputs > 1 else params["alpha"][:, None]  # [cap, outputs]
    centered = params["chol"] @ (params["chol"].T @ alpha)  # (R + rI) α: the fitted targets less the prior mean
    believed = learner._cross_covariance(params, x) @ alpha * valid[:, None]  # the posterior mean there, centered
    x_all = jnp.concatenate([params["x"], x])
    mask = jnp.concatenate([params["mask"], valid])
    chol = jnp.linalg.cholesky(_masked_covariance(cfg, x_all, mask, params["lengthscale"]))
    alpha = cho_solve((chol, True), jnp.concatenate([centered, believed]) * mask[:, None])
    return params | {"x": x_all, "mask": mask, "alpha": alpha if learner.outputs > 1 else alpha[:, 0],
                     "chol": chol, "inverse_factor": _inverse_factor(chol)}


@functools.partial(jax.jit, static_argnums=0)
def _probs(learner: GaussianProcessLearner, params: dict[str, Array], x: Array) -> Array:
    TRACE_COUNTS["probs"] += 1
    return learner.probs(params, x)[0]
