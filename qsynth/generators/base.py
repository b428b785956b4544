"""The generator seam: what latent synthesis needs of any generative model.

`Generator` is the protocol: a latent space of `latent` dimensions, a pure `generate(params, z)`
that maps codes `[n, latent]` to inputs `[n, *feature_shape]` (differentiable in z: the ascent
climbs through it), the prior's log density `log_prior(z) -> [n]` (up to a constant; the
realism term keeps codes where the prior has mass) and prior draws `sample_prior(key, n)`.
The VAE qsynth trains (`TrainedGenerator`) is one; so is a pretrained decoder or a normalizing
flow a user wraps in a few lines. `Encoder` is the optional capability of mapping inputs to
codes (needed to start the ascent from pool points, or to match queries to the pool in latent
space).

`params` are handed to the jitted ascent as data, so one compiled program serves every round;
a generator object is a static argument of that program: give it value semantics (hash and
equality by configuration, not by parameters) or keep one object per run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from jax import Array

__all__ = ["Encoder", "Generator"]


@runtime_checkable
class Generator(Protocol):
    """A generative model whose latent space synthesis searches.

    Attributes:
      latent: the number of latent dimensions.
      feature_shape: the shape of one generated input.
      params: the model's parameters (a pytree), passed back to `generate`.
    """

    @property
    def latent(self) -> int: ...

    @property
    def feature_shape(self) -> tuple[int, ...]: ...

    @property
    def params(self) -> Any: ...

    def generate(self, params: Any, z: Array) -> Array:
        """Inputs `[n, *feature_shape]` for codes `z: [n, latent]` (pure JAX, differentiable in z)."""
        ...

    def log_prior(self, z: Array) -> Array:
        """The prior's log density of each code `[n]`, up to an additive constant (pure JAX)."""
        ...

    def sample_prior(self, key: Array, n: int) -> Array:
        """`n` draws from the prior, `[n, latent]`."""
        ...


@runtime_checkable
class Encoder(Protocol):
    """A generator that also maps inputs to codes: `encode(x: [n, *feature_shape]) -> [n, latent]` (NumPy)."""

    def encode(self, x: np.ndarray) -> np.ndarray: ...
