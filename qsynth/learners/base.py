"""The learner seam: what strategies, scorers and the loop may use of any learner.

`Learner` is the protocol every learner satisfies — the network ensemble
(`qsynth.learners.NetworkLearner`), the exact GP, the version-space sampler, or a user's own.
Optional capabilities are protocols of their own, declared by implementing them, never probed
attribute by attribute:

* `LatentPosterior` — a latent Gaussian posterior `latent(params, x) -> (mean, std)` and the
  `levels` that bound class 1 (what the straddle rule needs); a one-member `LatentCovariance`
  with two classes and one level also has the committee measures (vote entropy, BALD, ...) of
  its posterior in closed form (`qsynth.strategies.posterior_committee`);
* `PerExampleGradients` — `gradient_norms(params, x) -> [nets, n, classes]`, the norm of one
  example's cross-entropy gradient with respect to each network's parameters for every
  candidate label (what expected gradient length needs);
* `Believer` — `believe(params, x, valid)`, the posterior after observing `x` at its own
  predicted value (what the kriging-believer batch rule needs).

Example (a learner of your own; any object with these members works):

    class Constant:
        feature_shape, num_classes, members = (2,), 2, 1
        def init(self, key): return State({"p": jnp.full(2, 0.5)})
        def fit(self, key, state, buffer): return state
        def probs(self, params, x): return jnp.broadcast_to(params["p"], (1, x.shape[0], 2))
        def predict_proba(self, params, x, chunk_size=4096): return np.asarray(self.probs(params, x)[0])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from qsynth.data.buffer import LabeledBuffer

if TYPE_CHECKING:
    from jax import Array

__all__ = ["Believer", "LatentCovariance", "LatentPosterior", "Learner", "LearnerState", "PerExampleGradients", "PreparedTargets"]


@runtime_checkable
class LearnerState(Protocol):
    """What a learner carries between rounds: a pytree (checkpointed leaf by leaf) with `params`."""

    @property
    def params(self) -> Any: ...


@runtime_checkable
class Learner(Protocol):
    """A classifier the active-learning loop can train and strategies can query.

    Attributes:
      feature_shape: the shape of one input.
      num_classes: C, the classes of `probs`' last axis (class indices 0..C−1).
      members: the committee size M of `probs` (1 for a single posterior).

    `init` and `fit` must be deterministic functions of their arguments (a resumed run replays
    them); `probs` must be a pure JAX function of `(params, x)`, differentiable in `x` where
    synthesis climbs it. The state's pytree structure must not depend on the data (a checkpoint
    is restored into `init`'s structure).
    """

    @property
    def feature_shape(self) -> tuple[int, ...]: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def members(self) -> int: ...

    def init(self, key: Array) -> LearnerState:
        """A fresh, untrained state."""
        ...

    def fit(self, key: Array, state: LearnerState | None, buffer: LabeledBuffer) -> LearnerState:
        """Train on the labeled buffer (its `y` are class indices), from `state` or from scratch."""
        ...

    def probs(self, params: Any, x: Array) -> Array:
        """Member class probabilities `[members, n, classes]` of `x: [n, *feature_shape]` (pure)."""
        ...

    def predict_proba(self, params: Any, x: np.ndarray, chunk_size: int = 4096) -> np.ndarray:
        """Predictive class probabilities `[n, classes]` as NumPy (chunked): what evaluation and
        the stream policies read — the committee mean, unless a learner documents otherwise."""
        ...


@runtime_checkable
class LatentPosterior(Protocol):
    """A learner with a Gaussian posterior over a latent function (the straddle rule uses it).

    `latent(params, x) -> (mean [n], std [n])`; class 1 is where the latent lies between the
    two `levels` (low, high) — high may be infinite.
    """

    @property
    def levels(self) -> tuple[float, ...]: ...

    def latent(self, params: Any, x: Array) -> tuple[Array, Array]: ...


class PreparedTargets(NamedTuple):
    """Target inputs with what a `LatentCovariance` needs of them, computed once per round:
    `x: [m, ...]`, the latent's posterior `mean: [m]` and `std: [m]` there, and `factor`, the
    learner's own array for cross-covariances with them, its last axis the targets' (the GP:
    L⁻¹ k(X, x), `[cap, m]`), so that `subset` can keep some of them."""

    x: Array
    mean: Array
    std: Array
    factor: Array

    def subset(self, rows: Any) -> PreparedTargets:
        """The prepared targets at `rows` (indices into the m targets, repeats allowed)."""
        return PreparedTargets(self.x[rows], self.mean[rows], self.std[rows], self.factor[..., rows])


@runtime_checkable
class LatentCovariance(LatentPosterior, Protocol):
    """A latent Gaussian posterior with its cross-covariances (`boundary_information` uses it).

    `prepare_targets(params, targets) -> PreparedTargets` for `targets: [m, ...]`, once per
    round; `cross_covariance(params, x, prepared) -> [n, m]`: the posterior covariance between
    the latent at `x: [n, ...]` — or at `n` points prepared the same way, whose factor is then
    reused, as `boundary_information` does for its candidates' variance and cross-covariance
    alike — and at the prepared targets (in a gradient ascent only the candidates' side is
    recomputed each step); `noise_variance(params)`: the variance of an
    observation around the latent.
    """

    def prepare_targets(self, params: Any, targets: Array) -> PreparedTargets: ...

    def cross_covariance(self, params: Any, x: Array | PreparedTargets, prepared: PreparedTargets) -> Array: ...

    def noise_variance(self, params: Any) -> Array: ...


@runtime_checkable
class PerExampleGradients(Protocol):
    """A learner that gives per-example gradient norms (expected gradient length uses it).

    `gradient_norms(params, x) -> [nets, n, classes]`: for each stacked network, point and
    candidate label c, ‖∇_θ CE(f_θ(x), c)‖ over that network's trainable parameters.
    `gradient_chunk`: how many points one scoring chunk may hold (per-example gradients
    materialize `[chunk, classes, parameters]`; a closed form needs no such bound).
    """

    @property
    def gradient_chunk(self) -> int: ...

    def gradient_norms(self, params: Any, x: Array) -> Array: ...


@runtime_checkable
class Believer(Protocol):
    """A learner that can condition on fantasized answers (the kriging-believer batch rule uses it).

    `believe(params, x, valid) -> params`: the state's params after also observing each row of
    `x: [k, *feature_shape]` with `valid: [k]` 1.0 (rows at 0.0 are ignored) at the value the
    learner predicts there — for a GP the posterior mean is unchanged and the variance shrinks
    near `x`. The result must have the same structure and shapes whatever `valid` holds, so a
    batch can grow one fantasy at a time under one compiled program; it is valid wherever `params`
    is (in `probs`, `latent`, ...), and is never trained on or checkpointed.
    """

    def believe(self, params: Any, x: Array, valid: Array) -> Any: ...
